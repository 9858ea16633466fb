"""The sink: moves audit.records and audit.rejected into ClickHouse, exactly once.

rows.py turns decoded messages into table rows (pure), writer.py inserts a
batch with a deduplication token and retries, consumer.py is the Kafka loop
that decides what to insert and when offsets may be committed.
"""
