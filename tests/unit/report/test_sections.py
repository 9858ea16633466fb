"""The pure halves of the report's sections: rows in, figures out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agentaudit.errors import ConfigError
from agentaudit.report.access import decisions_summary, inventory_entry
from agentaudit.report.changes import change_management
from agentaudit.report.detection import bucket_seconds, containment_summary, detections_summary, response_times
from agentaudit.report.integrity import retention_summary
from agentaudit.report.scope import ReportScope
from tests.unit.report.document import HOUR, T0, change


def test_policy_decisions_count_what_ran_against_a_deny_or_without_its_approval() -> None:
    s = decisions_summary([("allow", "success", 30, 30), ("deny", "denied", 5, 5), ("deny", "success", 2, 2),
                           ("deny", "failure", 1, 1), ("deny", "pending", 4, 4),
                           ("require_approval", "success", 6, 1), ("", "unknown", 3, 3)])
    assert s["total"] == 51 and s["denied"] == 5
    assert s["executed_despite_deny"] == 3  # success and failure ran; pending did not (yet)
    assert s["executed_without_approval"] == 1
    assert s["by_decision"] == {"allow": 30, "deny": 12, "require_approval": 6, "none": 3}


def test_inventory_lists_keys_by_id_and_validity_never_their_material() -> None:
    entry = inventory_entry("acme", "bot", "active", 2, T0, T0 + HOUR, '{"keys": [{"key_id": "k1", "algorithm": '
                            '"hmac-sha256", "material": "5ea1ed", "valid_from_us": 1, "valid_until_us": 2}]}',
                            "a", "b", 2)
    assert entry["keys"] == [{"key_id": "k1", "algorithm": "hmac-sha256", "valid_from": "1970-01-01T00:00:00.000001Z",
                              "valid_until": "1970-01-01T00:00:00.000002Z"}]
    assert "5ea1ed" not in repr(entry)


@pytest.mark.parametrize(("hours", "width"), [(1, 3600), (48, 3600), (49, 6 * 3600), (30 * 24, 86_400),
                                               (300 * 24, 7 * 86_400), (5000 * 24, 30 * 86_400)])
def test_the_time_chart_has_at_most_48_bars(hours: int, width: int) -> None:
    assert bucket_seconds(T0, T0 + hours * HOUR) == width


def test_detections_over_time_list_every_bucket_of_the_window_empty_or_not() -> None:
    start = T0 // 1_000_000 // 3600 * 3600
    s = detections_summary([("r", "high", 3)], [(start + 7200, "high", 3)], [(9, 2), (-1, 4)],
                           start * 1_000_000, (start + 4 * 3600) * 1_000_000, 3600)
    assert [b["by_severity"] for b in s["over_time"]] == [{}, {}, {"high": 3}, {}]
    assert s["risk_bands"][9] == {"band": "90–100", "actions": 2} and s["risk_bands"][0]["actions"] == 0
    assert s["unscored"] == 4 and s["hits"] == 3


def test_response_times_measure_from_opening_to_the_first_human_change_and_to_resolution() -> None:
    s = response_times([("a", "high", T0, T0 + 60_000_000, T0 + 600_000_000),
                        ("b", "low", T0, T0 + 120_000_000, 0),
                        ("c", "low", T0, 0, 0),
                        ("d", "low", 0, T0, T0)])  # opened before retention kept it: not timed
    assert s["mtta"] == {"incidents": 2, "mean_s": 90.0, "median_s": 90.0, "max_s": 120.0}
    assert s["mttr"] == {"incidents": 1, "mean_s": 600.0, "median_s": 600.0, "max_s": 600.0}
    assert (s["unacknowledged"], s["unresolved"]) == (1, 2)
    assert response_times([])["mtta"]["mean_s"] is None


def test_containment_tells_the_kill_switch_apart_from_people_and_lists_reinstatements() -> None:
    s = containment_summary([], 2, [change("suspend", actor="agentaudit-containment"), change("suspend"),
                                    change("reactivate"), change("retire"), change("register")])
    assert (len(s["suspensions"]), s["automatic_suspensions"]) == (2, 1)
    assert len(s["reinstatements"]) == 1 and len(s["retirements"]) == 1


def test_change_management_counts_changes_without_an_independent_approver() -> None:
    s = change_management([change("register"), change("suspend", approver=""), change("retire", "eve", "eve")], [], [])
    assert (s["without_approver"], s["self_approved"]) == (1, 1)


def test_retention_counts_a_table_kept_forever_as_meeting_the_floor_and_a_short_one_as_not() -> None:
    kept = {"table": "agent_registry", "meets_floor": None}
    assert retention_summary([kept, {"table": "a", "meets_floor": True}], [], 400)["all_meet_floor"]
    assert not retention_summary([kept, {"table": "a", "meets_floor": False}], [], 400)["all_meet_floor"]


def test_a_scope_needs_an_aware_window_that_ends_after_it_starts() -> None:
    start = datetime(2027, 1, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="before"):
        ReportScope("db", start, start)
    with pytest.raises(ConfigError, match="time zones"):
        ReportScope("db", start.replace(tzinfo=None), start)
    scope = ReportScope("db", start, datetime(2027, 1, 2, tzinfo=UTC))
    assert scope.params()["tenants"] == [] and scope.tenant_scope is None
