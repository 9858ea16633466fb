"""How `agentaudit agents` prints definitions and changes: text for people, JSON lines for tools. No I/O.

HMAC secrets are only ever sealed in the registry, and are not printed even
sealed: a key shows its id, algorithm and validity; Ed25519 keys their
public key.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from agentaudit.registry.change import RegistryChange
from agentaudit.registry.model import AgentDefinition, AgentKey, KeyAlgorithm


def when(us: int | None) -> str:
    if us is None:
        return "-"
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000).isoformat().replace(
        "+00:00", "Z")


def key_document(key: AgentKey) -> dict[str, Any]:
    document: dict[str, Any] = {
        "key_id": key.key_id,
        "algorithm": key.algorithm.value,
        "valid_from": when(key.valid_from_us),
        "valid_until": None if key.valid_until_us is None else when(key.valid_until_us),
    }
    if key.algorithm is KeyAlgorithm.ED25519:
        document["public_key"] = base64.b64encode(key.material).decode("ascii")
    return document


def definition_json(definition: AgentDefinition) -> dict[str, Any]:
    return {
        "agent_id": definition.agent_id,
        "name": definition.name,
        "owner": definition.owner,
        "environment": definition.environment,
        "tenant_id": definition.tenant_id,
        "status": definition.status.value,
        "version": definition.version,
        "valid_from": when(definition.valid_from_us),
        "principals": list(definition.principals),
        "scope": {
            "action_types": list(definition.scope.action_types),
            "tools": list(definition.scope.tools),
            "resource_patterns": list(definition.scope.resource_patterns),
            "data_classes": list(definition.scope.data_classes),
        },
        "keys": [key_document(key) for key in definition.keys],
    }


def change_json(change: RegistryChange) -> dict[str, Any]:
    return {
        "position": change.position,
        "change_id": change.change_id,
        "kind": change.kind.value,
        "valid_from": when(change.valid_from_us),
        "actor": change.actor,
        "approver": change.approver,
        "reason": change.reason,
        "hash": change.hash.hex(),
        "signing_key_id": change.signing_key_id,
        "agent": definition_json(change.definition),
    }


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, sort_keys=False)


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(values) if values else "(none declared)"


def describe(change: RegistryChange, at_us: int | None = None) -> str:
    """The definition a change made, in effect at at_us if given, as text."""
    d = change.definition
    lines = [f"as of {when(at_us)}"] if at_us is not None else []
    lines += [
        f"agent         {d.agent_id} ({d.name})",
        f"tenant        {d.tenant_id}",
        f"owner         {d.owner}",
        f"environment   {d.environment}",
        f"status        {d.status} (version {d.version}, since {when(d.valid_from_us)})",
        f"principals    {_listed(d.principals)}",
        f"action types  {_listed(d.scope.action_types)}",
        f"tools         {_listed(d.scope.tools)}",
        f"resources     {_listed(d.scope.resource_patterns)}",
        f"data classes  {_listed(d.scope.data_classes)}",
    ]
    for i, key in enumerate(d.keys):
        valid = "valid" if at_us is None or key.valid_at(at_us) else "NOT valid then:"
        lines.append(f"{'keys' if i == 0 else '':13} {key.key_id}  {key.algorithm:11}  {valid} "
                     f"{when(key.valid_from_us)} .. {when(key.valid_until_us) if key.valid_until_us else '(no end)'}")
    lines.append(f"by change     #{change.position} {change.kind} by {change.actor}, approved by {change.approver}: "
                 f"{change.reason}")
    return "\n".join(lines)


HISTORY_HEADER = f"{'#':>5}  {'valid from':27}  {'change':10}  {'v':>3}  {'status':9}  {'actor':12}  {'approver':12}  reason"


def history_line(change: RegistryChange) -> str:
    d = change.definition
    return (f"{change.position:>5}  {when(change.valid_from_us):27}  {change.kind:10}  {d.version:>3}  "
            f"{d.status:9}  {change.actor:12}  {change.approver:12}  {change.reason}")


LIST_HEADER = f"{'agent':28}  {'tenant':12}  {'status':9}  {'v':>3}  {'environment':12}  {'owner':16}  since"


def list_line(d: AgentDefinition) -> str:
    return (f"{d.agent_id:28}  {d.tenant_id:12}  {d.status:9}  {d.version:>3}  {d.environment:12}  {d.owner:16}  "
            f"{when(d.valid_from_us)}")
