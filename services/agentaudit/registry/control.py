"""The agent.control message mirroring a registry change: the agent's status for its runtime."""

from __future__ import annotations

from typing import Any

from agentaudit.registry.change import RegistryChange


def control_of(change: RegistryChange) -> dict[str, Any]:
    """AgentControl v1 for the status `change` leaves its agent in."""
    return {
        "agent_id": change.agent_id,
        "status": change.definition.status.value,
        "change": change.kind.value,
        "change_id": change.change_id,
        "registry_position": change.position,
        "effective_at": change.valid_from_us,
        "actor": change.actor,
        "approver": change.approver,
        "reason": change.reason,
    }
