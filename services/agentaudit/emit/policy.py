"""What the emitter does when its bounded buffer is full.

An agent must never be stalled for long by auditing, and an audit event must
never vanish silently: so a full buffer either blocks for a bounded time or
raises at once, and both outcomes are counted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BufferFull:
    """Policy for a full send buffer.

    block_s: how long emit() may wait for room (0 means raise at once).
    After that, emit() raises agentaudit.emit.EmitterFull and the event is
    the caller's to keep or retry: it was not accepted.
    """

    block_s: float = 1.0

    def __post_init__(self) -> None:
        if self.block_s < 0:
            raise ValueError("block_s must be >= 0")


BLOCK = BufferFull(block_s=1.0)
RAISE = BufferFull(block_s=0.0)
