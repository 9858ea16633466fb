"""`agentaudit verify --bundle DIR`: checks an evidence bundle offline.

No database, no Kafka, no registry: the bundle, the schemas agentaudit ships,
and public keys. In order:

1. manifest.sig verifies over manifest.json with a pipeline public key: the
   bundle's own public-keys.json, or -- what actually proves who signed --
   the keys the auditor was given out of band (trusted_keys), which every key
   in the bundle must then match;
2. every data file hashes to the SHA-256 the manifest lists;
3. each record's content_ok is recomputed from its bytes, SHA-256(prev_hash
   || canonical bytes), the canonical bytes cut out of the stored value as
   schemas/chain.md says, and its link bytes compared with its line's
   position and hashes -- what ClickHouse computes for `verify`;
4. the same verify_agents -- check_chain, check_seals, check_tail -- runs over
   those rows, the seals and the anchor seal, with the pipeline's sealing
   period, the range and the retention cutoff from the manifest.

Findings about a bundle's files come first (Report.general) and name the
file; findings about a record or seal also name its file and line. Every
check runs even after one fails, so a tampered line is named even when the
file hash already gave it away.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agentaudit.chain.seal import SealForm
from agentaudit.codec import load_schemas
from agentaudit.errors import AgentAuditError
from agentaudit.evidence.formats import (
    BUNDLE_FORMAT,
    DATA_FILES,
    KEYS_FILE,
    MANIFEST_FILE,
    RECORDS_FILE,
    SEALS_FILE,
    SIGNATURE_FILE,
    FormatError,
    content_ok,
    link_ok,
    parse_iso_us,
    unb64,
)
from agentaudit.evidence.lines import differing, record_decoded_fields, seal_fields
from agentaudit.evidence.manifest import AgentSummary, file_sha256, signature_problem
from agentaudit.evidence.values import ValueReader, parse_confluent_ids
from agentaudit.keyring.keys import parse_public_keys, verify_signature
from agentaudit.verify.agents import AgentData, Report, verify_agents
from agentaudit.verify.checks import ChainRows, Finding

BUNDLE = ""
"""agent_id of findings about the bundle rather than one agent's chain."""


@dataclass
class BundleResult:
    report: Report
    manifest: dict[str, Any] | None = None
    signed_by: str | None = None  # key id in manifest.sig
    keys_given: bool = False  # checked against keys given out of band, not only the bundle's own


@dataclass
class _Record:
    line: int
    agent_id: str
    position: int
    prev_hash: bytes
    hash: bytes
    content_ok: bool
    link_ok: bool
    event_id: str
    ingest_us: int


@dataclass
class _Agent:
    records: list[_Record] = field(default_factory=list)
    seals: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (line, decoded seal)
    anchor: dict[str, Any] | None = None


class _Checker:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.general: list[Finding] = []
        self.schemas = load_schemas()
        self.form = SealForm(self.schemas)
        self.reader = ValueReader(self.schemas)
        self.agents: dict[str, _Agent] = {}
        self.lines = {RECORDS_FILE: 0, SEALS_FILE: 0}

    def bundle(self, kind: str, detail: str, file: str | None = None, line: int | None = None) -> None:
        self.general.append(Finding(kind, BUNDLE, detail, file=file, line=line))

    def agent(self, agent_id: str) -> _Agent:
        return self.agents.setdefault(agent_id, _Agent())

    def read_json(self, name: str) -> Any:
        try:
            return json.loads((self.directory / name).read_bytes())
        except FileNotFoundError:
            self.bundle("bundle_file_missing", f"{name} is missing", file=name)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.bundle("bundle_file_malformed", f"{name} is not JSON: {exc}", file=name)
        return None

    def jsonl(self, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            handle = (self.directory / name).open("rb")
        except FileNotFoundError:
            return  # reported with the file hashes
        with handle:
            for number, raw in enumerate(handle, 1):
                self.lines[name] = number
                try:
                    document = json.loads(raw)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    document = None
                if not isinstance(document, dict):
                    self.bundle("line_malformed", "not a JSON object", file=name, line=number)
                    continue
                yield number, document

    # -- records ------------------------------------------------------------

    def read_records(self) -> None:
        previous: tuple[str, int] | None = None
        out_of_order = False
        for number, doc in self.jsonl(RECORDS_FILE):
            try:
                agent_id, position = doc["agent_id"], doc["position"]
                if not isinstance(agent_id, str) or not isinstance(position, int):
                    raise FormatError("agent_id must be a string and position an integer")
                # Any length: a stored hash of the wrong size is a finding of the
                # chain checks (as in ClickHouse), not a malformed line.
                prev, stored = bytes.fromhex(doc["prev_hash"]), bytes.fromhex(doc["hash"])
                value = unb64(doc["value"], "value")
            except (KeyError, TypeError, ValueError) as exc:
                self.bundle("line_malformed", f"not a record line: {exc}", file=RECORDS_FILE, line=number)
                continue
            here = (agent_id, position)
            if previous is not None and here <= previous and not out_of_order:
                out_of_order = True  # the first misplaced line is named; the checks run in position order anyway
                self.general.append(Finding(
                    "record_out_of_order", agent_id,
                    f"comes after position {previous[1]} of {previous[0]}: lines are not in agent/position order",
                    position=position, file=RECORDS_FILE, line=number,
                ))
            previous = here
            event_id, ingest_us = self.check_record_fields(number, doc, agent_id, position, value)
            self.agent(agent_id).records.append(_Record(
                number, agent_id, position, prev, stored,
                content_ok(value, position, prev, stored), link_ok(value, position, prev, stored),
                event_id, ingest_us,
            ))

    def check_record_fields(
        self, number: int, doc: dict[str, Any], agent_id: str, position: int, value: bytes
    ) -> tuple[str, int]:
        """Compare the line's readable fields with the decoded bytes; (event id, ingest time) to check with."""
        line_event = doc.get("event_id") if isinstance(doc.get("event_id"), str) else ""
        try:
            record = self.reader.decode("AuditRecord", value)
        except FormatError as exc:
            self.general.append(Finding("record_undecodable", agent_id, str(exc), position=position,
                                        event_id=line_event or None, file=RECORDS_FILE, line=number))
            try:
                return str(line_event), parse_iso_us(doc.get("ingest_time"), "ingest_time")
            except FormatError:
                return str(line_event), 0
        expected = {"agent_id": record["action"]["agent_id"], **record_decoded_fields(record)}
        wrong = differing(doc, expected)
        if wrong:
            self.general.append(Finding(
                "record_fields_mismatch", agent_id,
                f"readable field(s) {', '.join(wrong)} differ from what the record's bytes say",
                position=position, event_id=record["action"]["event_id"], file=RECORDS_FILE, line=number,
            ))
        return record["action"]["event_id"], int(record["ingest_time"])

    # -- seals --------------------------------------------------------------

    def seal_from_line(self, file: str, number: int | None, doc: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        try:
            agent_id = doc["agent_id"]
            if not isinstance(agent_id, str):
                raise FormatError("agent_id must be a string")
            value = unb64(doc["value"], "value")
        except (KeyError, FormatError) as exc:
            self.bundle("line_malformed", f"not a seal line: {exc}", file=file, line=number)
            return None
        try:
            seal = self.reader.decode("Seal", value)
        except FormatError as exc:
            seq = doc.get("seq") if isinstance(doc.get("seq"), int) else None
            self.general.append(Finding("seal_undecodable", agent_id, str(exc), seal_seq=seq, file=file, line=number))
            return None
        wrong = differing(doc, {**seal_fields(seal, self.form.seal_hash(seal)), "agent_id": seal["agent_id"]})
        if wrong:
            self.general.append(Finding(
                "seal_fields_mismatch", agent_id,
                f"readable field(s) {', '.join(wrong)} differ from what the seal's bytes say",
                seal_seq=seal["seq"], file=file, line=number,
            ))
        return agent_id, seal

    def read_seals(self) -> None:
        previous: tuple[str, int] | None = None
        out_of_order = False
        for number, doc in self.jsonl(SEALS_FILE):
            found = self.seal_from_line(SEALS_FILE, number, doc)
            if found is None:
                continue
            agent_id, seal = found
            here = (agent_id, seal["seq"])
            if previous is not None and here <= previous and not out_of_order:
                out_of_order = True
                self.general.append(Finding(
                    "seal_out_of_order", agent_id, f"comes after seal {previous[1]} of {previous[0]}: "
                    "lines are not in agent/seq order", seal_seq=seal["seq"], file=SEALS_FILE, line=number,
                ))
            previous = here
            self.agent(agent_id).seals.append((number, seal))

    def read_anchors(self, anchors: object) -> None:
        if not isinstance(anchors, list):
            self.bundle("manifest_malformed", "anchors must be a list", file=MANIFEST_FILE)
            return
        for doc in anchors:
            found = self.seal_from_line(MANIFEST_FILE, None, doc if isinstance(doc, dict) else {})
            if found is None:
                continue
            agent_id, seal = found
            if self.agent(agent_id).anchor is not None:
                self.bundle("manifest_malformed", f"more than one anchor seal for {agent_id}", file=MANIFEST_FILE)
                continue
            self.agent(agent_id).anchor = seal

    # -- the chain checks ---------------------------------------------------

    def agent_data(self) -> Iterator[AgentData]:
        for agent_id in sorted(self.agents):
            agent = self.agents[agent_id]
            # Position order, as verify reads ClickHouse (by position, ingest
            # time, event id): lines out of order were reported above.
            records = sorted(agent.records, key=lambda r: (r.position, r.ingest_us, r.event_id))
            rows = ChainRows(
                positions=[r.position for r in records],
                prev_hashes=[r.prev_hash for r in records],
                hashes=[r.hash for r in records],
                content_ok=[r.content_ok for r in records],
                link_ok=[r.link_ok for r in records],
                event_ids=[r.event_id for r in records],
                ingest_us=[r.ingest_us for r in records],
            )
            seals = [seal for _, seal in sorted(agent.seals, key=lambda s: s[1]["seq"])]
            yield AgentData(agent_id, rows, seals, agent.anchor)

    def locate(self, finding: Finding) -> Finding:
        """The finding with the file and line of the record or seal it names."""
        if finding.file is not None or finding.agent_id not in self.agents:
            return finding
        agent = self.agents[finding.agent_id]
        if finding.position is not None:
            for record in agent.records:
                if record.position == finding.position and finding.event_id in (None, record.event_id):
                    return replace(finding, file=RECORDS_FILE, line=record.line)
        if finding.seal_seq is not None:
            for number, seal in agent.seals:
                if seal["seq"] == finding.seal_seq:
                    return replace(finding, file=SEALS_FILE, line=number)
            if agent.anchor is not None and agent.anchor["seq"] == finding.seal_seq:
                return replace(finding, file=MANIFEST_FILE)
        return finding

    def check_counts(self, manifest: dict[str, Any]) -> None:
        """The manifest's counts and per-agent summary against what the files hold."""
        summaries: dict[str, AgentSummary] = {}
        for agent_id, agent in self.agents.items():
            summary = summaries[agent_id] = AgentSummary(agent_id)
            for record in sorted(agent.records, key=lambda r: r.line):
                summary.add_record(record.position)
            for _, seal in agent.seals:
                summary.add_seal(seal["seq"])
            summary.anchor_seal = agent.anchor["seq"] if agent.anchor else None
        counts = {
            "agents": len(summaries),
            "records": self.lines[RECORDS_FILE],
            "seals": self.lines[SEALS_FILE],
            "anchors": sum(1 for a in self.agents.values() if a.anchor is not None),
        }
        if manifest.get("counts") != counts:
            self.bundle("manifest_counts_mismatch", f"the manifest counts {manifest.get('counts')}, "
                        f"the files hold {counts}", file=MANIFEST_FILE)
        listed = manifest.get("agents")
        listed_by_name = {a.get("agent_id"): a for a in listed if isinstance(a, dict)} \
            if isinstance(listed, list) else {}
        for name in sorted(set(summaries) | {n for n in listed_by_name if isinstance(n, str)}):
            found = vars(summaries[name]) if name in summaries else None
            if listed_by_name.get(name) != found:
                self.general.append(Finding("manifest_counts_mismatch", name,
                                            f"the manifest summarises this agent as {listed_by_name.get(name)}, "
                                            f"the files hold {found}", file=MANIFEST_FILE))


def _keys(checker: _Checker, trusted_keys: Mapping[str, bytes] | None) -> dict[str, bytes]:
    """The keys signatures are checked with, after comparing the bundle's with the trusted ones."""
    document = checker.read_json(KEYS_FILE)
    bundle_keys: dict[str, bytes] = {}
    if document is not None:
        try:
            bundle_keys = parse_public_keys(document, KEYS_FILE)
        except AgentAuditError as exc:
            checker.bundle("public_keys_malformed", str(exc), file=KEYS_FILE)
    if trusted_keys is None:
        return bundle_keys
    for key_id, raw in sorted(bundle_keys.items()):
        if key_id not in trusted_keys:
            checker.bundle("public_key_untrusted", f"the bundle's key {key_id} is not among the keys you were given",
                           file=KEYS_FILE)
        elif trusted_keys[key_id] != raw:
            checker.bundle("public_key_untrusted", f"the bundle's key {key_id} differs from your copy of {key_id}",
                           file=KEYS_FILE)
    # Signatures are checked with the trusted keys alone, so a key added to the
    # bundle can never vouch for anything, whatever the comparison above said.
    return dict(trusted_keys)


def verify_bundle(directory: Path, trusted_keys: Mapping[str, bytes] | None = None) -> BundleResult:
    """Check the bundle in `directory`; trusted_keys: the public keys given out of band, if any."""
    started = time.perf_counter()
    checker = _Checker(directory)
    result = BundleResult(Report(), keys_given=trusted_keys is not None)

    try:
        manifest_data = (directory / MANIFEST_FILE).read_bytes()
    except FileNotFoundError:
        checker.bundle("bundle_file_missing", "manifest.json is missing: not a bundle, or its export did not finish",
                       file=MANIFEST_FILE)
        result.report.general = checker.general
        return result
    try:
        manifest = json.loads(manifest_data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        checker.bundle("manifest_malformed", f"manifest.json is not an {BUNDLE_FORMAT} manifest", file=MANIFEST_FILE)
        result.report.general = checker.general
        return result
    result.manifest = manifest

    keys = _keys(checker, trusted_keys)
    try:
        signature_file = (directory / SIGNATURE_FILE).read_bytes()
    except FileNotFoundError:
        checker.bundle("bundle_file_missing", "manifest.sig is missing", file=SIGNATURE_FILE)
    else:
        problem = signature_problem(signature_file, manifest_data, keys, verify_signature)
        if problem:
            checker.bundle("manifest_bad_signature", problem, file=SIGNATURE_FILE)
        else:
            result.signed_by = json.loads(signature_file)["key_id"]

    files = manifest.get("files")
    listed = {e.get("name"): e for e in files if isinstance(e, dict)} if isinstance(files, list) else {}
    for name in DATA_FILES:
        entry = listed.get(name)
        if entry is None:
            checker.bundle("manifest_malformed", f"the manifest does not list {name}", file=MANIFEST_FILE)
        elif not (directory / name).is_file():
            checker.bundle("bundle_file_missing", f"{name} is missing", file=name)
        elif file_sha256(directory / name) != entry.get("sha256"):
            checker.bundle("bundle_file_modified", f"{name} does not have the SHA-256 the manifest lists "
                           "(changed after export)", file=name)
    # Only the data files are ever read: a manifest naming other paths is not followed.
    for unknown in sorted(set(listed) - set(DATA_FILES), key=str):
        checker.bundle("manifest_malformed", f"the manifest lists an unknown file {unknown!r}", file=MANIFEST_FILE)

    try:
        checker.reader = ValueReader(checker.schemas, parse_confluent_ids(manifest.get("confluent_schema_ids")))
        policy = manifest["seal_policy"]
        interval_us = int(float(policy["interval_s"]) * 1e6)
        until = manifest["range"]["until"]
        until_us = parse_iso_us(until, "range.until") if until is not None else None
        # Bundles written before retention was stated accept no expiry at all.
        retention = manifest.get("retention")
        cutoff_us = parse_iso_us(retention["cutoff"], "retention.cutoff") if retention is not None else None
    except (KeyError, TypeError, ValueError) as exc:
        checker.bundle("manifest_malformed",
                       f"the manifest's seal_policy, range, retention or schema ids are unreadable: {exc}",
                       file=MANIFEST_FILE)
        result.report.general = checker.general
        return result

    checker.read_anchors(manifest.get("anchors", []))
    checker.read_seals()
    checker.read_records()
    checker.check_counts(manifest)
    report = verify_agents(checker.agent_data(), keys, verify_signature, interval_us, until_us, cutoff_us)
    for agent_result in report.agents:
        agent_result.findings = [checker.locate(f) for f in agent_result.findings]
    report.general = checker.general
    report.seconds = time.perf_counter() - started
    result.report = report
    return result
