"""Emits a planned workload: valid actions through the Emitter SDK, exactly as
an agent runtime would, and malformed messages through a bare producer, as a
broken runtime would."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from confluent_kafka import Producer

from agentaudit.codec import Codec
from agentaudit.emit import Emitter, Principal, Session, uuid7
from agentaudit.signing import Ed25519Signer, Signer, sign_action
from agentaudit.demo.workload import Act, Breakage, Step
from agentaudit.topics import MIB

Progress = Callable[[int], None]
GHOST = "ghost-agent"  # never registered: its actions must be rejected as unknown_agent
# The simulated agents start on a broker that may be seconds old, where
# librdkafka warns while the transaction coordinator loads; errors still show.
QUIET = {"log_level": 3}


class Driver:
    """Sends steps to agent.actions and counts what each must become.

    expected["recorded"] counts valid actions; expected[reason] counts the
    malformed messages by the rejection reason they must produce.
    """

    def __init__(
        self, bootstrap: str, topic: str, codec: Codec, signers: Mapping[str, Signer] | None = None
    ) -> None:
        """signers: each registered agent's key (demo.identities.enroll); without, actions go unsigned."""
        self.bootstrap = bootstrap
        self.topic = topic
        self.codec = codec
        self.signers = dict(signers or {})
        self.expected: Counter[str] = Counter()
        self._emitters: dict[str, Emitter] = {}
        self._sessions: dict[tuple[str, int], Session] = {}
        self._raw = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                              "linger.ms": 5, "message.max.bytes": 4 * MIB, **QUIET})

    def run(self, steps: Iterable[Step], rate: float = 0.0, progress: Progress | None = None) -> int:
        """Send every step, at most `rate` per second (0: as fast as possible)."""
        started = time.monotonic()
        sent = 0
        for sent, step in enumerate(steps, start=1):
            if isinstance(step, Act):
                self._act(step)
                self.expected["recorded"] += 1
            elif step.reason == "replayed_event_id":  # an action, then the same bytes again
                self._replay(step)
                self.expected["recorded"] += 1
                self.expected[step.reason] += 1
            else:
                self._break(step)
                self.expected[step.reason] += 1
            if rate > 0:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            if progress and sent % 1000 == 0:
                progress(sent)
        return sent

    def close(self) -> None:
        for emitter in self._emitters.values():
            emitter.close()
        undelivered = self._raw.flush(30)
        del self._raw  # release its connections before the demo stops the broker
        if undelivered:
            raise RuntimeError(f"{undelivered} malformed demo messages were not delivered")

    def _emitter(self, agent_id: str, tenant_id: str) -> Emitter:
        if agent_id not in self._emitters:
            self._emitters[agent_id] = Emitter(self.bootstrap, agent_id, tenant_id, topic=self.topic, codec=self.codec,
                                               producer_config=QUIET, signer=self.signers.get(agent_id))
        return self._emitters[agent_id]

    def _act(self, act: Act) -> None:
        key = (act.agent.agent_id, act.session)
        session = self._sessions.get(key)
        if session is None:
            emitter = self._emitter(act.agent.agent_id, act.agent.tenant_id)
            session = self._sessions[key] = emitter.session(Principal("user", act.principal))
        fields = dict(act.fields)
        if act.clock_offset_us:  # a drifting agent clock: agent_time is the agent's own say
            fields["agent_time"] = time.time_ns() // 1000 + act.clock_offset_us
        if fields.get("approval"):
            fields["approval"] = {**fields["approval"], "decided_at": time.time_ns() // 1000}
        session.emit(act.action_type, **fields)

    def _valid(self, breakage: Breakage, **overrides: Any) -> dict[str, Any]:
        action: dict[str, Any] = {
            "event_id": uuid7(), "agent_id": breakage.agent.agent_id, "session_id": uuid7(), "sequence": 1,
            "tenant_id": breakage.agent.tenant_id, "principal": {"type": "user", "id": breakage.agent.principals[0]},
            "action_type": "tool_call", "outcome": "success", "agent_time": time.time_ns() // 1000,
        }
        action.update(overrides)
        return action

    def _signed(self, breakage: Breakage, **overrides: Any) -> dict[str, Any]:
        action = self._valid(breakage, **overrides)
        signer = self.signers.get(action["agent_id"])
        return sign_action(action, signer) if signer else action

    def _replay(self, breakage: Breakage) -> None:
        """A captured action sent again: the copy must be rejected, the original kept."""
        value = self.codec.encode("AgentAction", self._signed(breakage))
        for _ in range(2):
            self._raw.produce(self.topic, value, breakage.agent.agent_id.encode())
        self._raw.poll(0)

    def _break(self, breakage: Breakage) -> None:
        key = (GHOST if breakage.reason == "unknown_agent" else breakage.agent.agent_id).encode()
        value = self._malformed(breakage)
        self._raw.produce(self.topic, value, key)
        self._raw.poll(0)

    def _malformed(self, breakage: Breakage) -> bytes:
        encode = self.codec.encode
        match breakage.reason:
            case "not_avro":  # a runtime that sends JSON instead of Avro
                return json.dumps(self._valid(breakage)).encode()
            case "empty_value":
                return b""
            case "unknown_schema":  # a valid body behind a schema id or fingerprint nobody has
                value = encode("AgentAction", self._valid(breakage))
                if value[0] == 0:  # Confluent wire format: magic 0, 4-byte schema id
                    return b"\x00\x7f\xff\xff\xff" + value[5:]
                return value[:2] + os.urandom(8) + value[10:]  # single-object: C3 01, fingerprint
            case "missing_field":
                return encode("AgentAction", self._valid(breakage, tenant_id=""))
            case "invalid_utf8":
                value = encode("AgentAction", self._valid(breakage, tool="lookup-\u00e9"))
                return value.replace("lookup-\u00e9".encode(), b"lookup-\xc3\x28")
            case "clock_skew":  # an agent whose clock runs an hour fast
                return encode("AgentAction", self._valid(breakage, agent_time=time.time_ns() // 1000 + 3600 * 10**6))
            case "invalid_field":
                return encode("AgentAction", self._valid(breakage, sequence=0))
            case "bad_signature":  # signed in the agent's name with a key that is not its own
                action = self._valid(breakage)
                genuine = self.signers.get(action["agent_id"])
                forger = Ed25519Signer.generate(genuine.key_id if genuine else "forged")
                return encode("AgentAction", sign_action(action, forger))
            case "unknown_agent":  # a well-formed, signed action from an agent nobody registered
                action = self._valid(breakage, agent_id=GHOST)
                return encode("AgentAction", sign_action(action, Ed25519Signer.generate("ghost-key")))
            case "too_large":
                return encode("AgentAction", self._valid(breakage, parameters=json.dumps({"blob": "x" * (MIB + 1)})))
        raise ValueError(f"unknown breakage {breakage.reason!r}")
