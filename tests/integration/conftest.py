"""ClickHouse for the integration tests: one embedded chDB folder for the whole
session (chDB serves one folder per process), a unique database per test.

$AGENTAUDIT_TEST_CLICKHOUSE_DSN points the tests at a ClickHouse server instead
(http(s)://user:pass@host:port). Tests that run the sink in a subprocess give it
its own chDB folder: another process cannot open the session's folder while
this one has it open.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client

from agentaudit.dev.registry import LocalRegistry
from agentaudit.settings import Settings
from agentaudit.store import connect, migrate, quote_identifier


@pytest.fixture(scope="session")
def clickhouse_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return os.environ.get("AGENTAUDIT_TEST_CLICKHOUSE_DSN") or f"chdb://{tmp_path_factory.mktemp('clickhouse')}"


@pytest.fixture
def clickhouse(clickhouse_dsn: str) -> Iterator[Client]:
    """A client of the session's ClickHouse, closed after the test (so a test
    that must hand chDB to another path or process can close every client)."""
    client = connect(Settings(clickhouse_dsn=clickhouse_dsn))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def ch_database(clickhouse: Client) -> Iterator[str]:
    """A fresh, migrated database for one test, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    migrate(clickhouse, name)
    yield name
    clickhouse.command(f"DROP DATABASE IF EXISTS {quote_identifier(name)} SYNC")


@pytest.fixture
def store_settings(tmp_path: os.PathLike[str], clickhouse_dsn: str, ch_database: str) -> Settings:
    return Settings(home=tmp_path, clickhouse_dsn=clickhouse_dsn, clickhouse_database=ch_database)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def schema_registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Confluent-compatible registry for the session: $SCHEMA_REGISTRY_URL,
    or Apicurio Registry from Maven Central run by LocalRegistry."""
    if os.environ.get("SCHEMA_REGISTRY_URL"):
        yield os.environ["SCHEMA_REGISTRY_URL"]
        return
    local = LocalRegistry(tmp_path_factory.mktemp("registry-home"))
    try:
        yield local.start()
    finally:
        local.stop()


SINK_PARTITIONS = 4  # tests.integration.test_sink.PARTITIONS


@pytest.fixture
def sink_settings(settings: Settings, kafka_bootstrap: str, clickhouse_dsn: str, ch_database: str) -> Settings:
    from agentaudit.admin import ensure_topics

    configured = settings.with_changes(
        kafka_bootstrap=kafka_bootstrap,
        clickhouse_dsn=clickhouse_dsn,
        clickhouse_database=ch_database,
        partitions=SINK_PARTITIONS,
        sink_batch=500,
        sink_linger_s=0.1,
        metrics_port=-1,
    )
    ensure_topics(configured, kafka_bootstrap)
    return configured
