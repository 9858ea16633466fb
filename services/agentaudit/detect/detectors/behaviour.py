"""Departures from an agent's own habits: first use of a tool or resource, and unusual rates.

NoveltyDetector keeps the agent's recently used tools (or resource families:
scheme and host, e.g. crm://customers, so each customer is not "new") as
12-hex-digit digests in least-recently-used order, at most `capacity`; after
`warmup` actions, a value not among them is a hit, then remembered. A value
evicted for lack of room is new again when it returns: memory is bounded, so
an agent using more than `capacity` things in rotation will see repeats.

RateDetector counts the agent's actions per `window` (ingest time, aligned to
the epoch) and keeps an exponentially weighted mean and variance of the
counts of closed windows (weight `alpha`; idle windows count as zero, at most
MAX_IDLE_UPDATES of them). After `warmup_windows` closed windows, the first
action that takes the open window's count above mean + z * std (std at least
`min_std`) and to at least `min_count` is a hit, once per window.
"""

from __future__ import annotations

import math
from typing import Any

from agentaudit.detect.detectors.base import Detector, Params, digest
from agentaudit.detect.errors import RuleError
from agentaudit.detect.fields import RecordView
from agentaudit.detect.model import AgentContext, Findings

MAX_IDLE_UPDATES = 120


def resource_family(resource: str) -> str:
    """What a resource is, without which one: 'crm://customers/42/orders' -> 'crm://customers'."""
    scheme, sep, rest = resource.partition("://")
    if sep:
        authority = rest.split("/", 1)[0].rpartition("@")[2]  # no user-info: it may name a person
        return f"{scheme}://{authority}"[:80]
    if ":" in resource and not resource.startswith("/"):
        return resource.split(":", 1)[0] + ":"  # mailto:, urn: -- the rest may be an address
    return "/".join(resource.split("/", 2)[:2])[:80]


class NoveltyDetector(Detector):
    """Stateful: slot {"n": actions seen (up to warmup), "k": digests, least recently used first}."""

    stateful = True

    def __init__(self, params: Params) -> None:
        self.subject = params.choice("subject", ("tool", "resource"))
        self.warmup = params.integer("warmup", 50, 0, 100_000)
        self.capacity = params.integer("capacity", 64, 1, 256)
        params.done()

    def check(self, view: RecordView, ctx: AgentContext, slot: dict[str, Any], findings: Findings) -> str | None:
        seen = slot.get("n", 0)
        if seen < self.warmup:
            slot["n"] = seen + 1
        value = view.action.get(self.subject)
        if not value:
            return None
        name = value[:80] if self.subject == "tool" else resource_family(value)
        key = digest(name)
        known: list[str] = slot.setdefault("k", [])
        if key in known:
            if known[-1] != key:
                known.remove(key)
                known.append(key)
            return None
        known.append(key)
        del known[:-self.capacity]
        if seen < self.warmup:
            return None
        return f"first use of {self.subject} {name!r} by this agent (after its first {self.warmup} actions)"


class RateDetector(Detector):
    """Stateful: slot {"w": open window, "c": its count, "f": flagged, "n": windows closed, "m": mean, "v": variance}."""

    stateful = True

    def __init__(self, params: Params) -> None:
        self.window_us = params.duration("window", "1m")
        self.warmup = params.integer("warmup_windows", 30, 1, 100_000)
        self.alpha = params.number("alpha", 0.1, 0.001, 1.0)
        self.z = params.number("z", 4.0, 0.5, 100.0)
        self.min_count = params.integer("min_count", 20, 1, 10**9)
        self.min_std = params.number("min_std", 1.0, 0.0, 10**9)
        params.done()
        if self.window_us <= 0:
            raise RuleError(f"{params.where}.window", "the window must be longer than zero")

    def check(self, view: RecordView, ctx: AgentContext, slot: dict[str, Any], findings: Findings) -> str | None:
        window = view.time_us // self.window_us
        if not slot:
            slot.update(w=window, c=0, f=False, n=0, m=0.0, v=0.0)
        elif window > slot["w"]:
            self._close(slot, window)
        slot["c"] += 1  # an action that arrives with an earlier ingest time counts in the open window
        if slot["f"] or slot["n"] < self.warmup:
            return None
        std = max(math.sqrt(slot["v"]), self.min_std)
        count, mean = slot["c"], slot["m"]
        if count < self.min_count or count <= mean + self.z * std:
            return None
        slot["f"] = True
        return (f"{count} actions in one {self.window_us // 1_000_000}s window against a baseline of "
                f"{mean:.1f} (std {std:.1f}, {slot['n']} windows): z = {(count - mean) / std:.1f}")

    def _close(self, slot: dict[str, Any], window: int) -> None:
        idle = min(window - slot["w"] - 1, MAX_IDLE_UPDATES)
        mean, variance = slot["m"], slot["v"]
        for count in [slot["c"]] + [0] * idle:
            difference = count - mean
            increment = self.alpha * difference
            mean += increment
            variance = (1 - self.alpha) * (variance + difference * increment)
        slot.update(w=window, c=0, f=False, n=slot["n"] + 1 + idle, m=mean, v=variance)
