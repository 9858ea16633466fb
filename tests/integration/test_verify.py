"""Invariant 3: tampering with stored records or seals is caught, naming the first bad one.

Each test stores sealed chains in real ClickHouse through the processor's and
the sink's code, tampers with the rows directly as an attacker with write
access to the database would, and runs the verifier.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from clickhouse_connect.driver.client import Client

from agentaudit.codec import load_schemas
from agentaudit.evidence.values import ValueReader
from agentaudit.store import quote_identifier
from agentaudit.verify.run import EPOCH, Report, verify_store
from agentaudit.signing import Ed25519Signer
from tests.chain_fixture import Stored, StoredRegistry, store_chains, store_registry
from agentaudit.keyring import verify_signature as check_signature

pytestmark = pytest.mark.integration


def run_verify(client: Client, stored: Stored, agents: list[str] | None = None,
               since: datetime = EPOCH, until: datetime | None = None, columns: bool = False) -> Report:
    return verify_store(client, stored.settings.clickhouse_database, agents or [], since, until,
                        stored.signer.public_keys(), check_signature, int(stored.settings.seal_interval_s * 1e6),
                        columns=ValueReader(load_schemas()) if columns else None)


@pytest.fixture
def stored(clickhouse: Client, ch_database: str) -> Stored:
    return store_chains(clickhouse, ch_database, quiet=True)


def test_untouched_storage_verifies(clickhouse: Client, stored: Stored) -> None:
    report = run_verify(clickhouse, stored)
    assert report.findings == []
    assert report.ok
    assert report.records == stored.records
    assert report.seals == stored.seals
    assert {a.agent_id for a in report.agents} == set(stored.agents)


def sql(client: Client, stored: Stored, statement: str) -> None:
    db = quote_identifier(stored.settings.clickhouse_database)
    client.command(statement.replace("DB.", f"{db}."), settings={"mutations_sync": 2})


def kinds(report: Report) -> set[tuple[str, str, int | None, int | None]]:
    return {(f.kind, f.agent_id, f.position, f.seal_seq) for f in report.findings}


TAMPERS: dict[str, tuple[str, Callable[[Report], None]]] = {}


def test_a_modified_record_is_named(clickhouse: Client, stored: Stored) -> None:
    # Rewrite the tenant inside the stored bytes (same length, so the Avro still decodes).
    sql(clickhouse, stored, "ALTER TABLE DB.audit_records UPDATE record = replaceOne(record, 'acme', 'acmf') "
        "WHERE agent_id = 'agent-1' AND chain_position = 5")
    report = run_verify(clickhouse, stored)
    assert ("record_modified", "agent-1", 5, None) in kinds(report)
    named = [f for f in report.findings if f.kind == "record_modified"][0]
    assert named.event_id and named.event_id.count("-") == 4, "a finding names the event it is about"
    assert not report.ok


def test_a_deleted_record_is_named(clickhouse: Client, stored: Stored) -> None:
    sql(clickhouse, stored, "ALTER TABLE DB.audit_records DELETE WHERE agent_id = 'agent-2' AND chain_position = 4")
    report = run_verify(clickhouse, stored)
    assert ("record_missing", "agent-2", 5, None) in kinds(report)
    assert any(f.kind == "seal_root_mismatch" and f.agent_id == "agent-2" for f in report.findings)


def test_a_forged_row_is_named(clickhouse: Client, stored: Stored) -> None:
    sql(clickhouse, stored, "INSERT INTO DB.audit_records SELECT * REPLACE (toString(generateUUIDv4()) AS event_id) "
        "FROM DB.audit_records WHERE agent_id = 'agent-0' AND chain_position = 3")
    report = run_verify(clickhouse, stored)
    assert ("record_duplicated", "agent-0", 3, None) in kinds(report) or \
        ("record_duplicated", "agent-0", 4, None) in kinds(report)


def test_two_swapped_records_are_named(clickhouse: Client, stored: Stored) -> None:
    sql(clickhouse, stored, "ALTER TABLE DB.audit_records UPDATE chain_position = if(chain_position = 6, 7, 6) "
        "WHERE agent_id = 'agent-1' AND chain_position IN (6, 7)")
    report = run_verify(clickhouse, stored)
    found = [f for f in report.findings if f.agent_id == "agent-1"]
    assert found and found[0].position == 6


def test_a_dropped_time_window_is_caught(clickhouse: Client, stored: Stored) -> None:
    """Records and seals of a whole stretch of time are deleted, for every agent."""
    sql(clickhouse, stored, "ALTER TABLE DB.audit_records DELETE WHERE chain_position BETWEEN 3 AND 9")
    sql(clickhouse, stored, "ALTER TABLE DB.audit_seals DELETE WHERE seq = 2")
    report = run_verify(clickhouse, stored)
    for agent in stored.agents:
        assert ("record_missing", agent, 10, None) in kinds(report)
        assert any(f.kind == "seal_out_of_sequence" and f.agent_id == agent for f in report.findings)


def test_a_dropped_tail_of_one_agent_is_caught(clickhouse: Client, stored: Stored) -> None:
    sql(clickhouse, stored, "ALTER TABLE DB.audit_seals DELETE WHERE agent_id = 'agent-0' AND seq > 1")
    sql(clickhouse, stored, "ALTER TABLE DB.audit_records DELETE WHERE agent_id = 'agent-0' AND chain_position > 8")
    report = run_verify(clickhouse, stored)
    assert any(f.kind == "seals_missing_at_end" and f.agent_id == "agent-0" for f in report.findings)


def test_a_replaced_seal_is_caught(clickhouse: Client, stored: Stored) -> None:
    """The seal is swapped for a validly signed seal of another agent."""
    sql(clickhouse, stored, "ALTER TABLE DB.audit_seals UPDATE seal = (SELECT any(seal) FROM DB.audit_seals "
        "WHERE agent_id = 'agent-2' AND seq = 2) WHERE agent_id = 'agent-1' AND seq = 2")
    report = run_verify(clickhouse, stored)
    assert any(f.agent_id == "agent-1" and f.seal_seq == 2 and f.kind.startswith("seal_") for f in report.findings)


def test_a_forged_seal_signature_is_caught(clickhouse: Client, stored: Stored) -> None:
    # The last byte of the value is the last byte of the Ed25519 signature.
    sql(clickhouse, stored, "ALTER TABLE DB.audit_seals UPDATE seal = concat(substring(seal, 1, length(seal) - 1), "
        "if(right(seal, 1) = 'A', 'B', 'A')) WHERE agent_id = 'agent-0' AND seq = 1")
    report = run_verify(clickhouse, stored)
    assert ("seal_bad_signature", "agent-0", None, 1) in kinds(report)


def test_a_verification_window_checks_from_a_signed_seal(clickhouse: Client, stored: Stored) -> None:
    full = run_verify(clickhouse, stored)
    assert full.ok
    rows = clickhouse.query(
        f"SELECT min(until_time) FROM {quote_identifier(stored.settings.clickhouse_database)}.audit_seals "
        "WHERE agent_id = 'agent-0' AND seq = 2"
    ).result_rows
    since = rows[0][0]
    windowed = run_verify(clickhouse, stored, agents=["agent-0"], since=since)
    assert windowed.ok, windowed.findings
    assert 0 < windowed.records < full.records


def test_every_query_column_matches_its_record_when_untouched(clickhouse: Client, stored: Stored) -> None:
    report = run_verify(clickhouse, stored, columns=True)
    assert report.findings == []
    assert report.columns_checked == stored.records


def test_a_column_changed_in_place_is_named_by_the_columns_check(clickhouse: Client, stored: Stored) -> None:
    """The bytes are untouched, so the chains verify; the principal a query would show is not the real one."""
    sql(clickhouse, stored, "ALTER TABLE DB.audit_records UPDATE principal_id = 'mallory', resource = 'x' "
        "WHERE agent_id = 'agent-1' AND chain_position IN (7, 5)")
    assert run_verify(clickhouse, stored).ok, "without --columns only the stored bytes are proved"
    report = run_verify(clickhouse, stored, columns=True)
    assert kinds(report) == {("column_mismatch", "agent-1", 5, None)}
    [finding] = report.findings
    assert "principal_id, resource" in finding.detail and "2 rows differ" in finding.detail
    assert finding.event_id and "mallory" not in finding.detail, "named by event; stored values are not echoed"
    assert not report.ok


def test_a_record_that_no_longer_decodes_is_named_by_the_columns_check(clickhouse: Client, stored: Stored) -> None:
    sql(clickhouse, stored, "ALTER TABLE DB.audit_records UPDATE record = concat(unhex('C301'), randomString(60)) "
        "WHERE agent_id = 'agent-2' AND chain_position = 3")
    report = run_verify(clickhouse, stored, columns=True)
    [mismatch] = [f for f in report.findings if f.kind == "column_mismatch"]
    assert (mismatch.agent_id, mismatch.position) == ("agent-2", 3)
    assert "does not decode" in mismatch.detail
    assert ("link_mismatch", "agent-2", 3, None) in kinds(report), "the chain check names it too"


@pytest.fixture
def registry(clickhouse: Client, stored: Stored) -> StoredRegistry:
    return store_registry(clickhouse, stored.settings.clickhouse_database, stored.signer, stored.agents)


def test_the_stored_registry_history_verifies(clickhouse: Client, stored: Stored, registry: StoredRegistry) -> None:
    report = run_verify(clickhouse, stored)
    assert report.ok, report.findings
    assert report.registry_entries == registry.entries == len(stored.agents) + 1


def test_a_key_swapped_in_the_registry_history_is_named(
    clickhouse: Client, stored: Stored, registry: StoredRegistry
) -> None:
    """Someone replaces agent-1's registered public key with their own, to pass off forged actions."""
    theirs = Ed25519Signer.generate("attacker").public_key_bytes().hex()
    sql(clickhouse, stored, f"ALTER TABLE DB.agent_registry UPDATE record = replaceOne(record, "
        f"unhex('{registry.keys['agent-1'].hex()}'), unhex('{theirs}')) WHERE agent_id = 'agent-1'")
    report = run_verify(clickhouse, stored)
    assert [(f.kind, f.agent_id, f.position) for f in report.findings] == [("registry_broken", "agent-1", 2)]


def test_a_key_swapped_in_the_registry_columns_only_is_named(
    clickhouse: Client, stored: Stored, registry: StoredRegistry
) -> None:
    sql(clickhouse, stored, "ALTER TABLE DB.agent_registry UPDATE key_ids = ['attacker'] WHERE agent_id = 'agent-2'")
    report = run_verify(clickhouse, stored)
    assert [(f.kind, f.agent_id, f.position) for f in report.findings] == [("registry_row_mismatch", "agent-2", 3)]
