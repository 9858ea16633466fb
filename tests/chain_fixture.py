"""Stores sealed chains in ClickHouse through the processor's and the sink's own code.

Actions are rendered by BatchHandler (validate, chain, seal) exactly as the
processor does, and the outputs go through the sink's row functions into a
real ClickHouse database, without Kafka in between, so tamper and verify tests
run in seconds on real stored bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from clickhouse_connect.driver.client import Client
from confluent_kafka import Producer

from agentaudit.codec import SingleObjectCodec
from agentaudit.process.app import BatchHandler, load_rules
from agentaudit.process.chaining import ChainStage
from agentaudit.process.state_store import StateStore
from agentaudit.process.validate import LOG_APPEND_TIME, Input
from agentaudit.registry.avro import to_avro
from agentaudit.registry.keyfiles import ed25519_key
from agentaudit.registry.log import RegistryLog
from agentaudit.registry.model import Scope
from agentaudit.registry.requests import ChangeRequest, Register, RotateKey
from agentaudit.registry.rows import REGISTRY_COLUMNS, REGISTRY_TABLE
from agentaudit.settings import Settings
from agentaudit.signing import Ed25519Signer
from agentaudit.sink.rows import COLUMNS, RECORDS_TABLE, SEALS_TABLE, record_row, registry_change_row, seal_row
from agentaudit.store import quote_identifier
from tests.avro_support import action
from tests.chain_support import TestSigner
from tests.identity_support import NoSecrets, StaticRegistry, signed
from tests.sink_support import BASE_US, event_id

SECOND = 1_000_000


class Signer(Protocol):
    """TestSigner, or a real agentaudit.keyring.Keyring (whose key ids a public keys file accepts)."""

    @property
    def current_key_id(self) -> str: ...

    def sign(self, data: bytes) -> tuple[str, bytes]: ...

    def public_keys(self) -> dict[str, bytes]: ...


@dataclass
class Stored:
    signer: Signer
    settings: Settings
    agents: list[str]
    records: int
    seals: int


def store_chains(
    client: Client, database: str, *, agents: int = 3, records: int = 40, every: int = 8, interval_s: int = 10,
    step_us: int = 700_000, signer: Signer | None = None, quiet: bool = False, start_us: int = BASE_US,
    overrides: Callable[[int], dict[str, Any]] | None = None, score: bool = False,
) -> Stored:
    """`records` actions round-robin over `agents`, then quiet time with ticks; all stored and sealed.

    start_us: ingest time of the first action (rounded down to the sealing period); an hour ago by default.
    overrides(n): more AgentAction fields for the n-th action (from 0), e.g. a policy decision.
    score: run the packaged detection rules, as the processor does (records carry risk scores and rule hits).
    """
    settings = Settings(topic_prefix="t.", seal_every_records=every, seal_interval_s=float(interval_s),
                        clickhouse_database=database)
    codec = SingleObjectCodec()
    signer = signer or TestSigner()
    producer = Producer({"bootstrap.servers": "127.0.0.1:9"})  # render() and advance() do no I/O
    names = [f"agent-{i}" for i in range(agents)]
    handler = BatchHandler(settings, codec, producer, StateStore(settings, "127.0.0.1:9", producer), signer,
                           StaticRegistry(*names), NoSecrets(), load_rules(settings) if score else None)
    stage = ChainStage(0, {}, -1, handler.policy, handler.seal_form, signer)
    record_rows, seal_rows = [], []
    start = (start_us // (interval_s * SECOND)) * interval_s * SECOND

    def seals_of(sealed: list) -> None:  # type: ignore[type-arg]
        for seal in sealed:
            value = codec.header("Seal") + seal.body
            seal_rows.append(seal_row(codec.decode("Seal", value), value))

    offset = 0
    quiet_us = 3 * interval_s * SECOND if quiet else 0  # a quiet stretch half way: idle seals between busy ones
    for n in range(records):
        agent = names[n % agents]
        now = start + n * step_us + (quiet_us if n >= records // 2 else 0)
        if quiet and n == records // 2:
            for k in range(1, 4):
                tick = {"topic": "t.agent.actions", "partition": 0, "offset": offset}
                seals_of(stage.advance(start + n * step_us + k * interval_s * SECOND, tick))
                offset += 1
        source = {"topic": "t.agent.actions", "partition": 0, "offset": offset}
        seals_of(stage.advance(now, source))
        value = codec.encode("AgentAction", signed(action(
            event_id=event_id(n + 1), agent_id=agent, sequence=n // agents + 1, agent_time=now - 1000,
            **(overrides(n) if overrides else {}),
        )))
        msg = Input("t.agent.actions", 0, offset, agent.encode(), value, now // 1000, LOG_APPEND_TIME)
        topic, out, sealed = handler.render(msg, stage)
        assert topic == "t.audit.records", codec.decode("Rejection", out)
        record_rows.append(record_row(codec.decode("AuditRecord", out), out))
        seals_of(sealed)
        offset += 1
    # Quiet time: ticks only, so every chain gets its time seal, idle or not.
    end = start + records * step_us + quiet_us
    for k in range(1, 4):
        seals_of(stage.advance(end + k * interval_s * SECOND, {"topic": "t.agent.actions", "partition": 0,
                                                                 "offset": offset}))
        offset += 1
    db = quote_identifier(database)
    client.insert(f"{db}.{RECORDS_TABLE}", record_rows, column_names=list(COLUMNS[RECORDS_TABLE]))
    client.insert(f"{db}.{SEALS_TABLE}", seal_rows, column_names=list(COLUMNS[SEALS_TABLE]))
    return Stored(signer, settings, names, len(record_rows), len(seal_rows))


@dataclass
class StoredRegistry:
    keys: dict[str, bytes]  # agent id -> its Ed25519 public key as registered
    entries: int


def store_registry(client: Client, database: str, signer: Signer, agents: list[str],
                   more: Sequence[ChangeRequest] = ()) -> StoredRegistry:
    """Registry history in agent_registry, as the sink stores it: each agent registered, the first re-keyed,
    then the `more` changes, a second apart."""
    codec = SingleObjectCodec()
    log = RegistryLog(signer.public_keys())
    keys: dict[str, bytes] = {}
    rows = []
    now = BASE_US
    requests: list[ChangeRequest] = [
        Register(agent_id=a, name=a, owner="tests", environment="test", tenant_id="acme", principals=("user:*",),
                 scope=Scope(), key=ed25519_key(Ed25519Signer.generate(f"{a}-k").public_key_bytes()),
                 actor="alice", approver="bob", reason="setup")
        for a in agents
    ]
    requests.append(RotateKey(agent_id=agents[0], key=ed25519_key(Ed25519Signer.generate("r").public_key_bytes()),
                              actor="carol", approver="bob", reason="rotation"))
    requests.extend(more)
    for request in requests:
        now += SECOND
        change = log.prepare(request, signer, now, str(uuid.uuid4()))
        log.append(change)
        value = codec.encode("RegistryChange", to_avro(change))
        rows.append(registry_change_row(codec.decode("RegistryChange", value), value))
        keys[change.agent_id] = change.definition.keys[-1].material
    client.insert(f"{quote_identifier(database)}.{REGISTRY_TABLE}", rows, column_names=list(REGISTRY_COLUMNS))
    return StoredRegistry(keys, len(rows))
