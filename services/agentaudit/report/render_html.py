"""The report document as one self-contained HTML page: inline CSS, inline SVG charts, no script, nothing fetched.

The Content-Security-Policy in the page forbids loading anything at all, so
even a value that slipped past escaping could not reach out; print CSS starts
each criterion on a new page for the PDF.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentaudit.report import charts
from agentaudit.report.gather import SECTIONS
from agentaudit.report.markup import NONE, duration, esc, figures, note, table, verdict, when
from agentaudit.severity import SEVERITIES

_CSS = """
body { font-family: Helvetica, Arial, sans-serif; font-size: 12px; color: #212121; margin: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 17px; border-bottom: 2px solid #37474f;
padding-bottom: 3px; margin-top: 28px; } h3 { font-size: 13px; margin: 16px 0 6px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 11px; }
th, td { border: 1px solid #cfd8dc; padding: 3px 5px; text-align: left; vertical-align: top; }
th { background: #eceff1; } td { overflow-wrap: break-word; }
.figures { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.figure { border: 1px solid #cfd8dc; border-radius: 4px; padding: 6px 10px; min-width: 110px; }
.figure .value { font-size: 18px; font-weight: bold; } .figure .label { color: #546e7a; font-size: 10px; }
.figure.alarm { border-color: #c62828; background: #ffebee; }
.verdict { font-weight: bold; padding: 6px 10px; border-radius: 4px; }
.verdict.ok { background: #e8f5e9; color: #1b5e20; } .verdict.bad { background: #ffebee; color: #b71c1c; }
.verdict.neither { background: #fff8e1; color: #795548; }
.note, .empty { color: #546e7a; } .mono { font-family: monospace; font-size: 10px; word-break: break-all; }
.chain { border-left: 3px solid #90a4ae; padding-left: 10px; margin: 12px 0; }
.meta td:first-child { width: 26%; font-weight: bold; }
@page { size: A4; margin: 14mm; }
@media print {
  body { margin: 0; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section { break-before: page; } tr, .chart, .figure, .chain { break-inside: avoid; }
  thead { display: table-header-group; }
}
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render_html(document: dict[str, Any]) -> str:
    sections = document["sections"]
    body = [_cover(document)]
    for key, _, _ in SECTIONS:
        section = sections[key]
        # CC6.1 shows the sampled chains as its examples; they are drawn once, for the sample section.
        content = _cc6_1(section, sections["sample"]["chains"]) if key == "cc6_1" else _RENDERERS[key](section)
        body.append(f'<section id="{key}"><h2>{esc(section["criterion"])} — {esc(section["title"])}</h2>'
                    f"{content}</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f"<title>SOC 2 evidence pack {esc(document['window']['since'][:10])} – "
            f"{esc(document['window']['until'][:10])}</title><style>{_CSS}</style></head><body>"
            + "".join(body) + "</body></html>\n")


def _cover(document: dict[str, Any]) -> str:
    window, s = document["window"], document["sections"]
    verification, completeness = s["verification"], s["completeness"]
    rows = [
        ("Window (pipeline ingest time)", f"{when(window['since'])} to {when(window['until'])} (end excluded)"),
        ("Tenants", esc(", ".join(window["tenants"])) if window["tenants"] else "all"),
        ("Database", esc(document["database"])),
        ("Generated", f"{when(document['generated_at'])} by agentaudit {esc(document['generator']['version'])}"),
        ("Sample", f"{esc(s['sample']['n'])} actions, seed {esc(str(s['sample']['seed']))}"),
    ]
    meta = "".join(f"<tr><td>{esc(k)}</td><td>{v}</td></tr>" for k, v in rows)
    contents = "".join(f'<li><a href="#{key}">{esc(criterion)} — {esc(title)}</a></li>'
                       for key, criterion, title in SECTIONS)
    return (
        "<header><h1>SOC 2 evidence pack</h1>"
        f'<table class="meta">{meta}</table>'
        + verdict(verification["ok"], "Every chain and seal of the window verifies.",
                  f"Verification found {verification.get('findings_total', 0)} problem(s): see Verification.",
                  "Nothing to verify in this window.")
        + figures({"actions": completeness["accepted"], "rejected inputs": completeness["rejected"],
                   "incidents": s["cc7_3"]["count"], "agents": len(s["cc6_2_3"]["agents"]),
                   "executed despite deny": s["cc6_1"]["executed_despite_deny"]},
                  bad=("executed despite deny",))
        + note("Every figure is computed from the stored, hash-chained records. The signed manifest.json beside "
               "this report lists the SHA-256 of every file of the pack; check it offline with "
               "`agentaudit verify --bundle DIR --public-keys KEYS`.")
        + f"<h3>Contents</h3><ol>{contents}</ol></header>"
    )


def _cc6_1(s: dict[str, Any], chains: list[dict[str, Any]]) -> str:
    decisions = list(s["by_decision"])
    outcomes = sorted({c["outcome"] for c in s["matrix"]}, key=lambda o: list(charts.OUTCOME_COLORS).index(o)
                      if o in charts.OUTCOME_COLORS else 99)
    cell = {(c["decision"], c["outcome"]): c["actions"] for c in s["matrix"]}
    series = [charts.Series(o, charts.OUTCOME_COLORS.get(o, charts.OTHER), [cell.get((d, o), 0) for d in decisions])
              for o in outcomes]
    return (
        figures({"actions": s["total"], "denied": s["denied"], "executed despite deny": s["executed_despite_deny"],
                 "executed without approval": s["executed_without_approval"]},
                bad=("executed despite deny", "executed without approval"))
        + "<h3>Actions by policy decision and outcome</h3>"
        + charts.hbars("Actions by policy decision and outcome", decisions, series)
        + table(["decision", *outcomes, "total"],
                [[esc(d), *(esc(cell.get((d, o), 0)) for o in outcomes), esc(s["by_decision"][d])]
                 for d in decisions])
        + note("'none': actions that carried no policy decision. Executed means outcome success or failure: "
               "the action ran.")
        + "<h3>Sampled chains: who asked, who allowed, what ran</h3>"
        + table(["event", "principal → agent", "decision", "approval", "outcome", "proof"],
                [[f'<a href="#sample-{esc(c["event_id"])}" class="mono">{esc(c["event_id"])}</a>',
                  f'{esc(c["principal"]["type"])}:{esc(c["principal"]["id"])} → {esc(c["agent"]["agent_id"])}',
                  esc(c["policy_decision"]["decision"]),
                  esc((c["approval"] or {}).get("decision")), esc(c["outcome"]["outcome"]),
                  "verified" if c["custody"]["proof_verified"] else esc(c["custody"]["problem"])]
                 for c in chains], empty="no sample drawn (--sample 0)")
    )


def _keys(agent: dict[str, Any]) -> str:
    return "<br>".join(f'{esc(k["key_id"])} ({esc(k["algorithm"])}) {when(k["valid_from"])} → '
                       f'{when(k["valid_until"]) if k["valid_until"] else "no end"}' for k in agent["keys"]) or NONE


def _scope(agent: dict[str, Any]) -> str:
    scope = agent["scope"]
    parts = [f"{esc(name.replace('_', ' '))}: {esc(', '.join(values))}"
             for name, values in scope.items() if values]
    return "<br>".join(parts) or "unrestricted"


def _cc6_2_3(s: dict[str, Any]) -> str:
    return (
        figures({f"{status} agents": n for status, n in s["agents_by_status"].items()}
                | {f"{kind} changes": n for kind, n in s["changes_by_kind"].items()})
        + "<h3>Agent inventory at the end of the window</h3>"
        + table(["agent", "tenant", "owner", "environment", "status", "principals", "declared scope", "keys",
                 "last change by / approved by"],
                [[f'{esc(a["agent_id"])}<br><span class="note">{esc(a["name"])}</span>', esc(a["tenant_id"]),
                  esc(a["owner"]), esc(a["environment"]), esc(a["status"]), esc(", ".join(a["principals"])),
                  _scope(a), _keys(a), f'{esc(a["last_change_actor"])} / {esc(a["last_change_approver"])}']
                 for a in s["agents"]], empty="no agent registered")
        + "<h3>Registrations, key rotations, suspensions and retirements in the window</h3>"
        + _changes_table(s["lifecycle"])
    )


def _changes_table(changes: list[dict[str, Any]]) -> str:
    return table(["took effect", "change", "agent", "status after", "keys", "actor", "approver", "reason"],
                 [[when(c["valid_from"]), esc(c["kind"]), esc(c["agent_id"]), esc(c["status"]),
                   esc(", ".join(c["key_ids"])), esc(c["actor"]), esc(c["approver"]), esc(c["reason"])]
                  for c in changes])


def _cc7_2(s: dict[str, Any]) -> str:
    severities = [sv for sv in reversed(SEVERITIES)
                  if any(sv in b["by_severity"] for b in s["over_time"]) or any(r["severity"] == sv for r in s["by_rule"])]
    rules = sorted({r["rule_id"] for r in s["by_rule"]})
    hits = {(r["rule_id"], r["severity"]): r["hits"] for r in s["by_rule"]}
    by_rule = [charts.Series(sv, charts.SEVERITY_COLORS.get(sv, charts.OTHER), [hits.get((r, sv), 0) for r in rules])
               for sv in severities]
    labels = [b["start"][5:16].replace("T", " ") if s["bucket_seconds"] < 86_400 else b["start"][:10]
              for b in s["over_time"]]
    over_time = [charts.Series(sv, charts.SEVERITY_COLORS.get(sv, charts.OTHER),
                               [b["by_severity"].get(sv, 0) for b in s["over_time"]]) for sv in severities]
    bands = [b["band"] for b in s["risk_bands"]]
    risk = [charts.Series("actions", charts.ACCENT, [b["actions"] for b in s["risk_bands"]])]
    return (
        figures({"rule hits": s["hits"], "rules that fired": len(rules), "unscored actions": s["unscored"]})
        + "<h3>Rule hits by rule and severity</h3>"
        + (charts.hbars("Rule hits by rule and severity", rules, by_rule) if rules else note("no rule fired"))
        + f"<h3>Rule hits over time (bars of {esc(duration(s['bucket_seconds']))})</h3>"
        + charts.columns("Rule hits over time", labels, over_time)
        + "<h3>Risk score of every action</h3>"
        + charts.columns("Risk score distribution", bands, risk, height=160)
        + note("Every action is scored in the stream, before it is chained; its score and rule hits are inside "
               "the bytes its chain hash covers.")
    )


def _cc7_3(s: dict[str, Any]) -> str:
    response = s["response"]
    parts = [
        figures({"incidents": s["count"], **{f"{k}": v for k, v in s["by_status"].items()},
                 "never acknowledged": response["unacknowledged"]}, bad=("open", "never acknowledged")),
        table(["measure", "incidents", "mean", "median", "longest"],
              [[esc(label), esc(m["incidents"]), duration(m["mean_s"]), duration(m["median_s"]), duration(m["max_s"])]
               for label, m in (("time to acknowledge (MTTA)", response["mtta"]),
                                ("time to resolve (MTTR)", response["mttr"]))]),
        note("Acknowledged: the first change a person made (acknowledged, contained or resolved); both measured "
             "from the incident's opening."),
    ]
    if s["shown"] < s["count"]:
        parts.append(note(f"The {s['shown']} most recently changed incidents are shown with their timelines."))
    for incident in s["incidents"]:
        parts.append(
            f'<div class="chain"><h3>{esc(incident["severity"])} · {esc(incident["title"])} · '
            f'{esc(incident["status"])}</h3><p class="mono">{esc(incident["incident_id"])} — agent '
            f'{esc(incident["agent_id"])}, rule {esc(incident["rule_id"])}, {esc(incident["hit_count"])} hits, '
            f'owner {esc(incident["owner"])}</p>'
            + table(["when", "change", "status", "actor", "owner", "hits", "note"],
                    [[when(e["changed_at"]), esc(e["change"]), esc(e["status"]), esc(e["actor"]), esc(e["owner"]),
                      esc(e["hit_count"]), esc(e["note"])] for e in incident["timeline"]])
            + "</div>")
    return "".join(parts)


def _cc7_4(s: dict[str, Any]) -> str:
    return (
        figures({"incidents marked contain": s["incidents_marked_for_containment"],
                 "contained": len(s["contained_entries"]), "suspensions": len(s["suspensions"]),
                 "by containment service": s["automatic_suspensions"], "reinstatements": len(s["reinstatements"])})
        + "<h3>Incidents contained</h3>"
        + table(["when", "incident", "agent", "rule", "severity", "by", "note"],
                [[when(c["changed_at"]), f'<span class="mono">{esc(c["incident_id"])}</span>', esc(c["agent_id"]),
                  esc(c["rule_id"]), esc(c["severity"]), esc(c["actor"]), esc(c["note"])]
                 for c in s["contained_entries"]])
        + "<h3>Agents suspended (kill switch)</h3>" + _changes_table(s["suspensions"])
        + "<h3>Agents reinstated</h3>" + _changes_table(s["reinstatements"])
        + "<h3>Agents retired</h3>" + _changes_table(s["retirements"])
    )


def _versions(lines: list[dict[str, Any]], names: tuple[str, ...]) -> str:
    return table(["agent", *names, "first seen", "last seen", "actions"],
                 [[esc(v["agent_id"]), *(esc(v[n]) for n in names), when(v["first_seen"]), when(v["last_seen"]),
                   esc(v["actions"])] for v in lines])


def _cc8_1(s: dict[str, Any]) -> str:
    return (
        figures({"registry changes": len(s["registry_changes"]), "without approver": s["without_approver"],
                 "approved by their own actor": s["self_approved"]},
                bad=("without approver", "approved by their own actor"))
        + "<h3>Agent registry changes (definition, scope, keys, status) with their approvers</h3>"
        + _changes_table(s["registry_changes"])
        + "<h3>Policy versions in use</h3>" + _versions(s["policy_versions"], ("policy_id", "policy_version"))
        + "<h3>Model versions in use</h3>"
        + _versions(s["model_versions"], ("model_provider", "model_name", "model_version"))
        + note("Policy and model versions are those the agents stated in their signed actions; a version first "
               "seen in the window is a change whose approval lives with the policy or model owner.")
        + (note("Lists cut at 500 lines; report.json has the same cut.") if s["truncated"] else "")
    )


def _retention(s: dict[str, Any]) -> str:
    def meets(value: bool | None) -> str:
        return "kept without TTL" if value is None else "yes" if value else '<b class="bad">NO</b>'

    return (
        verdict(s["all_meet_floor"], f"Every audit table keeps rows at least {s['floor_days']} days.",
                f"A table keeps rows less than {s['floor_days']} days.", "")
        + figures({"configured days": s["configured_days"], "floor days": s["floor_days"],
                   "forced changes": s["forced_changes"]}, bad=("forced changes",))
        + table(["table", "TTL days", f"meets {s['floor_days']}-day floor", "rows", "oldest row"],
                [[esc(t["table"]), esc(t["ttl_days"]), meets(t["meets_floor"]), esc(t["rows"]), when(t["oldest"])]
                 for t in s["tables"]])
        + "<h3>Recorded retention changes</h3>"
        + table(["when", "table", "from days", "to days", "forced", "database user", "OS user", "host"],
                [[when(c["changed_at"]), esc(c["table"]), esc(c["previous_days"]), esc(c["days"]), esc(c["forced"]),
                  esc(c["db_user"]), esc(c["os_user"]), esc(c["host"])] for c in s["changes"]])
    )


def _verification(s: dict[str, Any]) -> str:
    parts = [verdict(s["ok"], "OK: every chain and seal verifies", "NOT OK: see the findings below",
                     s.get("note", "nothing to verify"))]
    if s["ok"] is not None:
        parts.append(figures({"agents": s["agents"], "records": s["records"], "seals": s["seals"],
                              "unsealed records": s["unsealed"], "registry entries": s["registry_entries"],
                              "findings": s["findings_total"]}, bad=("findings",)))
        parts.append(table(["kind", "agent", "position", "event", "seal", "detail"],
                           [[esc(f["kind"]), esc(f["agent_id"]), esc(f["position"]), esc(f["event_id"]),
                             esc(f["seal_seq"]), esc(f["detail"])] for f in s["findings"]], empty="no findings"))
    parts.append(note("The same checks as `agentaudit verify --agent … --since … --until …`: every record's hash "
                      "recomputed from its stored bytes, every link, every seal's signature and Merkle root. "
                      + (f"Every chain had to be sealed by {when(s['sealed_by'])}, the window's end, so removed "
                         "seals or records at the end would show." if s.get("sealed_by") else
                         "The window ends at the time of the report, so the end of each chain was not required "
                         "to be sealed yet (give --until to require it).")))
    return "".join(parts)


def _completeness(s: dict[str, Any]) -> str:
    reasons = list(s["rejected_by_reason"])
    categories = ["accepted", *reasons]
    series = [charts.Series("accepted", charts.OUTCOME_COLORS["success"], [s["accepted"], *([0] * len(reasons))]),
              charts.Series("rejected", charts.OUTCOME_COLORS["denied"], [0, *s["rejected_by_reason"].values()])]
    coverage = s["seal_coverage"]
    return (
        figures({"accepted": s["accepted"], "rejected": s["rejected"], "sessions": s["sessions"],
                 "incomplete sessions": s["incomplete_sessions"], "missing actions": s["missing_actions"],
                 "duplicate actions": s["duplicate_actions"],
                 "records under a seal": f"{coverage:.2%}" if coverage is not None else None},
                bad=("incomplete sessions", "missing actions", "duplicate actions"))
        + "<h3>Inputs accepted and rejected (by reason)</h3>"
        + charts.hbars("Inputs accepted and rejected by reason", categories, series)
        + "<h3>Sessions with sequence numbers never seen</h3>"
        + table(["agent", "session", "first", "last", "expected", "stored", "missing", "duplicates"],
                [[esc(w["agent_id"]), f'<span class="mono">{esc(w["session_id"])}</span>', when(w["first_seen"]),
                  when(w["last_seen"]), esc(w["expected"]), esc(w["actual"]), esc(w["missing"]),
                  esc(w["duplicates"])] for w in s["worst_sessions"]], empty="every session is complete")
        + note("Rejected inputs are kept with their reason and original bytes; nothing is dropped silently.")
    )


def _access(s: dict[str, Any]) -> str:
    return table(["key", "name", "role", "requests", "refused", "items returned", "first", "last"],
                 [[f'<span class="mono">{esc(k["key_id"])}</span>', esc(k["key_name"]), esc(k["role"]),
                   esc(k["requests"]), esc(k["refused"]), esc(k["items"]), when(k["first"]), when(k["last"])]
                  for k in s["by_key"]], empty="no API reads in the window")


def _chain(c: dict[str, Any]) -> str:
    registry = c["agent"]["registry"] or {}
    approval = c["approval"] or {}
    execution, custody = c["execution"], c["custody"]
    seal = custody["seal"] or {}
    steps = [
        ("principal", f'{esc(c["principal"]["type"])}:{esc(c["principal"]["id"])}'),
        ("agent identity", f'{esc(c["agent"]["agent_id"])}, key {esc(c["agent"]["key_id"])}; '
                           + (f'registry entry {esc(registry["position"])} ({esc(registry["change"])}, status '
                              f'{esc(registry["status"])}) by {esc(registry["actor"])}, approved by '
                              f'{esc(registry["approver"])}' if registry
                              else "<b>no registry entry in effect at the action's time</b>")),
        ("policy decision", f'{esc(c["policy_decision"]["decision"])} — policy {esc(c["policy_decision"]["policy_id"])} '
                            f'v{esc(c["policy_decision"]["policy_version"])}: {esc(c["policy_decision"]["reason"])}'),
        ("approval", f'{esc(approval.get("decision"))} by {esc((approval.get("approver") or {}).get("id"))} '
                     f'at {when(approval.get("decided_at"))}' if approval else NONE),
        ("execution", f'{esc(execution["action_type"])} {esc(execution["tool"])} on {esc(execution["resource"])} '
                      f'(session {esc(execution["session_id"])} #{esc(execution["sequence"])}; parameters '
                      f'{esc(execution["parameters_bytes"])} bytes, in the proof file)'),
        ("outcome", f'{esc(c["outcome"]["outcome"])} {esc(c["outcome"]["error_code"]) if c["outcome"]["error_code"] else ""}'),
        ("times", f'ingest {when(execution["ingest_time"])}; agent clock {when(execution["agent_time"])} '
                  f'(skew {esc(execution["clock_skew_ms"])} ms)'),
        ("detection", f'risk {esc(c["detection"]["risk_score"])}; '
                      + (esc(", ".join(f'{h["rule_id"]} ({h["severity"]})' for h in c["detection"]["rule_hits"]))
                         or "no rule hit")),
        ("related actions", esc(", ".join(f'{r["action_type"]} {r["event_id"]}' for r in c["related_actions"]))),
        ("incidents", esc(", ".join(f'{i["incident_id"]} ({i["status"]})' for i in c["incidents"]))),
        ("chain", f'position {esc(custody["chain_position"])}, hash <span class="mono">{esc(custody["hash"])}</span>'),
        ("seal", f'seal {esc(seal.get("seq"))} over positions {esc(seal.get("first_position"))}–'
                 f'{esc(seal.get("last_position"))}, signed by key {esc(seal.get("key_id"))}' if seal else NONE),
        ("inclusion proof", (f'verified; {esc(custody["proof_file"])} (check with agentaudit verify --proof)'
                             if custody["proof_verified"] else f'<b>not available</b>: {esc(custody["problem"])}')),
    ]
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{v}</td></tr>" for k, v in steps)
    return (f'<div class="chain" id="sample-{esc(c["event_id"])}"><h3 class="mono">{esc(c["event_id"])}</h3>'
            f'<table class="meta">{rows}</table></div>')


def _sample(s: dict[str, Any]) -> str:
    return (
        figures({"sampled": len(s["chains"]), "asked for": s["n"], "seed": str(s["seed"]),
                 "population (chained actions)": s["population"]})
        + note(f"Drawn as {s['method']}: `agentaudit report --sample {s['n']} --seed {s['seed']}` over the same "
               "window and data draws the same actions.")
        + "".join(_chain(c) for c in s["chains"])
    )


_RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "cc6_2_3": _cc6_2_3, "cc7_2": _cc7_2, "cc7_3": _cc7_3, "cc7_4": _cc7_4, "cc8_1": _cc8_1,
    "retention": _retention, "verification": _verification, "completeness": _completeness, "access": _access,
    "sample": _sample,
}
