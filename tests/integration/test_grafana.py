"""Every ClickHouse query of the Grafana dashboards, run against the real schema with seeded rows.

The queries are expanded exactly as the plugin would send them
(tests.unit.deploy.grafana_support), once with every variable on "All" and
once narrowed to one tenant and some of its agents, against a freshly
migrated database holding what the sink stores (tests.grafana_seed). Each
must run (a missing column or table is a ClickHouse error), return rows with
something in them, and return the columns its panel's field config names;
a time series must start with its time column, in time order, as sqlds'
long-to-wide conversion expects. A dashboard cannot break silently.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from agentaudit.store import migrate, quote_identifier
from tests.grafana_seed import seed
from tests.unit.deploy.grafana_support import (
    ALL, CLICKHOUSE_TYPE, FORMAT_TIME_SERIES, Query, TimeRange, expand, load_dashboards, queries,
)

pytestmark = pytest.mark.integration

CLICKHOUSE_QUERIES = [q for name, d in load_dashboards().items() for q in queries(name, d)
                      if q.datasource["type"] == CLICKHOUSE_TYPE]
# The seed is in the hour before the test; Grafana's default interval for 6 h on a wide panel.
NOW = datetime.now(timezone.utc) + timedelta(minutes=1)
RANGE = TimeRange(NOW - timedelta(hours=6), NOW, 30)
EVERYTHING = {"tenant": [ALL], "agent": [ALL]}
# One tenant and three of its agents: two with activity, rules and incidents, one with sealed chains.
NARROWED = {"tenant": ["acme"], "agent": ["agent-0", "billing-bot", "support-bot"]}


@pytest.fixture(scope="module")
def grafana_db(clickhouse_dsn: str) -> Iterator[Client]:
    """A client whose default database is a fresh, seeded one, as the plugin's defaultDatabase is."""
    name = f"test_grafana_{uuid.uuid4().hex[:8]}"
    admin = clickhouse_connect.get_client(dsn=clickhouse_dsn)
    migrate(admin, name)
    seed(admin, name)
    client = clickhouse_connect.get_client(dsn=clickhouse_dsn, database=name)
    try:
        yield client
    finally:
        client.close()
        admin.command(f"DROP DATABASE IF EXISTS {quote_identifier(name)} SYNC")
        admin.close()


@pytest.fixture(scope="module")
def options(grafana_db: Client) -> dict[str, list[str]]:
    """The variables' options, from the variables' own queries (agents of every tenant)."""
    found: dict[str, list[str]] = {}
    for variable in ("tenant", "agent"):
        query = next(q for q in CLICKHOUSE_QUERIES if q.where.endswith(f"variable {variable}"))
        sql = expand(query.text, RANGE, EVERYTHING, found)
        found[variable] = [str(row[0]) for row in grafana_db.query(sql).result_rows]
    return found


def run(client: Client, query: Query, selection: dict[str, list[str]],
        options: dict[str, list[str]]) -> tuple[list[str], list[tuple[Any, ...]]]:
    result = client.query(expand(query.text, RANGE, selection, options))
    return list(result.column_names), [tuple(row) for row in result.result_rows]


def is_something(value: Any) -> bool:
    """Not what a query over no rows gives back: 0, '', NULL, NaN, the epoch."""
    if value is None or value in (0, "") or (isinstance(value, float) and math.isnan(value)):
        return False
    return not (isinstance(value, (datetime, date)) and value.year == 1970)


def expected_columns(panel: dict[str, Any]) -> set[str]:
    """Columns the panel's field config and options refer to by name."""
    names = {o["matcher"]["options"] for o in panel["fieldConfig"].get("overrides", [])
             if o["matcher"]["id"] == "byName"}
    return names | {s["displayName"] for s in panel.get("options", {}).get("sortBy", [])}


@pytest.mark.parametrize("selection", [EVERYTHING, NARROWED], ids=["all", "narrowed"])
@pytest.mark.parametrize("query", CLICKHOUSE_QUERIES, ids=lambda q: q.where)
def test_every_clickhouse_query_runs_and_shows_the_seeded_rows(
    grafana_db: Client, options: dict[str, list[str]], query: Query, selection: dict[str, list[str]]
) -> None:
    columns, rows = run(grafana_db, query, selection, options)
    assert rows and any(is_something(v) for row in rows for v in row), f"{query.where}: nothing for the seeded rows"
    for variable, column in (("tenant", "tenant_id"), ("agent", "agent_id")):
        filtered = f"${{{variable}:" in query.text  # a variable's own query lists it, unfiltered by it
        if filtered and column in columns and selection[variable] != [ALL]:
            shown = {row[columns.index(column)] for row in rows}
            assert shown <= set(selection[variable]), f"{query.where}: the {variable} filter let {shown} through"
    if query.panel is None:
        return
    missing = expected_columns(query.panel) - set(columns)
    assert not missing, f"{query.where}: the panel's field config names columns the query lacks: {missing}"
    if query.target["format"] == FORMAT_TIME_SERIES:
        assert columns[0] == "time" and all(isinstance(row[0], datetime) for row in rows), query.where
        assert [row[0] for row in rows] == sorted(row[0] for row in rows), f"{query.where}: not in time order"
    if query.panel["type"] in ("stat", "timeseries"):
        numeric = [c for n, c in enumerate(columns) if all(isinstance(row[n], (int, float)) for row in rows)]
        assert numeric, f"{query.where}: a {query.panel['type']} panel needs a numeric column"


def test_a_query_naming_a_missing_column_or_table_fails(grafana_db: Client, options: dict[str, list[str]]) -> None:
    """What keeps the test above from passing on a query ClickHouse would refuse."""
    query = next(q for q in CLICKHOUSE_QUERIES if "Riskiest agents" in q.where)
    assert "risk_score" in query.text and "FROM audit_records" in query.text
    for broken in (query.text.replace("risk_score", "risk_scor"), query.text.replace("audit_records", "audit_record")):
        target = {**query.target, "rawSql": broken}
        with pytest.raises(DatabaseError):
            run(grafana_db, Query(query.where, query.datasource, target, query.panel), EVERYTHING, options)
