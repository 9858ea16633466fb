"""Archives (issue 5): old months as an evidence bundle for cold storage, verified offline.

The chains of test_retention (six months, from 300 to 120 days ago) are
sealed by a real pipeline keyring; the archive of their oldest months must
verify with `verify --bundle` alone, also after part of them expired, and
fail, naming what changed, once tampered with.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from clickhouse_connect.driver.client import Client

from agentaudit.evidence.archive import archive_months
from agentaudit.evidence.bundle import verify_bundle
from agentaudit.evidence.cli import archive_command
from agentaudit.keyring import Keyring
from agentaudit.settings import Settings
from agentaudit.verify.cli import verify_command
from tests.chain_fixture import Stored, store_chains
from tests.integration.test_evidence import KEK, make_keyring, read_lines, write_lines
from tests.integration.test_retention import CUTOFF, DAY, NOW, START_US, expire

pytestmark = pytest.mark.integration

FIRST = datetime.fromtimestamp(START_US / 1e6, UTC)
# The data's second month: its first month is archived (and a few days more, up to the seal that ends it).
BEFORE = f"{FIRST.year + FIRST.month // 12:04d}-{FIRST.month % 12 + 1:02d}"


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return make_keyring(tmp_path / "pipeline-home")


@pytest.fixture
def stored(clickhouse: Client, ch_database: str, keyring: Keyring) -> Stored:
    return store_chains(clickhouse, ch_database, records=60, every=8, interval_s=86_400, step_us=3 * DAY,
                        start_us=START_US, signer=keyring)


def archive(client: Client, stored: Stored, keyring: Keyring, out: Path, settings: Settings | None = None,
            before: str = BEFORE) -> dict[str, Any]:
    archive_months(client, settings or stored.settings, out, before=before, first=None, signer=keyring,
                   public_keys_document=keyring.export_public(), exported_at_us=int(NOW.timestamp() * 1e6))
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    return manifest


def test_an_archive_of_the_oldest_month_verifies_offline(
    clickhouse: Client, stored: Stored, keyring: Keyring, tmp_path: Path
) -> None:
    manifest = archive(clickhouse, stored, keyring, tmp_path / "archive")
    assert manifest["archive"]["before"] == BEFORE
    assert manifest["archive"]["partitions"]["audit_records"] == [FIRST.year * 100 + FIRST.month]
    assert 0 < manifest["counts"]["records"] < stored.records
    result = verify_bundle(tmp_path / "archive", keyring.public_keys())
    assert result.report.findings == []
    assert result.report.ok and result.keys_given


def test_a_tampered_archive_fails_naming_the_record(
    clickhouse: Client, stored: Stored, keyring: Keyring, tmp_path: Path
) -> None:
    out = tmp_path / "archive"
    archive(clickhouse, stored, keyring, out)
    lines = read_lines(out / "records.jsonl")
    value = base64.b64decode(lines[3]["value"])
    lines[3]["value"] = base64.b64encode(value.replace(b"acme", b"acmf", 1)).decode()
    write_lines(out / "records.jsonl", lines)
    result = verify_bundle(out, keyring.public_keys())
    found = {(f.kind, f.agent_id, f.position) for f in result.report.findings}
    assert ("bundle_file_modified", "", None) in found
    assert ("record_modified", lines[3]["agent_id"], lines[3]["position"]) in found
    assert not result.report.ok


def test_an_archive_taken_after_expiry_verifies_from_what_remains(
    clickhouse: Client, stored: Stored, keyring: Keyring, tmp_path: Path
) -> None:
    """Archived late: the oldest months already expired. The manifest states the cutoff the archive was
    taken under, so the offline verifier accepts exactly that expiry and nothing more."""
    expire(clickhouse, stored)
    days = (NOW - CUTOFF).days  # the retention under which the dropped partitions expired
    late = stored.settings.with_changes(retention_days=days, retention_force=True)
    before = f"{CUTOFF.year + CUTOFF.month // 12:04d}-{CUTOFF.month % 12 + 1:02d}"
    manifest = archive(clickhouse, stored, keyring, tmp_path / "late", late, before=before)
    assert manifest["retention"]["days"] == days
    result = verify_bundle(tmp_path / "late", keyring.public_keys())
    assert result.report.findings == []
    assert {a.agent_id for a in result.report.expired} == set(stored.agents)

    # The same archive under the default 400 days states a cutoff before anything expired: refused.
    strict = archive(clickhouse, stored, keyring, tmp_path / "strict", before=before)
    assert strict["retention"]["days"] == 400
    report = verify_bundle(tmp_path / "strict", keyring.public_keys()).report
    assert {f.agent_id for f in report.findings if f.kind == "expiry_implausible"} == set(stored.agents)


def test_the_archive_command(stored: Stored, keyring: Keyring, clickhouse_dsn: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "pipeline-home", kek=KEK, clickhouse_dsn=clickhouse_dsn,
                        clickhouse_database=stored.settings.clickhouse_database,
                        seal_interval_s=stored.settings.seal_interval_s,
                        seal_every_records=stored.settings.seal_every_records)
    runner = CliRunner()
    out = tmp_path / "cli-archive"
    refused = runner.invoke(archive_command, ["--before", "2026-13", "--out", str(out)], obj=settings)
    assert refused.exit_code != 0 and "YYYY-MM" in str(refused.exception)
    made = runner.invoke(archive_command, ["--before", BEFORE, "--out", str(out)], obj=settings)
    assert made.exit_code == 0, made.output
    assert f"audit_records: partitions {FIRST.year * 100 + FIRST.month}" in made.output
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(keyring.export_public()))
    verified = runner.invoke(verify_command, ["--bundle", str(out), "--public-keys", str(keys)], obj=settings)
    assert verified.exit_code == 0, verified.output
    assert "OK: every chain and seal verifies" in verified.output
