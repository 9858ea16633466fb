"""Sink throughput through a real broker: audit.records -> ClickHouse (chDB).

    KAFKA_BOOTSTRAP=host:port .venv/bin/python tests/perf/sink_bench.py [--records 200000]

Produces --records encoded AuditRecords to a fresh topic set (unique prefix),
then runs the sink in this process and times from its start until every
offset is committed, i.e. every row is in ClickHouse. Prints rows/s.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script from anywhere: make the repository root importable (tests.sink_support).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from agentaudit.codec import SingleObjectCodec
from agentaudit.settings import Settings
from agentaudit.sink.service import run_sink
from agentaudit.topics import Topic
from tests.sink_support import record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", ""))
    args = parser.parse_args()
    from agentaudit.admin import ensure_topics

    home = Path(tempfile.mkdtemp(prefix="agentaudit-sinkbench-"))
    settings = Settings(home=home, kafka_bootstrap=args.bootstrap, topic_prefix=f"bench{uuid.uuid4().hex[:6]}.",
                        partitions=args.partitions, sink_batch=args.batch, metrics_port=-1)
    ensure_topics(settings, args.bootstrap)
    codec = SingleObjectCodec()
    producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 20, "compression.type": "lz4"})
    topic = settings.topic(Topic.RECORDS)
    t0 = time.perf_counter()
    for i in range(args.records):
        p = i % args.partitions
        value = codec.encode("AuditRecord", record(i // args.partitions, p, full=i % 4 == 0))
        while True:
            try:
                producer.produce(topic, value, f"agent-{p}".encode(), partition=p)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)
    print(f"produced {args.records:,} records in {time.perf_counter() - t0:.1f}s")

    probe = Consumer({"bootstrap.servers": args.bootstrap, "group.id": f"{settings.topic_prefix}agentaudit-sink"})
    partitions = [TopicPartition(topic, p) for p in range(args.partitions)]
    stop = threading.Event()
    thread = threading.Thread(target=run_sink, args=(settings, args.bootstrap, stop))
    start = time.perf_counter()
    thread.start()
    while sum(max(tp.offset, 0) for tp in probe.committed(partitions, timeout=10)) < args.records:
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    stop.set()
    thread.join()
    probe.close()
    print(f"sink stored {args.records:,} records in {elapsed:.1f}s (start-up included): {args.records / elapsed:,.0f} rows/s")


if __name__ == "__main__":
    main()
