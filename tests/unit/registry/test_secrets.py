"""HMAC secrets: sealed in the registry, bound to their agent and key, opened only with the KEK."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agentaudit.crypto import SealError
from agentaudit.registry.model import AgentKey, KeyAlgorithm
from agentaudit.registry.requests import resulting_definition
from agentaudit.registry.secrets import new_hmac_key, open_hmac_secret
from tests.registry_support import register

KEK = bytes(range(32))


def test_a_generated_secret_is_registered_only_sealed_and_opens_for_its_agent() -> None:
    key, secret = new_hmac_key(KEK, "fast-agent")
    assert key.algorithm is KeyAlgorithm.HMAC_SHA256 and len(secret) == 32 and secret not in key.material
    definition = resulting_definition(register("fast-agent", key=key), None, 1, {})
    (stored,) = definition.keys
    assert repr(secret)[2:-1] not in repr(definition) and secret.hex() not in repr(definition)
    assert open_hmac_secret(KEK, "fast-agent", stored) == secret


def test_a_sealed_secret_moved_to_another_agent_or_key_id_does_not_open() -> None:
    key, _ = new_hmac_key(KEK, "fast-agent")
    stored = AgentKey(key.key_id, key.algorithm, key.material, 1)
    with pytest.raises(SealError, match="other-agent"):
        open_hmac_secret(KEK, "other-agent", stored)
    with pytest.raises(SealError, match="does not open"):
        open_hmac_secret(KEK, "fast-agent", replace(stored, key_id="0123456789abcdef"))


def test_the_wrong_kek_does_not_open_it() -> None:
    key, _ = new_hmac_key(KEK, "fast-agent")
    with pytest.raises(SealError, match="another key-encryption key"):
        open_hmac_secret(bytes(32), "fast-agent", AgentKey(key.key_id, key.algorithm, key.material, 1))


def test_an_ed25519_key_is_not_opened_as_a_secret() -> None:
    with pytest.raises(ValueError, match="not an HMAC key"):
        open_hmac_secret(KEK, "a", AgentKey("k", KeyAlgorithm.ED25519, bytes(32), 1))
