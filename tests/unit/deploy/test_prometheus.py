"""deploy/prometheus: the scrape configuration and the alert rules.

Two checks, so the test means something with or without promtool:
  - a schema check in Python: the rules' structure, and every metric and label
    an expression names is declared in agentaudit.metrics (a renamed metric
    would otherwise leave an alert that can never fire);
  - promtool (Debian's `prometheus` package; .ci/run installs it):
    `check config`, `check rules` and `test rules` with the unit tests in
    rules/agentaudit.rules.test.yml. Without promtool that test is skipped
    with a warning saying so; the schema check still runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy.compose_support import PROMETHEUS_FILE, load_compose, volume_mounts
from tests.unit.deploy.prometheus_support import TARGET_LABELS, known_series, selectors

PROMETHEUS_DIR = PROMETHEUS_FILE.parent
RULES_FILE = PROMETHEUS_DIR / "rules" / "agentaudit.rules.yml"
RULES_TEST_FILE = PROMETHEUS_DIR / "rules" / "agentaudit.rules.test.yml"

SEVERITIES = {"critical", "warning"}
DURATION = re.compile(r"^(\d+[smhdwy])+$")


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_rules()["groups"] for rule in group["rules"]]


def load_rules() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(RULES_FILE.read_text())
    return loaded


# --- the scanner itself ----------------------------------------------------------


def test_selectors_finds_names_and_matched_labels_only() -> None:
    expr = ('sum by (group) (rate(agentaudit_x_total{reason=~"a|b", job!="j"}[5m])) / '
            'max(agentaudit_y) > 2 * on(instance) z_seconds or absent(up{job="p"}) > 1e3')
    assert sorted((n, sorted(labels)) for n, labels in selectors(expr)) == [
        ("agentaudit_x_total", ["job", "reason"]), ("agentaudit_y", []), ("up", ["job"]), ("z_seconds", []),
    ]


# --- scrape configuration ---------------------------------------------------------


def test_every_rule_file_exists_and_prometheus_gets_it() -> None:
    config = yaml.safe_load(PROMETHEUS_FILE.read_text())
    rule_files = config.get("rule_files") or []
    assert [PROMETHEUS_DIR / f for f in rule_files] == [RULES_FILE]
    mounts = {(PROMETHEUS_FILE.parents[2] / source).resolve(): target
              for kind, source, target in volume_mounts(load_compose()["services"]["prometheus"]) if kind == "bind"}
    for rule_file in rule_files:  # relative to prometheus.yml, which is mounted at /etc/prometheus/
        assert mounts.get((PROMETHEUS_DIR / rule_file).resolve()) == f"/etc/prometheus/{rule_file}"


def test_verify_results_have_a_way_in() -> None:
    """verify exits when done: its metrics reach Prometheus through the Pushgateway it pushes to."""
    services = load_compose()["services"]
    config = yaml.safe_load(PROMETHEUS_FILE.read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "agentaudit-verify")
    assert job.get("honor_labels") is True, "without honor_labels the pushed job label becomes exported_job"
    [target] = [t for static in job["static_configs"] for t in static["targets"]]
    host, port = target.rsplit(":", 1)
    assert services[host]["image"].startswith("prom/pushgateway:")
    command = services["auditor"]["command"]
    assert command[0] == "verify" and command[command.index("--pushgateway") + 1] == f"http://{host}:{port}"


# --- the rules: structure -------------------------------------------------------


def test_every_rule_is_an_alert_with_for_severity_and_annotations() -> None:
    rules = load_rules()
    assert set(rules) == {"groups"}
    groups = [g["name"] for g in rules["groups"]]
    assert len(groups) == len(set(groups)), "group names must be unique"
    names = []
    for rule in alert_rules():
        name = rule.get("alert")
        assert isinstance(name, str) and re.fullmatch(r"Agentaudit[A-Z]\w+", name), f"{rule}: no Agentaudit* alert"
        names.append(name)
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, f"{name}: unknown keys"
        assert isinstance(rule["expr"], str) and rule["expr"].strip(), f"{name}: no expr"
        assert DURATION.match(str(rule.get("for", ""))), f"{name}: a `for:` duration keeps one bad scrape from paging"
        assert rule["labels"].get("severity") in SEVERITIES, f"{name}: severity must be one of {SEVERITIES}"
        assert rule["labels"].get("component"), f"{name}: component (the stage to look at) routes it"
        annotations = rule.get("annotations") or {}
        for key in ("summary", "description", "runbook"):
            assert str(annotations.get(key, "")).strip(), f"{name}: annotation {key} missing"
    assert len(names) == len(set(names)), "alert names must be unique"


def test_every_metric_and_label_in_the_rules_is_declared() -> None:
    known = known_series()
    for rule in alert_rules():
        for name, labels in selectors(rule["expr"]):
            assert name in known, f"{rule['alert']}: {name} is declared nowhere (agentaudit.metrics?)"
            unknown = labels - known[name] - TARGET_LABELS
            assert not unknown, f"{rule['alert']}: {name} has no label(s) {sorted(unknown)}"


def test_the_rules_cover_the_pipelines_health() -> None:
    """The issue's list: lag, rejection rate, seal lag, verification, delivery, storage, liveness."""
    exprs = " ".join(rule["expr"] for rule in alert_rules())
    for name in ("agentaudit_consumer_lag_messages", "agentaudit_process_rejected_total",
                 "agentaudit_process_rejection_alarm", "agentaudit_sink_decode_alarm",
                 "agentaudit_process_seal_lag_seconds", "agentaudit_process_seals_total",
                 "agentaudit_verify_success", "agentaudit_verify_last_run_timestamp_seconds",
                 "agentaudit_alert_failed_total", "agentaudit_sink_insert_retries_total", "up"):
        assert re.search(rf"(?<![\w:]){name}(?![\w:])", exprs), f"no alert rule reads {name}"


def test_every_alert_has_a_unit_test_that_makes_it_fire() -> None:
    tests = yaml.safe_load(RULES_TEST_FILE.read_text())
    assert tests["rule_files"] == [RULES_FILE.name]
    fired = {case["alertname"] for test in tests["tests"] for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert {rule["alert"] for rule in alert_rules()} <= fired


# --- promtool ---------------------------------------------------------------


def promtool(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(["promtool", *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd)
    assert done.returncode == 0, f"promtool {' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_promtool_checks_the_config_and_runs_the_rule_tests(tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        reason = "promtool not found (apt-get install prometheus): deploy/prometheus had the schema check only"
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)
    promtool("check", "config", PROMETHEUS_FILE)
    promtool("check", "rules", RULES_FILE)
    # promtool compares annotations verbatim; the tests check what fires, with
    # which labels, so they run against a copy of the rules without them.
    rules = load_rules()
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        rule.pop("annotations", None)
    (tmp_path / RULES_FILE.name).write_text(yaml.safe_dump(rules, sort_keys=False))
    shutil.copy(RULES_TEST_FILE, tmp_path / RULES_TEST_FILE.name)
    assert "SUCCESS" in promtool("test", "rules", RULES_TEST_FILE.name, cwd=tmp_path)
