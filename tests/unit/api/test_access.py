"""The pure rules of the query API: key format and hashing, roles, tenant scope, cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentaudit.api import keys
from agentaudit.api.access import GRANTS, AccessDenied, Caller, Permission, Role
from agentaudit.api.actions import ActionQuery, BadCursor, encode_cursor, page_sql

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def test_a_key_matches_only_its_own_hash() -> None:
    key_id, presented = keys.new_key()
    parsed_id, secret = keys.parse(presented)
    assert parsed_id == key_id and secret not in keys.secret_hash(key_id, secret)
    assert keys.matches(key_id, secret, keys.secret_hash(key_id, secret))
    other_id, other = keys.new_key()
    assert not keys.matches(key_id, secret, keys.secret_hash(other_id, keys.parse(other)[1]))
    with pytest.raises(keys.MalformedKey) as refused:
        keys.parse("aak_123_" + secret)
    assert secret not in str(refused.value)


def test_only_analysts_and_auditors_read_actions_and_only_admins_manage_keys() -> None:
    readers = {r for r, grants in GRANTS.items() if Permission.READ_ACTIONS in grants}
    assert readers == {Role.ANALYST, Role.AUDITOR}
    assert {r for r, g in GRANTS.items() if Permission.MANAGE_KEYS in g} == {Role.ADMIN}
    assert GRANTS[Role.AGENT] == {Permission.EMIT}
    with pytest.raises(AccessDenied, match="needs role analyst or auditor"):
        Caller("k", "n", Role.ADMIN, ("*",)).require(Permission.READ_ACTIONS)


def test_scope_comes_from_the_key_and_refuses_tenants_outside_it() -> None:
    acme = Caller("k", "n", Role.ANALYST, ("acme", "acme-eu"))
    assert acme.scope() == ("acme", "acme-eu")
    assert acme.scope(("acme",)) == ("acme",)
    with pytest.raises(AccessDenied, match="globex is outside"):
        acme.scope(("acme", "globex"))
    assert Caller("k", "n", Role.AUDITOR, ("*",)).scope() is None
    admin = Caller("k", "n", Role.ADMIN, ("acme",))
    admin.may_grant(("acme",))
    for wider in (("*",), ("globex",)):
        with pytest.raises(AccessDenied):
            admin.may_grant(wider)


def test_a_cursor_is_bound_to_its_filters_and_carries_its_window() -> None:
    first = ActionQuery(NOW - timedelta(hours=1), NOW, {"agent": ("a",)}, limit=10)
    cursor = encode_cursor(first, 123, "e-1")
    later = ActionQuery(NOW, NOW + timedelta(hours=1), {"agent": ("a",)}, limit=10, cursor=cursor)
    sql, params = page_sql("db", later)
    assert params["since_us"] < params["until_us"] == int(NOW.timestamp() * 1e6)  # the first page's window
    assert (params["cursor_us"], params["cursor_event"]) == (123, "e-1") and "(ingest_time, event_id) <" in sql
    with pytest.raises(BadCursor, match="other filters"):
        page_sql("db", ActionQuery(NOW, NOW + timedelta(hours=1), {"agent": ("b",)}, cursor=cursor))
    with pytest.raises(BadCursor):
        page_sql("db", ActionQuery(NOW, NOW + timedelta(hours=1), cursor="not-a-cursor"))


class _Recorder:
    """Records the settings the API puts on its ClickHouse client."""

    def __init__(self) -> None:
        self.settings: dict[str, str] = {}

    def set_client_setting(self, key: str, value: str) -> None:
        self.settings[key] = value


def test_with_row_policies_each_request_carries_its_keys_tenants_to_the_server() -> None:
    from agentaudit.api.server import ROW_POLICY_SETTING, QueryApi
    from agentaudit.errors import ConfigError
    from agentaudit.settings import Settings

    on = Settings(clickhouse_dsn="http://api:pw@clickhouse:8123", api_row_policies=True)
    api = QueryApi(on, 1, None, lambda _entry: None)
    client = _Recorder()
    api._scope_rows(client, "acme,acme-eu")  # type: ignore[arg-type]
    assert client.settings == {ROW_POLICY_SETTING: "acme,acme-eu"}
    api.close()
    off = QueryApi(Settings(clickhouse_dsn="http://api:pw@clickhouse:8123"), 1, None, lambda _entry: None)
    quiet = _Recorder()
    off._scope_rows(quiet, "acme")  # type: ignore[arg-type]
    assert quiet.settings == {}
    off.close()
    with pytest.raises(ConfigError, match="needs a ClickHouse server"):
        Settings(api_row_policies=True)
