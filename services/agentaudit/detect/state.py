"""One agent's detection memory, saved as JSON between records and across restarts.

Each stateful rule owns one slot, keyed by rule id, that only its detector
reads and writes. Every detector bounds its own slot (see its docstring); with
the packaged rules at their default parameters an agent's state is about
0.5-2.5 KB on the demo workload and about 4.7 KB with every slot filled to
its bound (64 tool and 64 resource digests, 16 gates, 10 denial times), well
under the hard cap MAX_STATE_BYTES that tests check. Ids and names are kept as
fixed-size digests, so what an agent puts in them cannot grow its state.

Replays (invariant 4): save the state at the same point as the consumer
offsets it reflects. to_json is canonical (sorted keys, no spaces), so equal
states give equal bytes, and from_json(to_json()) continues exactly as the
original would have.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agentaudit.errors import PermanentError

MAX_STATE_BYTES = 16 * 1024


@dataclass
class DetectState:
    """Per-agent detector memory: rule id -> that rule's JSON-able slot."""

    slots: dict[str, dict[str, Any]] = field(default_factory=dict)

    def slot(self, rule_id: str) -> dict[str, Any]:
        found = self.slots.get(rule_id)
        if found is None:
            found = self.slots[rule_id] = {}
        return found

    def to_json(self) -> bytes:
        return json.dumps(self.slots, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> DetectState:
        """The state to_json wrote; anything else is a PermanentError (state_corrupt)."""
        try:
            slots = json.loads(data)
        except ValueError as exc:
            raise PermanentError("state_corrupt", f"detection state is not JSON: {exc}") from exc
        if not isinstance(slots, dict) or not all(isinstance(slot, dict) for slot in slots.values()):
            raise PermanentError("state_corrupt", "detection state must map rule ids to objects")
        return cls(slots)
