"""Redaction cost per record: the processor's privacy stage under the example policy.

    PYTHONPATH=services .venv/bin/python tests/perf/privacy_bench.py [--records 20000] [--repeat 5]

Runs PrivacyStage.accepted() -- subject hash, policy rules, parameters parsed
and written back, AES-GCM-SIV per encrypted value -- over (a) the demo
workload's actions as its agents emit them (tests/perf/detect_bench.py), and
(b) actions that carry personal data in every field the example policy
addresses. Subject keys are created in memory first (creating one costs a
broker round trip, once per subject and partition), so this is the steady
state. Also times encoding the AuditRecord, which every record pays anyway,
as a yardstick. Prints µs per record; nothing is asserted.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import json
import os
from typing import Any

from agentaudit.chain.forms import PrefixForm
from agentaudit.codec.schemas import load_schemas
from agentaudit.privacy.keys import NeedSubjectKey
from agentaudit.privacy.policy import Policy
from agentaudit.privacy.redact import Redactor
from agentaudit.privacy.stage import PrivacyStage
from agentaudit.privacy.tokens import Peppers
from tests.perf.detect_bench import records as demo_records
from tests.perf.timing import best_of
from tests.unit.privacy.support import CapturingProducer, make_key, subject_keys

POLICY = Path(__file__).resolve().parents[2] / "deploy" / "privacy" / "policy.example.yaml"


def pii_record(n: int, template: dict[str, Any]) -> dict[str, Any]:
    action = dict(template["action"])
    action.update(
        event_id=f"pii-{n}", principal={"type": "user", "id": f"user-{n % 500}"},
        resource=f"mailto:person{n % 500}@example.com",
        parameters=json.dumps({"email": f"person{n % 500}@example.com", "phone": "+1 415 555 0100",
                               "card": "4111 1111 1111 1111", "customer": {"name": "Jane Doe", "tier": "gold"},
                               "note": "please refund the last order", "amount": 20}),
        attributes={"customer.phone": "+1 415 555 0100", "gen_ai.system": "anthropic"},
    )
    return {**template, "action": action}


def prepare(stage: PrivacyStage, batch: list[dict[str, Any]]) -> None:
    for record in batch:
        try:
            stage.accepted(record["action"], 0)
        except NeedSubjectKey as need:
            make_key(stage.keys, need)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    stage = PrivacyStage(Redactor(Policy.load(POLICY), Peppers(os.urandom(32))), subject_keys(CapturingProducer()))
    form = PrefixForm(load_schemas(), "AuditRecord", ("chain",))
    demo = [record for record, _ctx in demo_records(args.records, 12)]
    pii = [pii_record(n, demo[n]) for n in range(args.records)]
    for name, batch in (("demo workload", demo), ("personal data in every policy field", pii)):
        prepare(stage, batch)
        redacted = [dict(r, redaction=None) for r in batch]
        for record, out in zip(batch, redacted, strict=True):
            out["action"], out["redaction"] = stage.accepted(record["action"], 0)
        changed = sum(r["redaction"] is not None for r in redacted)
        redact_s = best_of(args.repeat, lambda b=batch: [stage.accepted(r["action"], 0) for r in b])
        encode_s = best_of(args.repeat, lambda b=redacted: [form.encode(r) for r in b])
        per = 1e6 / len(batch)
        print(f"{name}: {len(batch):,} records, {changed:,} redacted; redaction {redact_s * per:.1f} µs/record, "
              f"AuditRecord encoding {encode_s * per:.1f} µs/record (for scale)")
    print(f"subject keys created: {len(stage.keys.producer.sent):,}")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
