"""Clean stops for long-running commands: the first SIGTERM or Ctrl-C asks, a second aborts."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click


def stop_on_signals(stop: threading.Event, name: str, doing: str = "stopping") -> None:
    """SIGTERM and SIGINT set `stop` (the service finishes what it holds); a second one raises KeyboardInterrupt."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        click.echo(f"{name}: {signal.Signals(signum).name}, {doing} (again to abort)", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
