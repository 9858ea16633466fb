"""The Prometheus series agentaudit declares, and the metric names a PromQL expression uses.

Shared by the checks of deploy/prometheus's alert rules and of the Grafana
dashboards' panels: a name either uses must be declared in agentaudit.metrics.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client.metrics import MetricWrapperBase

from agentaudit import metrics

# Series that Prometheus itself makes, and the labels it adds to every series.
EXPORTER_SERIES: dict[str, set[str]] = {"up": set()}
TARGET_LABELS = {"job", "instance"}
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
                "group_right", "inf", "nan"}


def declared_series() -> dict[str, set[str]]:
    """Every series name agentaudit.metrics can expose, with the labels it may carry."""
    out: dict[str, set[str]] = {}
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        labels = set(value._labelnames)  # no public accessor; stable across prometheus-client releases
        for family in value.describe():
            suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
                        "gauge": ("",)}[family.type]
            for suffix in suffixes:
                out[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return out


def known_series() -> dict[str, set[str]]:
    return {**EXPORTER_SERIES, **declared_series()}


def selectors(expr: str) -> Iterator[tuple[str, set[str]]]:
    """(metric name, label names matched) for every series selector in a PromQL expression.

    A small scanner, not a parser: promtool checks the syntax; this only has
    to find the names, which it does by removing everything else.
    """
    with_labels = re.compile(r"(?<![\w:])([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}")
    for name, matchers in with_labels.findall(expr):
        yield name, set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    bare = re.sub(r'"[^"]*"', "", with_labels.sub("", expr))
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", bare)
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
    for match in re.finditer(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(?!\s*\(|[\w:])", bare):
        if match.group(1).lower() not in PROMQL_WORDS:
            yield match.group(1), set()
