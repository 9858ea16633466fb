from __future__ import annotations

import subprocess
import sys
import time

from agentaudit.dev.process import alive, runs, terminate


def test_a_process_is_ours_only_by_a_whole_argument() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "/srv/a/server.properties"])
    try:
        # Right after fork, /proc/PID/cmdline is still the parent's until exec.
        deadline = time.monotonic() + 10
        while not runs(child.pid, b"/srv/a/server.properties") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runs(child.pid, b"/srv/a/server.properties")
        assert not runs(child.pid, b"a/server.properties")  # another folder's broker ends like this
        assert not runs(child.pid, b"/srv/b/server.properties")
    finally:
        terminate(child.pid, b"/srv/a/server.properties", child, timeout_s=5)
    assert not alive(child.pid, b"/srv/a/server.properties", child)
    assert child.returncode is not None
