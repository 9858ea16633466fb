"""Every AgentAction field's privacy class, as the Avro schema declares it.

The classes (the "classification" attribute of each field in
schemas/avro/AgentAction.vN.avsc, newest version):

- operational: what the pipeline needs to attribute, order, chain, score and
  query an action (ids, times, types, outcome, keys). Never redacted.
- identifier: names a person directly (principal.id, approval.approver.id).
- personal: may hold personal data (resource, attributes, policy.reason).
- sensitive: free-form content that may hold personal data, secrets or
  special-category data (parameters, error.message).

A redaction policy may only address fields that are not operational: the
chain, the session checks and the sink's de-duplication depend on those.
"""

from __future__ import annotations

from functools import cache
from collections.abc import Iterator
from typing import Any

from agentaudit.codec.schemas import load_schemas
from agentaudit.errors import ConfigError

CLASSES = ("operational", "identifier", "personal", "sensitive")


def _record_of(node: Any) -> dict[str, Any] | None:
    branches = node if isinstance(node, list) else [node]
    for branch in branches:
        if isinstance(branch, dict) and branch.get("type") == "record":
            return branch
    return None


def fields_of(
    record: dict[str, Any], prefix: str = "", named: dict[str, dict[str, Any]] | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, field) for every field of record, nested records included, depth first.

    A field typed by name (approval.approver is a "Principal") is followed
    into that record's own fields.
    """
    named = {} if named is None else named
    for field in record["fields"]:
        path = prefix + field["name"]
        yield path, field
        sub = _record_of(field["type"])
        if sub is not None:
            named[sub["name"]] = sub
        elif isinstance(field["type"], str) and field["type"] in named:
            sub = named[field["type"]]
        if sub is not None:
            yield from fields_of(sub, path + ".", named)


def classify(record: dict[str, Any]) -> dict[str, str | None]:
    """path -> classification (None when a field has none) for every field of record."""
    return {path: field.get("classification") for path, field in fields_of(record)}


@cache
def field_classes() -> dict[str, str]:
    """The classes of the newest AgentAction; ConfigError if a field has none or an unknown one."""
    classes = classify(load_schemas().latest("AgentAction").raw)
    wrong = sorted(path for path, cls in classes.items() if cls not in CLASSES)
    if wrong:
        raise ConfigError(f"AgentAction fields without a classification ({', '.join(CLASSES)}): {', '.join(wrong)}")
    return {path: str(cls) for path, cls in classes.items()}


@cache
def text_fields() -> frozenset[str]:
    """Fields a policy may address whole: not operational, holding text (or the attributes map)."""
    classes = field_classes()
    return frozenset(
        path for path, field in fields_of(load_schemas().latest("AgentAction").raw)
        if classes[path] != "operational" and (field["type"] in ("string", ["null", "string"]) or path == "attributes")
    )
