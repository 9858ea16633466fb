"""attribute(): an action is accepted only when the key the registry held
valid at *ingest time* verifies it, and every refusal has a stable code and a
reason that names what to fix without showing any key material."""

from __future__ import annotations

from typing import Any

import pytest

from agentaudit.errors import AttributionError, PermanentError, TransientError
from agentaudit.process.attribute import CachingSecretOpener, attribute
from agentaudit.registry.model import AgentKey, AgentStatus, KeyAlgorithm
from agentaudit.signing import Ed25519Signer, HmacSigner
from tests.unit.process.attribution_support import (
    DAY, ED1, ED2, GRACE, HM, HMAC_SECRET, ROTATE, T0, KekOpener, action, changed, ed_agent, hmac_agent, view,
)

AT = T0 + DAY  # an ingest time when ed-1 alone is valid
OPENER = CachingSecretOpener(KekOpener())


def rejected(act: dict[str, Any], ingest_us: int = AT, **kwargs: Any) -> AttributionError:
    with pytest.raises(AttributionError) as caught:
        attribute(act, kwargs.get("registry") or view(), ingest_us, kwargs.get("opener") or OPENER)
    error = caught.value
    assert isinstance(error, PermanentError) and error.code in AttributionError.CODES
    _assert_no_key_material(error.reason)
    return error


def _assert_no_key_material(text: str) -> None:
    for secret in (HMAC_SECRET, ED1.public_key_bytes(), ED2.public_key_bytes(), bytes(range(32))):
        assert secret.hex() not in text and repr(secret) not in text


def test_a_signed_action_is_attributed_to_its_definition() -> None:
    definition = attribute(action(), view(), AT, OPENER)
    assert (definition.agent_id, definition.version, definition.tenant_id) == ("support-bot", 1, "acme")


def test_hmac_agents_verify_through_the_opener_which_unseals_each_secret_once() -> None:
    inner = KekOpener()
    opener = CachingSecretOpener(inner)
    registry = view()
    for sequence in range(1, 6):
        assert attribute(action("ingest-bot", HM, sequence=sequence), registry, AT, opener).agent_id == "ingest-bot"
    assert inner.calls == 1 and len(opener) == 1
    forged = action("ingest-bot", HmacSigner("hm-1", b"x" * 32))
    assert rejected(forged, opener=opener).code == "bad_signature"


def test_unknown_agent_including_one_registered_only_after_ingest_time() -> None:
    error = rejected(action("nobody"))
    assert error.code == "unknown_agent" and "'nobody' is not registered" in error.reason
    assert error.registered_tenant_id is None
    assert rejected(action(), ingest_us=T0 - 1).code == "unknown_agent"


@pytest.mark.parametrize(("overrides", "missing"), [
    ({"key_id": None}, "no key_id"), ({"signature": None}, "no signature"),
    ({"key_id": None, "signature": None}, "no key_id and signature"), ({"signature": b""}, "no signature"),
])
def test_unsigned(overrides: dict[str, Any], missing: str) -> None:
    signed = action()
    error = rejected({**signed, **overrides})
    assert error.code == "unsigned" and missing in error.reason and error.registered_tenant_id == "acme"


def test_unknown_key_says_whether_it_is_missing_expired_or_not_yet_valid() -> None:
    stranger = Ed25519Signer.generate("ed-9")
    assert "has no key 'ed-9'" in rejected(action(signer=stranger)).reason
    expired = rejected(action(signer=ED1), ingest_us=ROTATE)
    assert expired.code == "unknown_key" and "expired at 2025-12-04T16:00:00.000000Z" in expired.reason
    early = rejected(action(signer=ED2), ingest_us=ROTATE - GRACE - 1)
    assert early.code == "unknown_key" and "not valid until 2025-12-03T16:00:00.000000Z" in early.reason


def test_key_validity_is_judged_at_ingest_time_never_agent_time() -> None:
    # agent_time when ed-1 had long expired, ingest while it is valid: verifies.
    attribute(action(signer=ED1, agent_time=ROTATE + 100 * DAY), view(), AT, OPENER)
    # agent_time while ed-1 was valid, ingest after it expired: refused.
    late = action(signer=ED1, agent_time=AT)
    assert rejected(late, ingest_us=ROTATE + 1).code == "unknown_key"


def test_rotation_grace_window_accepts_both_keys_then_only_the_new_one() -> None:
    registry = view()
    in_grace = ROTATE - GRACE // 2
    for signer in (ED1, ED2):
        attribute(action(signer=signer), registry, in_grace, OPENER)
    attribute(action(signer=ED2), registry, ROTATE, OPENER)
    assert rejected(action(signer=ED1), ingest_us=ROTATE).code == "unknown_key"
    assert rejected(action(signer=ED2), ingest_us=ROTATE - GRACE - 1).code == "unknown_key"


def test_suspended_then_reactivated_follows_the_registry_as_of_ingest_time() -> None:
    suspended_at, reactivated_at = T0 + 2 * DAY, T0 + 3 * DAY
    first = ed_agent()
    suspension = changed(first, suspended_at, status=AgentStatus.SUSPENDED)
    registry = view(first, suspension, changed(suspension, reactivated_at, status=AgentStatus.ACTIVE))
    signed = action()
    assert attribute(signed, registry, suspended_at - 1, OPENER).version == 1
    error = rejected(signed, ingest_us=suspended_at, registry=registry)
    assert error.code == "agent_suspended" and "suspended since 2025-11-26T16:00:00.000000Z (registry version 2)" in error.reason
    # The registry already knows the reactivation; a replay of that moment still says suspended.
    assert rejected(signed, ingest_us=reactivated_at - 1, registry=registry).code == "agent_suspended"
    assert attribute(signed, registry, reactivated_at, OPENER).version == 3


def test_retired_agent() -> None:
    first = ed_agent()
    registry = view(first, changed(first, T0 + DAY // 2, status=AgentStatus.RETIRED))
    error = rejected(action(), registry=registry)
    assert error.code == "agent_retired" and error.registered_tenant_id == "acme"


def test_tenant_mismatch_names_both_tenants() -> None:
    error = rejected(action(tenant_id="globex"))
    assert error.code == "tenant_mismatch" and "'globex'" in error.reason and "'acme'" in error.reason
    assert error.registered_tenant_id == "acme"


def test_bad_signatures() -> None:
    signed = action()
    assert rejected({**signed, "resource": "crm://customers/43"}).code == "bad_signature"
    assert rejected({**signed, "signature": signed["signature"][:-1]}).code == "bad_signature"
    impostor = Ed25519Signer.generate("ed-1")  # the right key id, the wrong key
    assert rejected(action(signer=impostor)).code == "bad_signature"


def test_a_forgery_in_the_name_of_a_suspended_agent_is_reported_as_a_forgery() -> None:
    registry = view(ed_agent(AgentStatus.SUSPENDED))
    forged = action(signer=Ed25519Signer.generate("ed-1"))
    assert rejected(forged, registry=registry).code == "bad_signature"
    assert rejected(action(), registry=registry).code == "agent_suspended"


def test_an_action_with_no_v1_canonical_form_cannot_verify() -> None:
    signed = action()
    error = rejected({**signed, "action_type": "memory_write"})
    assert error.code == "bad_signature" and "canonical form v1" in error.reason


def test_unusable_registered_key_material_is_refused_with_its_own_reason() -> None:
    broken = ed_agent()
    broken = changed(broken, T0, keys=(AgentKey("ed-1", KeyAlgorithm.ED25519, b"\x01" * 31, T0),))
    error = rejected(action(), registry=view(broken))
    assert error.code == "unknown_key" and "unusable material" in error.reason


def test_an_opener_that_cannot_reach_its_kek_is_transient_not_a_rejection() -> None:
    class Down:
        def open(self, agent_id: str, key: AgentKey) -> bytes:
            raise TransientError("KEK store did not answer")

    with pytest.raises(TransientError):
        attribute(action("ingest-bot", HM), view(), AT, Down())


def test_caching_opener_is_bounded_keyed_by_material_and_shows_no_secret() -> None:
    inner = KekOpener()
    opener = CachingSecretOpener(inner, max_entries=1)
    first, resealed = hmac_agent(), hmac_agent()  # the same secret sealed twice: other bytes
    key_a, key_b = first.keys[0], resealed.keys[0]
    assert opener.open("ingest-bot", key_a) == opener.open("ingest-bot", key_b) == HMAC_SECRET
    assert inner.calls == 2 and len(opener) == 1
    opener.open("ingest-bot", key_b)
    assert inner.calls == 2
    opener.open("ingest-bot", key_a)  # evicted by key_b
    assert inner.calls == 3
    assert HMAC_SECRET.hex() not in repr(opener) and repr(HMAC_SECRET) not in repr(opener)
