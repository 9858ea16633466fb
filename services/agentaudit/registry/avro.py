"""RegistryChange to and from the Avro datum of schemas/avro/RegistryChange.v1.avsc. No I/O.

Avro enum symbols cannot hold a hyphen, so KeyAlgorithm.HMAC_SHA256
("hmac-sha256") travels as hmac_sha256. Every other field maps one to one.
"""

from __future__ import annotations

from typing import Any

from agentaudit.registry.change import ChangeKind, RegistryChange
from agentaudit.registry.model import AgentDefinition, AgentKey, AgentStatus, KeyAlgorithm, Scope

SCHEMA = "RegistryChange"

_ALGORITHM_TO_AVRO = {KeyAlgorithm.ED25519: "ed25519", KeyAlgorithm.HMAC_SHA256: "hmac_sha256"}
_ALGORITHM_FROM_AVRO = {v: k for k, v in _ALGORITHM_TO_AVRO.items()}


def to_avro(change: RegistryChange) -> dict[str, Any]:
    d = change.definition
    return {
        "change_id": change.change_id,
        "position": change.position,
        "kind": change.kind.value,
        "agent": {
            "agent_id": d.agent_id,
            "name": d.name,
            "owner": d.owner,
            "environment": d.environment,
            "tenant_id": d.tenant_id,
            "principals": list(d.principals),
            "scope": {
                "action_types": list(d.scope.action_types),
                "tools": list(d.scope.tools),
                "resource_patterns": list(d.scope.resource_patterns),
                "data_classes": list(d.scope.data_classes),
            },
            "keys": [
                {
                    "key_id": k.key_id,
                    "algorithm": _ALGORITHM_TO_AVRO[k.algorithm],
                    "material": k.material,
                    "valid_from": k.valid_from_us,
                    "valid_until": k.valid_until_us,
                }
                for k in d.keys
            ],
            "status": d.status.value,
            "version": d.version,
        },
        "actor": change.actor,
        "approver": change.approver,
        "reason": change.reason,
        "valid_from": change.valid_from_us,
        "prev_hash": change.prev_hash,
        "hash": change.hash,
        "signing_key_id": change.signing_key_id,
        "signature": change.signature,
    }


def from_avro(datum: dict[str, Any]) -> RegistryChange:
    """The change a decoded RegistryChange datum describes (KeyError/ValueError if it is malformed)."""
    agent = datum["agent"]
    scope = agent["scope"]
    valid_from = int(datum["valid_from"])
    definition = AgentDefinition(
        agent_id=agent["agent_id"],
        name=agent["name"],
        owner=agent["owner"],
        environment=agent["environment"],
        tenant_id=agent["tenant_id"],
        principals=tuple(agent["principals"]),
        scope=Scope(
            action_types=tuple(scope["action_types"]),
            tools=tuple(scope["tools"]),
            resource_patterns=tuple(scope["resource_patterns"]),
            data_classes=tuple(scope["data_classes"]),
        ),
        keys=tuple(
            AgentKey(
                key_id=k["key_id"],
                algorithm=_ALGORITHM_FROM_AVRO[k["algorithm"]],
                material=bytes(k["material"]),
                valid_from_us=int(k["valid_from"]),
                valid_until_us=None if k["valid_until"] is None else int(k["valid_until"]),
            )
            for k in agent["keys"]
        ),
        status=AgentStatus(agent["status"]),
        valid_from_us=valid_from,
        version=int(agent["version"]),
    )
    return RegistryChange(
        change_id=datum["change_id"],
        position=int(datum["position"]),
        kind=ChangeKind(datum["kind"]),
        definition=definition,
        actor=datum["actor"],
        approver=datum["approver"],
        reason=datum["reason"],
        valid_from_us=valid_from,
        prev_hash=bytes(datum["prev_hash"]),
        hash=bytes(datum["hash"]),
        signing_key_id=datum["signing_key_id"],
        signature=bytes(datum["signature"]),
    )
