from __future__ import annotations

import json

import pytest

from agentaudit.privacy.requests import DsarRefusal, DsarRequest, check


def erase(**overrides: str) -> DsarRequest:
    fields = {"tenant_id": "acme", "subject_ref": "ab" * 16, "actor": "dpo", "reason": "DSAR-1", "approver": "legal"}
    fields.update(overrides)
    return DsarRequest("erase", **fields)


def test_an_erasure_with_a_distinct_approver_passes() -> None:
    check(erase())


@pytest.mark.parametrize(("overrides", "message"), [
    ({"approver": ""}, "needs --approver"),
    ({"approver": " DPO "}, "cannot approve their own erasure"),
    ({"reason": " "}, "reason is required"),
    ({"actor": ""}, "actor is required"),
])
def test_an_erasure_without_separation_of_duties_or_a_reason_is_refused(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(DsarRefusal, match=message):
        check(erase(**overrides))


def test_a_lookup_needs_no_approver_but_says_who_and_why() -> None:
    check(DsarRequest("find", "acme", "ab" * 16, "dpo", "DSAR-1"))
    with pytest.raises(DsarRefusal, match="reason"):
        check(DsarRequest("find", "acme", "ab" * 16, "dpo", ""))


def test_the_log_entry_names_the_subject_by_its_hash_only() -> None:
    entry = json.loads(erase().to_json())
    assert entry["subject_ref"] == "ab" * 16 and entry["kind"] == "erase" and entry["approver"] == "legal"
    assert set(entry) == {"kind", "tenant_id", "subject_ref", "actor", "reason", "approver", "since_us", "until_us",
                          "request_id", "at_us", "outcome"}
