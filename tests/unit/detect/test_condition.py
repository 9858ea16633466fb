"""Condition modifiers and the match expression, compiled and run against records."""

from __future__ import annotations

from typing import Any

import pytest

from agentaudit.detect.condition import compile_condition
from agentaudit.detect.fields import RecordView, getter
from tests.unit.detect.support import record


def holds(selection: dict[str, Any], match: str = "s", **action: Any) -> bool:
    paths: set[str] = set()
    predicate = compile_condition({"selections": {"s": selection}, "match": match}, "test", paths)
    view = RecordView(record(**action), tuple((path, getter(path)) for path in sorted(paths)))
    return predicate(view)


@pytest.mark.parametrize(("selection", "action", "expected"), [
    ({"action.tool": "crm.read"}, {"tool": "crm.read"}, True),
    ({"action.tool": ["a", "crm.read"]}, {"tool": "crm.read"}, True),
    ({"action.tool|one_of": ["a", "b"]}, {"tool": "crm.read"}, False),
    ({"action.resource|contains": ["/orders", "/refunds"]}, {"resource": "crm://c/1/orders"}, True),
    ({"action.resource|startswith": "crm://"}, {"resource": "git://x"}, False),
    ({"action.resource|endswith": ".csv"}, {"resource": "s3://x/y.csv"}, True),
    ({"action.tool|re": r"^shell\."}, {"tool": "shell.exec"}, True),
    ({"action.tool|re": r"^shell\."}, {"tool": None}, False),
    ({"action.usage.input_tokens|gte": 100}, {"usage": {"input_tokens": 100}}, True),
    ({"action.usage.input_tokens|lt": 100}, {"usage": None}, False),
    ({"action.approval|exists": True}, {}, None),  # not a field: see the error test
    ({"action.approval.decision|exists": False}, {}, True),
    ({"action.attributes.agentaudit.data_class": "pii"}, {"attributes": {"agentaudit.data_class": "pii"}}, True),
    ({"action.parameters|pii": ["email"]}, {"parameters": '{"to": "a.b@example.com"}'}, True),
    ({"action.attributes|pii": "any"}, {"attributes": {"k": "AKIAIOSFODNN7EXAMPLE"}}, True),
    ({"action.tool": "x", "action.outcome": "success"}, {"tool": "x", "outcome": "denied"}, False),
])
def test_modifiers(selection: dict[str, Any], action: dict[str, Any], expected: bool | None) -> None:
    if expected is None:
        from agentaudit.detect import RuleError

        with pytest.raises(RuleError, match="unknown field"):
            holds(selection, **action)
        return
    assert holds(selection, **action) is expected


def test_a_list_selection_holds_when_any_of_its_mappings_does() -> None:
    selection: Any = [{"action.tool": "a"}, {"action.tool": "b", "action.outcome": "success"}]
    assert holds(selection, tool="b")
    assert not holds(selection, tool="c")


def test_not_binds_tighter_than_and_tighter_than_or() -> None:
    paths: set[str] = set()
    selections = {"a": {"action.tool": "a"}, "b": {"action.outcome": "success"}, "c": {"action.resource|exists": True}}
    predicate = compile_condition({"selections": selections, "match": "a or not b and c"}, "test", paths)
    getters = tuple((path, getter(path)) for path in sorted(paths))

    def run(**action: Any) -> bool:
        return predicate(RecordView(record(**action), getters))

    assert run(tool="a", outcome="success")  # a or ((not b) and c)
    assert run(tool="x", outcome="denied", resource="r")
    assert not run(tool="x", outcome="success", resource="r")
