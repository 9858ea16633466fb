"""A real Apache Kafka broker for local runs and tests, without Docker.

The broker is the official one: its jars come from Maven Central through
deploy/local/pom.xml, and it runs as one JVM in KRaft mode (broker and
controller in one process) on 127.0.0.1. State lives in one folder (default
HOME/kafka): the rendered server.properties, the log dir (data/), broker.log
and broker.json (pid, bootstrap, ports, log path), so that any later command,
in any process, finds the running broker.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import shutil
import socket
import string
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from agentaudit.dev.process import alive, terminate
from agentaudit.errors import ConfigError
from agentaudit.settings import Settings

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "local"
POM = DEPLOY / "pom.xml"
LIBS = DEPLOY / "target" / "kafka-libs"
Echo = Callable[[str], None]
READY_LINE = "Kafka Server started"
# Upstream's start script sizes the heap at 1 GiB; half is plenty for one node
# that shares two cores and the page cache with the pipeline and ClickHouse.
JVM_OPTS = ["-Xms512m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true"]


def cluster_id() -> str:
    """A KRaft cluster id: URL-safe base64 of 16 random bytes, no padding, not starting with '-'."""
    while True:
        value = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        if not value.startswith("-"):  # the storage tool would read it as an option
            return value


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
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
    """deploy/local/server.properties.template with the ports and log dir filled in."""
    template = string.Template((DEPLOY / "server.properties.template").read_text())
    return template.substitute(port=port, controller_port=controller_port, log_dir=log_dir)


def _stamp(libs: Path) -> Path:
    return libs / ".fetched"


def jars_complete(libs: Path = LIBS, pom: Path = POM) -> bool:
    """True when the last fetch finished for this pom.xml and none of its jars went missing.

    The stamp, written only after Maven succeeded, holds the POM's hash and the
    jar names: an interrupted fetch leaves no stamp, a changed POM (a Kafka
    upgrade) no longer matches it.
    """
    try:
        digest, *jars = _stamp(libs).read_text().split()
    except (OSError, ValueError):
        return False
    return digest == hashlib.sha256(pom.read_bytes()).hexdigest() and all((libs / jar).is_file() for jar in jars)


def fetch_jars(echo: Echo = print, libs: Path = LIBS, pom: Path = POM) -> Path:
    """Make sure the broker's jars are in `libs`, running Maven when they are not (about 20 s).

    Safe to call from several processes at once: one fetches, the others wait.
    """
    if jars_complete(libs, pom):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ConfigError("fetching the Kafka broker's jars needs Maven (mvn) on PATH; install it, e.g. apt-get install maven")
    libs.parent.mkdir(parents=True, exist_ok=True)
    with _locked(libs.parent / ".fetch.lock"):
        if jars_complete(libs, pom):  # another process fetched them while we waited
            return libs
        if _stamp(libs).exists():
            # A stamp for another pom.xml: remove that version's jars so that two
            # Kafka versions never share the classpath.
            shutil.rmtree(libs)
        echo("kafka: fetching the Apache Kafka broker jars from Maven Central (once, about 20 s)…")
        began = time.monotonic()
        result = subprocess.run(
            [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies"], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise ConfigError(f"fetching the Kafka jars failed (mvn exit {result.returncode}):\n"
                              f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
        jars = sorted(path.name for path in libs.glob("*.jar"))
        _stamp(libs).write_text("\n".join([hashlib.sha256(pom.read_bytes()).hexdigest(), *jars]) + "\n")
        echo(f"kafka: fetched {len(jars)} jars into {libs} in {time.monotonic() - began:.0f}s")
    return libs


def java_executable() -> str:
    """$JAVA_HOME/bin/java when set, else java on PATH; ConfigError when neither exists."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise ConfigError("the local Kafka broker needs Java 17 or newer (java not found on PATH or in JAVA_HOME)")
    return found


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` held for the block (released if the process dies)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class BrokerState:
    """What broker.json records about the last broker started from a state folder."""

    pid: int
    port: int
    controller_port: int
    log: str

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def to_json(self) -> str:
        # bootstrap too, for people and scripts that read the file
        return json.dumps({**asdict(self), "bootstrap": self.bootstrap}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> BrokerState:
        data = json.loads(text)
        return cls(int(data["pid"]), int(data["port"]), int(data["controller_port"]), str(data["log"]))


def answers(bootstrap: str, timeout_s: float = 5.0) -> bool:
    """True when a broker at `bootstrap` serves a metadata request within timeout_s."""
    # log_level 0: a broker that does not answer yet is expected here, not worth
    # librdkafka's connection errors on stderr.
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout_s)
    except Exception:  # any failure to answer means "not (yet) ready"
        return False
    return True


class _PortTaken(ConfigError):
    """The broker could not bind a port picked for it (someone took it in between)."""


class LocalKafka:
    """Starts, finds and stops the one broker whose state lives in `state_dir`.

    up() is idempotent and blocks until the broker answers (or raises
    ConfigError with the log's tail): a recorded broker that is still running
    is reused, or waited for while it starts. The broker runs in its own
    session, so it outlives the command that started it and ignores that
    command's Ctrl-C; down() stops it by the recorded pid, and only if that pid
    still runs this folder's broker. Its ports are kept across restarts (when
    free), so the bootstrap address, and with it every client's configuration,
    stays the same; the data stays too.
    """

    def __init__(self, settings: Settings, state_dir: Path | None = None) -> None:
        self.dir = (state_dir or settings.home / "kafka").resolve()
        self.state_file = self.dir / "broker.json"
        self.log_path = self.dir / "broker.log"
        self.properties = self.dir / "server.properties"
        self._child: subprocess.Popen[bytes] | None = None

    def status(self) -> BrokerState | None:
        """The running broker when it answers requests, else None."""
        state = self.process()
        if state and answers(state.bootstrap, 3.0):
            return state
        return None

    def process(self) -> BrokerState | None:
        """The recorded broker if its process runs (it may not answer yet), else None."""
        state = self._read_state()
        return state if state and self._alive(state.pid) else None

    def up(self, timeout_s: float = 120.0, echo: Echo = print) -> str:
        """Start the broker unless it runs, wait until it answers; return its bootstrap address."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with _locked(self.dir / ".lock"):
            running = self.process()
            if running:
                if not answers(running.bootstrap, 3.0):
                    self._wait_ready(running, timeout_s)  # still starting: an earlier `up` was interrupted
                return running.bootstrap
            libs = fetch_jars(echo)
            java = java_executable()
            began = time.monotonic()
            state = self._start(java, libs, self._ports(), echo)
            try:
                self._wait_ready(state, timeout_s)
            except _PortTaken:  # taken by another program between our check and the broker's bind
                echo(f"kafka: port {state.port} or {state.controller_port} was taken meanwhile; trying others")
                state = self._start(java, libs, self._fresh_ports(), echo)
                self._wait_ready(state, timeout_s)
            echo(f"kafka: ready on {state.bootstrap} in {time.monotonic() - began:.1f}s (pid {state.pid})")
            return state.bootstrap

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker: SIGTERM, then SIGKILL after timeout_s. False if none ran.

        The data and broker.json stay, so the next up() keeps both the topics
        and the address.
        """
        if not self.dir.is_dir():
            return False
        with _locked(self.dir / ".lock"):
            state = self.process()
            if state is None:
                return False
            self._terminate(state.pid, timeout_s)
            return True

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _start(self, java: str, libs: Path, ports: tuple[int, int], echo: Echo) -> BrokerState:
        port, controller_port = ports
        data = self.dir / "data"
        self.properties.write_text(render_properties(port, controller_port, data))
        classpath = f"{libs}/*"
        # Format once. Not `format -g` on every start: it refuses a directory
        # formatted with another cluster id, and it costs a JVM start.
        if not (data / "meta.properties").exists():
            self._run_tool(java, classpath, "kafka.tools.StorageTool", "format", "--standalone",
                           "-t", cluster_id(), "-c", str(self.properties))
        if self.log_path.exists():  # keep the previous run's log for post-mortems, one run back
            self.log_path.replace(self.log_path.with_suffix(".previous.log"))
        with self.log_path.open("wb") as log:
            self._child = subprocess.Popen(
                [java, *JVM_OPTS, f"-Dlog4j2.configurationFile={DEPLOY / 'log4j2.properties'}",
                 "-cp", classpath, "kafka.Kafka", str(self.properties)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # outlives the command that started it, ignores its Ctrl-C
            )
        state = BrokerState(self._child.pid, port, controller_port, str(self.log_path))
        self.state_file.write_text(state.to_json())
        echo(f"kafka: starting broker pid {state.pid} on {state.bootstrap} (log {self.log_path})")
        return state

    def _wait_ready(self, state: BrokerState, timeout_s: float) -> None:
        """Block until the broker logs READY_LINE and answers an admin call.

        Ports open before the broker serves requests, hence both. Raises
        ConfigError at once if the process exits, and stops it on timeout.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._alive(state.pid):
                tail = self.log_tail()
                if "Address already in use" in self.log_path.read_text(errors="replace"):
                    raise _PortTaken(f"port {state.port} or {state.controller_port} was taken:\n{tail}")
                raise ConfigError(f"the Kafka broker exited during start-up; the end of {self.log_path}:\n{tail}")
            logged = self.log_path.exists() and READY_LINE in self.log_path.read_text(errors="replace")
            if logged and answers(state.bootstrap, 5.0):
                return
            time.sleep(0.25)
        self._terminate(state.pid, 30.0)
        raise ConfigError(f"the Kafka broker was not ready within {timeout_s:.0f}s; "
                          f"the end of {self.log_path}:\n{self.log_tail()}")

    def _terminate(self, pid: int, timeout_s: float) -> None:
        terminate(pid, self._marker, self._child, timeout_s)

    def _alive(self, pid: int) -> bool:
        """The pid runs this folder's broker (pids are reused, e.g. after a reboot)."""
        return alive(pid, self._marker, self._child)

    @property
    def _marker(self) -> bytes:
        return str(self.properties).encode()

    def _read_state(self) -> BrokerState | None:
        try:
            return BrokerState.from_json(self.state_file.read_text())
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _ports(self) -> tuple[int, int]:
        """The previous run's ports when both are free, so that the address stays the same."""
        previous = self._read_state()
        if previous and port_is_free(previous.port) and port_is_free(previous.controller_port):
            return previous.port, previous.controller_port
        return self._fresh_ports()

    @staticmethod
    def _fresh_ports() -> tuple[int, int]:
        port = free_port()
        controller = free_port()
        while controller == port:
            controller = free_port()
        return port, controller

    @staticmethod
    def _run_tool(java: str, classpath: str, main: str, *args: str) -> None:
        result = subprocess.run([java, "-cp", classpath, main, *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise ConfigError(f"{main} {args[0]} failed: {result.stdout[-1500:]}{result.stderr[-1500:]}")


def resolve_bootstrap(settings: Settings) -> str:
    """settings.kafka_bootstrap, else the address of the running local broker.

    Raises ConfigError, saying how to get a broker, when neither exists.
    """
    if settings.kafka_bootstrap:
        return settings.kafka_bootstrap
    state = LocalKafka(settings).status()
    if state is None:
        raise ConfigError(
            "no Kafka broker: run `agentaudit dev kafka up` for a local one, "
            "or set AGENTAUDIT_KAFKA_BOOTSTRAP=host:port"
        )
    return state.bootstrap
