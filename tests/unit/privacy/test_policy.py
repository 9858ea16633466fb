from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentaudit.errors import ConfigError
from agentaudit.privacy.policy import Action, Policy, parse
from tests.unit.privacy.support import POLICY

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "privacy" / "policy.example.yaml"


def test_the_example_policy_loads() -> None:
    policy = Policy.load(EXAMPLE)
    assert policy.version == "2026-01"
    assert policy.subject.field == "principal.id" and policy.subject.principal_types == ("user",)
    assert policy.encrypts("any-tenant")


def test_rules_parse_with_their_fields_and_inner_paths() -> None:
    rules = {r.path: r for r in parse(POLICY, "t").rules_for("acme")}
    assert rules["parameters.card"].action is Action.MASK and rules["parameters.card"].keep_last == 4
    assert (rules["parameters.customer.name"].field, rules["parameters.customer.name"].inner) == \
        ("parameters", "customer.name")
    assert (rules["attributes.customer.phone"].field, rules["attributes.customer.phone"].inner) == \
        ("attributes", "customer.phone")


def test_a_tenant_entry_replaces_the_default_rather_than_merging() -> None:
    policy = parse(POLICY, "t")
    assert [r.path for r in policy.rules_for("open")] == ["parameters.note"]
    assert not policy.encrypts("open")


def _with(rules: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"version": "v", "tenants": {"*": rules}, **top}


@pytest.mark.parametrize(("data", "message"), [
    (_with({"agent_id": "hash"}), "agent_id is classified operational"),
    (_with({"session_id": "drop"}), "operational"),
    (_with({"principal": "hash"}), "not a field a policy can address"),
    (_with({"principal.id": "drop"}), "required by the schema and cannot be dropped"),
    (_with({"parameters.email": "shred"}), "unknown action 'shred'"),
    (_with({"parameters.email": {"action": "hash", "keep_last": 4}}), "keep_last only goes with mask"),
    (_with({"parameters.card": {"action": "mask", "keep_last": 12}}), "keep_last must be"),
    (_with({"parameters": "encrypt", "parameters.email": "hash"}), "whole field and rules inside it"),
    (_with({"parameters..x": "hash"}), "empty step"),
    ({"tenants": {"*": {"resource": "hash"}}}, "version is required"),
    ({"version": "v", "tenants": {}}, "tenants must map"),
    ({"version": "v", "tenants": {"*": {"resource": "hash"}}, "extra": 1}, "expected a mapping"),
    (_with({"resource": "hash"}, subject={"field": "agent_id"}), "the subject is principal.id"),
    (_with({"resource": "hash"}, subject={"field": "parameters.customer", "principal_types": ["user"]}),
     "principal_types only goes with"),
    (_with({"resource": "hash"}, subject={"principal_types": ["robot"]}), "principal_types"),
])
def test_a_bad_policy_is_refused_at_start_up_naming_the_mistake(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(data, "policy.yaml")


def test_a_policy_file_that_is_not_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("version: [unclosed\n")
    with pytest.raises(ConfigError, match=str(path)):
        Policy.load(path)


def test_the_processor_refuses_to_start_on_a_bad_policy(tmp_path: Path) -> None:
    from agentaudit.process.app import load_privacy
    from agentaudit.settings import Settings

    path = tmp_path / "policy.yaml"
    path.write_text("version: v\ntenants: {'*': {tenant_id: hash}}\n")
    with pytest.raises(ConfigError, match="tenant_id is classified operational"):
        load_privacy(Settings(privacy_policy=str(path)), "127.0.0.1:9", None, bytes(32))  # type: ignore[arg-type]
    assert load_privacy(Settings(), "127.0.0.1:9", None, bytes(32)) is None  # type: ignore[arg-type]
