"""Shared test data for the codec tests: a valid AgentAction and an evolved
schema set (AgentAction v1 plus a backward-compatible v2) in a temporary folder."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from agentaudit.codec.schemas import SchemaSet, load_schemas


def action(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        event_id="01934b6e-1c2a-7c3d-8e4f-a1b2c3d4e5f6",
        agent_id="agent-1",
        session_id="s-1",
        sequence=1,
        tenant_id="acme",
        principal={"type": "user", "id": "alice"},
        action_type="tool_call",
        outcome="success",
        agent_time=1_700_000_000_000_000,
    )
    base.update(overrides)
    return base


def evolve_agent_action(raw: dict[str, Any]) -> dict[str, Any]:
    """A v2 that follows schemas/README.md: one field added with a default and
    one enum symbol appended."""
    v2 = copy.deepcopy(raw)
    v2["fields"].append(
        {"name": "risk_hint", "type": ["null", "string"], "default": None,
         "doc": "Test-only field added in v2."}
    )
    for field in v2["fields"]:
        if field["name"] == "action_type":
            field["type"]["symbols"].append("memory_write")
    return v2


def evolved_schemas(directory: Path, namespace: str | None = None) -> tuple[SchemaSet, SchemaSet]:
    """(v1 only, v1 + v2) of AgentAction, written under directory/old and
    directory/new. A namespace other than io.agentaudit gives registry subjects
    no other test shares."""
    v1 = copy.deepcopy(load_schemas().versions("AgentAction")[0].raw)
    if namespace:
        v1["namespace"] = namespace
    old, new = directory / "old", directory / "new"
    for folder in (old, new):
        folder.mkdir(parents=True)
        (folder / "AgentAction.v1.avsc").write_text(json.dumps(v1), encoding="utf-8")
    (new / "AgentAction.v2.avsc").write_text(json.dumps(evolve_agent_action(v1)), encoding="utf-8")
    return load_schemas(old), load_schemas(new)
