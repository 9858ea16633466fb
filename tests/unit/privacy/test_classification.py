from __future__ import annotations

import copy

import pytest

from agentaudit.codec.schemas import load_schemas
from agentaudit.errors import ConfigError
from agentaudit.privacy import classification
from agentaudit.privacy.classification import CLASSES, classify, field_classes, text_fields


def test_every_agent_action_field_is_classified() -> None:
    classes = classify(load_schemas().latest("AgentAction").raw)
    assert len(classes) > 40  # nested fields included: approval.approver.id, usage.cost_micros, ...
    unclassified = sorted(path for path, cls in classes.items() if cls not in CLASSES)
    assert unclassified == []


def test_a_field_without_a_classification_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = copy.deepcopy(load_schemas().latest("AgentAction").raw)
    del raw["fields"][5]["type"]["fields"][1]["classification"]  # principal.id
    assert classify(raw)["principal.id"] is None
    monkeypatch.setattr(classification, "load_schemas", lambda directory=None: _Only(raw))
    field_classes.cache_clear()
    try:
        with pytest.raises(ConfigError, match="principal.id"):
            field_classes()
    finally:
        field_classes.cache_clear()


class _Only:
    def __init__(self, raw: dict[str, object]) -> None:
        self.raw = raw

    def latest(self, name: str) -> _Only:
        return self


def test_named_types_take_the_classes_of_their_record() -> None:
    classes = field_classes()
    assert classes["principal.id"] == classes["approval.approver.id"] == "identifier"
    assert classes["approval.approver.type"] == "operational"


def test_only_text_that_is_not_operational_can_be_addressed_whole() -> None:
    assert text_fields() == {"principal.id", "approval.approver.id", "resource", "parameters", "error.message",
                             "policy.reason", "attributes"}
