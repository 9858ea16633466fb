"""The agent registry on a real broker: writer, follower, fencing, tampering, and the CLI."""

from __future__ import annotations

import base64
import json
import stat
import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from click.testing import CliRunner
from clickhouse_connect.driver.client import Client

from agentaudit.admin import ensure_topics, verify_topic
from agentaudit.cli import _register, cli
from agentaudit.codec import SingleObjectCodec
from agentaudit.errors import AgentAuditError, ConfigError
from agentaudit.keyring import Keyring
from agentaudit.registry.avro import SCHEMA, to_avro
from agentaudit.registry.change import ChangeKind
from agentaudit.registry.errors import RegistryIntegrityError, RegistryRefusal
from agentaudit.registry.log import RegistryLog
from agentaudit.registry.model import AgentKey, AgentStatus
from agentaudit.registry.rows import REGISTRY_COLUMNS, REGISTRY_TABLE, registry_row
from agentaudit.registry.store import RegistryFollower, RegistryWriter, load_registry
from agentaudit.settings import Settings
from agentaudit.store import quote_identifier
from agentaudit.topics import Topic
from tests.pipeline_support import wait_for
from tests.chain_support import TestSigner
from tests.registry_support import new_key, register, rotate, set_status

pytestmark = pytest.mark.integration
codec = SingleObjectCodec()


@pytest.fixture
def registry_settings(settings: Settings) -> Settings:
    """The test's settings (a KEK file and a pipeline keyring, from conftest) with the registry topic."""
    ensure_topics(settings, settings.kafka_bootstrap)
    return settings


def writer(settings: Settings) -> RegistryWriter:
    return RegistryWriter(settings, settings.kafka_bootstrap, Keyring.load(settings))


def public_keys(settings: Settings) -> dict[str, bytes]:
    return Keyring.load(settings).public_keys()


def test_changes_are_written_verified_and_answer_as_of_questions(registry_settings: Settings) -> None:
    with writer(registry_settings) as w:
        registered = w.submit(register("billing-agent"))
        suspended = w.submit(set_status("billing-agent", ChangeKind.SUSPEND))
    assert (registered.position, suspended.position) == (1, 2)
    view = load_registry(registry_settings, registry_settings.kafka_bootstrap, public_keys(registry_settings))
    before = view.as_of("billing-agent", suspended.valid_from_us - 1)
    after = view.as_of("billing-agent", suspended.valid_from_us)
    assert before is not None and before.status is AgentStatus.ACTIVE
    assert after is not None and after.status is AgentStatus.SUSPENDED and after.version == 2


def test_a_refused_change_writes_nothing(registry_settings: Settings) -> None:
    with writer(registry_settings) as w:
        w.submit(register("billing-agent"))
        with pytest.raises(RegistryRefusal, match="separation of duties"):
            w.submit(set_status("billing-agent", ChangeKind.SUSPEND, actor="bob", approver="bob"))
        with pytest.raises(RegistryRefusal, match="registered already"):
            w.submit(register("billing-agent"))
    with RegistryFollower(registry_settings, registry_settings.kafka_bootstrap, public_keys(registry_settings)) as f:
        assert f.log.head.position == 1


def test_the_follower_sees_a_change_made_after_it_started(registry_settings: Settings) -> None:
    bootstrap = registry_settings.kafka_bootstrap
    with writer(registry_settings) as w, RegistryFollower(registry_settings, bootstrap,
                                                          public_keys(registry_settings)) as follower:
        assert follower.catch_up() == 0 and follower.view.agents() == []
        change = w.submit(register("late-agent"))
        wait_for("the follower to catch up", lambda: follower.catch_up() > 0 or bool(follower.view.agents()), 30)
        assert follower.view.agents() == ["late-agent"] and follower.log.head.hash == change.hash
        assert follower.catch_up() == 0  # nothing new: the cheap path
        w.submit(rotate("late-agent"))
        assert follower.sync() == 1 and follower.log.head.position == 2  # sync waits for nothing, misses nothing


def test_a_follower_reloads_pipeline_keys_after_the_keyring_rotates(registry_settings: Settings) -> None:
    bootstrap = registry_settings.kafka_bootstrap
    with writer(registry_settings) as w:
        w.submit(register("before"))
    keys_then = public_keys(registry_settings)
    with RegistryFollower(registry_settings, bootstrap, keys_then) as stale, RegistryFollower(
            registry_settings, bootstrap, keys_then,
            refresh_keys=lambda: Keyring.load(registry_settings).public_keys()) as refreshing:
        Keyring.load(registry_settings).rotate()
        with writer(registry_settings) as w:  # signs with the new key
            w.submit(register("after"))
        assert refreshing.sync() == 1 and refreshing.view.agents() == ["after", "before"]
        with pytest.raises(RegistryIntegrityError, match="position 2: signed by pipeline key .* not among"):
            stale.sync()


def test_two_concurrent_writers_never_fork_the_chain(registry_settings: Settings) -> None:
    errors: list[BaseException] = []
    written: list[str] = []

    def run(prefix: str) -> None:
        try:
            with writer(registry_settings) as w:
                for i in range(4):
                    written.append(w.submit(register(f"{prefix}-{i}")).change_id)
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    with RegistryFollower(registry_settings, registry_settings.kafka_bootstrap, public_keys(registry_settings)) as f:
        # every entry verified, linked to the one before: one chain, no fork, nothing lost
        assert [c.position for c in f.log.changes] == list(range(1, 9))
        assert sorted(c.change_id for c in f.log.changes) == sorted(written)
        assert len(f.view.agents()) == 8


def test_a_writer_fenced_by_another_cannot_commit_its_entry(registry_settings: Settings) -> None:
    """The stale writer built its entry on head 1, as the other writer did: only one of them lands."""
    bootstrap = registry_settings.kafka_bootstrap
    keyring = Keyring.load(registry_settings)
    with writer(registry_settings) as w:
        w.submit(register("first"))
        stale = Producer({"bootstrap.servers": bootstrap,
                          "transactional.id": f"{registry_settings.topic_prefix}agentaudit-registry"})
        stale.init_transactions(30)
        stale_log = RegistryLog(keyring.public_keys())
        for change in w.log.changes:
            stale_log.append(change)
        entry = stale_log.prepare(register("stale-agent"), keyring, 0, "stale-change")
        stale.begin_transaction()
        stale.produce(w.topic, codec.encode(SCHEMA, to_avro(entry)), b"stale-agent", partition=0)
        stale.flush(10)
        winner = w.submit(register("winner"))  # its init_transactions fences the stale producer
        with pytest.raises(Exception, match="(?i)fenc"):
            stale.commit_transaction(30)
    assert winner.position == entry.position == 2
    view = load_registry(registry_settings, bootstrap, keyring.public_keys())
    assert view.agents() == ["first", "winner"]


def test_a_key_swapped_in_the_topic_is_caught_at_its_position(registry_settings: Settings) -> None:
    bootstrap = registry_settings.kafka_bootstrap
    with writer(registry_settings) as w:
        w.submit(register("first"))
        genuine = w.log.prepare(register("victim"), Keyring.load(registry_settings), 0, "c2")
    attacker = new_key()
    swapped = replace(genuine, definition=replace(genuine.definition, keys=(
        AgentKey(attacker.key_id, attacker.algorithm, attacker.material, genuine.valid_from_us),)))
    with RegistryFollower(registry_settings, bootstrap, public_keys(registry_settings)) as running:
        producer = Producer({"bootstrap.servers": bootstrap})
        producer.produce(registry_settings.topic(Topic.REGISTRY), codec.encode(SCHEMA, to_avro(swapped)), b"victim")
        assert producer.flush(10) == 0
        with pytest.raises(RegistryIntegrityError, match="position 2: its contents do not match its hash"):
            load_registry(registry_settings, bootstrap, public_keys(registry_settings))
        with pytest.raises(RegistryIntegrityError, match="position 2"):
            running.sync()
        for again in (running.catch_up, running.sync):  # and on every later call: never skipped past
            with pytest.raises(RegistryIntegrityError, match="position 2"):
                again()
        assert running.log.head.position == 1


def test_a_missing_or_short_lived_registry_topic_is_refused(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="does not exist.*agentaudit topics ensure"):
        load_registry(settings, settings.kafka_bootstrap, {})
    name = settings.topic(Topic.REGISTRY)
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})  # kept alive until the future resolves
    admin.create_topics([NewTopic(name, 1, 1)])[name].result()
    with pytest.raises(ConfigError, match=rf"{name} has retention.ms=604800000.*never deleted"):
        verify_topic(settings, settings.kafka_bootstrap, Topic.REGISTRY)


# -- the CLI --------------------------------------------------------------------


def agents_cli(settings: Settings, *args: str) -> tuple[int, str]:
    """Run `agentaudit agents …` as main() would: (exit code, stdout + stderr + the error main prints)."""
    _register()
    env = settings.to_env()  # the KEK travels as AGENTAUDIT_KEK_FILE; to_env() never passes an inline KEK on
    result = CliRunner().invoke(cli, ["agents", *args], env=env)
    output = result.stdout + result.stderr
    if isinstance(result.exception, AgentAuditError):
        output += f"agentaudit: error: {result.exception}"
    elif result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, output


APPROVAL = ("--actor", "alice", "--approver", "bob", "--reason", "CHG-42")


def test_cli_register_show_suspend_history(registry_settings: Settings, tmp_path: Path) -> None:
    private_key = tmp_path / "billing.pem"
    code, out = agents_cli(
        registry_settings, "register", "billing-bot", "--name", "Billing bot", "--owner", "team-billing",
        "--environment", "production", "--tenant", "acme", "--principal", "user:*", "--principal", "service:erp",
        "--action-type", "tool_call", "--tool", "crm.lookup", "--resource", "crm://accounts/*",
        "--data-class", "financial", "--generate-key", "--private-key-out", str(private_key), *APPROVAL)
    assert code == 0, out
    assert "registered billing-bot (registry position 1)" in out
    assert stat.S_IMODE(private_key.stat().st_mode) == 0o600 and b"PRIVATE KEY" in private_key.read_bytes()
    assert private_key.read_text() not in out

    code, out = agents_cli(registry_settings, "show", "billing-bot")
    assert code == 0, out
    assert "status        active (version 1" in out and "crm://accounts/*" in out
    assert "by change     #1 register by alice, approved by bob: CHG-42" in out
    code, out = agents_cli(registry_settings, "show", "billing-bot", "--json")
    registered_at = datetime.fromisoformat(json.loads(out)["valid_from"].replace("Z", "+00:00"))

    code, out = agents_cli(registry_settings, "suspend", "billing-bot", "--actor", "carol", "--approver", "dave",
                           "--reason", "INC-7 misbehaving")
    assert code == 0 and "billing-bot is suspended (registry position 2" in out, out

    code, out = agents_cli(registry_settings, "show", "billing-bot", "--at", registered_at.isoformat(), "--json")
    assert code == 0, out
    then = json.loads(out)
    assert then["agent"]["status"] == "active" and then["position"] == 1 and then["approver"] == "bob"
    code, out = agents_cli(registry_settings, "show", "billing-bot", "--json")
    assert json.loads(out)["agent"]["status"] == "suspended"

    code, out = agents_cli(registry_settings, "history", "billing-bot")
    assert code == 0, out
    lines = out.strip().splitlines()
    assert len(lines) == 3 and "register" in lines[1] and "alice" in lines[1] and "bob" in lines[1]
    assert "suspend" in lines[2] and "carol" in lines[2] and "dave" in lines[2] and "INC-7 misbehaving" in lines[2]

    code, out = agents_cli(registry_settings, "list", "--status", "suspended", "--json")
    assert [json.loads(line)["agent_id"] for line in out.splitlines()] == ["billing-bot"]


def test_cli_refusals_are_explained_and_leave_no_key_behind(registry_settings: Settings, tmp_path: Path) -> None:
    private_key = tmp_path / "self-approved.pem"
    code, out = agents_cli(
        registry_settings, "register", "x-bot", "--name", "X", "--owner", "o", "--environment", "dev",
        "--tenant", "acme", "--principal", "user:*", "--generate-key", "--private-key-out", str(private_key),
        "--actor", "alice", "--approver", "Alice", "--reason", "r")
    assert code != 0 and "cannot approve their own change" in out and "separation of duties" in out
    assert not private_key.exists()  # never registered: its key file is taken back
    code, out = agents_cli(registry_settings, "suspend", "ghost", *APPROVAL)
    assert code != 0 and "no agent ghost in the registry; register it first" in out
    code, out = agents_cli(registry_settings, "show", "ghost")
    assert code != 0 and "no agent ghost" in out
    code, out = agents_cli(registry_settings, "rotate-key", "ghost", "--grace", "soon", "--generate-key",
                           "--private-key-out", str(tmp_path / "k"), *APPROVAL)
    assert code != 0 and "'soon' is not a duration" in out


def test_cli_hmac_secret_goes_only_to_its_file_and_rotation_keeps_the_old_key_for_the_grace(
    registry_settings: Settings, tmp_path: Path
) -> None:
    secret_file = tmp_path / "fast.secret.json"
    code, out = agents_cli(
        registry_settings, "register", "fast-bot", "--name", "Fast", "--owner", "o", "--environment", "prod",
        "--tenant", "acme", "--principal", "service:*", "--key-type", "hmac", "--secret-out", str(secret_file),
        *APPROVAL)
    assert code == 0, out
    secret = json.loads(secret_file.read_text())
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600 and secret["agent_id"] == "fast-bot"
    assert secret["secret"] not in out and base64.b64decode(secret["secret"]).hex() not in out
    code, out = agents_cli(registry_settings, "show", "fast-bot", "--json")
    assert secret["secret"] not in out and json.loads(out)["agent"]["keys"][0]["key_id"] == secret["key_id"]

    code, out = agents_cli(registry_settings, "rotate-key", "fast-bot", "--grace", "1h", "--key-type", "hmac",
                           "--secret-out", str(tmp_path / "fast2.secret.json"), *APPROVAL)
    assert code == 0, out
    keys = json.loads(agents_cli(registry_settings, "show", "fast-bot", "--json")[1])["agent"]["keys"]
    assert [k["key_id"] for k in keys][0] == secret["key_id"] and keys[0]["valid_until"] is not None
    assert keys[1]["valid_until"] is None


def test_cli_auditors_verify_with_exported_public_keys_without_the_kek(
    registry_settings: Settings, tmp_path: Path
) -> None:
    code, out = agents_cli(
        registry_settings, "register", "audited-bot", "--name", "A", "--owner", "o", "--environment", "prod",
        "--tenant", "acme", "--principal", "user:*", "--generate-key", "--private-key-out", str(tmp_path / "k.pem"),
        *APPROVAL)
    assert code == 0, out
    exported = tmp_path / "pipeline-public-keys.json"
    exported.write_text(json.dumps(Keyring.load(registry_settings).export_public()))
    auditor = registry_settings.with_changes(kek="", kek_file="", home=tmp_path / "auditor")  # no KEK, no keyring
    code, out = agents_cli(auditor, "show", "audited-bot", "--public-keys", str(exported))
    assert code == 0 and "audited-bot (A)" in out, out
    code, out = agents_cli(auditor, "show", "audited-bot")
    assert code != 0 and "agentaudit keys init" in out


# -- ClickHouse -----------------------------------------------------------------


def test_registry_rows_insert_into_the_append_only_table(clickhouse: Client, ch_database: str) -> None:
    signer = TestSigner()
    log = RegistryLog(signer.public_keys())
    rows = []
    for request, at_us in ((register("billing-agent"), 1_700_000_000_000_000),
                           (set_status("billing-agent", ChangeKind.SUSPEND), 1_700_000_100_000_000)):
        change = log.prepare(request, signer, at_us, f"change-{at_us}")
        log.append(change)
        value = codec.encode(SCHEMA, to_avro(change))
        rows.append(registry_row(codec.decode(SCHEMA, value), value))
    table = f"{quote_identifier(ch_database)}.{REGISTRY_TABLE}"
    described = [r[0] for r in clickhouse.query(f"DESCRIBE TABLE {table}").result_rows]
    assert described == [*REGISTRY_COLUMNS, "stored_at"]
    clickhouse.insert(table, [list(row.values()) for row in rows], column_names=list(REGISTRY_COLUMNS))

    stored = clickhouse.query(
        f"SELECT position, kind, status, toUnixTimestamp64Micro(valid_from), actor, approver, hash, record, key_ids "
        f"FROM {table} WHERE agent_id = {{agent:String}} ORDER BY position",
        parameters={"agent": "billing-agent"}, column_formats={"hash": "bytes", "record": "bytes"},
    ).result_rows
    assert [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in stored] == [
        (1, "register", "active", 1_700_000_000_000_000, "alice", "bob"),
        (2, "suspend", "suspended", 1_700_000_100_000_000, "alice", "bob")]
    assert [r[6] for r in stored] == [c.hash for c in log.changes]
    assert [r[7] for r in stored] == [row["record"] for row in rows]  # the exact Avro bytes
    assert stored[0][8] == [k.key_id for k in log.changes[0].definition.keys]
    engine, engine_full = clickhouse.query(
        "SELECT engine, engine_full FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": ch_database, "t": REGISTRY_TABLE}).result_rows[0]
    assert engine == "MergeTree" and "TTL" not in engine_full  # kept as long as a definition may be in effect
