"""The rules a registry change must pass before it is written."""

from __future__ import annotations

import pytest

from agentaudit.registry.change import ChangeKind
from agentaudit.registry.errors import RegistryRefusal
from agentaudit.registry.model import AgentDefinition, AgentStatus, KeyAlgorithm, Scope
from agentaudit.registry.requests import NewKey, resulting_definition
from tests.registry_support import HOUR_US, new_key, register, rotate, set_status

T0 = 1_700_000_000_000_000


def registered(agent_id: str = "billing-agent") -> AgentDefinition:
    return resulting_definition(register(agent_id), None, T0, {})


def test_a_registration_becomes_an_active_first_version() -> None:
    d = registered()
    assert (d.status, d.version, d.valid_from_us, d.tenant_id) == (AgentStatus.ACTIVE, 1, T0, "acme")
    (key,) = d.keys
    assert key.valid_from_us == T0 and key.valid_until_us is None and key.algorithm is KeyAlgorithm.ED25519
    assert d.principals == ("user:*", "service:invoicer")


@pytest.mark.parametrize("actor, approver", [("alice", "alice"), ("Alice", " alice "), ("BOB", "bob")])
def test_nobody_approves_their_own_change(actor: str, approver: str) -> None:
    with pytest.raises(RegistryRefusal, match="separation of duties") as caught:
        resulting_definition(register(actor=actor, approver=approver), None, T0, {})
    assert caught.value.code == "separation_of_duties"


@pytest.mark.parametrize("field", ["actor", "approver", "reason"])
def test_who_approved_and_why_are_required(field: str) -> None:
    with pytest.raises(RegistryRefusal, match=f"--{field} is required"):
        resulting_definition(register(**{field: "  "}), None, T0, {})  # type: ignore[arg-type]  # any field by name


def test_an_agent_id_is_never_registered_twice_even_after_retirement() -> None:
    retired = resulting_definition(set_status("billing-agent", ChangeKind.RETIRE), registered(), T0 + 1, {})
    with pytest.raises(RegistryRefusal, match="never registered twice") as caught:
        resulting_definition(register(), retired, T0 + 2, {})
    assert caught.value.code == "agent_exists"


@pytest.mark.parametrize("overrides, message", [
    ({"principals": ()}, "at least one principal"),
    ({"principals": ("robot:x",)}, "TYPE:ID with TYPE one of agent, service, system, user"),
    ({"principals": ("user:",)}, "non-empty ID"),
    ({"scope": Scope(action_types=("tool_cal",))}, "unknown action type.*tool_cal"),
    ({"scope": Scope(tools=("",))}, "empty tool"),
    ({"agent_id": "bad id"}, "agent id 'bad id'"),
    ({"owner": ""}, "owner is required"),
])
def test_malformed_registrations_are_refused_with_the_reason(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(RegistryRefusal, match=message):
        resulting_definition(register(**overrides), None, T0, {})  # type: ignore[arg-type]  # any field by name


def test_a_key_is_never_shared_between_agents_nor_reused() -> None:
    key = new_key()
    with pytest.raises(RegistryRefusal, match="registered already for agent billing-agent"):
        resulting_definition(register("other-agent", key=key), None, T0, {key.key_id: "billing-agent"})
    current = registered()
    with pytest.raises(RegistryRefusal, match="for this agent"):
        resulting_definition(rotate("billing-agent", key=NewKey(current.keys[0].key_id, KeyAlgorithm.ED25519,
                                                                 current.keys[0].material)),
                             current, T0 + 1, {current.keys[0].key_id: "billing-agent"})


def test_an_ed25519_key_must_carry_its_own_key_id() -> None:
    key = new_key()
    with pytest.raises(RegistryRefusal, match="not a 32-byte Ed25519 public key"):
        resulting_definition(register(key=NewKey("0" * 16, key.algorithm, key.material)), None, T0, {})


@pytest.mark.parametrize("kind, from_status", [
    (ChangeKind.SUSPEND, AgentStatus.SUSPENDED), (ChangeKind.SUSPEND, AgentStatus.RETIRED),
    (ChangeKind.REACTIVATE, AgentStatus.ACTIVE), (ChangeKind.REACTIVATE, AgentStatus.RETIRED),
    (ChangeKind.RETIRE, AgentStatus.RETIRED),
])
def test_status_changes_need_the_right_status(kind: ChangeKind, from_status: AgentStatus) -> None:
    current = AgentDefinition(**{**registered().__dict__, "status": from_status})
    with pytest.raises(RegistryRefusal, match=f"cannot {kind} agent billing-agent: it is {from_status}") as caught:
        resulting_definition(set_status("billing-agent", kind), current, T0 + 1, {})
    assert caught.value.code == "wrong_status"


def test_changes_to_an_unknown_agent_are_refused() -> None:
    with pytest.raises(RegistryRefusal, match="register it first"):
        resulting_definition(set_status("ghost", ChangeKind.SUSPEND), None, T0, {})


def test_suspend_keeps_keys_and_retire_ends_them() -> None:
    current = registered()
    suspended = resulting_definition(set_status("billing-agent", ChangeKind.SUSPEND), current, T0 + 10, {})
    assert suspended.status is AgentStatus.SUSPENDED and suspended.version == 2
    assert suspended.keys == current.keys and suspended.valid_from_us == T0 + 10
    retired = resulting_definition(set_status("billing-agent", ChangeKind.RETIRE), suspended, T0 + 20, {})
    assert retired.status is AgentStatus.RETIRED and [k.valid_until_us for k in retired.keys] == [T0 + 20]
    with pytest.raises(RegistryRefusal, match="retired agent gets no new keys"):
        resulting_definition(rotate("billing-agent"), retired, T0 + 30, {})


def test_rotation_keeps_the_old_key_for_the_grace_period_then_drops_it() -> None:
    current = registered()
    rotated = resulting_definition(rotate("billing-agent", grace_us=HOUR_US), current, T0 + 5, {})
    old, new = rotated.keys
    assert old.key_id == current.keys[0].key_id and old.valid_until_us == T0 + 5 + HOUR_US
    assert new.valid_from_us == T0 + 5 and new.valid_until_us is None
    again = resulting_definition(rotate("billing-agent"), rotated, T0 + 2 * HOUR_US, {})
    # the first key expired before this change: left out; the second ends now (no grace)
    assert [(k.key_id, k.valid_until_us) for k in again.keys] == [
        (new.key_id, T0 + 2 * HOUR_US), (again.keys[1].key_id, None)]
    with pytest.raises(RegistryRefusal, match="negative"):
        resulting_definition(rotate("billing-agent", grace_us=-1), current, T0 + 1, {})
