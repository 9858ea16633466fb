"""schemas/signing.md implemented a second time, from the text alone: plain
Python, no Avro library, no code shared with agentaudit.signing.

If the spec leaves something out or says it wrong, this and the real
implementation disagree on the test vectors or on generated actions, and a
test fails. Keep it that way: change this file only when the spec changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DOMAIN_TAG = b"agentaudit/action/v1" + b"\x00"

PRINCIPAL_TYPE = ["user", "service", "agent", "system", "unknown"]
ACTION_TYPE = ["llm_call", "tool_call", "data_read", "data_write", "external_message",
               "policy_decision", "approval", "agent_change", "other"]
OUTCOME = ["success", "failure", "denied", "pending", "unknown"]
DECISION = ["allow", "deny", "require_approval"]
APPROVAL_DECISION = ["approved", "rejected"]


def long(n: int) -> bytes:
    z = ((n << 1) ^ (n >> 63)) & (2**64 - 1)
    out = bytearray()
    while True:
        group = z & 0x7F
        z >>= 7
        if z:
            out.append(group | 0x80)
        else:
            out.append(group)
            return bytes(out)


def string(s: str) -> bytes:
    raw = s.encode("utf-8")
    return long(len(raw)) + raw


def enum(symbols: list[str], value: str) -> bytes:
    return long(symbols.index(value))


def optional(value: Any, encode: Any) -> bytes:
    return b"\x00" if value is None else b"\x02" + encode(value)


def principal(p: Mapping[str, Any]) -> bytes:
    return enum(PRINCIPAL_TYPE, p["type"]) + string(p["id"])


def error(e: Mapping[str, Any]) -> bytes:
    return string(e["code"]) + string(e["message"])


def policy(p: Mapping[str, Any]) -> bytes:
    return (enum(DECISION, p["decision"]) + string(p["policy_id"]) + string(p["policy_version"])
            + optional(p.get("reason"), string))


def approval(a: Mapping[str, Any]) -> bytes:
    return (principal(a["approver"]) + enum(APPROVAL_DECISION, a["decision"]) + long(a["decided_at"])
            + optional(a.get("approval_id"), string))


def model(m: Mapping[str, Any]) -> bytes:
    return string(m["provider"]) + string(m["name"]) + optional(m.get("version"), string)


def usage(u: Mapping[str, Any]) -> bytes:
    return (long(u.get("input_tokens", 0)) + long(u.get("output_tokens", 0))
            + long(u.get("cost_micros", 0)) + string(u.get("currency", "USD")))


def attributes(m: Mapping[str, str]) -> bytes:
    if not m:
        return b"\x00"
    entries = sorted((k.encode("utf-8"), v) for k, v in m.items())  # bytes compare as unsigned
    body = b"".join(long(len(k)) + k + string(v) for k, v in entries)
    return long(len(entries)) + body + b"\x00"


def canonical(a: Mapping[str, Any]) -> bytes:
    body = [
        string(a["event_id"]), string(a["agent_id"]), string(a["session_id"]), long(a["sequence"]),
        string(a["tenant_id"]), principal(a["principal"]), enum(ACTION_TYPE, a["action_type"]),
        optional(a.get("tool"), string), optional(a.get("resource"), string),
        optional(a.get("parameters"), string), enum(OUTCOME, a["outcome"]),
        optional(a.get("error"), error), optional(a.get("policy"), policy),
        optional(a.get("approval"), approval), optional(a.get("model"), model),
        optional(a.get("usage"), usage), long(a["agent_time"]),
        optional(a.get("correlation_id"), string), optional(a.get("parent_event_id"), string),
        attributes(a.get("attributes") or {}), optional(a.get("key_id"), string),
        b"\x00",  # signature: always null in the canonical form
    ]
    return DOMAIN_TAG + b"".join(body)
