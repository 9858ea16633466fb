"""The chain stage: links, count and time seals, and replay after a restart."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest

from agentaudit.chain.links import first_break, genesis
from agentaudit.chain.merkle import root
from agentaudit.chain.seal import SealedBytes, SealForm, seal_genesis
from agentaudit.chain.state import ChainState
from agentaudit.codec import load_schemas
from agentaudit.process.chaining import ChainStage, SealPolicy
from agentaudit.keyring import verify_signature as check_signature
from tests.chain_support import TestSigner

SECOND = 1_000_000
T0 = 1_800_000_000 * SECOND  # on a 10 s boundary
FORM = SealForm(load_schemas())

# (offset, agent or None for a tick, ingest time)
Input = tuple[int, str | None, int]


def run(stage: ChainStage, inputs: list[Input]) -> tuple[list[tuple[str, int, bytes, bytes]], list[SealedBytes]]:
    """Feed inputs as the processor does; return (agent, position, prev, hash) per record and the seals."""
    links, seals = [], []
    for offset, agent, now in inputs:
        source = {"topic": "agent.actions", "partition": 0, "offset": offset}
        seals += stage.advance(now, source)
        if agent is None or stage.applied(agent, offset):
            continue
        link, made = stage.link(agent, "t1", f"{agent}:{offset}".encode(), now, source)
        links.append((agent, link.position, link.prev_hash, link.hash))
        seals += made
    return links, seals


def new_stage(signer: TestSigner | None = None, every: int = 4, states: dict[str, ChainState] | None = None,
              watermark: int = -1) -> ChainStage:
    return ChainStage(0, states or {}, watermark, SealPolicy(every, 10 * SECOND), FORM, signer or TestSigner())


def workload() -> list[Input]:
    """Two agents, one of which goes quiet, and ticks (None) while nobody acts."""
    inputs: list[Input] = []
    offset = 0
    for i in range(30):
        inputs.append((offset, "a" if i % 3 else "b", T0 + i * 700_000))
        offset += 1
    for i in range(5):  # a quiet minute: only ticks
        inputs.append((offset, None, T0 + 25 * SECOND + i * 12 * SECOND))
        offset += 1
    inputs.append((offset, "a", T0 + 90 * SECOND))
    return inputs


def test_every_agent_has_one_unbroken_chain_from_its_genesis() -> None:
    links, _ = run(new_stage(), workload())
    for agent in ("a", "b"):
        mine = [(pos, prev, h, f"{agent}:{0}".encode()) for a, pos, prev, h in links if a == agent]
        positions = [pos for pos, *_ in mine]
        assert positions == list(range(1, len(mine) + 1))
        assert mine[0][1] == genesis(agent)
        for (_, _, h, _), (_, prev, _, _) in zip(mine, mine[1:]):
            assert prev == h


def test_seals_cover_consecutive_positions_and_time_and_link_to_each_other() -> None:
    signer = TestSigner()
    stage = new_stage(signer)
    links, seals = run(stage, workload())
    for agent in ("a", "b"):
        mine = [s.datum for s in seals if s.datum["agent_id"] == agent]
        hashes = {pos: h for a, pos, _, h in links if a == agent}
        prev_hash, next_position, prev_until = seal_genesis(agent), 1, None
        for seq, seal in enumerate(mine, 1):
            assert seal["seq"] == seq
            assert seal["prev_seal_hash"] == prev_hash
            assert seal["first_position"] == next_position
            covered = [hashes[p] for p in range(seal["first_position"], seal["last_position"] + 1)]
            assert seal["merkle_root"] == root(covered)
            if covered:
                assert seal["head_hash"] == covered[-1]
            if prev_until is not None:
                assert seal["from_time"] == prev_until
            assert seal["from_time"] <= seal["until_time"]
            assert FORM.signature_valid(seal, signer.public_keys(), check_signature)
            prev_hash, next_position, prev_until = FORM.seal_hash(seal), seal["last_position"] + 1, seal["until_time"]
    reasons = {s.datum["reason"] for s in seals}
    assert reasons == {"count", "time"}
    idle = [s.datum for s in seals if s.datum["last_position"] < s.datum["first_position"]]
    assert idle, "a quiet chain must still be sealed"
    assert all(s["merkle_root"] == hashlib.sha256(b"").digest() for s in idle)


def test_a_count_seal_comes_exactly_every_n_records() -> None:
    inputs: list[Input] = [(i, "a", T0 + i) for i in range(9)]
    _, seals = run(new_stage(every=4), inputs)
    assert [(s.datum["first_position"], s.datum["last_position"]) for s in seals] == [(1, 4), (5, 8)]


def snapshot(stage: ChainStage) -> dict[str, ChainState]:
    return {a: ChainState.from_json(s.to_json()) for a, s in stage.states.items()}


@pytest.mark.parametrize("cut", [1, 7, 18, 29, 31, 33])
def test_a_restart_from_saved_state_reproduces_every_link_and_seal(cut: int) -> None:
    """Invariant 4: the state after input `cut` was saved, the crash lost the
    rest; the handler redelivers only what lies past the watermark. The
    outputs must equal an uninterrupted run's, byte for byte."""
    signer = TestSigner()
    inputs = workload()
    whole_links, whole_seals = run(new_stage(signer), inputs)
    first = new_stage(signer)
    links, seals = run(first, inputs[: cut + 1])
    restarted = new_stage(signer, states=snapshot(first), watermark=cut)
    more_links, more_seals = run(restarted, [i for i in inputs if i[0] > restarted.watermark])
    assert links + more_links == whole_links
    assert [s.body for s in seals + more_seals] == [s.body for s in whole_seals]


@pytest.mark.parametrize("cut", [8, 20, 32])
def test_a_partly_saved_state_makes_only_identical_repeats(cut: int) -> None:
    """The crash hit while states were being written: agent a's newest state
    arrived, b's and the watermark did not. Redelivered inputs a already
    applied are skipped; b's are redone, identically, so the sink's drop of
    repeats leaves one consistent chain per agent."""
    signer = TestSigner()
    inputs = workload()
    whole_links, whole_seals = run(new_stage(signer), inputs)
    first = new_stage(signer)
    run(first, inputs[: cut - 5])
    older = snapshot(first)
    run(first, inputs[cut - 5: cut + 1])
    mixed = {**older, "a": snapshot(first)["a"]}
    restarted = new_stage(signer, states=mixed, watermark=cut - 6)
    links, seals = run(restarted, [i for i in inputs if i[0] > restarted.watermark])
    assert set(links) <= set(whole_links)
    assert {(l[0], l[1]) for l in whole_links} - {(l[0], l[1]) for l in links} <= {
        (l[0], l[1]) for l in whole_links if l[1] <= mixed.get(l[0], ChainState("", "", 0, 0)).position
    }
    whole_bodies = {(s.datum["agent_id"], s.datum["seq"]): s.body for s in whole_seals}
    for seal in seals:
        assert whole_bodies[(seal.datum["agent_id"], seal.datum["seq"])] == seal.body


def test_a_seal_remade_under_a_rotated_key_keeps_its_hash() -> None:
    signer = TestSigner()
    inputs: list[Input] = [(i, "a", T0 + i) for i in range(4)]
    _, before = run(new_stage(signer, every=4), inputs)
    signer.rotate()
    _, after = run(new_stage(signer, every=4), inputs)
    assert before[0].datum["key_id"] != after[0].datum["key_id"]
    assert before[0].seal_hash == after[0].seal_hash
    assert FORM.signature_valid(after[0].datum, signer.public_keys(), check_signature)


def test_a_forged_or_altered_seal_fails_its_signature() -> None:
    signer = TestSigner()
    _, seals = run(new_stage(signer, every=2), [(0, "a", T0), (1, "a", T0 + 1)])
    seal = copy.deepcopy(seals[0].datum)
    keys = signer.public_keys()
    assert FORM.signature_valid(seal, keys, check_signature)
    altered: dict[str, Any] = {**seal, "last_position": 1}
    assert not FORM.signature_valid(altered, keys, check_signature)
    forged = {**seal, "signature": TestSigner().sign(b"anything")[1]}
    assert not FORM.signature_valid(forged, keys, check_signature)


def test_the_chain_of_stage_links_verifies_with_the_offline_verifier() -> None:
    links, _ = run(new_stage(), [(i, "a", T0 + i) for i in range(10)])
    entries = [(pos, prev, h, f"a:{pos - 1}".encode()) for _, pos, prev, h in links]
    assert first_break(entries, anchor=genesis("a")) is None
