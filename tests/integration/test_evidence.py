"""Evidence an auditor verifies offline: bundles (export / verify --bundle) and inclusion proofs (prove / verify --proof).

Chains are stored in real ClickHouse through the processor's and the sink's
code (store_chains) and sealed by a real pipeline keyring. Each tamper test
changes an exported bundle or proof as someone holding the files could, and
checks that the offline verifier fails and names the record, seal or file.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from agentaudit.evidence.bundle import BundleResult, verify_bundle
from agentaudit.evidence.export import ExportResult, export_bundle
from agentaudit.keyring import Keyring
from agentaudit.settings import Settings
from agentaudit.verify.run import verify_store
from agentaudit.keyring import verify_signature
from tests.chain_fixture import Stored, store_chains

pytestmark = pytest.mark.integration

KEK = base64.b64encode(bytes(range(32))).decode()
NOW_US = 1_800_000_000_000_000


def make_keyring(home: Path) -> Keyring:
    return Keyring.create(Settings(home=home, kek=KEK))


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return make_keyring(tmp_path / "pipeline-home")


@pytest.fixture
def stored(clickhouse: Client, ch_database: str, keyring: Keyring) -> Stored:
    return store_chains(clickhouse, ch_database, signer=keyring)


def export(client: Client, stored: Stored, keyring: Keyring, out: Path, **kw: object) -> ExportResult:
    return export_bundle(
        client, stored.settings, out, agents=list(kw.get("agents", [])), since=kw.get("since"),  # type: ignore[arg-type]
        until=kw.get("until"), signer=keyring, public_keys_document=keyring.export_public(),  # type: ignore[arg-type]
        exported_at_us=NOW_US,
    )


@pytest.fixture
def bundle(clickhouse: Client, stored: Stored, keyring: Keyring, tmp_path: Path) -> Path:
    out = tmp_path / "bundle"
    export(clickhouse, stored, keyring, out)
    return out


def kinds(result: BundleResult) -> set[tuple[str, str, int | None, int | None, str | None]]:
    return {(f.kind, f.agent_id, f.position, f.seal_seq, f.file) for f in result.report.findings}


def test_an_exported_bundle_verifies_offline(clickhouse: Client, stored: Stored, keyring: Keyring,
                                             bundle: Path) -> None:
    result = verify_bundle(bundle)
    assert result.report.findings == []
    assert result.report.ok
    assert result.report.records == stored.records
    assert result.report.seals == stored.seals
    assert result.signed_by == keyring.current_key_id
    # The same answer as verifying the database.
    direct = verify_store(clickhouse, stored.settings.clickhouse_database, [], EPOCH, None,
                          keyring.public_keys(), verify_signature, int(stored.settings.seal_interval_s * 1e6))
    assert (direct.records, direct.seals, len(direct.agents)) == \
        (result.report.records, result.report.seals, len(result.report.agents))


from agentaudit.verify.agents import EPOCH  # noqa: E402

