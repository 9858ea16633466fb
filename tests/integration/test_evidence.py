"""Evidence an auditor verifies offline: bundles (export / verify --bundle) and inclusion proofs (prove / verify --proof).

Chains are stored in real ClickHouse through the processor's and the sink's
code (store_chains) and sealed by a real pipeline keyring. Each tamper test
changes an exported bundle or proof as someone holding the files could, and
checks that the offline verifier fails and names the record, seal or file.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from clickhouse_connect.driver.client import Client

from agentaudit.chain.seal import SealForm
from agentaudit.codec import load_schemas
from agentaudit.evidence.bundle import BundleResult, verify_bundle
from agentaudit.evidence.cli import export_command, prove_command
from agentaudit.evidence.export import ExportResult, export_bundle
from agentaudit.evidence.manifest import file_sha256, manifest_bytes, sign_manifest
from agentaudit.evidence.proof import verify_proof
from agentaudit.evidence.prove import NotSealedYet, ProofError, make_proof
from agentaudit.evidence.values import ValueReader
from agentaudit.keyring import Keyring, verify_signature
from agentaudit.settings import Settings
from agentaudit.store import quote_identifier
from agentaudit.verify.agents import EPOCH
from agentaudit.verify.cli import verify_command
from agentaudit.verify.run import verify_store
from tests.chain_fixture import Stored, store_chains
from tests.sink_support import event_id

pytestmark = pytest.mark.integration

KEK = base64.b64encode(bytes(range(32))).decode()
NOW_US = 1_800_000_000_000_000
REPO = Path(__file__).resolve().parents[2]


def make_keyring(home: Path) -> Keyring:
    return Keyring.create(Settings(home=home, kek=KEK))


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return make_keyring(tmp_path / "pipeline-home")


@pytest.fixture
def stored(clickhouse: Client, ch_database: str, keyring: Keyring) -> Stored:
    return store_chains(clickhouse, ch_database, signer=keyring)


def export(client: Client, stored: Stored, keyring: Keyring, out: Path, *, agents: tuple[str, ...] = (),
           since: Any = None, until: Any = None) -> ExportResult:
    return export_bundle(
        client, stored.settings, out, agents=list(agents), since=since, until=until, signer=keyring,
        public_keys_document=keyring.export_public(), exported_at_us=NOW_US,
    )


@pytest.fixture
def bundle(clickhouse: Client, stored: Stored, keyring: Keyring, tmp_path: Path) -> Path:
    out = tmp_path / "bundle"
    export(clickhouse, stored, keyring, out)
    return out


@pytest.fixture
def auditor_keys(keyring: Keyring, tmp_path: Path) -> Path:
    """The public keys the auditor was given out of band."""
    path = tmp_path / "auditor-keys.json"
    path.write_text(json.dumps(keyring.export_public()))
    return path


def findings(result: BundleResult) -> set[tuple[str, str, int | None, int | None, str | None]]:
    return {(f.kind, f.agent_id, f.position, f.seal_seq, f.file) for f in result.report.findings}


def sql(client: Client, stored: Stored, statement: str) -> None:
    db = quote_identifier(stored.settings.clickhouse_database)
    client.command(statement.replace("DB.", f"{db}."), settings={"mutations_sync": 2})


# -- bundle file surgery, as someone holding the files would do it ---------------

def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines))


def index_of(lines: list[dict[str, Any]], agent: str, **match: int) -> int:
    return next(i for i, line in enumerate(lines)
                if line["agent_id"] == agent and all(line[k] == v for k, v in match.items()))


def edit_value(line: dict[str, Any], old: bytes, new: bytes) -> None:
    value = base64.b64decode(line["value"])
    assert old in value
    line["value"] = base64.b64encode(value.replace(old, new, 1)).decode()


def rehash_and_resign(bundle: Path, signer: Keyring) -> None:
    """What a forger with a key of their own does after editing files: new hashes, new signature."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    for entry in manifest["files"]:
        entry["sha256"] = file_sha256(bundle / entry["name"])
        entry["bytes"] = (bundle / entry["name"]).stat().st_size
    data = manifest_bytes(manifest)
    (bundle / "manifest.json").write_bytes(data)
    (bundle / "manifest.sig").write_bytes(sign_manifest(data, signer))


# -- an untouched bundle ------------------------------------------------------------

def test_an_exported_bundle_verifies_offline(clickhouse: Client, stored: Stored, keyring: Keyring,
                                             bundle: Path, auditor_keys: Path) -> None:
    result = verify_bundle(bundle)
    assert result.report.findings == []
    assert result.report.ok
    assert (result.report.records, result.report.seals) == (stored.records, stored.seals)
    assert result.signed_by == keyring.current_key_id
    # Against the keys given out of band, too; and the same answer as verifying the database.
    trusted = verify_bundle(bundle, keyring.public_keys())
    assert trusted.report.ok and trusted.keys_given
    direct = verify_store(clickhouse, stored.settings.clickhouse_database, [], EPOCH, None,
                          keyring.public_keys(), verify_signature, int(stored.settings.seal_interval_s * 1e6))
    assert direct.ok
    assert [(a.agent_id, a.records, a.seals, a.sealed_through) for a in direct.agents] == \
        [(a.agent_id, a.records, a.seals, a.sealed_through) for a in result.report.agents]


def test_the_bundle_holds_the_stored_bytes_and_readable_fields(clickhouse: Client, stored: Stored,
                                                               bundle: Path) -> None:
    lines = read_lines(bundle / "records.jsonl")
    assert [(line["agent_id"], line["position"]) for line in lines] == sorted(
        (line["agent_id"], line["position"]) for line in lines)
    db = quote_identifier(stored.settings.clickhouse_database)
    stored_value = clickhouse.query(
        f"SELECT record FROM {db}.audit_records WHERE event_id = {{e:String}}", parameters={"e": event_id(5)},
        column_formats={"record": "bytes"},
    ).result_rows[0][0]
    line = next(line for line in lines if line["event_id"] == event_id(5))
    assert base64.b64decode(line["value"]) == stored_value
    assert (line["agent_id"], line["position"], line["principal"], line["action_type"]) == \
        ("agent-1", 2, {"type": "user", "id": "alice"}, "tool_call")
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["counts"] == {"agents": 3, "records": stored.records, "seals": stored.seals, "anchors": 0}
    assert {e["name"] for e in manifest["files"]} == {"records.jsonl", "seals.jsonl", "public-keys.json"}
    assert "private" not in (bundle / "public-keys.json").read_text()  # public halves only


def test_a_windowed_bundle_starts_from_a_signed_anchor(clickhouse: Client, stored: Stored, keyring: Keyring,
                                                       tmp_path: Path) -> None:
    db = quote_identifier(stored.settings.clickhouse_database)
    since = clickhouse.query(f"SELECT until_time FROM {db}.audit_seals WHERE agent_id = 'agent-0' AND seq = 2"
                             ).result_rows[0][0]
    out = tmp_path / "window"
    export(clickhouse, stored, keyring, out, agents=("agent-0",), since=since)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(a["agent_id"], a["seq"]) for a in manifest["anchors"]] == [("agent-0", 2)]
    result = verify_bundle(out, keyring.public_keys())
    assert result.report.ok, result.report.findings
    direct = verify_store(clickhouse, stored.settings.clickhouse_database, ["agent-0"], since, None,
                          keyring.public_keys(), verify_signature, int(stored.settings.seal_interval_s * 1e6))
    assert 0 < result.report.records == direct.records < stored.records
    assert result.report.seals == direct.seals
    # The anchor is evidence too: one changed byte of its signature is caught.
    anchor = manifest["anchors"][0]
    value = bytearray(base64.b64decode(anchor["value"]))
    value[-1] ^= 1
    anchor["value"] = base64.b64encode(bytes(value)).decode()
    (out / "manifest.json").write_bytes(manifest_bytes(manifest))
    bad = verify_bundle(out, keyring.public_keys())
    assert ("seal_bad_signature", "agent-0", None, 2, "manifest.json") in findings(bad)
    assert ("manifest_bad_signature", "", None, None, "manifest.sig") in findings(bad)


def test_export_refuses_a_non_empty_directory(clickhouse: Client, stored: Stored, keyring: Keyring,
                                             tmp_path: Path) -> None:
    out = tmp_path / "used"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(Exception, match="not empty"):
        export(clickhouse, stored, keyring, out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


# -- tampered bundles ----------------------------------------------------------------

Tamper = Callable[[Path], None]


def modify_record_bytes(bundle: Path) -> None:
    lines = read_lines(bundle / "records.jsonl")
    edit_value(lines[index_of(lines, "agent-1", position=5)], b"acme", b"acmf")
    write_lines(bundle / "records.jsonl", lines)


def delete_line(bundle: Path) -> None:
    lines = read_lines(bundle / "records.jsonl")
    del lines[index_of(lines, "agent-2", position=4)]
    write_lines(bundle / "records.jsonl", lines)


def insert_forged_line(bundle: Path) -> None:
    lines = read_lines(bundle / "records.jsonl")
    i = index_of(lines, "agent-0", position=3)
    forged = copy.deepcopy(lines[i])
    forged["event_id"] = "00000000-0000-4000-8000-00000000f0f0"
    lines.insert(i + 1, forged)
    write_lines(bundle / "records.jsonl", lines)


def swap_lines(bundle: Path) -> None:
    lines = read_lines(bundle / "records.jsonl")
    i, j = index_of(lines, "agent-1", position=6), index_of(lines, "agent-1", position=7)
    lines[i], lines[j] = lines[j], lines[i]
    write_lines(bundle / "records.jsonl", lines)


def replace_seal(bundle: Path) -> None:
    """agent-1's seal 2 becomes agent-2's (validly signed) seal 2, keeping agent-1's line."""
    lines = read_lines(bundle / "seals.jsonl")
    mine, other = index_of(lines, "agent-1", seq=2), index_of(lines, "agent-2", seq=2)
    lines[mine] = {**lines[other], "agent_id": "agent-1"}
    write_lines(bundle / "seals.jsonl", lines)


@pytest.mark.parametrize(("tamper", "expected"), [
    (modify_record_bytes, {("record_modified", "agent-1", 5, None, "records.jsonl"),
                           ("bundle_file_modified", "", None, None, "records.jsonl")}),
    (delete_line, {("record_missing", "agent-2", 5, None, "records.jsonl"),
                   ("bundle_file_modified", "", None, None, "records.jsonl")}),
    (insert_forged_line, {("record_duplicated", "agent-0", 3, None, "records.jsonl"),
                          ("record_fields_mismatch", "agent-0", 3, None, "records.jsonl")}),
    (swap_lines, {("record_out_of_order", "agent-1", 6, None, "records.jsonl"),
                  ("bundle_file_modified", "", None, None, "records.jsonl")}),
    (replace_seal, {("seal_broken_link", "agent-1", None, 2, "seals.jsonl"),
                    ("seal_fields_mismatch", "agent-1", None, 2, "seals.jsonl"),
                    ("bundle_file_modified", "", None, None, "seals.jsonl")}),
], ids=lambda v: getattr(v, "__name__", ""))
def test_a_tampered_bundle_names_what_was_changed(bundle: Path, keyring: Keyring, tamper: Tamper,
                                                   expected: set[tuple[str, str, int | None, int | None, str]]) -> None:
    tamper(bundle)
    result = verify_bundle(bundle, keyring.public_keys())
    assert not result.report.ok
    assert expected <= findings(result), result.report.findings


def test_a_changed_line_is_named_even_when_the_manifest_hash_was_updated(bundle: Path, keyring: Keyring) -> None:
    """The file hash in the manifest is made to match: now the signature breaks, and the record is still named."""
    modify_record_bytes(bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    for entry in manifest["files"]:
        entry["sha256"] = file_sha256(bundle / entry["name"])
    (bundle / "manifest.json").write_bytes(manifest_bytes(manifest))
    result = verify_bundle(bundle, keyring.public_keys())
    got = findings(result)
    assert ("manifest_bad_signature", "", None, None, "manifest.sig") in got
    assert ("bundle_file_modified", "", None, None, "records.jsonl") not in got
    record = next(f for f in result.report.findings if f.kind == "record_modified")
    lines = read_lines(bundle / "records.jsonl")
    assert (record.agent_id, record.position, record.line) == \
        ("agent-1", 5, index_of(lines, "agent-1", position=5) + 1)


def test_an_edited_manifest_is_caught(bundle: Path, keyring: Keyring) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["range"]["until"] = "2020-01-01T00:00:00.000000Z"  # claims to cover less than it does
    (bundle / "manifest.json").write_bytes(manifest_bytes(manifest))
    result = verify_bundle(bundle, keyring.public_keys())
    assert ("manifest_bad_signature", "", None, None, "manifest.sig") in findings(result)


def test_a_forged_manifest_signature_is_caught(bundle: Path, keyring: Keyring) -> None:
    sig = json.loads((bundle / "manifest.sig").read_text())
    raw = bytearray(base64.b64decode(sig["signature"]))
    raw[0] ^= 0x80
    sig["signature"] = base64.b64encode(bytes(raw)).decode()
    (bundle / "manifest.sig").write_text(json.dumps(sig))
    result = verify_bundle(bundle)
    assert findings(result) == {("manifest_bad_signature", "", None, None, "manifest.sig")}


def test_replaced_public_keys_are_caught(bundle: Path, keyring: Keyring, tmp_path: Path) -> None:
    forger = make_keyring(tmp_path / "forger")
    (bundle / "public-keys.json").write_text(json.dumps(forger.export_public()))
    # Without the auditor's keys: the manifest no longer verifies, nor does any seal.
    alone = findings(verify_bundle(bundle))
    assert ("bundle_file_modified", "", None, None, "public-keys.json") in alone
    assert ("manifest_bad_signature", "", None, None, "manifest.sig") in alone
    assert ("seal_unknown_key", "agent-0", None, 1, "seals.jsonl") in alone
    # With them: the foreign key itself is named.
    given = findings(verify_bundle(bundle, keyring.public_keys()))
    assert ("public_key_untrusted", "", None, None, "public-keys.json") in given


def test_a_bundle_forged_throughout_passes_alone_and_fails_against_the_given_keys(
    bundle: Path, keyring: Keyring, tmp_path: Path, auditor_keys: Path
) -> None:
    """Why --public-keys: a forger re-signs every seal and the manifest with a key they ship in the bundle."""
    forger = make_keyring(tmp_path / "forger")
    form = SealForm(load_schemas())
    reader = ValueReader(load_schemas())
    lines = read_lines(bundle / "seals.jsonl")
    forged_lines = []
    for line in lines:
        value = base64.b64decode(line["value"])
        seal = reader.decode("Seal", value)
        content = {k: v for k, v in seal.items() if k not in ("key_id", "signature")}
        remade = form.make(content, forger)
        new_value = value[:10] + remade.body
        forged_lines.append({**line, "key_id": forger.current_key_id,
                             "value": base64.b64encode(new_value).decode()})
    write_lines(bundle / "seals.jsonl", forged_lines)
    (bundle / "public-keys.json").write_text(json.dumps(forger.export_public()))
    rehash_and_resign(bundle, forger)

    assert verify_bundle(bundle).report.ok  # consistent: that is all the bundle's own keys can show
    result = CliRunner().invoke(verify_command, ["--bundle", str(bundle), "--public-keys", str(auditor_keys)],
                                obj=Settings())
    assert result.exit_code == 1, result.output
    assert "public_key_untrusted" in result.output and "manifest_bad_signature" in result.output
    assert "seal_unknown_key" in result.output


# -- offline, through the command ------------------------------------------------------

BLOCKED = ("clickhouse_connect", "chdb", "confluent_kafka", "aiokafka", "faust", "agentaudit.store",
           "agentaudit.verify.store", "agentaudit.verify.run", "agentaudit.query.run",
           "agentaudit.evidence.export", "agentaudit.evidence.prove")

OFFLINE = f"""
import sys
for name in {BLOCKED!r}:
    sys.modules[name] = None  # any import of them raises ImportError
from agentaudit.settings import Settings
from agentaudit.verify.cli import verify_command
try:
    verify_command.main(sys.argv[1:], obj=Settings(), prog_name="agentaudit verify")
finally:
    loaded = sorted(m for m in sys.modules if sys.modules[m] is not None and m.split(".")[0] in
                    ("clickhouse_connect", "chdb", "confluent_kafka", "aiokafka", "faust"))
    print("LOADED", loaded, file=sys.stderr)
"""


def run_offline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", OFFLINE, *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120, check=False)


def test_verify_bundle_and_proof_run_with_no_database_or_kafka_client(
    clickhouse: Client, stored: Stored, keyring: Keyring, bundle: Path, auditor_keys: Path, tmp_path: Path
) -> None:
    ok = run_offline("--bundle", str(bundle), "--public-keys", str(auditor_keys))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK: every chain and seal verifies" in ok.stdout
    assert "LOADED []" in ok.stderr

    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(make_proof(clickhouse, stored.settings, event_id(8), keyring.export_public(),
                                           NOW_US)))
    proved = run_offline("--proof", str(proof), "--public-keys", str(auditor_keys), "--json")
    assert proved.returncode == 0, proved.stdout + proved.stderr
    assert json.loads(proved.stdout)["ok"] is True

    modify_record_bytes(bundle)
    bad = run_offline("--bundle", str(bundle), "--json")
    assert bad.returncode == 1, bad.stderr
    assert "Traceback" not in bad.stderr
    report = json.loads(bad.stdout)
    assert report["ok"] is False
    assert {"kind": "record_modified", "agent_id": "agent-1", "position": 5} | {"file": "records.jsonl"} in [
        {k: f[k] for k in ("kind", "agent_id", "position", "file") if k in f} for f in report["findings"]]
    assert "self-consistent" in bad.stderr  # no --public-keys: says what that does and does not show


# -- the commands, in process ------------------------------------------------------------

@pytest.fixture
def cli_settings(stored: Stored, keyring: Keyring, clickhouse_dsn: str, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "pipeline-home", kek=KEK, clickhouse_dsn=clickhouse_dsn,
                    clickhouse_database=stored.settings.clickhouse_database,
                    seal_interval_s=stored.settings.seal_interval_s,
                    seal_every_records=stored.settings.seal_every_records)


def test_export_prove_and_verify_commands(cli_settings: Settings, tmp_path: Path, auditor_keys: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli-bundle"
    exported = runner.invoke(export_command, ["--out", str(out)], obj=cli_settings)
    assert exported.exit_code == 0, exported.output
    assert "40 records and 15 seals of 3 agents" in exported.output
    again = runner.invoke(export_command, ["--out", str(out)], obj=cli_settings)
    assert again.exit_code != 0 and "not empty" in str(again.exception or again.output)

    verified = runner.invoke(verify_command, ["--bundle", str(out), "--public-keys", str(auditor_keys)],
                             obj=cli_settings)
    assert verified.exit_code == 0, verified.output
    assert "OK: every chain and seal verifies" in verified.output

    proof = tmp_path / "p.json"
    proved = runner.invoke(prove_command, [event_id(8), "--out", str(proof)], obj=cli_settings)
    assert proved.exit_code == 0, proved.output
    checked = runner.invoke(verify_command, ["--proof", str(proof), "--public-keys", str(auditor_keys)],
                            obj=cli_settings)
    assert checked.exit_code == 0, checked.output
    assert f"OK: event {event_id(8)} (agent-1, position 3) is in seal 1 of agent-1" in checked.output

    mixed = runner.invoke(verify_command, ["--bundle", str(out), "--since", "-1h"], obj=cli_settings)
    assert mixed.exit_code == 2 and "fixed by its manifest" in mixed.output
    columns = runner.invoke(verify_command, ["--bundle", str(out), "--columns"], obj=cli_settings)
    assert columns.exit_code == 2 and "decoded from its bytes" in columns.output


# -- inclusion proofs -------------------------------------------------------------------------

@pytest.fixture
def proof(clickhouse: Client, stored: Stored, keyring: Keyring) -> dict[str, Any]:
    # event 20: agent-1, position 7, in its seal 2 (positions 6..10): a leaf with a real audit path.
    return make_proof(clickhouse, stored.settings, event_id(20), keyring.export_public(), NOW_US)


def proof_kinds(document: dict[str, Any], keys: dict[str, bytes] | None = None) -> set[str]:
    result = verify_proof(document, keys)
    assert not result.ok
    return {f.kind for f in result.findings}


def test_a_proof_verifies_offline(proof: dict[str, Any], keyring: Keyring) -> None:
    assert (proof["record"]["agent_id"], proof["record"]["position"], proof["seal"]["seq"]) == ("agent-1", 7, 2)
    assert proof["inclusion"]["leaf_index"] == 1 and proof["inclusion"]["tree_size"] == 5
    assert len(proof["inclusion"]["audit_path"]) == 3
    for keys in (None, keyring.public_keys()):
        result = verify_proof(proof, keys)
        assert result.ok, result.findings
        assert (result.event_id, result.seal_seq, result.key_id) == (event_id(20), 2, keyring.current_key_id)


def test_a_proof_with_another_events_bytes_fails(clickhouse: Client, stored: Stored, keyring: Keyring,
                                                 proof: dict[str, Any]) -> None:
    other = make_proof(clickhouse, stored.settings, event_id(23), keyring.export_public(), NOW_US)  # position 8
    only_bytes = copy.deepcopy(proof)
    only_bytes["record"]["value"] = other["record"]["value"]
    assert {"record_modified", "link_mismatch", "record_fields_mismatch"} <= proof_kinds(only_bytes)
    # The other record whole (bytes, hashes, position) under this proof's path and claim.
    whole = copy.deepcopy(proof)
    whole["record"] = other["record"]
    assert {"proof_wrong_seal", "record_fields_mismatch"} <= proof_kinds(whole)
    whole["inclusion"]["leaf_index"] = 2
    assert "proof_path_invalid" in proof_kinds(whole)


def test_a_proof_with_a_modified_path_fails(proof: dict[str, Any]) -> None:
    step = bytearray(bytes.fromhex(proof["inclusion"]["audit_path"][1]))
    step[0] ^= 1
    proof["inclusion"]["audit_path"][1] = step.hex()
    assert proof_kinds(proof) == {"proof_path_invalid"}
    proof["inclusion"]["audit_path"].pop()
    assert proof_kinds(proof) == {"proof_path_invalid"}


def test_a_proof_against_a_forged_seal_fails(proof: dict[str, Any], keyring: Keyring, tmp_path: Path) -> None:
    # Changed bytes in the signed seal (its Merkle root), signature left as it was.
    tampered = copy.deepcopy(proof)
    value = bytearray(base64.b64decode(tampered["seal"]["value"]))
    root = bytes.fromhex(tampered["seal"]["merkle_root"])
    at = bytes(value).index(root)
    value[at] ^= 1
    tampered["seal"]["value"] = base64.b64encode(bytes(value)).decode()
    assert {"seal_bad_signature", "proof_path_invalid"} <= proof_kinds(tampered)
    # A seal re-signed by another key, shipped with that key: consistent alone, refused against the given keys.
    forger = make_keyring(tmp_path / "forger")
    form, reader = SealForm(load_schemas()), ValueReader(load_schemas())
    original = base64.b64decode(proof["seal"]["value"])
    seal = reader.decode("Seal", original)
    remade = form.make({k: v for k, v in seal.items() if k not in ("key_id", "signature")}, forger)
    forged = copy.deepcopy(proof)
    forged["seal"]["value"] = base64.b64encode(original[:10] + remade.body).decode()
    forged["seal"]["key_id"] = forger.current_key_id
    forged["public_keys"] = forger.export_public()
    assert verify_proof(forged).ok
    assert {"seal_unknown_key", "public_key_untrusted"} <= proof_kinds(forged, keyring.public_keys())


def test_prove_says_when_a_record_is_not_sealed_yet(clickhouse: Client, stored: Stored, keyring: Keyring,
                                                   cli_settings: Settings) -> None:
    sql(clickhouse, stored, "ALTER TABLE DB.audit_seals DELETE WHERE agent_id = 'agent-0' AND seq > 1")
    with pytest.raises(NotSealedYet, match=r"position 8\) is stored but not sealed yet.*last seal \(seq 1\) "
                                           r"covers positions up to 5.*due at"):
        make_proof(clickhouse, stored.settings, event_id(22), keyring.export_public(), NOW_US)
    result = CliRunner().invoke(prove_command, [event_id(22)], obj=cli_settings)
    assert result.exit_code == 3 and "not sealed yet" in result.output


def test_prove_refuses_a_modified_record(clickhouse: Client, stored: Stored, keyring: Keyring) -> None:
    sql(clickhouse, stored, "ALTER TABLE DB.audit_records UPDATE record = replaceOne(record, 'acme', 'acmf') "
        "WHERE agent_id = 'agent-1' AND chain_position = 7")
    with pytest.raises(ProofError, match="does not hash to its chain hash"):
        make_proof(clickhouse, stored.settings, event_id(20), keyring.export_public(), NOW_US)
    with pytest.raises(ProofError, match="no chained record"):
        make_proof(clickhouse, stored.settings, "00000000-0000-4000-8000-0000000fffff", keyring.export_public(),
                   NOW_US)
