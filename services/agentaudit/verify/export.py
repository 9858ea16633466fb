"""A verification's outcome as Prometheus metrics, for runs from cron or CI.

`agentaudit verify` exits when it is done, so nothing scrapes it: the
outcome goes to a node-exporter textfile (written to a temporary file and
renamed over the old one, so the collector never reads half a file) or to a
Pushgateway (a PUT, replacing the previous run's series, so a problem kind
fixed since then does not linger). Alert rules then ask "did it fail?" and
"did it run at all lately?" (deploy/prometheus/rules/agentaudit.rules.yml).
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import push_to_gateway, write_to_textfile

from agentaudit.metrics import (
    VERIFY_DURATION,
    VERIFY_LAST_RUN,
    VERIFY_PROBLEMS,
    VERIFY_RECORDS,
    VERIFY_REGISTRY,
    VERIFY_SEALS,
    VERIFY_SUCCESS,
)
from agentaudit.verify.agents import Report

PUSH_JOB = "agentaudit_verify"
PUSH_TIMEOUT_S = 10.0
# Problem kinds that are no Finding: the run could not finish, or had nothing to check.
VERIFY_ERROR = "verify_error"
NOTHING_TO_VERIFY = "nothing_to_verify"


def record_outcome(report: Report | None, seconds: float, now: float | None = None) -> None:
    """Set the VERIFY_* gauges from one run; report None means it raised before finishing."""
    VERIFY_PROBLEMS.clear()
    VERIFY_LAST_RUN.set(time.time() if now is None else now)
    VERIFY_DURATION.set(seconds)
    if report is None:
        VERIFY_SUCCESS.set(0)
        VERIFY_RECORDS.set(0)
        VERIFY_SEALS.set(0)
        VERIFY_PROBLEMS.labels(kind=VERIFY_ERROR).set(1)
        return
    VERIFY_SUCCESS.set(1 if report.ok else 0)
    VERIFY_RECORDS.set(report.records)
    VERIFY_SEALS.set(report.seals)
    for kind, count in collections.Counter(f.kind for f in report.findings).items():
        VERIFY_PROBLEMS.labels(kind=kind).set(count)
    if not report.agents:
        VERIFY_PROBLEMS.labels(kind=NOTHING_TO_VERIFY).set(1)


@dataclass(frozen=True)
class MetricsExport:
    """Where a run's metrics go: a textfile, a Pushgateway, both or neither."""

    textfile: Path | None = None
    pushgateway: str | None = None

    @property
    def wanted(self) -> bool:
        return self.textfile is not None or self.pushgateway is not None

    def export(self, report: Report | None, seconds: float) -> None:
        """Record the outcome and write or push it; raises OSError when it cannot."""
        if not self.wanted:
            return
        record_outcome(report, seconds)
        if self.textfile is not None:
            write_to_textfile(str(self.textfile), VERIFY_REGISTRY)
        if self.pushgateway is not None:
            push_to_gateway(self.pushgateway, job=PUSH_JOB, registry=VERIFY_REGISTRY, timeout=PUSH_TIMEOUT_S)
