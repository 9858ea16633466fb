"""With a signer, every action leaves the emitter signed over its canonical
form; without one, it leaves as before. The bytes are captured at the codec,
so no broker is needed (the integration test sends them through one)."""

from __future__ import annotations

from typing import Any

import pytest

from agentaudit.codec import SingleObjectCodec
from agentaudit.emit import Emitter, EmitterClosed, Principal
from agentaudit.registry.model import KeyAlgorithm
from agentaudit.signing import Ed25519Signer, HmacSigner, Signer, canonical_bytes, verify

NOWHERE = "127.0.0.1:9"  # nothing answers Kafka there: events stay buffered
SECRET = b"k" * 32


class CapturingCodec(SingleObjectCodec):
    """The real codec, keeping every value it encodes."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []

    def encode(self, name: str, datum: dict[str, Any]) -> bytes:
        value = super().encode(name, datum)
        self.sent.append(value)
        return value


def emitted(signer: Signer | None, emit: Any) -> list[dict[str, Any]]:
    """The actions as the processor will decode them, after emit(emitter) ran."""
    codec = CapturingCodec()
    emitter = Emitter(NOWHERE, "support-bot", "acme", codec=codec, signer=signer, delivery_timeout_s=1.0,
                      kill_switch=False)
    emit(emitter)
    with pytest.raises(EmitterClosed):  # nothing can be delivered to NOWHERE
        emitter.close(timeout_s=3.0)
    return [codec.decode("AgentAction", value) for value in codec.sent]


def two_actions(emitter: Emitter) -> None:
    session = emitter.session(Principal("user", "alice"))
    session.emit("llm_call", model={"provider": "anthropic", "name": "claude-sonnet-4", "version": None},
                 attributes={"gen_ai.operation.name": "chat", "b": "2"})
    session.emit("tool_call", tool="crm.lookup", parameters={"customer": 42})


@pytest.mark.parametrize(
    ("signer", "material"),
    [(Ed25519Signer.generate("ed-1"), None), (HmacSigner("hmac-1", SECRET), SECRET)],
    ids=["ed25519", "hmac"],
)
def test_every_action_is_signed_over_what_the_processor_decodes(signer: Signer, material: bytes | None) -> None:
    if material is None:
        assert isinstance(signer, Ed25519Signer)
        material = signer.public_key_bytes()
    actions = emitted(signer, two_actions)
    assert [a["sequence"] for a in actions] == [1, 2]
    for action in actions:
        assert action["key_id"] == signer.key_id
        assert verify(signer.algorithm, material, canonical_bytes(action), action["signature"])
        tampered = {**action, "tenant_id": "other"}
        assert not verify(signer.algorithm, material, canonical_bytes(tampered), action["signature"])


def test_a_hand_built_action_gets_the_signers_key_id() -> None:
    signer = Ed25519Signer.generate("ed-2")

    def send_own(emitter: Emitter) -> None:
        emitter.send({
            "event_id": "01934b6e-1c2a-7c3d-8e4f-a1b2c3d4e5f6", "agent_id": "support-bot", "session_id": "s",
            "sequence": 1, "tenant_id": "acme", "principal": {"type": "user", "id": "alice"},
            "action_type": "other", "outcome": "success", "agent_time": 1, "key_id": "stale", "signature": b"x",
        })

    (action,) = emitted(signer, send_own)
    assert action["key_id"] == "ed-2"
    assert verify(KeyAlgorithm.ED25519, signer.public_key_bytes(), canonical_bytes(action), action["signature"])


def test_without_a_signer_actions_go_out_unsigned() -> None:
    actions = emitted(None, two_actions)
    assert len(actions) == 2
    assert all(a["key_id"] is None and a["signature"] is None for a in actions)
