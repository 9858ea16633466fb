"""A real Apache Kafka broker for local runs and tests, without Docker.

The broker is the official one: its jars come from Maven Central through
deploy/local/pom.xml, and it runs as one JVM in KRaft mode (broker and
controller in one process) on 127.0.0.1. State lives under HOME/kafka: the
rendered server.properties, the log dirs, broker.log and broker.json (pid,
ports, bootstrap) so that `up` in another process finds a running broker.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import string
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from agentaudit.errors import ConfigError
from agentaudit.settings import Settings

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "local"
LIBS = DEPLOY / "target" / "kafka-libs"
Echo = Callable[[str], None]
READY_LINE = "Kafka Server started"
# Upstream's start script sizes the heap at 1 GiB; half is plenty for one node.
JVM_OPTS = ["-Xms512m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true"]


def cluster_id() -> str:
    """A KRaft cluster id: URL-safe base64 of 16 random bytes, no padding, not starting with '-'."""
    while True:
        value = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        if not value.startswith("-"):
            return value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # The broker binds with SO_REUSEADDR, so a port left in TIME_WAIT by its
        # own previous run is free to it; test the same way.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def render_properties(port: int, controller_port: int, log_dir: Path) -> str:
    template = string.Template((DEPLOY / "server.properties.template").read_text())
    return template.substitute(port=port, controller_port=controller_port, log_dir=log_dir)


def fetch_jars(echo: Echo = print) -> Path:
    """Download the broker's jars from Maven Central once (about 20 s)."""
    if LIBS.is_dir() and any(LIBS.glob("kafka_2.13-*.jar")) and any(LIBS.glob("log4j-core-*.jar")):
        return LIBS
    mvn = shutil.which("mvn")
    if mvn is None or shutil.which("java") is None:
        raise ConfigError("the local Kafka broker needs Java 17+ and Maven (mvn) on PATH")
    echo("kafka: fetching the Apache Kafka jars from Maven Central (once)…")
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(DEPLOY / "pom.xml"), "dependency:copy-dependencies"],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise ConfigError(f"fetching the Kafka jars failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return LIBS


@dataclass(frozen=True)
class BrokerState:
    pid: int
    port: int
    controller_port: int
    log: str

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by a parent that is us) is not alive.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def answers(bootstrap: str, timeout_s: float = 5.0) -> bool:
    try:
        AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=timeout_s)
    except Exception:  # any failure to answer means "not (yet) ready"
        return False
    return True


class LocalKafka:
    """Starts, finds and stops one local broker whose state lives in HOME/kafka.

    up() is idempotent: a broker recorded in broker.json that still answers is
    reused. The ports are kept across restarts (when free) so the bootstrap
    address, and with it every client's configuration, stays the same.
    """

    def __init__(self, settings: Settings, state_dir: Path | None = None) -> None:
        self.dir = (state_dir or settings.home / "kafka").resolve()
        self.state_file = self.dir / "broker.json"
        self.log_path = self.dir / "broker.log"

    def status(self) -> BrokerState | None:
        """The running broker, or None."""
        state = self._read_state()
        if state and _alive(state.pid) and answers(state.bootstrap, 3.0):
            return state
        return None

    def up(self, timeout_s: float = 120.0, echo: Echo = print) -> str:
        """Start the broker unless it runs; return its bootstrap address."""
        running = self.status()
        if running:
            return running.bootstrap
        libs = fetch_jars(echo)
        self.dir.mkdir(parents=True, exist_ok=True)
        port, controller_port = self._ports()
        properties = self.dir / "server.properties"
        data = self.dir / "data"
        properties.write_text(render_properties(port, controller_port, data))
        classpath = f"{libs}/*"
        if not (data / "meta.properties").exists():
            self._java(classpath, "kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id(),
                       "-c", str(properties))
        with self.log_path.open("ab") as log:
            proc = subprocess.Popen(
                ["java", *JVM_OPTS, f"-Dlog4j2.configurationFile={DEPLOY / 'log4j2.properties'}",
                 "-cp", classpath, "kafka.Kafka", str(properties)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # outlives the command that started it, ignores its Ctrl-C
            )
        state = BrokerState(proc.pid, port, controller_port, str(self.log_path))
        self.state_file.write_text(json.dumps(asdict(state)))
        self._wait_ready(proc, state, timeout_s)
        return state.bootstrap

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker gracefully (SIGTERM), forcibly after timeout_s; False if none ran."""
        state = self._read_state()
        if state is None or not _alive(state.pid):
            return False
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(state.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(state.pid):
            os.kill(state.pid, signal.SIGKILL)
        return True

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _read_state(self) -> BrokerState | None:
        try:
            return BrokerState(**json.loads(self.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _ports(self) -> tuple[int, int]:
        previous = self._read_state()
        if previous and port_is_free(previous.port) and port_is_free(previous.controller_port):
            return previous.port, previous.controller_port
        port = free_port()
        controller = free_port()
        while controller == port:
            controller = free_port()
        return port, controller

    def _java(self, classpath: str, main: str, *args: str) -> None:
        result = subprocess.run(["java", "-cp", classpath, main, *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise ConfigError(f"{main} {args[0]} failed: {result.stdout[-1500:]}{result.stderr[-1500:]}")

    def _wait_ready(self, proc: subprocess.Popen[bytes], state: BrokerState, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        offset = 0
        seen_ready = False
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ConfigError(f"the Kafka broker exited with {proc.returncode}:\n{self.log_tail()}")
            if not seen_ready:
                with self.log_path.open("rb") as log:
                    log.seek(offset)
                    chunk = log.read()
                seen_ready = READY_LINE.encode() in chunk
                offset += max(0, len(chunk) - len(READY_LINE))
            # Ports open before the broker serves requests: the log line and an
            # answered admin call together mean ready.
            if seen_ready and answers(state.bootstrap, 5.0):
                return
            time.sleep(0.25)
        self.down()
        raise ConfigError(f"the Kafka broker was not ready within {timeout_s:.0f}s:\n{self.log_tail()}")


def resolve_bootstrap(settings: Settings) -> str:
    """settings.kafka_bootstrap, else the running local broker's address."""
    if settings.kafka_bootstrap:
        return settings.kafka_bootstrap
    state = LocalKafka(settings).status()
    if state is None:
        raise ConfigError(
            "no Kafka broker: run `agentaudit dev kafka up` for a local one, "
            "or set AGENTAUDIT_KAFKA_BOOTSTRAP=host:port"
        )
    return state.bootstrap
