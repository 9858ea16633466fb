"""`agentaudit verify`: recompute chains and seals from storage and check them.

checks.py is the pure verifier (rows in, findings out) that an auditor can
run offline on an evidence bundle; store.py reads the rows from ClickHouse.
"""
