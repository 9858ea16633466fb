"""DetectConfig: defaults, inheritance by tenants, per-agent budgets, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentaudit.detect import Budget, DetectConfig, RuleError, RuleSet


def test_no_file_gives_the_documented_defaults() -> None:
    config = DetectConfig.load(None)
    tenant = config.tenant("anyone")
    assert (tenant.timezone, tenant.business_start_min, tenant.business_end_min) == ("UTC", 480, 1140)
    assert tenant.budget == Budget(5_000_000, 50_000_000)
    rules = RuleSet.load(config=config)
    assert (rules.incident_threshold("anyone"), rules.min_severity("anyone")) == (40, "low")


def test_tenants_inherit_the_defaults_and_agents_override_their_budget(tmp_path: Path) -> None:
    path = tmp_path / "detect.yaml"
    path.write_text("""
defaults: {incident_threshold: 50, business_days: [mon, tue, wed, thu, fri, sat]}
tenants:
  acme:
    timezone: Europe/Berlin
    min_severity: medium
    budget: {daily_tokens: 100}
    agents:
      agent-7: {daily_cost_micros: null}
""", encoding="utf-8")
    config = DetectConfig.load(path)
    acme = config.tenant("acme")
    assert (acme.timezone, acme.incident_threshold, acme.min_severity) == ("Europe/Berlin", 50, "medium")
    assert acme.business_days == frozenset(range(6))
    assert acme.budget_for("agent-1") == Budget(100, 50_000_000)
    assert acme.budget_for("agent-7") == Budget(100, None)
    assert config.tenant("globex").timezone == "UTC"
    assert config.tenant("globex").incident_threshold == 50


@pytest.mark.parametrize(("text", "where", "message"), [
    ("defaults: {timezone: Mars/Olympus}", "defaults.timezone", "unknown time zone"),
    ("defaults: {business_hours: '18:00-09:00'}", "defaults.business_hours", "start before they end"),
    ("defaults: {business_hours: '9-17'}", "defaults.business_hours", "HH:MM"),
    ("defaults: {business_days: [monday]}", "defaults.business_days", "mon, tue"),
    ("defaults: {incident_threshold: 140}", "defaults.incident_threshold", "from 0 to 100"),
    ("defaults: {min_severity: severe}", "defaults.min_severity", "expected one of"),
    ("tenants: {acme: {budget: {daily_tokens: -5}}}", "tenants.acme.budget.daily_tokens", "integer from 1"),
    ("tenants: {acme: {tz: UTC}}", "tenants.acme.tz", "unknown key"),
    ("rules: []", "rules", "unknown key"),
    ("disabled_rules: scope.tool_out_of_scope", "disabled_rules", "list of rule ids"),
])
def test_invalid_config_names_the_file_and_key(tmp_path: Path, text: str, where: str, message: str) -> None:
    path = tmp_path / "detect.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuleError) as raised:
        DetectConfig.load(path)
    assert str(path) in str(raised.value) and where in str(raised.value) and message in str(raised.value)


def test_the_example_config_in_deploy_loads_and_says_what_it_shows() -> None:
    example = Path(__file__).resolve().parents[3] / "deploy" / "detect" / "config.example.yaml"
    config = DetectConfig.load(example)
    assert config.tenant("acme").timezone == "Europe/Berlin"
    assert config.tenant("globex").incident_threshold == 60
    assert config.tenant("acme").budget_for("billing-agent-2").daily_cost_micros == 100_000_000
    assert config.tenant("initech") == config.defaults
