"""A small real chain and seal, built in memory with the pipeline's own byte forms, for the evidence unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agentaudit.chain.forms import PrefixForm, chain_link_tail
from agentaudit.chain.links import genesis, link
from agentaudit.chain.merkle import root
from agentaudit.chain.seal import SealForm, seal_genesis
from agentaudit.codec import SingleObjectCodec, load_schemas
from agentaudit.keyring import PipelineKey, ed25519_key_id, public_keys_document
from tests.sink_support import record

SCHEMAS = load_schemas()
CODEC = SingleObjectCodec(SCHEMAS)
FORM = SealForm(SCHEMAS)
T0 = 1_800_000_000_000_000


class KeySigner:
    """An Ed25519 pipeline key with a real key id (a public keys file accepts it), no keyring file."""

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()
        self.public = self._key.public_key().public_bytes_raw()
        self.current_key_id = ed25519_key_id(self.public)

    def sign(self, data: bytes) -> tuple[str, bytes]:
        return self.current_key_id, self._key.sign(data)

    def public_keys(self) -> dict[str, bytes]:
        return {self.current_key_id: self.public}

    def document(self) -> dict[str, Any]:
        return public_keys_document([PipelineKey(self.current_key_id, self.public, b"", 0)])


@dataclass
class Chain:
    agent_id: str
    values: list[bytes] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    prevs: list[bytes] = field(default_factory=list)
    hashes: list[bytes] = field(default_factory=list)
    seal_value: bytes = b""
    seal: dict[str, Any] = field(default_factory=dict)


def make_chain(signer: KeySigner, n: int = 5, agent_id: str = "agent-1") -> Chain:
    """n chained AuditRecord values of one agent and one seal over all of them."""
    prefix = PrefixForm(SCHEMAS, "AuditRecord", ("chain",))
    header = CODEC.header("AuditRecord")
    chain = Chain(agent_id)
    prev = genesis(agent_id)
    for position in range(1, n + 1):
        datum = record(position, 1, ingest_us=T0 + position * 1000, agent_id=agent_id)
        del datum["chain"]
        canonical = prefix.encode(datum)
        hash_ = link(prev, canonical)
        value = header + canonical + chain_link_tail(position, prev, hash_)
        chain.values.append(value)
        chain.records.append(CODEC.decode("AuditRecord", value))
        chain.prevs.append(prev)
        chain.hashes.append(hash_)
        prev = hash_
    sealed = FORM.make({
        "agent_id": agent_id, "tenant_id": "acme", "seq": 1, "reason": "count",
        "first_position": 1, "last_position": n, "head_hash": prev, "merkle_root": root(chain.hashes),
        "from_time": T0, "until_time": T0 + n * 1000, "prev_seal_hash": seal_genesis(agent_id),
        "source": {"topic": "agent.actions", "partition": 1, "offset": n},
    }, signer)
    chain.seal_value = CODEC.header("Seal") + sealed.body
    chain.seal = CODEC.decode("Seal", chain.seal_value)
    return chain
