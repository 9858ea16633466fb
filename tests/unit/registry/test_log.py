"""Verified registry history: as-of answers, and every kind of tampering caught at its position."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agentaudit.codec import SingleObjectCodec
from agentaudit.registry.avro import from_avro, to_avro
from agentaudit.registry.canonical import GENESIS, canonical_bytes, entry_hash, signed_message
from agentaudit.registry.change import ChangeKind, RegistryChange
from agentaudit.registry.errors import RegistryIntegrityError
from agentaudit.registry.log import RegistryLog
from agentaudit.registry.model import AgentKey, AgentStatus
from agentaudit.registry.requests import ChangeRequest
from tests.chain_support import TestSigner
from tests.registry_support import DAY_US, HOUR_US, new_key, register, rotate, set_status

T0 = 1_700_000_000_000_000
signer = TestSigner()


def write(log: RegistryLog, request: ChangeRequest, at_us: int, change_id: str | None = None) -> RegistryChange:
    change = log.prepare(request, signer, at_us, change_id or f"change-{log.head.position + 1}")
    log.append(change)
    return change


def history() -> tuple[RegistryLog, list[RegistryChange]]:
    log = RegistryLog(signer.public_keys())
    changes = [
        write(log, register("billing-agent"), T0),
        write(log, register("support-agent"), T0 + HOUR_US),
        write(log, rotate("billing-agent", grace_us=HOUR_US), T0 + DAY_US),
        write(log, set_status("billing-agent", ChangeKind.SUSPEND), T0 + 2 * DAY_US),
        write(log, set_status("billing-agent", ChangeKind.REACTIVATE), T0 + 3 * DAY_US),
        write(log, set_status("billing-agent", ChangeKind.RETIRE), T0 + 4 * DAY_US),
    ]
    return log, changes


def test_as_of_answers_what_an_agent_was_allowed_on_any_date() -> None:
    log, changes = history()
    view = log.view
    first_key = changes[0].definition.keys[0].key_id
    second_key = changes[2].definition.keys[1].key_id
    assert view.as_of("billing-agent", T0 - 1) is None
    registered = view.as_of("billing-agent", T0 + HOUR_US)
    assert registered is not None and registered.status is AgentStatus.ACTIVE and registered.version == 1
    assert registered.key(first_key, T0 + HOUR_US) is not None and registered.key(second_key, T0 + HOUR_US) is None
    # after the rotation: the old key stays valid for the hour of grace, then not
    rotated = view.as_of("billing-agent", T0 + DAY_US + 1)
    assert rotated is not None and rotated.version == 2
    assert rotated.key(first_key, T0 + DAY_US + HOUR_US - 1) is not None
    assert rotated.key(first_key, T0 + DAY_US + HOUR_US) is None
    assert rotated.key(second_key, T0 + DAY_US + 1) is not None
    suspended = view.as_of("billing-agent", T0 + 2 * DAY_US + 5)
    assert suspended is not None and suspended.status is AgentStatus.SUSPENDED
    active_again = view.as_of("billing-agent", T0 + 3 * DAY_US)
    assert active_again is not None and active_again.status is AgentStatus.ACTIVE
    retired = view.as_of("billing-agent", T0 + 5 * DAY_US)
    assert retired is not None and retired.status is AgentStatus.RETIRED
    assert retired.key(second_key, T0 + 5 * DAY_US) is None
    assert [d.version for d in view.history("billing-agent")] == [1, 2, 3, 4, 5]
    assert view.agents() == ["billing-agent", "support-agent"]
    # who made and approved the change in effect then
    in_effect = log.change_at("billing-agent", T0 + 2 * DAY_US + 5)
    assert in_effect is not None and (in_effect.kind, in_effect.actor, in_effect.approver) == (
        ChangeKind.SUSPEND, "alice", "bob")


def test_entries_chain_from_genesis_with_strictly_increasing_times() -> None:
    log = RegistryLog(signer.public_keys())
    first = write(log, register("a"), T0)
    second = write(log, register("b"), T0 - DAY_US)  # the writer's clock went back: forced after the head
    assert first.prev_hash == GENESIS and second.prev_hash == first.hash
    assert (first.position, second.position) == (1, 2)
    assert second.valid_from_us == T0 + 1 and second.definition.valid_from_us == T0 + 1


def test_entries_survive_the_avro_round_trip_and_still_verify() -> None:
    _, changes = history()
    codec = SingleObjectCodec()
    log = RegistryLog(signer.public_keys())
    for change in changes:
        decoded = from_avro(codec.decode("RegistryChange", codec.encode("RegistryChange", to_avro(change))))
        assert decoded == change
        log.append(decoded)
    assert log.head.position == len(changes)


def replay(changes: list[RegistryChange]) -> RegistryLog:
    log = RegistryLog(signer.public_keys())
    for change in changes:
        log.append(change)
    return log


def swap_key(change: RegistryChange) -> RegistryChange:
    attacker = new_key()
    keys = (AgentKey(attacker.key_id, attacker.algorithm, attacker.material, change.valid_from_us),)
    return replace(change, definition=replace(change.definition, keys=keys))


def test_a_key_swapped_in_a_stored_entry_is_caught_at_its_position() -> None:
    _, changes = history()
    changes[2] = swap_key(changes[2])
    with pytest.raises(RegistryIntegrityError, match="position 3: its contents do not match its hash") as caught:
        replay(changes)
    assert caught.value.position == 3


def test_a_swapped_key_with_a_recomputed_hash_fails_the_signature() -> None:
    _, changes = history()
    forged = swap_key(changes[0])
    forged = replace(forged, hash=entry_hash(forged))
    with pytest.raises(RegistryIntegrityError, match="position 1: the signature by pipeline key .* does not verify"):
        replay([forged])
    # re-signed by a key the reader does not trust
    other = TestSigner()
    forged = replace(forged, signing_key_id=other.current_key_id, signature=other.sign(signed_message(forged.hash))[1])
    with pytest.raises(RegistryIntegrityError, match=f"position 1: signed by pipeline key '{other.current_key_id}'"):
        replay([forged])


@pytest.mark.parametrize("tamper, position, message", [
    (lambda c: c[:2] + c[3:], 3, "found position 4 where 3 belongs"),  # removed
    (lambda c: [c[0], c[2], c[1]] + c[3:], 2, "found position 3 where 2 belongs"),  # reordered
    (lambda c: c[:3] + [c[2]] + c[3:], 4, "found position 3 where 4 belongs"),  # repeated
    (lambda c: c[:1] + [replace(x, position=x.position - 1) for x in c[2:]], 2, "prev_hash"),  # removed, renumbered
    (lambda c: [replace(c[0], reason="nothing to see")] + c[1:], 1, "do not match its hash"),
    (lambda c: [replace(c[0], approver="alice")] + c[1:], 1, "do not match its hash"),
    (lambda c: [replace(c[0], signature=bytes(64))] + c[1:], 1, "signature .* does not verify"),
])
def test_any_alteration_is_named_by_the_first_bad_position(tamper, position: int, message: str) -> None:  # type: ignore[no-untyped-def]
    _, changes = history()
    with pytest.raises(RegistryIntegrityError, match=message) as caught:
        replay(tamper(changes))
    assert caught.value.position == position


def test_after_a_bad_entry_the_log_accepts_nothing() -> None:
    _, changes = history()
    log = replay(changes[:1])
    with pytest.raises(RegistryIntegrityError):
        log.append(swap_key(changes[1]))
    with pytest.raises(RegistryIntegrityError, match="position 2"):
        log.append(changes[1])  # even the genuine entry: the reader never skips past a bad one
    assert log.head.position == 1


def test_a_signed_entry_that_contradicts_history_is_refused() -> None:
    log, _ = history()
    bogus = log.prepare(register("newcomer"), signer, T0 + 9 * DAY_US, "x")
    bogus = replace(bogus, kind=ChangeKind.SUSPEND)
    bogus = replace(bogus, hash=entry_hash(bogus))
    bogus = replace(bogus, signature=signer.sign(signed_message(bogus.hash))[1])
    with pytest.raises(RegistryIntegrityError, match="suspend of agent newcomer, which is new"):
        log.append(bogus)


def test_the_canonical_form_is_sorted_compact_json_without_hash_or_signature() -> None:
    _, changes = history()
    text = canonical_bytes(changes[0]).decode()
    assert text.startswith('{"actor":"alice","agent":{') and " " not in text.replace("Billing agent", "")
    assert '"format":"agentaudit/registry/v1"' in text and changes[0].hash.hex() not in text
    assert changes[0].signature.hex() not in text and '"signing_key_id"' not in text
