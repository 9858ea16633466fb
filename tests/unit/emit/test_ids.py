from __future__ import annotations

import uuid

from agentaudit.emit import uuid7


def test_uuid7_has_version_variant_and_time_prefix() -> None:
    value = uuid.UUID(uuid7(now_ms=0x0123456789AB))
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert value.int >> 80 == 0x0123456789AB


def test_uuid7_sorts_by_time_and_is_unique() -> None:
    ids = [uuid7(now_ms=ms) for ms in range(1000, 1100)]
    assert ids == sorted(ids)
    assert len({uuid7() for _ in range(10_000)}) == 10_000
