"""Rules that depend on the tenant's local calendar: business hours and daily budgets.

Local time comes from the record's ingest_time (the pipeline's clock) in the
tenant's time zone from DetectConfig, through zoneinfo, so daylight-saving
changes move the hours and the day boundary with the tenant's wall clock.

Customer data, for the off-hours rule, is a data_read or data_write whose
attributes["agentaudit.data_class"] names one of `data_classes` (default
customer, customer_pii, pii), or whose resource matches one of
`resource_patterns` (default the CRM's customer, account and contact paths).
"""

from __future__ import annotations

import fnmatch
import re
from datetime import datetime, timedelta
from typing import Any

from agentaudit.detect.detectors.base import Detector, Params
from agentaudit.detect.fields import DATA_CLASS_ATTRIBUTE, RecordView
from agentaudit.detect.model import AgentContext, Findings
from agentaudit.detect.units import WEEKDAYS

SECOND_US = 1_000_000


class OffHoursDetector(Detector):
    """Stateless: customer data read or written outside the tenant's business hours and days."""

    action_types = frozenset({"data_read", "data_write"})

    def __init__(self, params: Params) -> None:
        self.config = params.config
        self.data_classes = frozenset(params.strings("data_classes", ("customer", "customer_pii", "pii")))
        patterns = params.strings("resource_patterns", ("crm://customers/*", "crm://accounts/*", "crm://contacts/*"))
        self.resources = re.compile("|".join(fnmatch.translate(pattern) for pattern in patterns))
        params.done()

    def _customer_data(self, action: Any) -> bool:
        declared = action.get("attributes", {}).get(DATA_CLASS_ATTRIBUTE)
        if declared and any(name.strip() in self.data_classes for name in declared.split(",")):
            return True
        resource = action.get("resource")
        return resource is not None and self.resources.match(resource) is not None

    def check(self, view: RecordView, ctx: AgentContext, slot: dict[str, Any], findings: Findings) -> str | None:
        if not self._customer_data(view.action):
            return None
        tenant = self.config.tenant(ctx.tenant_id)
        local = datetime.fromtimestamp(view.time_us // SECOND_US, tenant.zone)
        minute = local.hour * 60 + local.minute
        if local.weekday() in tenant.business_days and tenant.business_start_min <= minute < tenant.business_end_min:
            return None
        days = ",".join(WEEKDAYS[day] for day in sorted(tenant.business_days))
        return (f"customer data {view.action_type} at {local:%a %H:%M} {tenant.timezone}, outside business hours "
                f"{_clock(tenant.business_start_min)}-{_clock(tenant.business_end_min)} {days}")


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class BudgetDetector(Detector):
    """Stateful: an agent's token or cost spend on its tenant's current local day.

    slot: {"z": time zone, "d": day start, "e": next day start (µs UTC), "day": ISO date, "n": spent}.
    Hits on the action that takes the spend over the limit and on every later
    action of that day; the count starts again at the tenant's local midnight.
    The limit is the agent's override, else its tenant's budget (DetectConfig).
    """

    stateful = True

    def __init__(self, params: Params) -> None:
        self.config = params.config
        self.measure = params.choice("measure", ("tokens", "cost"))
        params.done()

    def check(self, view: RecordView, ctx: AgentContext, slot: dict[str, Any], findings: Findings) -> str | None:
        tenant = self.config.tenant(ctx.tenant_id)
        now = view.time_us
        if slot.get("z") != tenant.timezone or not slot["d"] <= now < slot["e"]:
            start, end, day = _local_day(now, tenant.zone)
            if slot.get("day") != day:
                slot["n"] = 0
            slot.update(z=tenant.timezone, d=start, e=end, day=day)
        usage = view.action.get("usage")
        if usage is not None:
            slot["n"] += (usage["input_tokens"] + usage["output_tokens"]) if self.measure == "tokens" \
                else usage["cost_micros"]
        budget = tenant.budget_for(ctx.agent_id)
        limit = budget.daily_tokens if self.measure == "tokens" else budget.daily_cost_micros
        if limit is None or slot["n"] <= limit:
            return None
        unit = "tokens" if self.measure == "tokens" else "cost micros"
        return f"daily budget exceeded: {slot['n']:,} of {limit:,} {unit} on {slot['day']} ({tenant.timezone})"


def _local_day(at_us: int, zone: Any) -> tuple[int, int, str]:
    """The local day holding at_us: its start and the next day's start in µs UTC, and its date."""
    local = datetime.fromtimestamp(at_us // SECOND_US, zone)
    start = datetime(local.year, local.month, local.day, tzinfo=zone)
    following = start.date() + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)
    return int(start.timestamp()) * SECOND_US, int(end.timestamp()) * SECOND_US, start.date().isoformat()
