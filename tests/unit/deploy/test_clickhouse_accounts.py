"""deploy/clickhouse/users.d/agentaudit.xml: least privilege, checked against the code.

Nothing here needs ClickHouse: the users file is parsed, every grant is read
back into (privilege, columns, table), and what each account may do is
compared with what the code that logs in as it does. The writer's grants are
derived from agentaudit.sink.rows (the tables it inserts into, the columns it
reads its high-water marks from), so the grants and the sink cannot drift
apart. tests/integration/test_clickhouse_accounts.py then has ClickHouse's own
engine (chDB) load the file and enforce it on the same code paths.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import agentaudit
from agentaudit.settings import Settings
from agentaudit.sink.consumer import Sink
from agentaudit.sink.rows import COLUMNS, DEDUP_KEY_SQL
from agentaudit.store.migrations import LEDGER, load_migrations
from tests.unit.deploy.clickhouse_support import Grant, grants_of, parse_grant, parse_users
from tests.unit.deploy.compose_support import (
    CLICKHOUSE_USERS_FILE,
    ROOT,
    as_argv,
    environment,
    load_compose,
    raw_compose,
    resolve_command,
    variables,
    volume_mounts,
)
from tests.unit.store.test_immutability import string_literals

# Added by the agent registry's migration; the sink will insert its rows, so
# the writer's grant on it comes before the table does.
REGISTRY_TABLE = "agent_registry"
AUDIT_TABLES = frozenset(COLUMNS) | {REGISTRY_TABLE}

ADMIN = "admin"
# Which account each agentaudit command runs as in docker-compose.yml.
ACCOUNT_FOR_COMMAND = {"db migrate": ADMIN, "sink": "writer", "query": "analyst", "verify": "auditor", "api serve": "api"}
READERS = ("analyst", "auditor")
API = "api"
# The query API's own bookkeeping: it inserts into these and reads them.
API_TABLES = frozenset({"api_keys", "api_reads"})
# Every privilege an account other than the admin may hold. A whitelist, not a
# list of forbidden words: ALTER, CREATE, DROP, TRUNCATE, OPTIMIZE, ALL, ... and
# any privilege ClickHouse adds later fail here.
ALLOWED_PRIVILEGES = {"SELECT", "INSERT"}
# How a users.xml account can authenticate without an environment variable.
OTHER_CREDENTIALS = {
    "password_sha256_hex", "password_double_sha1_hex", "no_password", "ssh_keys", "ldap", "kerberos",
    "ssl_certificates", "http_authentication", "jwt",
}  # fmt: skip

@pytest.fixture(scope="module")
def users() -> dict[str, ET.Element]:
    return parse_users()[0]


@pytest.fixture(scope="module")
def profiles() -> dict[str, ET.Element]:
    return parse_users()[1]


@pytest.fixture(scope="module")
def database() -> str:
    databases = {environment(s).get("AGENTAUDIT_CLICKHOUSE_DATABASE") for s in load_compose()["services"].values()}
    databases.discard(None)
    assert len(databases) == 1, databases
    return str(databases.pop())


# --- the grant reader itself ---------------------------------------------------


def test_the_grant_reader_reads_column_grants_and_refuses_what_it_does_not_know() -> None:
    assert parse_grant("GRANT INSERT, SELECT(a, `b`) ON db.t") == [
        Grant("INSERT", None, "db", "t"), Grant("SELECT", frozenset({"a", "b"}), "db", "t"),
    ]  # fmt: skip
    assert parse_grant("grant alter  update(x) on `db`.`t`") == [Grant("ALTER UPDATE", frozenset({"x"}), "db", "t")]
    for query in ["GRANT SELECT ON db.t WITH GRANT OPTION", "GRANT SELECT ON db.*", "GRANT SELECT ON *.*",
                  "GRANT SELECT ON db.t TO writer", "REVOKE SELECT ON db.t", "GRANT admin_role"]:
        with pytest.raises(AssertionError):
            parse_grant(query)


# --- every account -------------------------------------------------------------


def test_every_account_but_admin_lists_plain_grants_of_select_or_insert(users: dict[str, ET.Element]) -> None:
    assert set(users) == {ADMIN, "writer", *READERS, API}
    for name, user in users.items():
        if name == ADMIN:
            continue
        # A users.xml account without <grants> has every privilege.
        assert user.find("grants/query") is not None, f"{name} has no <grants>, so it may do anything"
        for grant in grants_of(user):
            assert grant.privilege in ALLOWED_PRIVILEGES, f"{name} may {grant.privilege} on {grant.table}"


def test_only_admin_manages_accounts_and_it_holds_no_grants(users: dict[str, ET.Element]) -> None:
    managers = {name for name, user in users.items() if (user.findtext("access_management") or "0").strip() == "1"}
    assert managers == {ADMIN}
    assert users[ADMIN].find("grants") is None, "admin's rights come from having no <grants> (with access_management)"
    for name, user in users.items():
        for key in ("named_collection_control", "show_named_collections", "allow_databases", "databases"):
            if key == "databases" and name == API:
                continue  # row filters, which only narrow: test_the_api_reads_only_its_callers_tenants
            assert user.find(key) is None, f"{name}: {key} widens or bypasses the grants"


def test_every_grant_names_the_pipeline_database(users: dict[str, ET.Element], database: str) -> None:
    for name, user in users.items():
        for grant in grants_of(user):
            assert grant.database == database, f"{name} granted on {grant.database}, the pipeline uses {database}"


def test_every_password_comes_from_its_own_variable_with_a_local_default(users: dict[str, ET.Element]) -> None:
    server = next(s for s in raw_compose()["services"].values()
                  if str(s.get("image", "")).startswith("clickhouse/clickhouse-server:"))
    server_env = environment(server)
    seen: dict[str, str] = {}
    for name, user in users.items():
        found = [child.tag for child in user if child.tag == "password" or child.tag in OTHER_CREDENTIALS]
        assert found == ["password"], f"{name} authenticates with {found}, not one password from the environment"
        password = user.find("password")
        assert password is not None
        variable = password.get("from_env")
        assert variable and not (password.text or "").strip(), f"{name}: the password is not from_env"
        assert variable not in seen, f"{name} and {seen.get(variable)} share {variable}"
        seen[variable] = name
        # The server container gets the operator's value, or the local default.
        refs = variables(server_env.get(variable, ""))
        assert [(v.name, v.has_default) for v in refs] == [(variable, True)] and refs[0].arg, (
            f"docker-compose.yml must pass {variable}: ${{{variable}:-local-default}} to the server"
        )


# --- the writer ------------------------------------------------------------------


def writer_grants_the_sink_needs(database: str) -> set[Grant]:
    inserts = {Grant("INSERT", None, database, table) for table in AUDIT_TABLES}
    mark_reads = {Grant("SELECT", frozenset(cols), database, table) for table, cols in DEDUP_KEY_SQL.items()}
    return inserts | mark_reads


def test_the_writer_may_insert_into_the_audit_tables_and_read_only_its_dedup_columns(
    users: dict[str, ET.Element], database: str
) -> None:
    assert grants_of(users["writer"]) == writer_grants_the_sink_needs(database)


def test_every_table_the_sink_writes_has_its_dedup_columns(database: str) -> None:
    # So that writer_grants_the_sink_needs covers every table the sink reads back.
    assert set(DEDUP_KEY_SQL) == set(COLUMNS)
    for table, cols in DEDUP_KEY_SQL.items():
        assert set(cols) <= set(COLUMNS[table]), f"{table}: {cols} are not columns the sink writes"


class RecordingClient:
    """Answers the sink's high-water-mark queries with no rows, keeping their SQL."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def query(self, sql: str, *_args: Any, **_kwargs: Any) -> Any:
        self.queries.append(sql)
        return type("Result", (), {"result_rows": []})()


def test_the_columns_the_sink_reads_back_are_the_columns_the_writer_may_select(
    users: dict[str, ET.Element], database: str
) -> None:
    client = RecordingClient()
    sink = Sink(Settings(clickhouse_database=database), None, client, None, writer=object())  # type: ignore[arg-type]
    sink._load_marks()
    selectable = {g.table: g.columns for g in grants_of(users["writer"]) if g.privilege == "SELECT"}
    assert len(client.queries) == len(COLUMNS)
    for sql in client.queries:
        match = re.search(r"\bFROM\s+`?(\w+)`?\.`?(\w+)`?", sql)
        assert match and match[1] == database, sql
        words = set(re.findall(r"[A-Za-z_]\w*", sql))
        identifiers = words - {"SELECT", "FROM", "GROUP", "BY", "max", match[1], match[2]}
        assert identifiers <= (selectable.get(match[2]) or set()), f"the sink reads {identifiers} of {match[2]}: {sql}"


def test_the_writer_profile_turns_ddl_off(users: dict[str, ET.Element], profiles: dict[str, ET.Element]) -> None:
    # A session with allow_ddl = 0 cannot SET it back to 1 (ClickHouse refuses;
    # tests/integration/test_clickhouse_accounts.py sees it), so no constraint is needed.
    profile = profiles[users["writer"].findtext("profile") or ""]
    assert profile.findtext("allow_ddl") == "0"


# --- the readers -----------------------------------------------------------------


def tables_in_migrations() -> set[str]:
    create = re.compile(r"CREATE TABLE IF NOT EXISTS \$\{database\}\.(\w+)")
    return {t for migration in load_migrations() for t in create.findall(migration.sql)} | {LEDGER, REGISTRY_TABLE}


def tables_read_by(*modules: str) -> set[str]:
    """Tables named in the SQL of these modules (their string literals)."""
    known = tables_in_migrations()
    package = Path(agentaudit.__file__).parent
    return {
        table for module in modules for _line, text in string_literals(package / module)
        for table in re.findall(r"\.`?(\w+)", text) if table in known
    }  # fmt: skip


def test_readers_may_select_the_audit_tables_and_nothing_else(users: dict[str, ET.Element], database: str) -> None:
    for name in READERS:
        assert grants_of(users[name]) == {Grant("SELECT", None, database, t) for t in AUDIT_TABLES}, name


def test_query_and_verify_read_nothing_the_readers_may_not() -> None:
    read = tables_read_by("query/build.py", "query/run.py", "verify/store.py")
    assert read, "the scan must find the tables the readers query"
    assert LEDGER not in read
    assert read <= AUDIT_TABLES


def test_readers_have_a_readonly_profile_whose_limits_they_cannot_lift(
    users: dict[str, ET.Element], profiles: dict[str, ET.Element]
) -> None:
    for name in READERS:
        profile_name = users[name].findtext("profile") or ""
        assert profile_name in profiles, f"{name}: profile {profile_name!r} is not defined in the file"
        profile = profiles[profile_name]
        # 1 and 2 both forbid writes and DDL; 2 also lets clients set per-query
        # settings, so the limits must then be pinned by constraints.
        assert profile.findtext("readonly") in ("1", "2"), f"{name}: not a readonly profile"
        for setting in ("max_execution_time", "max_memory_usage"):
            value = int(profile.findtext(setting) or 0)
            bounds = profile.find(f"constraints/{setting}")
            assert value > 0 and bounds is not None, f"{name}: {setting} is unlimited or unpinned"
            low, high = int(bounds.findtext("min") or 0), int(bounds.findtext("max") or 0)
            # 0 means unlimited, so the minimum must exclude it.
            assert 1 <= low <= value <= high, f"{name}: {setting}={value} outside [{low}, {high}] or 0 allowed"


# --- the query API ---------------------------------------------------------------


def test_the_api_reads_the_audit_tables_and_writes_only_its_keys_and_access_log(
    users: dict[str, ET.Element], profiles: dict[str, ET.Element], database: str
) -> None:
    expected = {Grant("SELECT", None, database, t) for t in AUDIT_TABLES | API_TABLES}
    expected |= {Grant("INSERT", None, database, t) for t in API_TABLES}
    assert grants_of(users[API]) == expected
    profile = profiles[users[API].findtext("profile") or ""]
    assert profile.findtext("allow_ddl") == "0"
    for setting in ("max_execution_time", "max_memory_usage"):
        bounds = profile.find(f"constraints/{setting}")
        assert bounds is not None and int(bounds.findtext("min") or 0) >= 1, f"api: {setting} unpinned or unlimited"


def test_the_api_reads_only_its_callers_tenants(users: dict[str, ET.Element], database: str) -> None:
    """Every table the API reads that names tenants has a row filter on the scope the API sends per request."""
    from agentaudit.api.server import ROW_POLICY_SETTING

    tables = users[API].find(f"databases/{database}")
    assert tables is not None, "the api account has no row filters"
    filters = {t.tag: (t.findtext("filter") or "") for t in tables}
    assert all(len(list(t)) == 1 and t[0].tag == "filter" for t in tables), "only <filter> narrows rows"
    tenanted = (AUDIT_TABLES | {"api_reads"})
    assert set(filters) == tenanted, "api_keys is read to authenticate, before the tenant scope is known"
    for table, expression in filters.items():
        assert f"getSetting('{ROW_POLICY_SETTING}')" in expression, table
        assert ("tenants" if table == "api_reads" else "tenant_id") in expression, table


def test_compose_runs_the_api_with_row_policies_on_a_server_that_allows_its_setting() -> None:
    compose = load_compose()["services"]
    assert environment(compose["api"]).get("AGENTAUDIT_API_ROW_POLICIES") == "true"
    server = next(s for s in compose.values() if str(s.get("image", "")).startswith("clickhouse/clickhouse-server:"))
    mounts = {(ROOT / source).resolve(): target for kind, source, target in volume_mounts(server) if kind == "bind"}
    custom = ROOT / "deploy" / "clickhouse" / "config.d" / "custom-settings.xml"
    assert mounts.get(custom) == "/etc/clickhouse-server/config.d/custom-settings.xml"
    prefixes = ET.parse(custom).getroot().findtext("custom_settings_prefixes") or ""
    from agentaudit.api.server import ROW_POLICY_SETTING
    assert any(ROW_POLICY_SETTING.startswith(p.strip()) for p in prefixes.split(",") if p.strip())


# --- docker-compose.yml ----------------------------------------------------------


def test_compose_mounts_the_accounts_from_deploy_clickhouse() -> None:
    server = next(s for s in load_compose()["services"].values()
                  if str(s.get("image", "")).startswith("clickhouse/clickhouse-server:"))
    mounts = {(ROOT / source).resolve(): target for kind, source, target in volume_mounts(server) if kind == "bind"}
    assert CLICKHOUSE_USERS_FILE.parent.parent == ROOT / "deploy" / "clickhouse"
    assert mounts.get(CLICKHOUSE_USERS_FILE) == "/etc/clickhouse-server/users.d/agentaudit.xml"
    assert not (ROOT / "deploy" / "compose" / "clickhouse").exists(), "the interim accounts file is back"


def test_each_command_runs_as_its_account() -> None:
    seen = set()
    for name, service in load_compose()["services"].items():
        dsn = environment(service).get("AGENTAUDIT_CLICKHOUSE_DSN")
        if not dsn:
            continue
        path = " ".join(resolve_command(as_argv(service.get("command"))))
        assert path in ACCOUNT_FOR_COMMAND, f"service {name} runs `{path}`: which account should it use?"
        account = urlsplit(dsn).username
        assert account == ACCOUNT_FOR_COMMAND[path], f"service {name} runs `{path}` as {account}"
        seen.add(path)
    assert seen == set(ACCOUNT_FOR_COMMAND), f"no service runs {sorted(set(ACCOUNT_FOR_COMMAND) - seen)}"
