"""Identifiers the emitter mints: UUIDv7 event and session ids (RFC 9562).

UUIDv7 puts the Unix millisecond time in the top 48 bits, so ids sort by
creation time and index well; the remaining 74 bits are random.
"""

from __future__ import annotations

import os
import time
import uuid


def uuid7(now_ms: int | None = None) -> str:
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & (2**48 - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & (2**62 - 1)  # rand_b
    return str(uuid.UUID(int=value))
