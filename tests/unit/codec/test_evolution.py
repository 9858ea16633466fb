"""The schema evolution rules of schemas/README.md, enforced.

Backward compatibility is judged by the Avro project's own checker
(avro.compatibility, a port of Java's SchemaCompatibility); the rules it does
not cover are checked here directly. Both are first shown to fail on changes
the rules forbid, so a broken check cannot pass silently.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from agentaudit.codec import load_schemas
from agentaudit.codec.schema_docs import readme_path, updated_readme
from tests.avro_support import evolve_agent_action

Raw = dict[str, Any]
SCHEMAS = load_schemas()


# -- the checks ---------------------------------------------------------------


def backward_incompatibilities(reader: Raw, writer: Raw) -> set[str]:
    """What the Avro checker finds wrong with reading `writer` data as `reader`."""
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(
        avro.schema.parse(json.dumps(reader)), avro.schema.parse(json.dumps(writer))
    )
    if result.compatibility is SchemaCompatibilityType.compatible:
        return set()
    return {f"{', '.join(sorted(result.locations))}: {', '.join(sorted(result.messages))}"}


def named_types(node: Any, namespace: str = "") -> Iterator[tuple[str, Raw]]:
    """(full name, definition) of every record and enum defined in a schema."""
    if isinstance(node, list):
        for branch in node:
            yield from named_types(branch, namespace)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind in ("record", "enum", "fixed"):
        namespace = node.get("namespace", namespace)
        name = node["name"]
        yield (name if "." in name else f"{namespace}.{name}"), node
        for field in node.get("fields", []):
            yield from named_types(field["type"], namespace)
    elif kind == "array":
        yield from named_types(node["items"], namespace)
    elif kind == "map":
        yield from named_types(node["values"], namespace)
    elif isinstance(kind, (dict, list)):
        yield from named_types(kind, namespace)


def rule_violations(older: Raw, newer: Raw) -> list[str]:
    """Every way `newer` breaks the evolution rules as a successor of `older`."""
    problems = sorted(backward_incompatibilities(newer, older))
    old_types, new_types = dict(named_types(older)), dict(named_types(newer))
    old_top, new_top = next(named_types(older))[0], next(named_types(newer))[0]
    if old_top != new_top:
        problems.append(f"full name changed: {old_top} -> {new_top}")
    for full_name, old in old_types.items():
        new = new_types.get(full_name)
        if new is None:
            # A named type may disappear only with a field that had a default;
            # the field check below reports the field, this names the type.
            if any(full_name.endswith("." + o["name"]) for o in new_types.values()):
                problems.append(f"{full_name} changed namespace")
            continue
        if old["type"] == "record":
            new_fields = {f["name"] for f in new["fields"]}
            for field in old["fields"]:
                if field["name"] not in new_fields and "default" not in field:
                    problems.append(f"{full_name}.{field['name']} removed without a default")
            for field in new["fields"]:
                if field.get("aliases"):
                    problems.append(f"{full_name}.{field['name']} uses aliases (renames are not allowed)")
        if old["type"] == "enum" and new["symbols"][: len(old["symbols"])] != old["symbols"]:
            problems.append(f"{full_name} symbols not only appended: {old['symbols']} -> {new['symbols']}")
    for full_name, new in new_types.items():
        if new.get("aliases"):
            problems.append(f"{full_name} uses aliases (renames are not allowed)")
        if new["type"] == "enum" and "default" not in new:
            problems.append(f"{full_name} has no default symbol")
    return problems


def undocumented_fields(raw: Raw) -> list[str]:
    missing = [] if str(raw.get("doc", "")).strip() else [f"{raw['name']} (the schema itself)"]
    for full_name, node in named_types(raw):
        for field in node.get("fields", []):
            if not str(field.get("doc", "")).strip():
                missing.append(f"{full_name}.{field['name']}")
    return missing


# -- the checks fail when they should ------------------------------------------


def _field(raw: Raw, name: str) -> Raw:
    return next(f for f in raw["fields"] if f["name"] == name)


def _with(change: Callable[[Raw], None]) -> Raw:
    raw = copy.deepcopy(SCHEMAS.latest("AgentAction").raw)
    change(raw)
    return raw


def add_required_field(raw: Raw) -> None:
    raw["fields"].append({"name": "new_required", "type": "string", "doc": "no default"})


def narrow_long_to_int(raw: Raw) -> None:
    _field(raw, "sequence")["type"] = "int"


def change_string_to_long(raw: Raw) -> None:
    _field(raw, "agent_id")["type"] = "long"


def drop_enum_symbol_without_default(raw: Raw) -> None:
    decision = _field(_field(raw, "policy")["type"][1], "decision")["type"]
    decision["symbols"].remove("allow")
    decision.pop("default")


def rename_record(raw: Raw) -> None:
    raw["name"] = "AgentActivity"


def drop_required_field(raw: Raw) -> None:
    raw["fields"].remove(_field(raw, "session_id"))


def insert_enum_symbol_in_the_middle(raw: Raw) -> None:
    _field(raw, "action_type")["type"]["symbols"].insert(0, "memory_write")


def drop_enum_symbol_with_default(raw: Raw) -> None:
    _field(raw, "outcome")["type"]["symbols"].remove("pending")


def change_namespace(raw: Raw) -> None:
    raw["namespace"] = "io.agentaudit.v2"


def add_enum_without_default(raw: Raw) -> None:
    raw["fields"].append({"name": "tier", "default": "a", "doc": "d",
                          "type": {"type": "enum", "name": "Tier", "symbols": ["a", "b"]}})


def rename_field_with_alias(raw: Raw) -> None:
    field = _field(raw, "tool")
    field["name"], field["aliases"] = "tool_name", ["tool"]


@pytest.mark.parametrize("change", [add_required_field, narrow_long_to_int, change_string_to_long,
                                    drop_enum_symbol_without_default, rename_record])
def test_the_avro_checker_itself_refuses_incompatible_changes(change: Callable[[Raw], None]) -> None:
    older = SCHEMAS.latest("AgentAction").raw
    assert backward_incompatibilities(_with(change), older), f"the Avro checker accepted {change.__name__}"


@pytest.mark.parametrize("change", [drop_required_field, insert_enum_symbol_in_the_middle,
                                    drop_enum_symbol_with_default, change_namespace,
                                    add_enum_without_default, rename_field_with_alias])
def test_our_rules_refuse_what_the_checker_lets_through(change: Callable[[Raw], None]) -> None:
    older = SCHEMAS.latest("AgentAction").raw
    assert rule_violations(older, _with(change)), f"the rules accepted {change.__name__}"


def test_a_change_that_follows_the_rules_passes() -> None:
    older = SCHEMAS.latest("AgentAction").raw
    assert rule_violations(older, evolve_agent_action(older)) == []
    assert rule_violations(older, _with(lambda raw: None)) == []


# -- the shipped schemas follow the rules ---------------------------------------


def test_every_schema_has_versions_1_to_n() -> None:
    assert SCHEMAS.names == ["AgentAction", "AgentControl", "AlertDelivery", "AuditRecord", "Incident", "RegistryChange",
                             "Rejection", "Seal"]
    for name in SCHEMAS.names:
        numbers = [v.version for v in SCHEMAS.versions(name)]
        assert numbers == list(range(1, len(numbers) + 1)), f"{name}: versions {numbers}"


@pytest.mark.parametrize("name", SCHEMAS.names)
def test_each_version_is_backward_compatible_with_every_earlier_one(name: str) -> None:
    versions = SCHEMAS.versions(name)
    problems = [
        f"v{newer.version} after v{older.version}: {problem}"
        for i, older in enumerate(versions)
        for newer in versions[i + 1:]
        for problem in rule_violations(older.raw, newer.raw)
    ]
    # The newest version against itself: enum defaults and names of a lone v1 are checked too.
    problems += rule_violations(versions[-1].raw, versions[-1].raw)
    assert problems == []


@pytest.mark.parametrize("name", SCHEMAS.names)
def test_every_field_has_a_doc(name: str) -> None:
    for version in SCHEMAS.versions(name):
        assert undocumented_fields(version.raw) == [], f"{name} v{version.version}"


def test_the_doc_check_notices_a_missing_doc() -> None:
    raw = _with(lambda r: _field(_field(r, "principal")["type"], "id").pop("doc"))
    assert undocumented_fields(raw) == ["io.agentaudit.Principal.id"]


def test_every_schema_is_named_after_its_file_in_the_project_namespace() -> None:
    for name in SCHEMAS.names:
        for version in SCHEMAS.versions(name):
            assert (version.raw["namespace"], version.raw["name"]) == ("io.agentaudit", name)


def test_the_audit_record_embeds_the_latest_agent_action_exactly() -> None:
    embedded = _field(SCHEMAS.latest("AuditRecord").raw, "action")["type"]
    assert embedded == SCHEMAS.latest("AgentAction").raw


def test_source_is_the_same_in_audit_record_and_rejection() -> None:
    assert _field(SCHEMAS.latest("AuditRecord").raw, "source")["type"] == \
        _field(SCHEMAS.latest("Rejection").raw, "source")["type"]


def test_the_field_tables_in_the_readme_are_up_to_date() -> None:
    path: Path = readme_path()
    text = path.read_text(encoding="utf-8")
    assert text == updated_readme(text, SCHEMAS), "run: python -m agentaudit.codec.schema_docs"
