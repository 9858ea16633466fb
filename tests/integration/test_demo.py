"""The README's main command works, and works again on the same data."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from agentaudit.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_accounts_for_every_action_and_runs_twice(settings: Settings) -> None:
    # metrics on, as `./run demo` has them: every service also serves /metrics and measures its lag
    env = {**os.environ, **settings.with_changes(metrics_port=0).to_env()}
    for run in (1, 2):
        done = subprocess.run(
            [sys.executable, "-m", "agentaudit", "demo", "--events", "1500", "--bad-ratio", "0.05",
             "--seed", str(run)],
            env=env, capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, f"run {run}:\n{done.stdout}\n{done.stderr[-3000:]}"
        assert "every action accounted for exactly once, chained and sealed: yes" in done.stdout
        assert re.search(r"verify: \d+ records in 7 agent chains, [1-9]\d* signed seals, 0 records awaiting a seal, .*: every chain", done.stdout)
        # detection, incidents, on-call and containment, end to end
        assert re.search(r"detection: [1-9]\d* of \d+ records hit a rule", done.stdout), done.stdout
        assert re.search(r"policy.executed_despite_decision \(critical\) +1\b", done.stdout), done.stdout
        assert re.search(r"on-call: the alerter delivered [1-9]\d* critical", done.stdout), done.stdout
        assert "suspended yes, runtime stopped by the kill switch yes" in done.stdout
        assert "rejected" in done.stdout and "Try:" in done.stdout
        assert "stored everything" in done.stderr


def test_demo_through_a_real_schema_registry(settings: Settings, schema_registry_url: str) -> None:
    """The same pipeline with the Confluent wire format: emitters register and
    encode by schema id, the processor and the sink resolve ids at the registry."""
    env = {**os.environ, **settings.with_changes(schema_registry_url=schema_registry_url).to_env()}
    done = subprocess.run(
        [sys.executable, "-m", "agentaudit", "demo", "--events", "1500", "--bad-ratio", "0.05"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr[-3000:]}"
    assert "every action accounted for exactly once, chained and sealed: yes" in done.stdout
    assert re.search(r"[1-9]\d* signed seals, 0 records awaiting a seal, .*: every chain, seal and column verifies", done.stdout), done.stdout
    assert "unknown_schema" in done.stdout
