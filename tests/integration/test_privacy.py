"""Privacy end to end: a real processor under a redaction policy, the sink on chDB, then
`dsar find` and `dsar erase` while the processor runs -- no cleartext stored, the subject's
data readable until erased and unreadable after, what came after the erasure readable
under a new key, a forged erasure refused, every chain still verifying."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from click.testing import CliRunner

from agentaudit.codec import SingleObjectCodec
from agentaudit.crypto import load_kek
from agentaudit.demo.stack import Service
from agentaudit.emit import Emitter, Principal
from agentaudit.keyring import Keyring, verify_signature
from agentaudit.privacy.cli import dsar
from agentaudit.privacy.dsar import subject_ref
from agentaudit.privacy.erasure import ERASE_KEY, Erasure
from agentaudit.settings import Settings
from agentaudit.signing import Ed25519Signer, sign_action
from agentaudit.store import quote_identifier
from agentaudit.topics import Topic
from agentaudit.verify.run import EPOCH, verify_store
from tests.avro_support import action
from tests.chain_support import TestSigner
from tests.integration.test_processor import enrolled
from tests.integration.test_sink import running_sink
from tests.pipeline_support import raw_producer, read_to_end, running, wait_for

pytestmark = pytest.mark.integration

POLICY = Path(__file__).resolve().parents[2] / "deploy" / "privacy" / "policy.example.yaml"
# Values the policy keeps out of storage (encrypted, hashed, masked or dropped).
CLEARTEXT = ("jane.doe@example.com", "Jane Doe", "4111 1111 1111 1111", "123-45-6789", "mailto:jane",
             "bob.smith@example.org", "Bob Smith", "+1 415 555 0100", "Refund for Jane")
ALICE = 6  # actions emitted for user alice (agent-1), the subject erased below
BOB = 3    # actions for user bob (agent-h), who is left alone
LATER = 2  # actions for alice after her erasure: under a new key, readable


def alice_parameters(i: int) -> dict[str, Any]:
    return {"email": "jane.doe@example.com", "card": "4111 1111 1111 1111", "ssn": "123-45-6789",
            "customer": {"name": "Jane Doe", "tier": "gold"}, "note": f"Refund for Jane #{i}", "n": i}


def stored_text(client: Client, database: str) -> str:
    """Every column of every audit table as text, the stored record bytes included."""
    db = quote_identifier(database)
    parts = []
    for table in ("audit_records", "audit_rejections", "audit_incidents"):
        rows = client.query(f"SELECT * FROM {db}.{table}").result_rows
        parts.extend(repr(row) for row in rows)
        for row in rows:
            parts.extend(bytes(v).decode("utf-8", "replace") for v in row if isinstance(v, (bytes, bytearray)))
    return "\n".join(parts)


def dsar_run(settings: Settings, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(dsar, list(args), obj=settings, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_redacted_storage_subject_lookup_and_erasure_that_keeps_chains_verifying(
    sink_settings: Settings, clickhouse: Client,
) -> None:
    settings = sink_settings.with_changes(privacy_policy=str(POLICY), seal_every_records=4)
    db = settings.clickhouse_database
    signers = enrolled(settings)
    with Emitter(settings.kafka_bootstrap, "agent-1", "acme", topic=settings.topic(Topic.ACTIONS),
                 signer=signers["agent-1"]) as emitter:
        session = emitter.session(Principal("user", "alice"))
        for i in range(ALICE):
            session.emit("tool_call", tool="crm.update", resource="mailto:jane.doe@example.com",
                         parameters=alice_parameters(i), attributes={"customer.phone": "+1 415 555 0100"})
    with Emitter(settings.kafka_bootstrap, "agent-h", "acme", topic=settings.topic(Topic.ACTIONS),
                 signer=signers["agent-h"]) as emitter:
        session = emitter.session(Principal("user", "bob"))
        for i in range(BOB):
            session.emit("tool_call", tool="crm.lookup", parameters={"email": "bob.smith@example.org",
                                                                      "customer": {"name": "Bob Smith"}})
    # A forged action full of personal data: rejected (bad signature), and kept redacted.
    forged = sign_action(action(agent_time=time.time_ns() // 1000, event_id="01934b6e-1c2a-7c3d-8e4f-00000000f0f0",
                                parameters=json.dumps(alice_parameters(99)), resource="mailto:jane.doe@example.com"),
                         Ed25519Signer.generate(signers["agent-1"].key_id))
    producer = raw_producer(settings)
    producer.produce(settings.topic(Topic.ACTIONS), SingleObjectCodec().encode("AgentAction", forged), b"agent-1")
    producer.flush(10)

    count = f"SELECT count() FROM {quote_identifier(db)}"
    with running(Service("processor", ["process"], settings)), running_sink(settings):
        wait_for("records and the rejection stored", lambda: (
            clickhouse.query(f"{count}.audit_records").result_rows[0][0] == ALICE + BOB
            and clickhouse.query(f"{count}.audit_rejections").result_rows[0][0] == 1
            and clickhouse.query(f"{count}.audit_incidents").result_rows[0][0] > 0
            and clickhouse.query(f"{count}.audit_seals").result_rows[0][0] > 0), 120)  # alice's 4th record sealed

        # Nothing the policy covers reached ClickHouse in clear: columns, record bytes, rejections, incidents.
        text = stored_text(clickhouse, db)
        assert "enc:v1:" in text and "hmac:" in text  # redacted, not merely absent
        for value in CLEARTEXT:
            assert value not in text, f"{value!r} stored in clear"
        # ... nor the topics the sink read them from.
        for topic in (Topic.RECORDS, Topic.REJECTED, Topic.INCIDENTS):
            for _p, _k, value in read_to_end(settings.kafka_bootstrap, settings.topic(topic)):
                assert value is not None and not any(v.encode() in value for v in CLEARTEXT), topic
        subjects = clickhouse.query(f"SELECT agent_id, subject_ids FROM {quote_identifier(db)}.audit_records"
                                    ).result_rows
        assert {(a, len(s)) for a, s in subjects} == {("agent-1", 1), ("agent-h", 1)}

        find = ("find", "--tenant", "acme", "--subject", "alice", "--actor", "dpo@acme", "--reason", "DSAR-17")
        found = [json.loads(line) for line in dsar_run(settings, *find).splitlines() if line.startswith("{")]
        assert len(found) == ALICE
        first = found[0]["action"]
        assert first["resource"] == "mailto:jane.doe@example.com"  # decrypted with alice's key
        assert json.loads(first["parameters"])["customer"]["name"] == "Jane Doe"
        assert json.loads(first["parameters"])["email"].startswith("hmac:")  # hashed stays hashed
        assert found[0]["unreadable"] == []

        refused = dsar_run(settings, "erase", "--tenant", "acme", "--subject", "alice", "--actor", "dpo@acme",
                           "--approver", "DPO@acme", "--reason", "DSAR-17", code=3)
        assert "cannot approve their own erasure" in refused
        # An agent may write agent.actions, but an erase control it signs itself erases nothing: it is rejected.
        ref = subject_ref(load_kek(settings), "acme", "alice")
        for partition in range(settings.partitions):
            forged_erase = Erasure("acme", ref, partition, (0,), "forged", 0, "agent-1", "agent-1")
            producer.produce(settings.topic(Topic.ACTIONS), forged_erase.control(TestSigner()), ERASE_KEY,
                             partition=partition)
        producer.flush(10)
        wait_for("the forged erasures rejected", lambda: clickhouse.query(
            f"{count}.audit_rejections WHERE reason_code = 'bad_erasure'").result_rows[0][0] == settings.partitions)
        assert len(found) == len([line for line in dsar_run(settings, *find).splitlines()
                                  if line.startswith("{") and "erased on" not in line])  # nothing erased yet

        # Erased while the processor runs: it applies the erasure at its place in the stream.
        erase = ("erase", "--tenant", "acme", "--subject", "alice", "--actor", "dpo@acme", "--approver",
                 "legal@acme", "--reason", "DSAR-17")
        assert "erased 1 key(s)" in dsar_run(settings, *erase)
        assert "erased 0 key(s)" in dsar_run(settings, *erase)  # again: nothing left to erase, nothing changes
        with Emitter(settings.kafka_bootstrap, "agent-1", "acme", topic=settings.topic(Topic.ACTIONS),
                     signer=signers["agent-1"]) as emitter:
            session = emitter.session(Principal("user", "alice"))
            for i in range(ALICE, ALICE + LATER):
                session.emit("tool_call", tool="crm.update", resource="mailto:jane.doe@example.com",
                             parameters=alice_parameters(i), attributes={"customer.phone": "+1 415 555 0100"})
        wait_for("alice's later records stored", lambda: (
            clickhouse.query(f"{count}.audit_records").result_rows[0][0] == ALICE + BOB + LATER), 120)

        after = [json.loads(line) for line in dsar_run(settings, *find).splitlines() if line.startswith("{")]
        assert len(after) == ALICE + LATER  # the records exist ...
        for record in after[:ALICE]:  # ... but what was encrypted before the erasure is gone for good
            assert record["action"]["resource"].startswith("[erased on ")
            assert "by dpo@acme" in record["action"]["resource"]
            assert "Jane Doe" not in json.dumps(record) and "jane.doe@example.com" not in json.dumps(record)
            assert "resource" in record["unreadable"]
        for record in after[ALICE:]:  # ... while what came after it is under a new key, readable
            assert record["action"]["resource"] == "mailto:jane.doe@example.com", record
            assert record["unreadable"] == []
        bob = ("find", "--tenant", "acme", "--subject", "bob", "--actor", "dpo@acme", "--reason", "DSAR-18")
        bobs = [json.loads(line) for line in dsar_run(settings, *bob).splitlines() if line.startswith("{")]
        assert len(bobs) == BOB and bobs[0]["unreadable"] == []  # another subject is untouched

    requests = [json.loads(v or b"{}") for _p, _k, v in read_to_end(settings.kafka_bootstrap,
                                                                     settings.topic(Topic.PRIVACY_REQUESTS))]
    assert [(r["kind"], r["actor"], r["approver"]) for r in requests] == [
        ("find", "dpo@acme", None), ("find", "dpo@acme", None), ("erase", "dpo@acme", "legal@acme"),
        ("erase", "dpo@acme", "legal@acme"), ("find", "dpo@acme", None), ("find", "dpo@acme", None),
    ]  # the refused erasure did nothing, logged nothing
    assert [r["outcome"]["keys_erased"] for r in requests if r["kind"] == "erase"][1] == []
    assert not any("alice" in json.dumps(r) for r in requests)  # subjects are logged by their keyed hash

    # Crypto-shredding changed no stored byte: every chain and seal still verifies.
    report = verify_store(clickhouse, db, [], EPOCH, None, Keyring.load(settings).public_keys(), verify_signature,
                          int(settings.seal_interval_s * 1e6))
    assert report.ok, report.findings[:5]
    assert sum(a.records for a in report.agents) == ALICE + BOB + LATER and sum(a.seals for a in report.agents) >= 1


def test_an_erasure_sent_while_the_processor_is_down_takes_effect_when_it_runs(
    sink_settings: Settings, clickhouse: Client,
) -> None:
    settings = sink_settings.with_changes(privacy_policy=str(POLICY))
    signers = enrolled(settings)
    with Emitter(settings.kafka_bootstrap, "agent-1", "acme", topic=settings.topic(Topic.ACTIONS),
                 signer=signers["agent-1"]) as emitter:
        emitter.session(Principal("user", "alice")).emit("tool_call", tool="crm.update",
                                                         resource="mailto:jane.doe@example.com")
    with running(Service("processor", ["process"], settings)):
        wait_for("alice's record", lambda: len(read_to_end(settings.kafka_bootstrap,
                                                            settings.topic(Topic.RECORDS))) == 1)
    erase = ("erase", "--tenant", "acme", "--subject", "alice", "--actor", "dpo@acme", "--approver",
             "legal@acme", "--reason", "DSAR-19")
    pending = dsar_run(settings, *erase, "--wait", "2", code=75)  # sent, but no processor applies it
    assert "pending on partition(s)" in pending and "is the processor running" in pending
    first = pending.split("(request ")[1].split(" ")[0]

    with running(Service("processor", ["process"], settings)), running_sink(settings):
        assert "erased 1 key(s)" in dsar_run(settings, *erase)  # the retry names the same key; the first wins
        wait_for("alice's record stored", lambda: clickhouse.query(
            f"SELECT count() FROM {quote_identifier(settings.clickhouse_database)}.audit_records").result_rows[0][0]
            == 1)
    find = ("find", "--tenant", "acme", "--subject", "alice", "--actor", "dpo@acme", "--reason", "DSAR-19")
    [record] = [json.loads(line) for line in dsar_run(settings, *find).splitlines() if line.startswith("{")]
    resource = record["action"]["resource"]
    assert resource.startswith("[erased on ") and f"(request {first})" in resource
