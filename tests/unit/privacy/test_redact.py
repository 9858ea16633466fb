from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from agentaudit.privacy.redact import reveal
from agentaudit.privacy.tokens import HASH_PREFIX, SubjectCipher, TokenError, is_encrypted, pepper, value_hash
from tests.unit.privacy.support import KEK, decoded, redactor

CIPHER = SubjectCipher("0.0", bytes(range(100, 132)))
PII = {"email": "jane.doe@example.com", "card": "4111 1111 1111 1111", "ssn": "123-45-6789",
       "customer": {"name": "Jane Doe", "tier": "gold"}, "amount": 20}


def pii_action(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "parameters": json.dumps(PII), "resource": "mailto:jane.doe@example.com",
        "attributes": {"customer.phone": "+1 415 555 0100", "gen_ai.system": "anthropic"},
        "error": {"code": "E1", "message": "no account for jane.doe@example.com"},
    }
    return decoded(**{**fields, **overrides})


def redact(a: dict[str, Any], cipher: SubjectCipher | None = CIPHER) -> tuple[dict[str, Any], dict[str, Any] | None]:
    r = redactor()
    return r.apply(a, r.subject_ref(a), cipher)


def test_each_action_does_what_it_says_and_nothing_cleartext_is_left() -> None:
    a = pii_action()
    out, info = redact(a)
    params = json.loads(out["parameters"])
    assert params["email"] == HASH_PREFIX + value_hash(pepper(KEK, "acme"), "jane.doe@example.com")
    assert params["card"] == "***1111"
    assert "ssn" not in params
    assert is_encrypted(params["customer"]["name"]) and params["customer"]["tier"] == "gold"
    assert params["amount"] == 20
    assert out["principal"] == {"type": "user", "id": HASH_PREFIX + value_hash(pepper(KEK, "acme"), "alice")}
    assert is_encrypted(out["resource"]) and is_encrypted(out["error"]["message"])
    assert out["error"]["code"] == "E1"
    assert is_encrypted(out["attributes"]["customer.phone"]) and out["attributes"]["gen_ai.system"] == "anthropic"
    text = json.dumps(out)
    for secret in ("jane", "Jane", "4111 1111", "123-45", "415 555", "alice"):
        assert secret not in text
    assert info is not None and info["policy_version"] == "t1"
    assert info["subject_ref"] == value_hash(pepper(KEK, "acme"), "alice")
    assert [(f["path"], f["action"]) for f in info["fields"]] == [
        ("principal.id", "hash"), ("resource", "encrypt"), ("parameters.email", "hash"), ("parameters.card", "mask"),
        ("parameters.ssn", "drop"), ("parameters.customer.name", "encrypt"), ("error.message", "encrypt"),
        ("attributes.customer.phone", "encrypt"),
    ]


def test_the_original_action_is_left_untouched_for_scoring() -> None:
    a = pii_action()
    before = copy.deepcopy(a)
    redact(a)
    assert a == before


def test_replaying_the_same_input_gives_the_same_bytes() -> None:
    first, _ = redact(pii_action())
    again, _ = redact(pii_action())
    assert first == again  # deterministic encryption: the chain hash over it cannot fork
    other, _ = redact(pii_action(event_id="01934b6e-1c2a-7c3d-8e4f-000000000000"))
    assert other["resource"] != first["resource"]  # the place is part of the nonce and the AAD


def test_a_path_through_a_list_applies_to_every_element() -> None:
    r = redactor({"version": "v", "tenants": {"*": {"parameters.rows.email": "hash"}}})
    a = decoded(parameters=json.dumps({"rows": [{"email": "a@x.io"}, {"email": "b@x.io"}, {"id": 3}]}))
    out, _ = r.apply(a, None, None)
    rows = json.loads(out["parameters"])["rows"]
    assert [row.get("email", "").startswith(HASH_PREFIX) for row in rows] == [True, True, False]


def test_unparsable_parameters_are_encrypted_whole_or_dropped_without_a_key() -> None:
    a = pii_action(parameters="email jane.doe@example.com, not JSON")
    out, info = redact(a)
    assert is_encrypted(out["parameters"])
    assert info is not None and {"path": "parameters", "action": "encrypt"} in info["fields"]
    dropped, info = redact(a, None)
    assert dropped["parameters"] is None
    assert info is not None and {"path": "parameters", "action": "drop"} in info["fields"]


def test_without_a_key_encrypted_fields_are_dropped_and_required_ones_masked() -> None:
    out, info = redact(pii_action(), None)
    assert out["resource"] is None
    assert out["error"]["message"] == "***"  # required by the schema: cannot be null
    assert "customer.phone" not in out["attributes"]
    assert info is not None
    actions = {f["path"]: f["action"] for f in info["fields"]}
    assert actions["resource"] == "drop" and actions["error.message"] == "mask"


def test_nothing_to_redact_leaves_the_action_as_it_is() -> None:
    a = decoded(principal={"type": "service", "id": "svc"}, tenant_id="open")
    out, info = redactor().apply(a, None, CIPHER)
    assert out is a and info is None


def test_the_subject_is_a_user_principal_or_the_configured_field() -> None:
    r = redactor()
    assert r.subject_ref(decoded()) == value_hash(pepper(KEK, "acme"), "alice")
    assert r.subject_ref(decoded(principal={"type": "service", "id": "svc"})) is None
    by_param = redactor({"version": "v", "subject": {"field": "parameters.customer.id"},
                         "tenants": {"*": {"resource": "encrypt"}}})
    assert by_param.subject_ref(decoded(parameters='{"customer": {"id": 42}}')) == \
        value_hash(pepper(KEK, "acme"), "42")
    assert by_param.subject_ref(decoded(parameters="not json")) is None
    by_attr = redactor({"version": "v", "subject": {"field": "attributes.subject"},
                        "tenants": {"*": {"resource": "encrypt"}}})
    assert by_attr.subject_ref(decoded(attributes={"subject": "u-1"})) == value_hash(pepper(KEK, "acme"), "u-1")


def test_reveal_decrypts_what_was_encrypted_and_leaves_the_rest() -> None:
    a = pii_action()
    stored, info = redact(a)
    assert info is not None
    shown = reveal(stored, info, lambda place, token: CIPHER.decrypt("acme", a["event_id"], place, token))
    assert shown["resource"] == a["resource"]
    assert shown["error"]["message"] == a["error"]["message"]
    assert shown["attributes"]["customer.phone"] == "+1 415 555 0100"
    assert json.loads(shown["parameters"])["customer"]["name"] == "Jane Doe"
    assert json.loads(shown["parameters"])["email"].startswith(HASH_PREFIX)  # a hash stays a hash
    erased = reveal(stored, info, lambda place, token: "[erased]")
    assert erased["resource"] == "[erased]" and json.loads(erased["parameters"])["customer"]["name"] == "[erased]"


def test_a_ciphertext_does_not_open_in_another_place_or_under_another_key() -> None:
    a = pii_action()
    stored, _ = redact(a)
    token = stored["resource"]
    with pytest.raises(TokenError, match="moved"):
        CIPHER.decrypt("acme", a["event_id"], "error.message", token)
    with pytest.raises(TokenError, match="moved"):
        CIPHER.decrypt("other-tenant", a["event_id"], "resource", token)
    with pytest.raises(TokenError, match="not 1.0"):
        SubjectCipher("1.0", bytes(32)).decrypt("acme", a["event_id"], "resource", token)
    with pytest.raises(TokenError, match="moved"):
        SubjectCipher("0.0", bytes(32)).decrypt("acme", a["event_id"], "resource", token)


def test_hashes_are_per_tenant_so_tenants_cannot_join_each_others_data() -> None:
    assert value_hash(pepper(KEK, "acme"), "x") != value_hash(pepper(KEK, "globex"), "x")
    assert value_hash(pepper(KEK, "acme"), "x") != value_hash(pepper(bytes(32), "acme"), "x")
