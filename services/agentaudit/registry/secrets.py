"""HMAC secrets of agents: generated here, sealed under the KEK, opened only to verify.

The registry stores an HMAC key's secret only sealed (AES-256-GCM, see
agentaudit.crypto.seal), bound to ("agent-hmac", agent_id, key_id): a sealed
secret copied into another agent's entry, or under another key id, does not
open. The plaintext secret exists in memory while it is generated or used
and in the one 0600 file handed to the agent's runtime, nowhere else.
"""

from __future__ import annotations

import secrets

from agentaudit.crypto import seal, unseal
from agentaudit.registry.model import AgentKey, KeyAlgorithm
from agentaudit.registry.requests import HMAC_SECRET_MIN, NewKey

CONTEXT = "agent-hmac"


def seal_hmac_secret(kek: bytes, agent_id: str, key_id: str, secret: bytes) -> bytes:
    return seal(kek, secret, CONTEXT, agent_id, key_id)


def open_hmac_secret(kek: bytes, agent_id: str, key: AgentKey) -> bytes:
    """The secret of one of agent_id's HMAC keys; agentaudit.crypto.SealError if it was moved or altered."""
    if key.algorithm is not KeyAlgorithm.HMAC_SHA256:
        raise ValueError(f"key {key.key_id} is {key.algorithm}, not an HMAC key")
    return unseal(kek, key.material, CONTEXT, agent_id, key.key_id)


def new_hmac_key(kek: bytes, agent_id: str) -> tuple[NewKey, bytes]:
    """A fresh HMAC-SHA256 key for agent_id: (the key to register, with the secret sealed; the secret)."""
    secret = secrets.token_bytes(HMAC_SECRET_MIN)
    key_id = secrets.token_hex(8)  # random: derived from nothing, so it reveals nothing about the secret
    return NewKey(key_id, KeyAlgorithm.HMAC_SHA256, seal_hmac_secret(kek, agent_id, key_id, secret)), secret


class KekSecretOpener:
    """Unseals agents' HMAC secrets with the KEK (agentaudit.process.attribute.SecretOpener)."""

    def __init__(self, kek: bytes) -> None:
        self._kek = kek

    def __repr__(self) -> str:
        return "KekSecretOpener()"  # never the key

    def open(self, agent_id: str, key: AgentKey) -> bytes:
        return open_hmac_secret(self._kek, agent_id, key)
