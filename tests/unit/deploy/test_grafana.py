"""deploy/grafana: data sources, dashboard provisioning and every dashboard, without Grafana.

What is checked here: the data sources point at the compose services as the
read-only analyst; docker-compose.yml mounts what the provisioning files
name; every dashboard is well formed, every panel has a query against a
provisioned data source; every ClickHouse query expands the way the plugin
expands it (tests.unit.deploy.grafana_support, itself tested below against
the plugin's exact output); every Prometheus expression names only series and
labels agentaudit.metrics declares, and parses (promtool, when installed).
That every ClickHouse query runs against the schema and returns what its
panel shows is tests/integration/test_grafana.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentaudit.errors import AttributionError
from agentaudit.metrics import VERIFY_REGISTRY
from tests.unit.deploy.compose_support import (
    CLICKHOUSE_USERS_FILE, PROMETHEUS_FILE, ROOT, environment, load_compose, raw_compose, volume_mounts,
)
from tests.unit.deploy.grafana_support import (
    ALL, CLICKHOUSE_TYPE, DASHBOARDS_DIR, DATASOURCES_FILE, FORMAT_TABLE, FORMAT_TIME_SERIES, PROMETHEUS_TYPE,
    PROVIDERS_FILE, PROVISIONING_DIR, Query, TimeRange, expand, load_dashboards, load_yaml, panels, queries,
)
from tests.unit.deploy.prometheus_support import TARGET_LABELS, known_series, selectors

# One dashboard per question the issue lists, by uid.
DASHBOARD_UIDS = {
    "agentaudit-activity", "agentaudit-policy", "agentaudit-incidents", "agentaudit-risk", "agentaudit-pipeline",
    "agentaudit-verification",
}
VARIABLES = ("tenant", "agent")
DASHBOARDS = load_dashboards()
ALL_QUERIES = [q for name, d in DASHBOARDS.items() for q in queries(name, d)]
RANGE = TimeRange(datetime(2026, 1, 1, 12, tzinfo=timezone.utc), datetime(2026, 1, 2, 12, tzinfo=timezone.utc), 60)


def datasources() -> dict[str, dict[str, Any]]:
    return {d["uid"]: d for d in load_yaml(DATASOURCES_FILE)["datasources"]}


def grafana_service() -> dict[str, Any]:
    service: dict[str, Any] = load_compose()["services"]["grafana"]
    return service


def of_type(kind: str) -> list[Query]:
    return [q for q in ALL_QUERIES if q.datasource["type"] == kind]


# --- the expansion, against the plugin's own output -----------------------------


def test_time_macros_expand_like_the_plugin() -> None:
    # Expected strings as pkg/macros/macros.go (grafana/clickhouse-datasource v4) builds them.
    start, end = int(RANGE.start.timestamp()), int(RANGE.end.timestamp())
    sql = ("SELECT $__timeInterval(t) AS time, $__interval_s FROM x WHERE $__timeFilter(t) AND $__timeFilter_ms(t) "
           "AND d >= $__fromTime AND d <= $__toTime_ms AND $__dateFilter(d)")
    assert expand(sql, RANGE, {}, {}) == (
        "SELECT toStartOfInterval(toDateTime(t), INTERVAL 60 second) AS time, 60 FROM x WHERE "
        f"t >= toDateTime({start}) AND t <= toDateTime({end}) AND "
        f"t >= fromUnixTimestamp64Milli({start * 1000}) AND t <= fromUnixTimestamp64Milli({end * 1000}) "
        f"AND d >= toDateTime({start}) AND d <= fromUnixTimestamp64Milli({end * 1000}) "
        "AND d >= toDate('2026-01-01') AND d <= toDate('2026-01-02')"
    )


def test_conditional_all_and_variables_expand_like_grafana() -> None:
    sql = "WHERE $__conditionalAll(tenant_id IN (${tenant:singlequote}), $tenant) AND a IN (${agent:singlequote})"
    options = {"tenant": ["acme", "o'hara"], "agent": ["a", "b"]}
    assert expand(sql, RANGE, {"tenant": [ALL], "agent": [ALL]}, options) == "WHERE 1=1 AND a IN ('a','b')"
    assert expand(sql, RANGE, {"tenant": ["o'hara"], "agent": ["b"]}, options) == (
        "WHERE tenant_id IN ('o\\'hara') AND a IN ('b')"
    )


@pytest.mark.parametrize("sql", [
    "WHERE tenant_id = $tenant",  # Grafana would paste the value unquoted
    "WHERE tenant_id IN (${tenant})",
    "WHERE tenant_id IN (${tenant:csv})",
    "WHERE x IN (${nosuch:singlequote})",
    "WHERE $__conditionalAll(x = 1, $nosuch)",
    "WHERE $__timeGroup(t, hour)",  # sqlds' default, not the ClickHouse plugin's
    "WHERE $__timeFilter(toDateTime(t))",  # plugin versions split such arguments differently
    "WHERE $__timeFilter(a, b)",
])
def test_what_the_plugin_would_not_expand_safely_is_refused(sql: str) -> None:
    with pytest.raises(ValueError):
        expand(sql, RANGE, {"tenant": ["acme"]}, {"tenant": ["acme"]})


# --- provisioning and compose -----------------------------------------------------


def test_the_clickhouse_data_source_is_the_read_only_analyst() -> None:
    source = datasources()["agentaudit-clickhouse"]
    assert source["type"] == CLICKHOUSE_TYPE
    settings = source["jsonData"]
    services = load_compose()["services"]
    assert str(services[settings["host"]]["image"]).startswith("clickhouse/clickhouse-server:")
    assert (settings["protocol"], settings["port"]) == ("http", 8123)
    assert settings["defaultDatabase"] == environment(services["sink"])["AGENTAUDIT_CLICKHOUSE_DATABASE"]
    user = ET.parse(CLICKHOUSE_USERS_FILE).getroot().find(f"users/{settings['username']}")
    assert user is not None, f"no account {settings['username']} in {CLICKHOUSE_USERS_FILE.name}"
    grants = [q.text or "" for q in user.iter("query")]
    assert grants and all(re.fullmatch(r"GRANT SELECT ON \w+\.\w+", g) for g in grants), grants
    # The password comes from Grafana's environment, and it is the one the ClickHouse server has.
    [variable] = re.findall(r"^\$\{(\w+)\}$", source["secureJsonData"]["password"])
    assert user.find("password").get("from_env") == variable  # type: ignore[union-attr]
    assert environment(grafana_service())[variable] == environment(services["clickhouse"])[variable]


def test_the_prometheus_data_source_is_the_compose_prometheus() -> None:
    source = datasources()["agentaudit-prometheus"]
    assert source["type"] == PROMETHEUS_TYPE
    host, port = re.fullmatch(r"http://([\w-]+):(\d+)", source["url"]).groups()  # type: ignore[union-attr]
    assert str(load_compose()["services"][host]["image"]).startswith("prom/prometheus:") and port == "9090"
    scrape = yaml.safe_load(PROMETHEUS_FILE.read_text())["global"]["scrape_interval"]
    assert source["jsonData"]["timeInterval"] == scrape, "$__rate_interval needs the real scrape interval"


def test_compose_mounts_what_provisioning_names() -> None:
    mounts = {(ROOT / source).resolve(): target for kind, source, target in volume_mounts(grafana_service())
              if kind == "bind"}
    assert mounts[PROVISIONING_DIR.resolve()] == "/etc/grafana/provisioning"
    [provider] = load_yaml(PROVIDERS_FILE)["providers"]
    assert (provider["type"], provider["options"]["path"]) == ("file", mounts[DASHBOARDS_DIR.resolve()])
    assert all(entry.endswith(":ro") for entry in grafana_service()["volumes"] if str(entry).startswith("./"))


def test_grafana_installs_the_plugin_and_lets_nobody_in_anonymously() -> None:
    env = environment(grafana_service())
    assert "grafana-clickhouse-datasource" in env["GF_PLUGINS_PREINSTALL_SYNC"].split(",")
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false" and env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    raw = raw_compose()["services"]["grafana"]["environment"]
    assert raw["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:-"), "admin password from env"


# --- the dashboards ---------------------------------------------------------------


def test_one_dashboard_per_question_with_unique_uids_and_titles() -> None:
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert sorted(uids) == sorted(DASHBOARD_UIDS)
    titles = [d["title"] for d in DASHBOARDS.values()]
    assert len(set(titles)) == len(titles)


@pytest.mark.parametrize("name", DASHBOARDS)
def test_panels_have_unique_ids_a_place_and_a_query(name: str) -> None:
    dashboard = DASHBOARDS[name]
    ids = [p["id"] for p in dashboard["panels"]] + [p["id"] for r in dashboard["panels"] for p in r.get("panels", [])]
    assert len(ids) == len(set(ids)), f"{name}: panel ids repeat"
    for panel in panels(dashboard):
        where = f"{name} / {panel['title']}"
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, f"{where}: outside the grid"
        assert panel.get("description"), f"{where}: say what the panel shows"
        assert panel.get("targets"), f"{where}: no query"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), f"{where}: refIds repeat"


@pytest.mark.parametrize("query", ALL_QUERIES, ids=lambda q: q.where)
def test_every_query_has_text_and_a_provisioned_data_source(query: Query) -> None:
    assert query.text.strip(), f"{query.where}: empty query"
    source = datasources().get(query.datasource.get("uid", ""))
    assert source is not None, f"{query.where}: data source {query.datasource} is not provisioned"
    assert source["type"] == query.datasource["type"], f"{query.where}: data source type"


@pytest.mark.parametrize("name", DASHBOARDS)
def test_every_dashboard_filters_by_tenant_and_agent_from_clickhouse(name: str) -> None:
    found = {v["name"]: v for v in DASHBOARDS[name]["templating"]["list"]}
    for variable in VARIABLES:
        spec = found[variable]
        assert spec["datasource"]["type"] == CLICKHOUSE_TYPE and spec["multi"] and spec["includeAll"]
        assert spec["current"]["value"] == [ALL] and spec["refresh"] == 2, "All by default, refreshed on time change"


@pytest.mark.parametrize("query", of_type(CLICKHOUSE_TYPE), ids=lambda q: q.where)
def test_clickhouse_queries_expand_with_every_variable_quoted(query: Query) -> None:
    """expand() refuses an unknown macro or variable, or one that would reach the SQL unquoted."""
    options = {v: ["a", "b"] for v in VARIABLES}
    for selection in ({v: [ALL] for v in VARIABLES}, {v: ["a"] for v in VARIABLES}):
        sql = expand(query.text, RANGE, selection, options)
        assert "$" not in sql, f"{query.where}: left unexpanded: {sql}"
    if query.panel is not None:
        assert query.target["editorType"] == "sql"
        # sqlds turns a time series (format 0) from long to wide; tables stay as they are.
        expected = FORMAT_TIME_SERIES if query.panel["type"] == "timeseries" else FORMAT_TABLE
        assert query.target["format"] == expected, f"{query.where}: format"


def test_integrity_rejections_are_the_attribution_codes() -> None:
    """The verification dashboard lists the codes by hand; they must be exactly AttributionError's."""
    [query] = [q for q in of_type(CLICKHOUSE_TYPE) if "Integrity rejections" in q.where]
    listed = re.search(r"reason_code IN \(([^)]*)\)", query.text)
    assert listed is not None
    assert set(re.findall(r"'(\w+)'", listed.group(1))) == AttributionError.CODES


# --- Prometheus panels ----------------------------------------------------------------


def grouping_labels(expr: str) -> set[str]:
    return {label.strip() for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr)
            for label in group.split(",") if label.strip()}


@pytest.mark.parametrize("query", of_type(PROMETHEUS_TYPE), ids=lambda q: q.where)
def test_prometheus_panels_use_declared_metrics_and_labels(query: Query) -> None:
    known = known_series()
    names = set()
    for name, labels in selectors(query.text):
        assert name in known, f"{query.where}: {name} is declared nowhere (agentaudit.metrics?)"
        assert not labels - known[name] - TARGET_LABELS, f"{query.where}: {name} has no label(s) {labels}"
        names.add(name)
    assert names, f"{query.where}: no series"
    labels = set().union(*(known[n] for n in names)) | TARGET_LABELS
    assert grouping_labels(query.text) <= labels, f"{query.where}: grouping by a label no series has"
    for legend_label in re.findall(r"\{\{\s*(\w+)\s*\}\}", query.target.get("legendFormat", "")):
        assert legend_label in grouping_labels(query.text) or legend_label in labels, query.where


def test_the_dashboards_show_the_health_and_verification_metrics() -> None:
    exprs = " ".join(q.text for q in of_type(PROMETHEUS_TYPE))
    wanted = {
        "agentaudit_process_actions_in_total", "agentaudit_pipeline_end_to_end_seconds_bucket",
        "agentaudit_consumer_lag_messages", "agentaudit_process_seal_lag_seconds",
        "agentaudit_process_rejected_total", "agentaudit_alert_delivered_total", "agentaudit_alert_failed_total",
    } | {family.name for family in VERIFY_REGISTRY.collect()}
    missing = {name for name in wanted if not re.search(rf"(?<![\w:]){name}(?![\w:])", exprs)}
    assert not missing, f"no panel shows {sorted(missing)}"


def test_promtool_parses_every_panel_expression(tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        reason = "promtool not found (apt-get install prometheus): Grafana's PromQL had the name check only"
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)
    # Grafana replaces its interval variables before Prometheus sees the query.
    rules = [{"record": f"grafana:panel_{n}", "expr": re.sub(r"\$__(rate_interval|interval|range)", "5m", q.text)}
             for n, q in enumerate(of_type(PROMETHEUS_TYPE))]
    path = tmp_path / "panels.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "grafana", "rules": rules}]}))
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
