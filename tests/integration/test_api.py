"""The query API over real HTTP against real ClickHouse: answers, access control, the access log.

Data: three agents of tenant acme with real, sealed chains and registry
history (the processor's and the sink's own code, tests.chain_fixture), an
incident on one of their actions, and a second tenant, globex, whose records
no acme key may ever see.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from agentaudit.api.access import Role
from agentaudit.api.keystore import KeyStore
from agentaudit.api.openapi import document
from agentaudit.api.routes import ROUTES
from agentaudit.codec import SingleObjectCodec
from agentaudit.evidence.proof import verify_proof
from agentaudit.incident.grouping import IncidentGroups
from agentaudit.keyring import Keyring
from agentaudit.settings import Settings
from agentaudit.sink.rows import COLUMNS, INCIDENTS_TABLE, RECORDS_TABLE, incident_row, record_row
from agentaudit.store import quote_identifier
from agentaudit.topics import Topic
from tests.api_support import Http, running_api
from tests.chain_fixture import store_chains, store_registry
from tests.sink_support import BASE_US, event_id, record
from tests.unit.incident.test_grouping import FakeHit
from tests.unit.incident.test_grouping import At as HitAt

pytestmark = pytest.mark.integration
codec = SingleObjectCodec()
KEK = base64.b64encode(bytes(range(32))).decode()
SINCE = datetime.fromtimestamp(BASE_US / 1e6 - 3600, UTC).isoformat()
ACME_RECORDS = 40
GLOBEX_RECORDS = 12
TRACED = ACME_RECORDS  # the last action: agent-0's 14th, recorded after its registration


@dataclass
class Env:
    http: Http
    client: Client
    database: str
    keys: dict[str, str]  # name -> presented key
    key_ids: dict[str, str]
    incident_id: str


def _seed(client: Client, database: str, keyring: Keyring) -> str:
    stored = store_chains(client, database, records=ACME_RECORDS, signer=keyring)
    store_registry(client, database, keyring, stored.agents)
    rows = []
    for n in range(GLOBEX_RECORDS):
        data = record(n, 7, ingest_us=BASE_US + n * 500_000, tenant_id="globex", agent_id="globex-bot",
                      event_id=event_id(9_000_000 + n), principal={"type": "user", "id": "gloria"},
                      session_id="globex-session")
        raw = codec.encode("AuditRecord", data)
        rows.append(record_row(codec.decode("AuditRecord", raw), raw))
    db = quote_identifier(database)
    client.insert(f"{db}.{RECORDS_TABLE}", rows, column_names=list(COLUMNS[RECORDS_TABLE]))
    groups = IncidentGroups("agent-0")
    hit = {"event_id": event_id(TRACED), "agent_id": "agent-0", "tenant_id": "acme", "session_id": "s",
           "principal": {"type": "user", "id": "alice"}, "action_type": "tool_call", "tool": "crm", "resource": None}
    entry = groups.hit(FakeHit(), hit, HitAt(), BASE_US + 10, 80)
    assert entry is not None
    raw = codec.encode("Incident", entry)
    client.insert(f"{db}.{INCIDENTS_TABLE}", [incident_row(codec.decode("Incident", raw), raw, "audit.incidents", 0, 0)],
                  column_names=list(COLUMNS[INCIDENTS_TABLE]))
    return str(entry["incident_id"])


@pytest.fixture
def env(clickhouse: Client, clickhouse_dsn: str, ch_database: str, tmp_path: Path, settings: Settings) -> Iterator[Env]:
    keyring = Keyring.create(Settings(home=tmp_path / "pipeline", kek=KEK))
    incident_id = _seed(clickhouse, ch_database, keyring)
    store = KeyStore(clickhouse, ch_database)
    grants = {
        "admin": (Role.ADMIN, ("*",), ""), "acme-admin": (Role.ADMIN, ("acme",), ""),
        "analyst": (Role.ANALYST, ("acme",), ""), "auditor": (Role.AUDITOR, ("acme",), ""),
        "agent": (Role.AGENT, ("acme",), "agent-0"), "globex-analyst": (Role.ANALYST, ("globex",), ""),
        "all-auditor": (Role.AUDITOR, ("*",), ""), "revoked": (Role.ANALYST, ("acme",), ""),
    }
    keys, ids = {}, {}
    for name, (role, tenants, agent) in grants.items():
        state, presented = store.create(name, role, tenants, "tests", agent_id=agent)
        keys[name], ids[name] = presented, state.key_id
    store.revoke(ids["revoked"], "tests", "left the team")
    api_settings = settings.with_changes(clickhouse_dsn=clickhouse_dsn, clickhouse_database=ch_database)
    with running_api(api_settings, keyring.export_public()) as http:
        yield Env(http, clickhouse, ch_database, keys, ids, incident_id)


def all_pages(env: Env, key: str, **params: object) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor = None
    while True:
        reply = env.http.get("/v1/actions", key, since=SINCE, **params, **({"cursor": cursor} if cursor else {}))
        assert reply.status == 200, reply.body
        items += reply.body["items"]
        cursor = reply.body["next_cursor"]
        if cursor is None:
            return items


def test_actions_are_paged_by_cursor_each_exactly_once_in_order_and_only_from_the_keys_tenants(env: Env) -> None:
    items = all_pages(env, env.keys["analyst"], limit=7)
    assert len(items) == ACME_RECORDS and len({i["event_id"] for i in items}) == ACME_RECORDS
    assert {i["tenant_id"] for i in items} == {"acme"}
    order = [(i["ingest_time"], i["event_id"]) for i in items]
    assert order == sorted(order, reverse=True)
    oldest = all_pages(env, env.keys["analyst"], limit=9, order="oldest")
    assert [i["event_id"] for i in oldest] == [i["event_id"] for i in reversed(items)]
    globex = all_pages(env, env.keys["globex-analyst"], limit=5)
    assert len(globex) == GLOBEX_RECORDS and {i["tenant_id"] for i in globex} == {"globex"}
    everyone = all_pages(env, env.keys["all-auditor"], limit=1000)
    assert len(everyone) == ACME_RECORDS + GLOBEX_RECORDS


def test_action_filters_narrow_the_answer(env: Env) -> None:
    key = env.keys["analyst"]
    one = all_pages(env, key, agent="agent-1")
    assert one and {i["agent_id"] for i in one} == {"agent-1"}
    two = all_pages(env, key, agent=["agent-1", "agent-2"])
    assert {i["agent_id"] for i in two} == {"agent-1", "agent-2"} and len(two) > len(one)
    assert all_pages(env, key, outcome="denied") == []
    assert len(all_pages(env, key, outcome="success", action_type="tool_call")) == ACME_RECORDS
    assert all_pages(env, key, risk_min=101 - 1, risk_max=100) == []
    first = all_pages(env, key, limit=1000)[-1]
    window = env.http.get("/v1/actions", key, since=first["ingest_time"], until=first["ingest_time"])
    assert window.status == 400 and "before until" in window.error
    exact = env.http.get("/v1/actions", key, since=SINCE, session=str(first["session_id"]), limit=1000)
    assert {i["session_id"] for i in exact.body["items"]} == {first["session_id"]}


def test_a_cursor_only_continues_the_query_it_came_from(env: Env) -> None:
    key = env.keys["analyst"]
    page = env.http.get("/v1/actions", key, since=SINCE, limit=5)
    cursor = page.body["next_cursor"]
    other = env.http.get("/v1/actions", key, since=SINCE, limit=5, agent="agent-0", cursor=cursor)
    assert other.status == 400 and "other filters" in other.error
    forged = env.http.get("/v1/actions", key, since=SINCE, limit=5, cursor="eyJ0IjoxfQ")
    assert forged.status == 400 and "cursor" in forged.error


def test_requests_without_a_valid_key_are_refused_with_the_reason(env: Env) -> None:
    http = env.http
    assert http.get("/v1/actions", None, since=SINCE).status == 401
    assert "Bearer" in http.get("/v1/actions", None, since=SINCE).error
    assert "Bearer scheme" in http.call("GET", "/v1/whoami", raw_auth=f"Basic {env.keys['analyst']}").error
    malformed = http.get("/v1/whoami", "aak_nothex_short")
    assert malformed.status == 401 and "not an agentaudit API key" in malformed.error
    key_id = env.key_ids["analyst"]
    wrong = http.get("/v1/whoami", f"aak_{key_id}_{'A' * 43}")
    assert wrong.status == 401 and "wrong secret" in wrong.error
    assert wrong.headers.get("WWW-Authenticate", "").startswith("Bearer")
    revoked = http.get("/v1/actions", env.keys["revoked"], since=SINCE)
    assert revoked.status == 401 and "revoked" in revoked.error and "left the team" in revoked.error


def test_roles_get_only_their_permissions(env: Env) -> None:
    http, k = env.http, env.keys
    assert http.get("/v1/actions", k["admin"], since=SINCE).status == 403  # admins manage, they do not investigate
    agent = http.get("/v1/actions", k["agent"], since=SINCE)
    assert agent.status == 403 and "role agent may not" in agent.error
    assert http.get("/v1/agents", k["agent"]).status == 403
    assert http.get("/v1/reads", k["analyst"], since=SINCE).status == 403
    assert http.get("/v1/keys", k["auditor"]).status == 403
    ack = http.post(f"/v1/incidents/{env.incident_id}/ack", k["auditor"], {"note": "looking"})
    assert ack.status == 403 and "analyst" in ack.error
    made = http.post("/v1/keys", k["analyst"], {"name": "me-admin", "role": "admin", "tenants": ["acme"]})
    assert made.status == 403
    whoami = http.get("/v1/whoami", k["agent"])
    assert whoami.status == 200 and whoami.body["permissions"] == ["actions:emit"]


def test_no_key_sees_or_reaches_another_tenant(env: Env) -> None:
    http, k = env.http, env.keys
    cross = http.get("/v1/actions", k["analyst"], since=SINCE, tenant="globex")
    assert cross.status == 403 and "outside" in cross.error
    mixed = http.get("/v1/actions", k["analyst"], since=SINCE, tenant=["acme", "globex"])
    assert mixed.status == 403
    acme_event = event_id(1)
    assert http.get(f"/v1/actions/{acme_event}/trace", k["globex-analyst"]).status == 404
    assert http.get(f"/v1/incidents/{env.incident_id}", k["globex-analyst"]).status == 404
    assert http.get("/v1/agents/agent-0", k["globex-analyst"]).status == 404
    agents = http.get("/v1/agents", k["globex-analyst"])
    assert agents.status == 200 and agents.body["items"] == []
    incidents = http.get("/v1/incidents", k["globex-analyst"], since=SINCE)
    assert incidents.body["items"] == []
    session = http.get("/v1/actions", k["analyst"], since=SINCE, limit=1).body["items"][0]["session_id"]
    assert http.get(f"/v1/sessions/{session}", k["globex-analyst"]).status == 404


INJECTIONS = (
    "' OR 1=1 --", "acme' OR tenant_id != '", "x') OR ('1'='1", "\\' OR 1=1 #", "acme\\", "}{tenants:String}",
    "1; DROP TABLE audit_records", "' UNION SELECT * FROM system.users --", "%' OR ''='", "acme\x00globex",
)


def test_sql_injection_through_every_filter_is_inert(env: Env) -> None:
    """Every parameter of every read route gets injection payloads: never another tenant's row, never a 500."""
    http, key = env.http, env.keys["analyst"]
    before = env.client.query(f"SELECT count() FROM {quote_identifier(env.database)}.audit_records").result_rows
    tried = 0
    for route in ROUTES:
        if route.method != "GET" or route.permission is None:
            continue
        for param in route.params:
            for payload in INJECTIONS:
                path = route.path
                params: dict[str, object] = {}
                if "{" in path:
                    for p in route.params:
                        if p.where == "path":
                            path = path.replace("{" + p.name + "}", payload if p is param else "x")
                if param.where == "query":
                    params[param.name] = payload
                if any(p.required for p in route.params if p.name == "since") and param.name != "since":
                    params["since"] = SINCE
                reply = http.call("GET", path, key if route.path != "/v1/reads" else env.keys["auditor"], params)
                tried += 1
                assert reply.status in (200, 400, 403, 404), (route.path, param.name, payload, reply.body)
                if reply.status == 200:
                    text = json.dumps(reply.body)
                    assert "globex" not in text, (route.path, param.name, payload)
    after = env.client.query(f"SELECT count() FROM {quote_identifier(env.database)}.audit_records").result_rows
    assert before == after and tried > 100


def test_trace_walks_one_action_from_principal_to_a_verified_inclusion_proof(env: Env) -> None:
    reply = env.http.get(f"/v1/actions/{event_id(TRACED)}/trace", env.keys["auditor"])
    assert reply.status == 200, reply.body
    trace = reply.body
    assert trace["principal"]["id"] and trace["agent"]["agent_id"] == "agent-0"
    registry = trace["agent"]["registry"]
    # the entry in effect when the action arrived: agent-0's key rotation, made by carol and approved by bob
    assert (registry["change"], registry["actor"], registry["approver"], registry["status"]) == \
        ("rotate_key", "carol", "bob", "active")
    assert set(trace) >= {"policy_decision", "approval", "execution", "outcome", "detection", "incidents"}
    assert [i["incident_id"] for i in trace["incidents"]] == [env.incident_id]
    assert trace["incidents"][0]["timeline"][0]["change"] == "opened"
    custody = trace["custody"]
    assert custody["proof_verified"] is True and custody["problem"] is None
    assert custody["chain_position"] == ACME_RECORDS // 3 + 1 and custody["seal"]["seq"] >= 1
    assert verify_proof(custody["inclusion_proof"]).ok  # the same document an auditor checks offline
    missing = env.http.get("/v1/actions/no-such-event/trace", env.keys["auditor"])
    assert missing.status == 404 and "no action" in missing.error


def test_session_incidents_and_agents(env: Env) -> None:
    http, key = env.http, env.keys["analyst"]
    first = all_pages(env, key, agent="agent-2", order="oldest")[0]
    in_session = all_pages(env, key, session=first["session_id"], order="oldest")
    session = http.get(f"/v1/sessions/{first['session_id']}", key)
    assert session.status == 200
    assert [a["event_id"] for a in session.body["actions"]] == [i["event_id"] for i in in_session]
    per_agent = {a["agent_id"]: a for a in session.body["agents"]}
    assert per_agent["agent-2"]["missing"] == 0 and per_agent["agent-2"]["duplicates"] == 0
    assert per_agent["agent-2"]["stored"] == sum(1 for i in in_session if i["agent_id"] == "agent-2")
    listed = http.get("/v1/incidents", key, since=SINCE)
    assert [i["incident_id"] for i in listed.body["items"]] == [env.incident_id]
    shown = http.get(f"/v1/incidents/{env.incident_id}", key)
    assert shown.body["status"] == "open" and len(shown.body["timeline"]) == 1
    agents = http.get("/v1/agents", key)
    assert [a["agent_id"] for a in agents.body["items"]] == ["agent-0", "agent-1", "agent-2"]
    history = http.get("/v1/agents/agent-0", key)
    assert [h["kind"] for h in history.body["history"]] == ["register", "rotate_key"]
    assert history.body["history"][1]["actor"] == "carol"


def test_every_request_is_in_the_access_log_refusals_included(env: Env) -> None:
    http, k = env.http, env.keys
    http.get("/v1/actions", k["analyst"], since=SINCE, agent="agent-1", limit=3)
    http.get("/v1/actions", k["analyst"], since=SINCE, tenant="globex")
    http.get("/v1/actions", k["revoked"], since=SINCE)
    log = http.get("/v1/reads", k["all-auditor"], since=SINCE, limit=1000)
    assert log.status == 200
    mine = [r for r in log.body["items"] if r["key_id"] == env.key_ids["analyst"]]
    answered = next(r for r in mine if r["status"] == 200)
    assert answered["route"] == "/v1/actions" and answered["rows"] == 3
    assert answered["query"]["agent"] == ["agent-1"] and answered["role"] == "analyst"
    refused = next(r for r in mine if r["status"] == 403)
    assert "outside" in refused["error"] and refused["query"]["tenant"] == ["globex"]
    anonymous = [r for r in log.body["items"] if r["status"] == 401 and "revoked" in r["error"]]
    assert anonymous and anonymous[0]["key_id"] == ""
    scoped = http.get("/v1/reads", k["auditor"], since=SINCE, limit=1000)
    assert {tuple(r["tenants"]) for r in scoped.body["items"]} <= {("acme",)}
    assert "Authorization" not in json.dumps(log.body) and "aak_" not in json.dumps(log.body)


def test_admins_issue_and_revoke_keys_within_their_scope(env: Env) -> None:
    http, k = env.http, env.keys
    wider = http.post("/v1/keys", k["acme-admin"], {"name": "x", "role": "analyst", "tenants": ["*"]})
    assert wider.status == 403 and "every tenant" in wider.error
    other = http.post("/v1/keys", k["acme-admin"], {"name": "x", "role": "analyst", "tenants": ["globex"]})
    assert other.status == 403
    made = http.post("/v1/keys", k["acme-admin"], {"name": "dana", "role": "analyst", "tenants": ["acme"],
                                                   "reason": "new hire"})
    assert made.status == 201 and made.body["key"].startswith("aak_")
    stored = env.client.query(
        f"SELECT secret_hash FROM {quote_identifier(env.database)}.api_keys WHERE key_id = {{k:String}}",
        parameters={"k": made.body["key_id"]}).result_rows
    assert stored and made.body["key"].split("_")[2] not in str(stored)
    assert http.get("/v1/whoami", made.body["key"]).body["name"] == "dana"
    itself = http.post(f"/v1/keys/{env.key_ids['acme-admin']}/revoke", k["acme-admin"], {"reason": "x"})
    assert itself.status == 403
    gone = http.post(f"/v1/keys/{made.body['key_id']}/revoke", k["acme-admin"], {"reason": "left"})
    assert gone.status == 200 and gone.body["status"] == "revoked"
    assert http.get("/v1/whoami", made.body["key"]).status == 401
    listed = http.get("/v1/keys", k["acme-admin"]).body["items"]
    assert all(set(i["tenants"]) <= {"acme"} for i in listed) and "secret_hash" not in json.dumps(listed)
    unknown = http.post("/v1/keys", k["admin"], {"name": "x", "role": "analyst", "tenants": ["acme"], "secret": "1"})
    assert unknown.status == 400 and "unknown field" in unknown.error


def test_openapi_documents_every_route_and_parameter_the_server_takes(env: Env) -> None:
    spec = env.http.get("/v1/openapi.json").body
    assert spec == json.loads(json.dumps(document()))
    for route in ROUTES:
        operation = spec["paths"][route.path][route.method.lower()]
        assert {p["name"] for p in operation["parameters"]} == {p.name for p in route.params}
    typo = env.http.get("/v1/actions", env.keys["analyst"], since=SINCE, agent_id="agent-0")
    assert typo.status == 400 and "unknown parameter 'agent_id'" in typo.error


def test_agent_keys_emit_their_own_agents_actions_over_http_and_nothing_else(env: Env, settings: Settings) -> None:
    from agentaudit.admin import ensure_topics
    from tests.avro_support import action
    from tests.identity_support import signed

    ensure_topics(settings, settings.kafka_bootstrap)
    value = codec.encode("AgentAction", signed(action(event_id=event_id(777), agent_id="agent-0", tenant_id="acme")))
    sent = env.http.call("POST", "/v1/actions", env.keys["agent"], raw=value)
    assert sent.status == 202, sent.body
    assert sent.body["event_id"] == event_id(777)
    other = codec.encode("AgentAction", signed(action(event_id=event_id(778), agent_id="agent-1", tenant_id="acme")))
    refused = env.http.call("POST", "/v1/actions", env.keys["agent"], raw=other)
    assert refused.status == 403 and "not for agent-1" in refused.error
    assert env.http.call("POST", "/v1/actions", env.keys["analyst"], raw=value).status == 403
    garbage = env.http.call("POST", "/v1/actions", env.keys["agent"], raw=b"\x00not avro")
    assert garbage.status == 400 and "not an AgentAction" in garbage.error
    assert first_message(settings, Topic.ACTIONS) == (b"agent-0", value), "delivered byte for byte, keyed by its agent"


def test_analysts_handle_incidents_as_their_key(env: Env, settings: Settings) -> None:
    from agentaudit.admin import ensure_topics

    ensure_topics(settings, settings.kafka_bootstrap)
    acked = env.http.post(f"/v1/incidents/{env.incident_id}/ack", env.keys["analyst"], {"note": "on it", "owner": "dana"})
    assert acked.status == 202, acked.body
    assert acked.body["actor"] == f"analyst (key {env.key_ids['analyst']}, analyst)"
    assert env.http.post(f"/v1/incidents/{env.incident_id}/resolve", env.keys["analyst"], {}).status == 409
    _key, value = first_message(settings, Topic.INCIDENTS)
    entry = codec.decode("Incident", value)
    assert (entry["change"], entry["actor"], entry["owner"], entry["note"]) == \
        ("acknowledged", acked.body["actor"], "dana", "on it")


def first_message(settings: Settings, topic: Topic) -> tuple[bytes | None, bytes]:
    """(key, value) of the first message on one of the test's topics, read from the start."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"{settings.topic_prefix}check",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([settings.topic(topic)])
    try:
        for _ in range(60):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                return message.key(), message.value()
    finally:
        consumer.close()
    raise AssertionError(f"nothing on {settings.topic(topic)} within 30 s")
