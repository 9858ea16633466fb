"""Reading deploy/grafana the way Grafana and its ClickHouse plugin do.

Grafana runs a ClickHouse panel's SQL in two steps, and so does this module:

1. In the browser, the plugin's applyTemplateVariables
   (grafana/clickhouse-datasource, src/data/CHDatasource.ts) first replaces
   each `$__conditionalAll(condition, $var)` by `1=1` when the variable is on
   "All" (or empty), else by the condition; then Grafana's template service
   replaces the variables: `${var:singlequote}` becomes `'a','b'`, each value
   in single quotes with `'` escaped as `\\'`.
2. In the plugin's backend, sqlds finds each `$__macro(args)` (regex
   `\\$__name\\b`, arguments split at commas and trimmed) and the plugin's
   pkg/macros/macros.go expands it: `$__timeFilter(c)` is
   `c >= toDateTime(<from s>) AND c <= toDateTime(<to s>)`, `$__fromTime` is
   `toDateTime(<from s>)`, `$__timeInterval(c)` is
   `toStartOfInterval(toDateTime(c), INTERVAL <n> second)`, and so on.

Only what the dashboards may use is implemented, and anything else is an
error, not passed through: a variable referenced without `:singlequote`
(Grafana would paste its value unquoted into the SQL), an unknown variable or
macro, or a macro argument with parentheses (plugin versions disagree on how
to split those).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from tests.unit.deploy.compose_support import ROOT

GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
PROVISIONING_DIR = GRAFANA_DIR / "provisioning"
DATASOURCES_FILE = PROVISIONING_DIR / "datasources" / "agentaudit.yaml"
PROVIDERS_FILE = PROVISIONING_DIR / "dashboards" / "agentaudit.yaml"

CLICKHOUSE_TYPE = "grafana-clickhouse-datasource"
PROMETHEUS_TYPE = "prometheus"
ALL = "$__all"  # what Grafana stores as the current value of a variable on "All"

# sqlds' format option: time series frames are turned from long to wide.
FORMAT_TIME_SERIES = 0
FORMAT_TABLE = 1


def load_dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard JSON under deploy/grafana/dashboards, by file name."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


def load_yaml(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows; rows themselves are not panels."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


@dataclass(frozen=True)
class Query:
    """One query a dashboard sends: a panel target or a template variable's query."""

    where: str  # "<dashboard file> / <panel title or variable name>"
    datasource: dict[str, str]
    target: dict[str, Any]
    panel: dict[str, Any] | None  # None for a variable's query

    @property
    def text(self) -> str:
        """The SQL (rawSql) or PromQL (expr) of the query."""
        return str(self.target.get("rawSql") or self.target.get("expr") or "")


def queries(name: str, dashboard: Mapping[str, Any]) -> Iterator[Query]:
    """Every query of a dashboard, its variables' first (they are what the panels filter by)."""
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            target = variable["query"] if isinstance(variable["query"], dict) else {"rawSql": variable["query"]}
            yield Query(f"{name} / variable {variable['name']}", variable["datasource"], target, None)
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            datasource = target.get("datasource") or panel["datasource"]
            yield Query(f"{name} / {panel.get('title')} ({target.get('refId')})", datasource, target, panel)


# --- step 1: the plugin's frontend and Grafana's template service -----------

# Grafana's variable syntaxes (public/app/features/templating/template_srv.ts):
# $name, [[name]] or [[name:format]], ${name} or ${name:format}.
_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")
_CONDITIONAL_ALL = "$__conditionalAll("


def _macro_args(text: str, start: int) -> tuple[list[str], int]:
    """Arguments of the call whose "(" is at text[start], split at top-level commas; and the index after ")"."""
    depth, args, begin = 0, [], start + 1
    for i in range(start, len(text)):
        char = text[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                args.append(text[begin:i])
                return args, i + 1
        elif char == "," and depth == 1:
            args.append(text[begin:i])
            begin = i + 1
    raise ValueError(f"unbalanced parentheses after {text[:start]!r}")


def apply_conditional_all(sql: str, values: Mapping[str, list[str]]) -> str:
    """$__conditionalAll(condition, $var): 1=1 when var is on All or empty, else the condition."""
    while (index := sql.rfind(_CONDITIONAL_ALL)) != -1:
        args, end = _macro_args(sql, index + len(_CONDITIONAL_ALL) - 1)
        if len(args) != 2:
            raise ValueError(f"$__conditionalAll takes (condition, $variable), got {args}")
        condition, variable = args[0], args[1].strip()
        match = re.fullmatch(r"\$\{?(\w+)\}?", variable)
        if match is None or match.group(1) not in values:
            raise ValueError(f"$__conditionalAll names no dashboard variable: {variable!r}")
        selected = values[match.group(1)]
        phrase = "1=1" if selected in ([], [ALL]) else condition
        sql = sql[:index] + phrase + sql[end:]
    return sql


def singlequote(values: list[str]) -> str:
    """Grafana's singlequote format: each value quoted, ' escaped as \\', joined by commas."""
    return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)


def apply_variables(sql: str, values: Mapping[str, list[str]], options: Mapping[str, list[str]]) -> str:
    """Replace ${var:singlequote}; a variable on All stands for all of its options, as Grafana sends them."""

    def substitute(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        if name.startswith("__"):
            raise ValueError(f"{m.group(0)}: Grafana's global variables are not used by these dashboards")
        if name not in values:
            raise ValueError(f"{m.group(0)}: no such dashboard variable")
        if fmt != "singlequote":
            raise ValueError(f"{m.group(0)}: write ${{{name}:singlequote}}, or the value reaches the SQL unquoted")
        selected = values[name]
        return singlequote(options[name] if selected == [ALL] else selected)

    # Macros ($__timeFilter, ...) are not variables: the backend expands them next.
    return _VARIABLE.sub(lambda m: m.group(0) if (m.group(1) or "").startswith("__") else substitute(m), sql)


# --- step 2: the plugin's backend macros ----------------------------------------


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    interval_s: float  # Grafana's $__interval for the panel


def _date(t: datetime) -> str:
    return f"toDate('{t.astimezone(timezone.utc):%Y-%m-%d}')"


def _datetime(t: datetime) -> str:
    return f"toDateTime({int(t.timestamp())})"


def _datetime64(t: datetime) -> str:
    return f"fromUnixTimestamp64Milli({int(t.timestamp() * 1000)})"


def _filter(column: str, low: str, high: str) -> str:
    return f"{column} >= {low} AND {column} <= {high}"


def _expand(name: str, args: list[str], r: TimeRange) -> str:
    seconds = max(int(r.interval_s), 1)
    one = len(args) == 1
    match name:
        case "fromTime":
            return _datetime(r.start)
        case "toTime":
            return _datetime(r.end)
        case "fromTime_ms":
            return _datetime64(r.start)
        case "toTime_ms":
            return _datetime64(r.end)
        case "timeFilter" if one:
            return _filter(args[0], _datetime(r.start), _datetime(r.end))
        case "timeFilter_ms" if one:
            return _filter(args[0], _datetime64(r.start), _datetime64(r.end))
        case "dateFilter" if one:
            return _filter(args[0], _date(r.start), _date(r.end))
        case "dateTimeFilter" | "dt" if len(args) == 2:
            dates, times = _filter(args[0], _date(r.start), _date(r.end)), _filter(args[1], _datetime(r.start),
                                                                                   _datetime(r.end))
            return f"({dates}) AND ({times})"
        case "timeInterval" if one:
            return f"toStartOfInterval(toDateTime({args[0]}), INTERVAL {seconds} second)"
        case "timeInterval_ms" if one:
            return f"toStartOfInterval(toDateTime64({args[0]}, 3), INTERVAL {max(int(r.interval_s * 1000), 1)} millisecond)"
        case "interval_s":
            return str(seconds)
    raise ValueError(f"$__{name}({', '.join(args)}): no such macro of the ClickHouse plugin, or wrong arguments")


_MACRO = re.compile(r"\$__(\w+)\b")


def apply_macros(sql: str, r: TimeRange) -> str:
    out, pos = [], 0
    for m in _MACRO.finditer(sql):
        if m.start() < pos:
            continue
        args: list[str] = []
        end = m.end()
        if sql.startswith("(", end):
            args, end = _macro_args(sql, end)
            args = [a.strip() for a in args]
            if any("(" in a for a in args):
                raise ValueError(f"{sql[m.start():end]}: pass a column, not an expression, to a macro")
        out += [sql[pos:m.start()], _expand(m.group(1), args, r)]
        pos = end
    return "".join(out) + sql[pos:]


def expand(sql: str, r: TimeRange, values: Mapping[str, list[str]], options: Mapping[str, list[str]]) -> str:
    """The SQL the plugin sends to ClickHouse for `sql`, given the variables' selection and options."""
    return apply_macros(apply_variables(apply_conditional_all(sql, values), values, options), r)
