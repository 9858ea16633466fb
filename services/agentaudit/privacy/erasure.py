"""Erase controls: how `dsar erase` tells the processor, in the stream itself, to erase a subject's keys.

`dsar erase` does not write erasure markers itself. It puts one control
message into each agent.actions partition where the subject has a live key,
naming the generations it erases there. The processor meets the control at
a fixed offset of the stream, so the key every input is encrypted under is a
function of the stream alone, not of when processing happens:

- inputs before the control use the old generation, inputs after it the next
  one, in the first run and in any replay after a crash (invariant 4);
- the markers are written only after the checkpoint of the batch holding the
  control, so a replay of that batch still finds the old key on the topic,
  and the checkpoint carries them until they are written (state_store.py),
  so a crash in between cannot lose them.

Anyone who may write agent.actions could write a control, so a control is
signed by the pipeline keyring (Ed25519) and the processor rejects, and keeps
as a rejection, any control that does not verify: an agent must not be able
to make other subjects' audit data unreadable. A control names generations,
never "whatever is live", so a copy replayed later, or a second `dsar erase`,
cannot erase a generation created after the erasure.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from agentaudit.errors import PermanentError
from agentaudit.keyring import verify_signature

ERASE_KEY = b"\x00agentaudit-erase"
"""Key of erase controls on agent.actions; never an agent id (agent ids are validated non-empty text)."""
SIGNATURE_DOMAIN = b"agentaudit/erase/v1\x00"
REJECTION_CODE = "bad_erasure"  # an erase control that is malformed, unsigned or not signed by the pipeline


class Signer(Protocol):
    """The pipeline keyring (agentaudit.keyring.Keyring)."""

    def sign(self, data: bytes) -> tuple[str, bytes]: ...


def canonical(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass(frozen=True)
class Erasure:
    """One request's erasure of one subject's generations on one agent.actions partition."""

    tenant_id: str
    subject_ref: str
    partition: int
    generations: tuple[int, ...]
    request_id: str
    at_us: int
    actor: str
    approver: str

    @property
    def marker(self) -> dict[str, Any]:
        """What the erased keys' entries say instead of the key (KeyEntry.erased)."""
        return {"request_id": self.request_id, "at_us": self.at_us, "actor": self.actor, "approver": self.approver}

    def body(self) -> bytes:
        return canonical({**asdict(self), "generations": list(self.generations)})

    def control(self, signer: Signer) -> bytes:
        """The signed control message's value."""
        key_id, signature = signer.sign(SIGNATURE_DOMAIN + self.body())
        return canonical({"erasure": json.loads(self.body()), "key_id": key_id,
                          "signature": base64.b64encode(signature).decode("ascii")})


_FIELDS: dict[str, type] = {"tenant_id": str, "subject_ref": str, "partition": int, "request_id": str,
                            "at_us": int, "actor": str, "approver": str}


@dataclass(frozen=True)
class Control:
    """An erase control as read, before its signature is checked."""

    erasure: Erasure
    key_id: str
    signature: bytes

    def verified(self, public_keys: Mapping[str, bytes], partition: int) -> Erasure:
        """The erasure, if signed by one of the pipeline's public keys and read from the partition it names;
        PermanentError(bad_erasure) otherwise."""
        if not verify_signature(public_keys, self.key_id, SIGNATURE_DOMAIN + self.erasure.body(), self.signature):
            raise PermanentError(REJECTION_CODE, f"erase control not signed by pipeline key {self.key_id!r}")
        if self.erasure.partition != partition:
            raise PermanentError(REJECTION_CODE, f"erase control for partition {self.erasure.partition} "
                                                 f"read from partition {partition}")
        return self.erasure


def parse_control(value: bytes | None) -> Control:
    """A control message's value as read; PermanentError(bad_erasure) when it is not a well-formed control."""
    try:
        data = json.loads(value or b"")
        body, key_id = data["erasure"], data["key_id"]
        signature = base64.b64decode(data["signature"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise PermanentError(REJECTION_CODE, f"malformed erase control ({type(exc).__name__})") from None
    if not isinstance(body, dict) or not isinstance(key_id, str):
        raise PermanentError(REJECTION_CODE, "malformed erase control (erasure or key_id of the wrong type)")
    return Control(_erasure(body), key_id, signature)


def _erasure(body: dict[str, Any]) -> Erasure:
    generations = body.get("generations")
    fields_ok = all(type(body.get(name)) is kind for name, kind in _FIELDS.items())
    if (not fields_ok or set(body) != {*_FIELDS, "generations"} or not isinstance(generations, list)
            or not all(type(g) is int and g >= 0 for g in generations)):
        raise PermanentError(REJECTION_CODE, "malformed erase control (missing, unknown or mistyped fields)")
    return Erasure(body["tenant_id"], body["subject_ref"], body["partition"], tuple(generations),
                   body["request_id"], body["at_us"], body["actor"], body["approver"])
