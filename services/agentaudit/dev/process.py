"""Owning a long-running child JVM (broker, registry) across commands.

A PID written to a state file may, after a reboot, belong to something else;
and a child we started ourselves lingers as a zombie until reaped. These
helpers answer "is this still our process?" and stop it gracefully.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def runs(pid: int, marker: bytes) -> bool:
    """The PID is running (not a zombie) and marker is one of its arguments.

    A whole argument, not a substring: another folder's broker whose path
    merely ends like ours must never count as ours.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and marker in cmdline.split(b"\0")


def alive(pid: int, marker: bytes, child: subprocess.Popen[bytes] | None) -> bool:
    """runs(), except that our own child is polled, which also reaps it."""
    if child is not None and child.pid == pid:
        return child.poll() is None
    return runs(pid, marker)


def terminate(pid: int, marker: bytes, child: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    """SIGTERM (a JVM's shutdown hooks flush and close its files), SIGKILL after timeout_s."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while alive(pid, marker, child) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid, marker, child):
        os.kill(pid, signal.SIGKILL)
        while alive(pid, marker, child):
            time.sleep(0.05)
