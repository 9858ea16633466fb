"""Inclusion proofs: one record shown to be in a signed seal. Pure, offline.

A proof carries the record's stored value, its chain hash, the RFC 6962
audit path from that hash (a leaf input of the seal's tree) to the seal's
Merkle root, the seal's stored value and the public keys. Checking it needs
nothing else:

1. SHA-256(prev_hash || canonical bytes of the value) is the chain hash, and
   the chain link ending the value states that position and those hashes;
2. the value decodes to the event the proof names;
3. the seal is of the same agent, covers the position, and leaf_index and
   tree_size are the position's place among the positions it covers;
4. the audit path leads from the chain hash to the seal's merkle_root;
5. the seal's Ed25519 signature verifies with a pipeline public key -- the
   keys given out of band (trusted_keys), or else the proof's own, which
   shows only that the proof is consistent, not who made it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentaudit import __version__
from agentaudit.chain.merkle import inclusion_proof, verify_inclusion
from agentaudit.chain.seal import SealForm
from agentaudit.codec import load_schemas
from agentaudit.errors import AgentAuditError
from agentaudit.evidence.formats import (
    PROOF_FORMAT,
    FormatError,
    b64,
    content_ok,
    iso_us,
    link_ok,
    unb64,
    unhex_hash,
)
from agentaudit.evidence.lines import differing, record_decoded_fields, seal_fields
from agentaudit.evidence.values import ValueReader, parse_confluent_ids
from agentaudit.keyring.keys import parse_public_keys, verify_signature
from agentaudit.verify.checks import Finding

ALGORITHM = "RFC 6962 Merkle tree hash with SHA-256 (leaf 00 || chain hash, node 01 || left || right)"


def build_proof(
    *,
    record_value: bytes,
    record: dict[str, Any],
    agent_id: str,
    position: int,
    prev_hash: bytes,
    chain_hash: bytes,
    seal_value: bytes,
    seal: dict[str, Any],
    seal_hash: bytes,
    covered_hashes: Sequence[bytes],
    public_keys_document: Mapping[str, Any],
    confluent_ids: Mapping[str, str],
    created_at_us: int,
) -> dict[str, Any]:
    """The proof document for the record at `position` of a seal covering `covered_hashes` (in position order)."""
    index = position - seal["first_position"]
    return {
        "format": PROOF_FORMAT,
        "event_id": record["action"]["event_id"],
        "created_at": iso_us(created_at_us),
        "exporter": {"name": "agentaudit", "version": __version__},
        "record": {
            "agent_id": agent_id, "position": position, **record_decoded_fields(record),
            "prev_hash": prev_hash.hex(), "hash": chain_hash.hex(), "value": b64(record_value),
        },
        "inclusion": {
            "algorithm": ALGORITHM,
            "leaf_index": index,
            "tree_size": len(covered_hashes),
            "audit_path": [h.hex() for h in inclusion_proof(index, covered_hashes)],
        },
        "seal": {**seal_fields(seal, seal_hash), "value": b64(seal_value)},
        "public_keys": dict(public_keys_document),
        "confluent_schema_ids": dict(confluent_ids),
    }


@dataclass
class ProofResult:
    findings: list[Finding] = field(default_factory=list)
    event_id: str | None = None
    agent_id: str | None = None
    position: int | None = None
    seal_seq: int | None = None
    key_id: str | None = None
    keys_given: bool = False

    @property
    def ok(self) -> bool:
        return not self.findings and self.seal_seq is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "event_id": self.event_id, "agent_id": self.agent_id, "position": self.position,
            "seal_seq": self.seal_seq, "key_id": self.key_id, "keys_given": self.keys_given,
            "findings": [f.as_dict() for f in self.findings],
        }


class _Malformed(Exception):
    pass


def _field(document: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    value = document.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _Malformed(f"{where}.{name} is missing or not a {kind.__name__}")
    return value


def verify_proof(document: object, trusted_keys: Mapping[str, bytes] | None = None) -> ProofResult:
    """Check an inclusion proof; trusted_keys: the public keys given out of band, if any."""
    result = ProofResult(keys_given=trusted_keys is not None)
    try:
        _check(document, trusted_keys, result)
    except (_Malformed, FormatError) as exc:
        result.findings.append(Finding("proof_malformed", result.agent_id or "", str(exc)))
    return result


def _check(document: object, trusted_keys: Mapping[str, bytes] | None, result: ProofResult) -> None:
    if not isinstance(document, dict) or document.get("format") != PROOF_FORMAT:
        raise _Malformed(f"not an {PROOF_FORMAT} document")
    record_doc = _field(document, "record", dict, "proof")
    inclusion = _field(document, "inclusion", dict, "proof")
    seal_doc = _field(document, "seal", dict, "proof")
    claimed_event = _field(document, "event_id", str, "proof")
    agent_id = result.agent_id = _field(record_doc, "agent_id", str, "record")
    position = result.position = _field(record_doc, "position", int, "record")
    result.event_id = claimed_event
    prev_hash = unhex_hash(record_doc.get("prev_hash"), "record.prev_hash")
    chain_hash = unhex_hash(record_doc.get("hash"), "record.hash")
    value = unb64(record_doc.get("value"), "record.value")
    index = _field(inclusion, "leaf_index", int, "inclusion")
    size = _field(inclusion, "tree_size", int, "inclusion")
    path_doc = _field(inclusion, "audit_path", list, "inclusion")
    path = [unhex_hash(h, "inclusion.audit_path element") for h in path_doc]
    seal_value = unb64(seal_doc.get("value"), "seal.value")
    schemas = load_schemas()
    reader = ValueReader(schemas, parse_confluent_ids(document.get("confluent_schema_ids")))
    form = SealForm(schemas)

    def finding(kind: str, detail: str, **where: Any) -> None:
        result.findings.append(Finding(kind, agent_id, detail, **where))

    # 1. The record's bytes hash, with its prev hash, to the chain hash the path starts from.
    at = {"position": position, "event_id": claimed_event}
    if not link_ok(value, position, prev_hash, chain_hash):
        finding("link_mismatch", "the chain link inside the record's bytes differs from its position and hashes", **at)
    if not content_ok(value, position, prev_hash, chain_hash):
        finding("record_modified", "the record's bytes do not hash to its chain hash", **at)
    # 2. ... and are the event the proof is about.
    try:
        record = reader.decode("AuditRecord", value)
    except FormatError as exc:
        finding("record_undecodable", str(exc), **at)
    else:
        expected = {"agent_id": record["action"]["agent_id"], **record_decoded_fields(record)}
        wrong = differing(record_doc, expected)
        if claimed_event != record["action"]["event_id"]:
            wrong.insert(0, "event_id (the proof's)")
        if wrong:
            finding("record_fields_mismatch", f"{', '.join(wrong)} differ from what the record's bytes say", **at)

    # 3. The seal: decoded, of this agent, covering this position at this leaf.
    try:
        seal = reader.decode("Seal", seal_value)
    except FormatError as exc:
        finding("seal_undecodable", str(exc))
        return
    result.seal_seq = seal["seq"]
    result.key_id = seal["key_id"]
    in_seal = {"seal_seq": seal["seq"]}
    wrong = differing(seal_doc, seal_fields(seal, form.seal_hash(seal)))
    if wrong:
        finding("seal_fields_mismatch", f"readable field(s) {', '.join(wrong)} differ from the seal's bytes", **in_seal)
    first, last = seal["first_position"], seal["last_position"]
    if seal["agent_id"] != agent_id:
        finding("proof_wrong_seal", f"the seal is of agent {seal['agent_id']!r}, the record of {agent_id!r}", **in_seal)
    elif not first <= position <= last:
        finding("proof_wrong_seal", f"the seal covers positions {first}..{last}, not {position}", **in_seal)
    elif (index, size) != (position - first, last - first + 1):
        finding("proof_wrong_seal", f"leaf {index} of {size} is not position {position}'s place in the seal's "
                f"positions {first}..{last}", **in_seal)
    # 4. The audit path leads from the chain hash to the signed root.
    if not verify_inclusion(chain_hash, index, size, path, seal["merkle_root"]):
        finding("proof_path_invalid", "the audit path does not lead from the record's chain hash to the seal's "
                "Merkle root", **in_seal)

    # 5. The seal's signature, with the keys given out of band when there are any.
    keys = _keys(document.get("public_keys"), trusted_keys, finding)
    if seal["key_id"] not in keys:
        finding("seal_unknown_key", f"signed with key {seal['key_id']!r}, which is not a pipeline key", **in_seal)
    elif not form.signature_valid(seal, keys, verify_signature):
        finding("seal_bad_signature", f"signature does not verify with pipeline key {seal['key_id']}", **in_seal)


def _keys(document: object, trusted_keys: Mapping[str, bytes] | None, finding: Callable[..., None]) -> dict[str, bytes]:
    """The keys to check the seal with: the trusted ones when given (each of the proof's must be among them)."""
    try:
        own = parse_public_keys(document, "the proof's public_keys")
    except AgentAuditError as exc:
        finding("public_keys_malformed", str(exc))
        own = {}
    if trusted_keys is None:
        return own
    for key_id, raw in sorted(own.items()):
        if trusted_keys.get(key_id) != raw:
            finding("public_key_untrusted", f"the proof's key {key_id} is not among the keys you were given")
    return dict(trusted_keys)
