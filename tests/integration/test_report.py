"""`agentaudit report`: the SOC 2 evidence pack from real stored chains, rendered and looked at.

Data (tests.chain_fixture, sealed by a real pipeline keyring): tenant acme's
three agents with policy decisions, approvals, model and policy versions
changing half way, detections, a containment (suspension and reinstatement),
two incidents (one through its whole lifecycle), rejections and API reads;
and a second tenant, globex, that `--tenant acme` must leave out.
"""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from clickhouse_connect.driver.client import Client

from agentaudit.api.reads import Read
from agentaudit.api.reads import record as record_read
from agentaudit.codec import SingleObjectCodec
from agentaudit.evidence.cli import verify_bundle_or_proof
from agentaudit.incident.grouping import IncidentGroups
from agentaudit.incident.lifecycle import lifecycle_entry
from agentaudit.incident.queries import incident_state
from agentaudit.keyring import Keyring
from agentaudit.registry.change import ChangeKind
from agentaudit.registry.requests import SetStatus
from agentaudit.report.charts import ACCENT, OUTCOME_COLORS, SEVERITY_COLORS
from agentaudit.report.cli import report_command
from agentaudit.report.gather import SECTIONS
from agentaudit.report.sample import sample_key
from agentaudit.report.verify_pack import verify_pack
from agentaudit.settings import Settings
from agentaudit.sink.rows import COLUMNS, INCIDENTS_TABLE, RECORDS_TABLE, REJECTIONS_TABLE, incident_row, \
    record_row, rejection_row
from agentaudit.store import quote_identifier
from tests.chain_fixture import store_chains, store_registry
from tests.integration.test_evidence import run_offline
from tests.render_support import ink, pdf_pages, pdf_text, pixels_of, screenshot
from tests.sink_support import BASE_US, event_id, record, rejection
from tests.unit.incident.test_grouping import FakeHit
from tests.unit.incident.test_grouping import At as HitAt

pytestmark = pytest.mark.integration
codec = SingleObjectCodec()
KEK = base64.b64encode(bytes(range(32))).decode()
SECOND = 1_000_000
RECORDS = 40
START_US = BASE_US // (10 * SECOND) * 10 * SECOND  # store_chains' first record (its sealing period is 10 s)
# The window ends shortly after the last seal (start + 50 s): verification takes the window's end as the
# horizon by which every chain must be sealed, as `verify --until` does.
SINCE_US, UNTIL_US = START_US - 3600 * SECOND, START_US + 55 * SECOND


def iso(us: int) -> str:
    from agentaudit.evidence.formats import iso_us

    return iso_us(us)


def _action(n: int) -> dict[str, Any]:
    """Policy decisions, approvals and versions varying over the 40 actions; n % 8 == 3 ran despite a deny."""
    version = "3" if n < RECORDS // 2 else "4"
    decision, outcome = [("deny", "denied"), ("allow", "success"), ("require_approval", "success"),
                         ("deny", "success"), ("allow", "failure")][n % 8 % 5]
    fields: dict[str, Any] = {
        "outcome": outcome, "tool": "billing.refund", "resource": "crm://accounts/42",
        "policy": {"decision": decision, "policy_id": "refunds", "policy_version": version, "reason": "rule 7"},
        "model": {"provider": "openai", "name": "gpt", "version": "2025-01" if n < RECORDS // 2 else "2025-06"},
        # agent-controlled text that must reach the report as text, never as markup
        "parameters": '{"note": "<script>alert(1)</script>"}',
    }
    if decision == "require_approval":
        fields["approval"] = {"approver": {"type": "user", "id": "bob"}, "decision": "approved",
                              "decided_at": START_US + n * 700_000 - 500, "approval_id": f"ap-{n}"}
    return fields


def _incidents(client: Client, database: str) -> None:
    db = quote_identifier(database)
    offsets = itertools.count()

    def insert(entry: dict[str, Any]) -> None:
        raw = codec.encode("Incident", entry)
        row = incident_row(codec.decode("Incident", raw), raw, "audit.incidents", 0, next(offsets))
        client.insert(f"{db}.{INCIDENTS_TABLE}", [row], column_names=list(COLUMNS[INCIDENTS_TABLE]))

    hit = {"event_id": event_id(4), "agent_id": "agent-0", "tenant_id": "acme", "session_id": "s",
           "principal": {"type": "user", "id": "alice"}, "action_type": "tool_call", "tool": "billing.refund",
           "resource": None}
    critical = FakeHit(rule_id="policy.executed_despite_decision", title="Executed <b>despite</b> deny",
                       severity="critical", contain=True)
    opened = IncidentGroups("agent-0").hit(critical, hit, HitAt(), START_US + 3 * SECOND, 95, contained=True)
    assert opened is not None
    insert(opened)
    for change, actor, note, at in (("acknowledged", "dave", "looking", 20), ("contained", "agentaudit-containment",
                                     "agent suspended", 30), ("resolved", "dave", "refund reversed", 1800)):
        current = incident_state(client, database, str(opened["incident_id"]))
        assert current is not None
        insert(lifecycle_entry(current, change, actor, note, "dave", START_US + 3 * SECOND + at * SECOND))
    other = IncidentGroups("agent-2").hit(FakeHit(), {**hit, "agent_id": "agent-2", "event_id": event_id(6)},
                                          HitAt(offset=9), START_US + 5 * SECOND, 70)
    assert other is not None
    insert(other)


def seed(client: Client, database: str, keyring: Keyring) -> None:
    stored = store_chains(client, database, records=RECORDS, signer=keyring, overrides=_action, score=True)
    store_registry(client, database, keyring, stored.agents, more=[
        SetStatus(agent_id="agent-1", kind=ChangeKind.SUSPEND, actor="agentaudit-containment",
                  approver="rule:policy.executed_despite_decision", reason="incident"),
        SetStatus(agent_id="agent-1", kind=ChangeKind.REACTIVATE, actor="alice", approver="bob", reason="fixed"),
    ])
    db = quote_identifier(database)
    globex = []
    for n in range(12):
        data = record(n, 7, ingest_us=START_US + n * 500_000, tenant_id="globex", agent_id="globex-bot",
                      event_id=event_id(9_000_000 + n), session_id="globex-session")
        raw = codec.encode("AuditRecord", data)
        globex.append(record_row(codec.decode("AuditRecord", raw), raw))
    client.insert(f"{db}.{RECORDS_TABLE}", globex, column_names=list(COLUMNS[RECORDS_TABLE]))
    rejected = []
    for n, reason in enumerate(("not_avro", "not_avro", "clock_skew")):
        raw = codec.encode("Rejection", {**rejection(n, 3, reason_code=reason, ingest_us=START_US + n * SECOND),
                                         "tenant_id": "acme"})
        rejected.append(rejection_row(codec.decode("Rejection", raw), raw))
    client.insert(f"{db}.{REJECTIONS_TABLE}", rejected, column_names=list(COLUMNS[REJECTIONS_TABLE]))
    _incidents(client, database)
    record_read(client, database, Read("r1", START_US + 7 * SECOND, "GET", "/v1/actions", "127.0.0.1",
                                       route="/v1/actions", key_id="k1", key_name="auditor-jane", role="auditor",
                                       tenants=("acme",), status=200, rows=40))


@dataclass
class Env:
    client: Client
    settings: Settings
    keyring: Keyring
    tmp: Path

    def report(self, out: str, *args: str) -> Result:
        result = CliRunner().invoke(report_command, ["--since", iso(SINCE_US), "--until", iso(UNTIL_US),
                                                     "--tenant", "acme", "--out", str(self.tmp / out), *args],
                                    obj=self.settings)
        assert result.exit_code == 0, (result.output, result.exception)
        return result

    def document(self, out: str) -> dict[str, Any]:
        return dict(json.loads((self.tmp / out / "report.json").read_text()))

    def public_keys(self) -> Path:
        path = self.tmp / "auditor-keys.json"
        path.write_text(json.dumps(self.keyring.export_public()))
        return path


@pytest.fixture
def env(clickhouse: Client, clickhouse_dsn: str, ch_database: str, tmp_path: Path) -> Env:
    home = tmp_path / "pipeline"
    keyring = Keyring.create(Settings(home=home, kek=KEK))
    seed(clickhouse, ch_database, keyring)
    settings = Settings(home=home, kek=KEK, clickhouse_dsn=clickhouse_dsn, clickhouse_database=ch_database,
                        seal_interval_s=10.0, seal_every_records=8)
    return Env(clickhouse, settings, keyring, tmp_path)


def test_the_pack_renders_to_html_and_pdf_that_show_every_section_chart_and_sampled_event(env: Env) -> None:
    env.report("pack", "--format", "html,pdf", "--format", "json", "--sample", "3", "--seed", "42")
    pack = env.tmp / "pack"
    document = env.document("pack")
    sampled = document["sections"]["sample"]["event_ids"]
    assert len(sampled) == 3

    html = (pack / "report.html").read_text()
    assert "<script>" not in html and "&lt;b&gt;despite&lt;/b&gt;" in html  # agent and people text stays text
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    page = screenshot(pack / "report.html", env.tmp / "page.png")
    assert ink(page) > 0.02, "the page is (nearly) blank"
    # A legend swatch is 144 pixels and a colour has at most three: a thousand means bars were drawn.
    for colour in (OUTCOME_COLORS["success"], OUTCOME_COLORS["denied"], SEVERITY_COLORS["critical"], ACCENT):
        assert pixels_of(page, colour) > 1000, f"no chart bars of colour {colour} on the screenshot"

    pages = pdf_pages(pack / "report.pdf", env.tmp)
    assert len(pages) >= len(SECTIONS) + 1, "each criterion starts a page, after the cover"
    assert all(ink(p) > 0.003 for p in pages), "a blank page in the PDF"
    assert pixels_of(pages[1], OUTCOME_COLORS["success"]) > 1000, "no CC6.1 chart on the PDF's second page"
    assert sum(pixels_of(p, ACCENT) for p in pages) > 1000, "no risk score chart in the PDF"
    text = " ".join(pdf_text(pack / "report.pdf").split())
    for _, criterion, title in SECTIONS:
        assert f"{criterion} — {title}" in text, f"heading {criterion} — {title} missing from the PDF"
    for event in sampled:
        assert event in text
    assert "Executed <b>despite</b> deny" in text


def test_report_json_has_every_section_with_the_figures_of_the_data(env: Env) -> None:
    result = env.report("pack", "--format", "json", "--sample", "2", "--seed", "7")
    assert "OK" in result.output
    pack = env.tmp / "pack"
    assert sorted(p.name for p in pack.iterdir()) == ["manifest.json", "manifest.sig", "public-keys.json",
                                                      "report.json", "samples"]
    s = env.document("pack")["sections"]
    assert list(s) == [key for key, _, _ in SECTIONS]
    cc61 = s["cc6_1"]
    assert cc61["total"] == RECORDS  # acme only: globex's 12 are another tenant's
    assert cc61["executed_despite_deny"] == sum(1 for n in range(RECORDS) if n % 8 % 5 == 3)
    assert cc61["denied"] == sum(1 for n in range(RECORDS) if n % 8 % 5 == 0)
    assert cc61["executed_without_approval"] == 0
    agents = {a["agent_id"]: a for a in s["cc6_2_3"]["agents"]}
    assert sorted(agents) == ["agent-0", "agent-1", "agent-2"] and agents["agent-1"]["status"] == "active"
    assert len(agents["agent-0"]["keys"]) == 2 and all("material" not in k for k in agents["agent-0"]["keys"])
    assert [c["kind"] for c in s["cc6_2_3"]["lifecycle"]] == ["register"] * 3 + ["rotate_key", "suspend",
                                                                                  "reactivate"]
    assert s["cc7_2"]["hits"] > 0 and any(r["rule_id"] == "policy.executed_despite_decision"
                                          for r in s["cc7_2"]["by_rule"])
    incidents = s["cc7_3"]
    assert incidents["count"] == 2 and incidents["by_status"] == {"resolved": 1, "open": 1}
    # timed over all their entries, also those after the window (the resolution, half an hour later)
    assert incidents["response"]["mtta"]["mean_s"] == 20 and incidents["response"]["mttr"]["mean_s"] == 1800
    contained = s["cc7_4"]
    assert contained["automatic_suspensions"] == 1 and len(contained["reinstatements"]) == 1
    assert contained["incidents_marked_for_containment"] == 1 and len(contained["contained_entries"]) == 1
    changes = s["cc8_1"]
    assert changes["without_approver"] == 0 and changes["self_approved"] == 0
    assert {v["policy_version"] for v in changes["policy_versions"]} == {"3", "4"}
    assert {v["model_version"] for v in changes["model_versions"]} == {"2025-01", "2025-06"}
    assert s["retention"]["all_meet_floor"] and {t["table"] for t in s["retention"]["tables"]} >= {"audit_records"}
    verification = s["verification"]
    assert verification["ok"] is True and verification["records"] == RECORDS and verification["seals"] > 0
    completeness = s["completeness"]
    assert (completeness["accepted"], completeness["rejected"]) == (RECORDS, 3)
    assert completeness["rejected_by_reason"] == {"not_avro": 2, "clock_skew": 1}
    assert completeness["seal_coverage"] == 1.0 and completeness["missing_actions"] == 0
    assert s["access"]["by_key"][0]["key_name"] == "auditor-jane"
    chain = s["sample"]["chains"][0]
    assert chain["custody"]["proof_verified"] and chain["execution"]["parameters_bytes"] > 0
    assert {h["rule_id"] for h in chain["detection"]["rule_hits"]} >= {"scope.tool_out_of_scope"}
    assert "script" not in json.dumps(chain)  # parameters are shown by size only


def test_the_sample_is_reproducible_from_its_seed_and_recomputable_without_our_code(env: Env) -> None:
    env.report("a", "--format", "json", "--sample", "3", "--seed", "42")
    env.report("b", "--format", "json", "--sample", "3", "--seed", "42")
    env.report("c", "--format", "json", "--sample", "3", "--seed", "43")
    first, again, other = (env.document(d)["sections"]["sample"] for d in "abc")
    assert first["event_ids"] == again["event_ids"] and len(first["event_ids"]) == 3
    assert other["event_ids"] != first["event_ids"]
    acme = [event_id(n + 1) for n in range(RECORDS)]
    assert first["event_ids"] == sorted(acme, key=lambda e: (sample_key(42, e), e))[:3]
    assert first["population"] == RECORDS
    for event in first["event_ids"]:
        assert (env.tmp / "a" / "samples" / f"{event}.proof.json").is_file()


def test_the_manifest_verifies_offline_and_any_change_to_the_pack_fails(env: Env) -> None:
    env.report("pack", "--format", "html", "--sample", "2", "--seed", "1")
    pack, keys = env.tmp / "pack", env.public_keys()
    assert verify_pack(pack, env.keyring.public_keys()).ok
    offline = run_offline("--bundle", str(pack), "--public-keys", str(keys))
    assert offline.returncode == 0 and "OK: the pack is as signed" in offline.stdout, offline.stderr
    assert "LOADED []" in offline.stderr  # no database or Kafka client needed, nor loaded

    html = pack / "report.html"
    original = html.read_bytes()
    html.write_bytes(original[:100] + bytes([original[100] ^ 1]) + original[101:])
    result = verify_pack(pack, env.keyring.public_keys())
    assert [f.kind for f in result.findings] == ["pack_file_modified"] and result.findings[0].file == "report.html"
    assert verify_bundle_or_proof(pack, None, keys, as_json=False) == 1
    html.write_bytes(original)

    (pack / "samples" / "extra.proof.json").write_text("{}")
    assert [f.kind for f in verify_pack(pack, env.keyring.public_keys()).findings] == ["pack_file_unlisted"]
    (pack / "samples" / "extra.proof.json").unlink()

    manifest = pack / "manifest.json"
    text = manifest.read_text()
    manifest.write_text(text.replace('"seed": 1', '"seed": 2'))
    assert [f.kind for f in verify_pack(pack, env.keyring.public_keys()).findings] == ["manifest_bad_signature"]
    manifest.write_text(text)

    stranger = Keyring.create(Settings(home=env.tmp / "stranger", kek=KEK))
    assert "public_key_untrusted" in {f.kind for f in verify_pack(pack, stranger.public_keys()).findings}
    assert verify_pack(pack, env.keyring.public_keys()).ok


def test_the_window_end_is_a_sealing_horizon_only_when_given(env: Env) -> None:
    """Like `verify`: --until demands every chain sealed by then; without it (a stopped pipeline) it is not."""
    late = iso(UNTIL_US + 3600 * SECOND)  # an hour past the last seal: the chains' ends look cut
    cut = CliRunner().invoke(report_command, ["--since", iso(SINCE_US), "--until", late, "--format", "json",
                                              "--out", str(env.tmp / "cut")], obj=env.settings)
    assert cut.exit_code == 0, (cut.output, cut.exception)
    verification = env.document("cut")["sections"]["verification"]
    assert verification["ok"] is False and verification["sealed_by"]
    assert {f["kind"] for f in verification["findings"]} == {"seals_missing_at_end"}
    open_end = CliRunner().invoke(report_command, ["--since", iso(SINCE_US), "--format", "json",
                                                   "--out", str(env.tmp / "open")], obj=env.settings)
    assert open_end.exit_code == 0, (open_end.output, open_end.exception)
    verification = env.document("open")["sections"]["verification"]
    assert verification["ok"] is True and verification["sealed_by"] is None
