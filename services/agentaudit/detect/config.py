"""Detection configuration: per-tenant time zones, hours, budgets and thresholds.

Loaded once at start-up from an optional YAML file (the processor passes the
path, from AGENTAUDIT_DETECT_CONFIG) and validated there: a misspelt key, an
unknown time zone or a bad clock time is a RuleError naming the file and key.
Every value has a default, so no file at all is a valid configuration::

    defaults:                       # every tenant, unless its section says otherwise
      timezone: UTC
      business_hours: "08:00-19:00" # local time, start inclusive, end exclusive
      business_days: [mon, tue, wed, thu, fri]
      incident_threshold: 40        # minimum risk score for a hit to open/update an incident
      min_severity: low             # and the minimum severity of that hit
      budget: {daily_tokens: 5000000, daily_cost_micros: 50000000}   # null: no limit
    tenants:
      acme:
        timezone: Europe/Berlin
        budget: {daily_tokens: 8000000}
        agents:                     # per-agent budget overrides, merged over the tenant's
          billing-agent-2: {daily_cost_micros: 100000000}
    disabled_rules: [behaviour.rate_anomaly]
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from agentaudit.detect.errors import RuleError
from agentaudit.severity import SEVERITY_RANK
from agentaudit.detect.units import WEEKDAYS, clock_minutes


@dataclass(frozen=True)
class Budget:
    """A daily allowance per agent; None means no limit."""

    daily_tokens: int | None = 5_000_000
    daily_cost_micros: int | None = 50_000_000


@dataclass(frozen=True)
class TenantPolicy:
    """One tenant's settings; tenants without a section get the defaults."""

    timezone: str = "UTC"
    business_start_min: int = 8 * 60
    business_end_min: int = 19 * 60
    business_days: frozenset[int] = frozenset(range(5))  # Monday is 0, as datetime.weekday()
    incident_threshold: int = 40
    min_severity: str = "low"
    budget: Budget = Budget()
    agent_budgets: Mapping[str, Budget] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)  # cached by zoneinfo itself

    def budget_for(self, agent_id: str) -> Budget:
        return self.agent_budgets.get(agent_id, self.budget)


@dataclass(frozen=True)
class DetectConfig:
    """Validated detection settings; DetectConfig() is the default configuration."""

    defaults: TenantPolicy = TenantPolicy()
    tenants: Mapping[str, TenantPolicy] = field(default_factory=lambda: MappingProxyType({}))
    disabled_rules: frozenset[str] = frozenset()

    def tenant(self, tenant_id: str) -> TenantPolicy:
        return self.tenants.get(tenant_id, self.defaults)

    @classmethod
    def load(cls, path: Path | None) -> DetectConfig:
        """The config in a YAML file; None gives the defaults."""
        if path is None:
            return cls()
        where = str(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise RuleError(where, f"cannot read the detection config: {exc}") from exc
        return cls.from_mapping(raw if raw is not None else {}, where)

    @classmethod
    def from_mapping(cls, raw: object, where: str = "detect config") -> DetectConfig:
        data = _mapping(raw, where, ("defaults", "tenants", "disabled_rules"))
        defaults = _tenant(data.get("defaults", {}), TenantPolicy(), f"{where}: defaults")
        tenants = {
            str(name): _tenant(section, defaults, f"{where}: tenants.{name}")
            for name, section in _mapping(data.get("tenants", {}), f"{where}: tenants", None).items()
        }
        disabled = data.get("disabled_rules", [])
        if not isinstance(disabled, list) or not all(isinstance(rule_id, str) for rule_id in disabled):
            raise RuleError(f"{where}: disabled_rules", "expected a list of rule ids")
        return cls(defaults, MappingProxyType(tenants), frozenset(disabled))


_TENANT_KEYS = ("timezone", "business_hours", "business_days", "incident_threshold", "min_severity", "budget",
                "agents")


def _tenant(raw: object, base: TenantPolicy, where: str) -> TenantPolicy:
    data = _mapping(raw, where, _TENANT_KEYS)
    policy = base
    if "timezone" in data:
        policy = replace(policy, timezone=_zone_name(data["timezone"], f"{where}.timezone"))
    if "business_hours" in data:
        start, end = _hours(data["business_hours"], f"{where}.business_hours")
        policy = replace(policy, business_start_min=start, business_end_min=end)
    if "business_days" in data:
        policy = replace(policy, business_days=_days(data["business_days"], f"{where}.business_days"))
    if "incident_threshold" in data:
        policy = replace(policy, incident_threshold=_int(data["incident_threshold"], 0, 100,
                                                         f"{where}.incident_threshold"))
    if "min_severity" in data:
        severity = data["min_severity"]
        if severity not in SEVERITY_RANK:
            raise RuleError(f"{where}.min_severity", f"expected one of {', '.join(SEVERITY_RANK)}, got {severity!r}")
        policy = replace(policy, min_severity=severity)
    if "budget" in data:
        policy = replace(policy, budget=_budget(data["budget"], policy.budget, f"{where}.budget"))
    agents = {str(agent): _budget(section, policy.budget, f"{where}.agents.{agent}")
              for agent, section in _mapping(data.get("agents", {}), f"{where}.agents", None).items()}
    return replace(policy, agent_budgets=MappingProxyType(agents))


def _budget(raw: object, base: Budget, where: str) -> Budget:
    data = _mapping(raw, where, ("daily_tokens", "daily_cost_micros"))
    limits = {key: None if value is None else _int(value, 1, 10**15, f"{where}.{key}") for key, value in data.items()}
    return replace(base, **limits)


def _mapping(raw: object, where: str, allowed: tuple[str, ...] | None) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise RuleError(where, f"expected a mapping, got {type(raw).__name__}")
    if allowed is not None:
        unknown = sorted(str(key) for key in raw if key not in allowed)
        if unknown:
            raise RuleError(f"{where}.{unknown[0]}", f"unknown key; allowed: {', '.join(allowed)}")
    return raw


def _int(value: object, low: int, high: int, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RuleError(where, f"expected an integer from {low} to {high}, got {value!r}")
    return value


def _zone_name(value: object, where: str) -> str:
    try:
        zoneinfo.ZoneInfo(str(value))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise RuleError(where, f"unknown time zone {value!r}") from exc
    return str(value)


def _hours(value: object, where: str) -> tuple[int, int]:
    start, sep, end = str(value).partition("-")
    if not sep:
        raise RuleError(where, f"expected HH:MM-HH:MM, got {value!r}")
    first, last = clock_minutes(start.strip(), where), clock_minutes(end.strip(), where)
    if first >= last:
        raise RuleError(where, f"business hours must start before they end, got {value!r}")
    return first, last


def _days(value: object, where: str) -> frozenset[int]:
    if not isinstance(value, list) or not value or any(day not in WEEKDAYS for day in value):
        raise RuleError(where, f"expected a non-empty list of {', '.join(WEEKDAYS)}, got {value!r}")
    return frozenset(WEEKDAYS.index(day) for day in value)
