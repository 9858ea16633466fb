"""Retention (issue 5): TTLs follow the setting, and expiry never breaks verification of what remains.

Chains spanning several months are stored in real ClickHouse through the
processor's and the sink's code, with ingest times months in the past.
Expiry is simulated as TTL does it: each monthly partition whose every row
is older than the cutoff is dropped (ALTER TABLE ... DROP PARTITION, as the
test's admin). The cutoff is passed to verify directly, as `agentaudit
verify` passes now minus AGENTAUDIT_RETENTION_DAYS; the tables' real TTL (400
days) is longer than the data's age, so ClickHouse itself drops nothing
while a test runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from agentaudit.keyring import verify_signature
from agentaudit.settings import Settings
from agentaudit.store import quote_identifier
from agentaudit.store.retention import apply_retention, read_ttls, retention_history, retention_status
from agentaudit.verify.run import EPOCH, Report, verify_store
from tests.chain_fixture import SECOND, Stored, store_chains

pytestmark = pytest.mark.integration

DAY = 86_400 * SECOND
NOW = datetime.now(UTC)
START_US = int((NOW - timedelta(days=300)).timestamp()) * SECOND
# As if retention were about 200 days: the first ~100 days of the data may have expired. Mid-month, so
# that one monthly partition of each table straddles it (the case ttl_only_drop_parts makes hard).
_AGO = NOW - timedelta(days=200)
CUTOFF = datetime(_AGO.year, _AGO.month, 15, tzinfo=UTC)


def run_verify(client: Client, stored: Stored, cutoff: datetime | None = CUTOFF) -> Report:
    return verify_store(client, stored.settings.clickhouse_database, [], EPOCH, None, stored.signer.public_keys(),
                        verify_signature, int(stored.settings.seal_interval_s * 1e6), cutoff=cutoff)


def sql(client: Client, stored: Stored, statement: str, **parameters: object) -> list[tuple[object, ...]]:
    db = quote_identifier(stored.settings.clickhouse_database)
    result = client.query(statement.replace("DB.", f"{db}."), parameters=parameters,
                          settings={"mutations_sync": 2})
    return [tuple(row) for row in result.result_rows]


TIME_COLUMNS = {"audit_records": "ingest_time", "audit_seals": "until_time"}


def partitions(client: Client, stored: Stored, table: str) -> list[tuple[int, datetime, datetime]]:
    """(partition, oldest, newest) of each monthly partition, by the column its TTL counts from."""
    column = TIME_COLUMNS[table]
    return [(int(p), lo, hi) for p, lo, hi in sql(  # type: ignore[misc]
        client, stored, f"SELECT toYYYYMM({column}) AS p, min({column}), max({column}) FROM DB.{table} "
        "GROUP BY p ORDER BY p")]


def drop_partition(client: Client, stored: Stored, table: str, partition: int) -> None:
    db = quote_identifier(stored.settings.clickhouse_database)
    client.command(f"ALTER TABLE {db}.{table} DROP PARTITION {int(partition)}")


def expire(client: Client, stored: Stored, cutoff: datetime = CUTOFF) -> dict[str, list[int]]:
    """What TTL with ttl_only_drop_parts does: drop each partition whose every row is older than the cutoff."""
    dropped: dict[str, list[int]] = {}
    for table in TIME_COLUMNS:
        for partition, _, newest in partitions(client, stored, table):
            if newest.replace(tzinfo=UTC) <= cutoff:
                drop_partition(client, stored, table, partition)
                dropped.setdefault(table, []).append(partition)
    return dropped


@pytest.fixture
def stored(clickhouse: Client, ch_database: str) -> Stored:
    """3 agents, 60 records three days apart (~6 months, from 300 to 120 days ago), daily time seals."""
    return store_chains(clickhouse, ch_database, records=60, every=8, interval_s=86_400, step_us=3 * DAY,
                        start_us=START_US)


@pytest.fixture
def expired(clickhouse: Client, stored: Stored) -> Stored:
    """The stored chains after expiry, checked to be the hard case: parts of both tables dropped, records
    older than the cutoff still there (their month is not over), and seals whose first records are gone."""
    assert run_verify(clickhouse, stored).ok
    dropped = expire(clickhouse, stored)
    assert dropped.get("audit_records") and dropped.get("audit_seals"), dropped
    [(older_than_cutoff,)] = sql(clickhouse, stored, "SELECT count() FROM DB.audit_records "
                                 "WHERE ingest_time <= {cutoff:DateTime64(6)}", cutoff=CUTOFF)
    assert older_than_cutoff, "the partition straddling the cutoff keeps records older than it"
    [(partial,)] = sql(clickhouse, stored, """
        SELECT count() FROM DB.audit_seals AS s
        WHERE last_position >= first_position AND first_position < (
            SELECT min(chain_position) FROM DB.audit_records AS r WHERE r.agent_id = s.agent_id)""")
    assert partial, "some retained seal signed records that expired"
    return stored


def test_what_remains_after_expiry_verifies(clickhouse: Client, expired: Stored) -> None:
    report = run_verify(clickhouse, expired)
    assert report.findings == []
    assert report.ok
    assert {a.agent_id for a in report.expired} == set(expired.agents)
    assert all(a.expired_records > 0 and a.expired_seals > 0 for a in report.agents)
    assert report.records + sum(a.expired_records for a in report.agents) == expired.records


def test_without_a_cutoff_expiry_is_reported_as_missing_data(clickhouse: Client, expired: Stored) -> None:
    """The same storage, verified as if nothing could have expired: the boundary logic is what passes it."""
    report = run_verify(clickhouse, expired, cutoff=None)
    assert {f.kind for f in report.findings} >= {"record_missing", "seal_out_of_sequence"}


def test_a_cutoff_older_than_the_dropped_data_does_not_excuse_it(clickhouse: Client, expired: Stored) -> None:
    """A 300-day retention: the partitions dropped above held data younger than its cutoff."""
    report = run_verify(clickhouse, expired, cutoff=NOW - timedelta(days=300))
    assert not report.ok
    assert {f.agent_id for f in report.findings if f.kind == "expiry_implausible"} == set(expired.agents)


def first_retained(clickhouse: Client, stored: Stored, agent: str) -> int:
    [(position,)] = sql(clickhouse, stored, "SELECT min(chain_position) FROM DB.audit_records "
                        "WHERE agent_id = {agent:String}", agent=agent)
    return int(position)  # type: ignore[call-overload]


def test_a_recent_record_deleted_after_expiry_is_named(clickhouse: Client, expired: Stored) -> None:
    target = first_retained(clickhouse, expired, "agent-1") + 5
    sql(clickhouse, expired, "ALTER TABLE DB.audit_records DELETE WHERE agent_id = 'agent-1' "
        "AND chain_position = {p:Int64}", p=target)
    report = run_verify(clickhouse, expired)
    found = [(f.kind, f.agent_id, f.position) for f in report.findings if f.position is not None]
    assert found[0] == ("record_missing", "agent-1", target + 1)
    assert {f.agent_id for f in report.findings} == {"agent-1"}


def test_records_deleted_past_the_cutoff_cannot_pass_as_expired(clickhouse: Client, expired: Stored) -> None:
    """The oldest retained records of one agent are deleted, up to ten days after the cutoff:
    a prefix, like expiry, but younger than expiry could have removed."""
    sql(clickhouse, expired, "ALTER TABLE DB.audit_records DELETE WHERE agent_id = 'agent-0' "
        "AND ingest_time <= {t:DateTime64(6)}", t=CUTOFF + timedelta(days=10))
    first = first_retained(clickhouse, expired, "agent-0")
    report = run_verify(clickhouse, expired)
    kinds = {(f.kind, f.agent_id, f.position) for f in report.findings}
    assert ("expiry_implausible", "agent-0", None) in kinds
    assert ("record_missing", "agent-0", first) in kinds, "the first record after the deleted ones is named"
    assert {f.agent_id for f in report.findings} == {"agent-0"}


@pytest.mark.parametrize("table", ["audit_records", "audit_seals"])
def test_dropping_the_partition_that_straddles_the_cutoff_fails(
    clickhouse: Client, expired: Stored, table: str
) -> None:
    """TTL never drops it: some of its rows are younger than the cutoff."""
    [straddling] = [p for p, oldest, newest in partitions(clickhouse, expired, table)
                    if oldest.replace(tzinfo=UTC) <= CUTOFF < newest.replace(tzinfo=UTC)]
    drop_partition(clickhouse, expired, table, straddling)
    report = run_verify(clickhouse, expired)
    assert not report.ok
    assert {f.agent_id for f in report.findings if f.kind == "expiry_implausible"} == set(expired.agents)


def test_dropping_a_partition_newer_than_the_cutoff_fails_naming_the_first_bad_record(
    clickhouse: Client, expired: Stored
) -> None:
    newer = [p for p, oldest, _ in partitions(clickhouse, expired, "audit_records")
             if oldest.replace(tzinfo=UTC) > CUTOFF]
    assert len(newer) >= 2
    drop_partition(clickhouse, expired, "audit_records", newer[0])
    report = run_verify(clickhouse, expired)
    for agent in expired.agents:
        [(after,)] = sql(clickhouse, expired, "SELECT min(chain_position) FROM DB.audit_records "
                         "WHERE agent_id = {a:String} AND toYYYYMM(ingest_time) > {p:UInt32}", a=agent, p=newer[0])
        missing = [f for f in report.findings if f.agent_id == agent and f.kind == "record_missing"]
        assert missing and missing[0].position == after and missing[0].event_id


# -- the TTLs themselves ----------------------------------------------------------


def ttl_days(client: Client, database: str) -> dict[str, int | None]:
    return {t.table: t.days for t in read_ttls(client, database) if t.expression is not None}


def test_migrate_makes_every_ttl_match_the_retention_once(clickhouse: Client, ch_database: str) -> None:
    assert set(ttl_days(clickhouse, ch_database).values()) == {400}, "the migrations' own TTL"
    assert apply_retention(clickhouse, ch_database, 400, forced=False) == [], "already in force: nothing to do"

    changes = apply_retention(clickhouse, ch_database, 730, forced=False)
    assert {c.table for c in changes} == {"audit_records", "audit_rejections", "audit_seals", "audit_incidents",
                                          "alert_deliveries", "api_reads"}
    assert set(ttl_days(clickhouse, ch_database).values()) == {730}
    assert "agent_registry" not in ttl_days(clickhouse, ch_database), "the registry is kept forever"
    assert "api_keys" not in ttl_days(clickhouse, ch_database), "so is the history of API keys"
    assert apply_retention(clickhouse, ch_database, 730, forced=False) == [], "idempotent"
    history = retention_history(clickhouse, ch_database)
    assert len(history) == len(changes)
    assert {(h.previous_days, h.days, h.forced) for h in history} == {(400, 730, False)}


def test_a_forced_short_retention_is_recorded_as_forced(clickhouse: Client, ch_database: str) -> None:
    apply_retention(clickhouse, ch_database, 90, forced=True)
    history = retention_history(clickhouse, ch_database)
    assert history and all(h.forced and h.days == 90 for h in history)
    status = {s.ttl.table: s for s in retention_status(clickhouse, ch_database)}
    assert status["audit_records"].meets_floor is False
    assert status["agent_registry"].meets_floor is None


def test_status_shows_the_oldest_retained_row(clickhouse: Client, stored: Stored) -> None:
    status = {s.ttl.table: s for s in retention_status(clickhouse, stored.settings.clickhouse_database)}
    records = status["audit_records"]
    assert (records.ttl.column, records.ttl.days, records.meets_floor) == ("ingest_time", 400, True)
    assert records.rows == stored.records
    assert records.oldest is not None
    assert abs(records.oldest.replace(tzinfo=UTC).timestamp() * SECOND - START_US) < DAY
    assert status["audit_rejections"].oldest is None and status["audit_rejections"].rows == 0


def test_db_migrate_and_status_commands(clickhouse_dsn: str, ch_database: str) -> None:
    from click.testing import CliRunner

    from agentaudit.store.cli import db

    settings = Settings(clickhouse_dsn=clickhouse_dsn, clickhouse_database=ch_database, retention_days=500)
    result = CliRunner().invoke(db, ["migrate"], obj=settings)
    assert result.exit_code == 0, result.output
    assert "retention of audit_records: 400 -> 500 days" in result.output
    again = CliRunner().invoke(db, ["migrate"], obj=settings)
    assert "every audit table keeps rows 500 days" in again.output
    status = CliRunner().invoke(db, ["status"], obj=settings)
    assert status.exit_code == 0, status.output
    assert "audit_records            ingest_time + 500 days" in status.output
    assert "agent_registry           no TTL: kept forever" in status.output
    assert "400 -> 500 days" in status.output
