"""The pipeline's services as child processes, and how far each has got.

Each service runs as `python -m agentaudit <command>` in its own process group
with its log under HOME/logs, exactly as an operator would start it; the demo
and the crash tests drive them through this class.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence

from confluent_kafka import Consumer, TopicPartition

from agentaudit.settings import Settings


class Service:
    """One agentaudit command running as a child process."""

    def __init__(self, name: str, args: Sequence[str], settings: Settings) -> None:
        self.name = name
        self.args = list(args)
        self.env = {**os.environ, **settings.to_env()}
        self.log_path = settings.home / "logs" / f"{name}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "agentaudit", *self.args],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the demo, which stops children in order
            )

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def exit_code(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def kill(self) -> None:
        """SIGKILL: the crash the pipeline must survive."""
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after timeout_s; returns the exit code."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        return self._proc.returncode

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Offsets:
    """End offsets of topics and committed offsets of consumer groups."""

    def __init__(self, bootstrap: str, partitions: int) -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions
        self._consumers: dict[str, Consumer] = {}

    def _consumer(self, group: str) -> Consumer:
        # A consumer that never subscribes only reads the group's offsets; it does not join the group.
        if group not in self._consumers:
            self._consumers[group] = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group,
                                               "enable.auto.commit": False})
        return self._consumers[group]

    def end(self, topic: str) -> int:
        consumer = self._consumer("agentaudit-offsets")
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in range(self.partitions))

    def committed(self, group: str, topic: str) -> int:
        parts = [TopicPartition(topic, p) for p in range(self.partitions)]
        return sum(max(tp.offset, 0) for tp in self._consumer(group).committed(parts, timeout=10))

    def close(self) -> None:
        for consumer in self._consumers.values():
            consumer.close()
