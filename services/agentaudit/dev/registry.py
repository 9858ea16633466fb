"""A real Confluent-compatible schema registry on this machine, without Docker.

Runs Apicurio Registry 2.6 (in-memory storage, the `apicurio-registry-app`
distribution from Maven Central, fetched by deploy/local/registry/pom.xml) on
127.0.0.1 and a free port. Its Confluent API lives under /apis/ccompat/v7,
which is the URL to give AGENTAUDIT_SCHEMA_REGISTRY_URL.

Why 2.6 and not 3.x: Apicurio 3.3 is compiled for Java 21; this machine has
Java 17 and Debian bookworm packages no Java 21. 2.6 targets Java 11.

State lives under HOME/registry: registry.pid, registry.port and registry.log
(the log is kept after stop, for post-mortems). Storage is in memory: a restart
forgets every schema and starts ids at 1 again, which is what tests want and
why it is for development only.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from agentaudit.dev.process import runs, terminate
from agentaudit.errors import ConfigError

APICURIO_VERSION = "2.6.13.Final"
CCOMPAT_PATH = "/apis/ccompat/v7"
_REPO_ROOT = Path(__file__).resolve().parents[3]
POM = _REPO_ROOT / "deploy" / "local" / "registry" / "pom.xml"
DIST = POM.parent / "target" / "apicurio"
RUNNER_JAR = DIST / f"apicurio-registry-app-{APICURIO_VERSION}-runner.jar"
MARKER = str(RUNNER_JAR).encode()  # our registry JVM's -jar argument in /proc/PID/cmdline

# Small heap and the serial collector: the in-memory registry holds a handful
# of schemas, and this runs beside a broker and ClickHouse on two cores.
_JVM_OPTS = ["-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]


@dataclass(frozen=True)
class RegistryStatus:
    running: bool
    pid: int | None
    url: str | None


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalRegistry:
    """Starts, watches and stops one Apicurio Registry process.

    start() returns once the Confluent API answers, or raises ConfigError with
    the log's tail if the process exits or does not answer in time. The process
    runs in its own session, so it outlives the command that started it (for
    `agentaudit dev registry up`); stop() ends it by the PID recorded at start,
    and only if that PID still runs our jar.
    """

    def __init__(self, home: Path, *, java: str = "java", mvn: str = "mvn") -> None:
        self.state = home / "registry"
        self.java = java
        self.mvn = mvn
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.state / "registry.log"

    @property
    def _pid_path(self) -> Path:
        return self.state / "registry.pid"

    @property
    def _port_path(self) -> Path:
        return self.state / "registry.port"

    def fetch(self) -> Path:
        """Download and unpack the distribution once; later calls return at once."""
        if RUNNER_JAR.is_file():
            return RUNNER_JAR
        if shutil.which(self.mvn) is None:
            raise ConfigError("Maven (mvn) is needed once to fetch Apicurio Registry from Maven Central")
        result = subprocess.run(
            [self.mvn, "-q", "-B", "-f", str(POM), "dependency:unpack"],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0 or not RUNNER_JAR.is_file():
            raise ConfigError(f"fetching Apicurio Registry failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        return RUNNER_JAR

    def status(self) -> RegistryStatus:
        pid = self._recorded_pid()
        if pid is None or not self._is_ours(pid):
            return RegistryStatus(False, None, None)
        return RegistryStatus(True, pid, self._url(int(self._port_path.read_text())))

    def start(self, timeout_s: float = 120.0) -> str:
        """Start the registry (or find it running) and return its Confluent API URL."""
        current = self.status()
        if current.running and current.url and _answers(current.url):
            return current.url
        if current.running and current.pid:
            self._terminate(current.pid)  # ours, but wedged: start afresh
        jar = self.fetch()
        if shutil.which(self.java) is None:
            raise ConfigError("Java 17+ is needed to run Apicurio Registry")
        self.state.mkdir(parents=True, exist_ok=True)
        port = free_port()
        command = [
            self.java, *_JVM_OPTS,
            "-Dquarkus.http.host=127.0.0.1", f"-Dquarkus.http.port={port}",
            "-Dquarkus.log.console.color=false",
            "-jar", str(jar),
        ]
        with self.log_path.open("ab") as log:
            log.write(f"\n--- starting: {' '.join(command)}\n".encode())
            self._proc = subprocess.Popen(
                command, cwd=DIST, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in the caller's terminal must not kill it mid-test
            )
        self._pid_path.write_text(str(self._proc.pid))
        self._port_path.write_text(str(port))
        url = self._url(port)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ConfigError(f"Apicurio Registry exited with {self._proc.returncode}:\n{self.log_tail()}")
            if _answers(url):
                return url
            time.sleep(0.25)
        self.stop()
        raise ConfigError(f"Apicurio Registry did not answer within {timeout_s:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the recorded process (SIGTERM, then SIGKILL); False if none ran."""
        pid = self._recorded_pid()
        stopped = False
        if pid is not None and self._is_ours(pid):
            self._terminate(pid, timeout_s)
            stopped = True
        for path in (self._pid_path, self._port_path):
            path.unlink(missing_ok=True)
        return stopped

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.is_file():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _terminate(self, pid: int, timeout_s: float = 30.0) -> None:
        terminate(pid, MARKER, self._proc, timeout_s)

    def _recorded_pid(self) -> int | None:
        try:
            return int(self._pid_path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    @staticmethod
    def _is_ours(pid: int) -> bool:
        """The PID runs and is our registry jar (PIDs are reused after a reboot)."""
        return runs(pid, MARKER)

    @staticmethod
    def _url(port: int) -> str:
        return f"http://127.0.0.1:{port}{CCOMPAT_PATH}"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/subjects", timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False
