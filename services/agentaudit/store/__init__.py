"""ClickHouse access for the pipeline: a client factory and the migrations runner.

Only clickhouse-connect is used, for both the embedded chDB engine
(chdb:///path) and a server (http(s)://); nothing here knows which one it got.
"""

from agentaudit.store.client import DatabaseLockedError, connect, quote_identifier, translate_errors
from agentaudit.store.migrations import Migration, applied_migrations, load_migrations, migrate

__all__ = [
    "DatabaseLockedError",
    "Migration",
    "applied_migrations",
    "connect",
    "load_migrations",
    "migrate",
    "quote_identifier",
    "translate_errors",
]
