"""Cost of signing and attribution per action (pure CPU, no I/O).

    .venv/bin/python tests/perf/signature_bench.py [--n 20000] [--repeat 3]

Prints µs/op and ops/s (best of --repeat runs, one core unless stated) for:
  - canonical_bytes() of a typical action (fastavro schemaless_writer, cached schema)
  - Ed25519 sign / verify, and what parsing a raw public key costs against the cache verify() uses
  - HMAC-SHA256 sign / verify
  - attribute() end to end, for an Ed25519 agent and for an HMAC agent
then whether shipping Ed25519 verification in batches to a pool of 2 processes
pays, whether `cryptography` releases the GIL in verify, whether verify and
attribute() scale over 2 threads, and what verify costs in a thread beside a
busy Python thread (as it would beside the processor's event loop). Prints figures only; nothing is asserted (timings depend on
the machine and on whatever else its cores are doing).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script from anywhere: make services/ importable without installing.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agentaudit.codec import SingleObjectCodec
from agentaudit.process.attribute import CachingSecretOpener, attribute
from agentaudit.registry.model import AgentDefinition, AgentKey, AgentStatus, KeyAlgorithm, RegistryView, Scope
from agentaudit.signing import Ed25519Signer, HmacSigner, Signer, canonical_bytes, sign_action, verify
from agentaudit.signing.verify import ed25519_public_key
from tests.perf.timing import best_of

T0 = 1_764_000_000_000_000
KEK = AESGCM(bytes(32))
SECRET = os.urandom(32)
ED = Ed25519Signer.generate("ed-1")
HM = HmacSigner("hm-1", SECRET)


class Opener:
    def open(self, agent_id: str, key: AgentKey) -> bytes:
        return KEK.decrypt(key.material[:12], key.material[12:], None)


def registry() -> RegistryView:
    nonce = os.urandom(12)
    view = RegistryView()
    for agent_id, key in (
        ("ed-agent", AgentKey("ed-1", KeyAlgorithm.ED25519, ED.public_key_bytes(), T0)),
        ("hmac-agent", AgentKey("hm-1", KeyAlgorithm.HMAC_SHA256, nonce + KEK.encrypt(nonce, SECRET, None), T0)),
    ):
        view.add(AgentDefinition(agent_id, agent_id, "team", "prod", "acme", ("user:*",), Scope(), (key,),
                                 AgentStatus.ACTIVE, T0))
    return view


def typical_action(agent_id: str, i: int = 0) -> dict[str, Any]:
    """A tool call as the demo's agents emit them, with two attributes."""
    return {
        "event_id": f"01934b6e-1c2a-7c3d-8e4f-{i:012x}", "agent_id": agent_id, "session_id": "01934b6e-0000-7000-8000-000000000001",
        "sequence": i + 1, "tenant_id": "acme", "principal": {"type": "user", "id": "alice@example.com"},
        "action_type": "tool_call", "tool": "crm.lookup", "resource": "crm://customers/42",
        "parameters": '{"customer":42,"fields":["name","plan","open_tickets"]}', "outcome": "success",
        "agent_time": T0 + 1_000_000 + i, "correlation_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "attributes": {"gen_ai.tool.name": "crm.lookup", "gen_ai.operation.name": "execute_tool"},
    }


def signed_actions(agent_id: str, signer: Signer, n: int) -> list[dict[str, Any]]:
    # Decoded from the wire, as the processor sees them.
    codec = SingleObjectCodec()
    return [codec.decode("AgentAction", codec.encode("AgentAction", sign_action(typical_action(agent_id, i), signer)))
            for i in range(n)]



def report(label: str, seconds: float, n: int) -> None:
    print(f"  {label:<52} {seconds / n * 1e6:9.1f} µs/op {n / seconds:12,.0f} ops/s", flush=True)


def _verify_batch(batch: Sequence[tuple[bytes, bytes, bytes]]) -> int:
    return sum(verify(KeyAlgorithm.ED25519, key, data, sig) for key, data, sig in batch)


def _in_pool(executor: Executor, items: list[tuple[bytes, bytes, bytes]], batch: int) -> int:
    chunks = [items[i:i + batch] for i in range(0, len(items), batch)]
    return sum(executor.map(_verify_batch, chunks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=20_000, help="operations per measurement")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, repeat = args.n, args.repeat
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, n={n}, best of {repeat}")

    ed_actions = signed_actions("ed-agent", ED, n)
    hm_actions = signed_actions("hmac-agent", HM, n)
    forms = [canonical_bytes(a) for a in ed_actions]
    sigs = [a["signature"] for a in ed_actions]
    public = ED.public_key_bytes()
    print(f"typical action: {len(SingleObjectCodec().encode('AgentAction', ed_actions[0]))} bytes on the wire, "
          f"canonical form {len(forms[0])} bytes")

    print("one core:")
    report("canonical_bytes()", best_of(repeat, lambda: [canonical_bytes(a) for a in ed_actions]), n)
    report("Ed25519 sign", best_of(repeat, lambda: [ED.sign(f) for f in forms]), n)
    report("Ed25519 verify (cached parsed key)", best_of(repeat, lambda: [
        verify(KeyAlgorithm.ED25519, public, f, s) for f, s in zip(forms, sigs, strict=True)]), n)
    # What the parsed-key cache saves per verify, measured alone (the verify itself varies more than this).
    report("Ed25519 public key parsed from raw bytes", best_of(repeat, lambda: [
        Ed25519PublicKey.from_public_bytes(public) for _ in forms]), n)
    report("Ed25519 public key from the cache", best_of(repeat, lambda: [ed25519_public_key(public) for _ in forms]), n)
    macs = [HM.sign(f) for f in forms]
    report("HMAC-SHA256 sign", best_of(repeat, lambda: [HM.sign(f) for f in forms]), n)
    report("HMAC-SHA256 verify", best_of(repeat, lambda: [
        verify(KeyAlgorithm.HMAC_SHA256, SECRET, f, m) for f, m in zip(forms, macs, strict=True)]), n)
    view, opener = registry(), CachingSecretOpener(Opener())
    ingest = T0 + 2_000_000
    report("attribute() Ed25519 agent", best_of(repeat, lambda: [attribute(a, view, ingest, opener) for a in ed_actions]), n)
    report("attribute() HMAC agent", best_of(repeat, lambda: [attribute(a, view, ingest, opener) for a in hm_actions]), n)

    # Processes first: forking after threads have run is unsafe.
    items = [(public, f, s) for f, s in zip(forms, sigs, strict=True)]
    print("2 processes, Ed25519 verify shipped in batches (pickling included):")
    for batch in (100, 1000):
        with ProcessPoolExecutor(2) as pool:
            _in_pool(pool, items[:2 * batch], batch)  # start the workers before timing
            report(f"batches of {batch}", best_of(repeat, lambda: _in_pool(pool, items, batch)), n)

    print("threads:")
    print(f"  a Python thread kept counting during one Ed25519 verify of 64 MiB: {_runs_beside_verify():.0%} of its pace beside a sleep")
    half = n // 2
    for threads in (1, 2):
        with ThreadPoolExecutor(threads) as pool:
            chunks = [items[i * n // threads:(i + 1) * n // threads] for i in range(threads)]
            report(f"Ed25519 verify, {threads} thread(s)", best_of(repeat, lambda: list(pool.map(_verify_batch, chunks))), n)
            parts = [ed_actions[:half], ed_actions[half:]] if threads == 2 else [ed_actions]
            report(f"attribute() Ed25519 agent, {threads} thread(s)", best_of(repeat, lambda: list(pool.map(
                lambda part: [attribute(a, view, ingest, opener) for a in part], parts))), n)
    few = items[: max(n // 20, 50)]
    report("Ed25519 verify in a thread beside a busy Python thread", _beside_busy_python(few), len(few))


def _count_beside(fn: Callable[[], object]) -> float:
    """Increments per second a pure-Python thread makes while fn runs in this one."""
    count, stop = 0, False

    def spin() -> None:
        nonlocal count
        while not stop:
            count += 1

    thread = threading.Thread(target=spin)
    thread.start()
    time.sleep(0.05)
    before, start = count, time.perf_counter()
    fn()
    rate = (count - before) / (time.perf_counter() - start)
    stop = True
    thread.join()
    return rate


def _runs_beside_verify() -> float:
    """How much a Python thread gets done during one long verify, against during a sleep:
    near 0 if verify holds the GIL, near 1 if it releases it (and a core is free)."""
    big = os.urandom(64 << 20)
    sig = ED.sign(big)
    public = ed25519_public_key(ED.public_key_bytes())
    return _count_beside(lambda: public.verify(sig, big)) / _count_beside(lambda: time.sleep(0.3))


def _beside_busy_python(items: list[tuple[bytes, bytes, bytes]]) -> float:
    """Seconds for a worker thread to verify items while this thread runs pure Python.

    Verify gives up the GIL and must win it back from a thread that only
    yields every sys.getswitchinterval() (5 ms): the convoy effect."""
    done = threading.Event()

    def work() -> None:
        _verify_batch(items)
        done.set()

    worker = threading.Thread(target=work)
    start = time.perf_counter()
    worker.start()
    x = 0
    while not done.is_set():
        x += 1
    worker.join()
    return time.perf_counter() - start

if __name__ == "__main__":
    main()
