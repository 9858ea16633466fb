"""The redaction policy: which fields of whose actions are dropped, masked, hashed or encrypted.

A YAML file named by AGENTAUDIT_PRIVACY_POLICY, read once at start-up; any
mistake is a ConfigError naming the file, the tenant and the path, so a bad
policy stops the processor before it stores anything under it.

    version: "2026-01"            # recorded in every redacted record
    subject:                      # whose data it is: encrypted fields are under this subject's key
      field: principal.id         # or parameters.PATH or attributes.KEY
      principal_types: [user]     # with principal.id: which principals are data subjects
    tenants:
      "*":                        # every tenant without its own entry
        principal.id: hash
        parameters.email: hash
        parameters.card: {action: mask, keep_last: 4}
        parameters.note: encrypt
        error.message: encrypt
        attributes.customer.phone: drop
      acme: {...}                 # replaces "*" for tenant acme (no merging: what applies is what you read)

Paths: a field that is not operational (classification.py) and holds text;
parameters.A.B (a JSON path into the parameters object; through a list it
applies to every element); attributes.KEY (one attribute, KEY taken whole,
dots included); attributes (every attribute). A whole-field rule and path
rules inside the same field cannot be combined: which applies would depend
on their order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from agentaudit.errors import ConfigError
from agentaudit.privacy.classification import field_classes, text_fields

FREE_FORM = ("parameters", "attributes")  # fields whose inside a path may address
WILDCARD = "*"
MAX_KEEP = 8  # a mask that keeps more is no longer a mask


class Action(Enum):
    DROP = "drop"
    MASK = "mask"
    HASH = "hash"
    ENCRYPT = "encrypt"


@dataclass(frozen=True)
class Rule:
    path: str
    action: Action
    keep_last: int = 0  # mask only: characters kept at the end, 0 for a fixed mask
    # Derived from path once, since redaction reads them for every rule of every record:
    field: str = dataclasses.field(init=False)  # the AgentAction field touched (parameters for parameters.email)
    inner: str = dataclasses.field(init=False)  # the path inside a free-form field ("" for a whole field)

    def __post_init__(self) -> None:
        root = next((r for r in FREE_FORM if self.path.startswith(r + ".")), self.path)
        object.__setattr__(self, "field", root)
        object.__setattr__(self, "inner", self.path[len(root) + 1:])


@dataclass(frozen=True)
class Subject:
    field: str = "principal.id"
    principal_types: tuple[str, ...] = ("user",)


@dataclass(frozen=True)
class Policy:
    version: str
    subject: Subject
    tenants: Mapping[str, tuple[Rule, ...]]

    def rules_for(self, tenant_id: str) -> tuple[Rule, ...]:
        rules = self.tenants.get(tenant_id)
        return self.tenants.get(WILDCARD, ()) if rules is None else rules

    def encrypts(self, tenant_id: str) -> bool:
        return any(rule.action is Action.ENCRYPT for rule in self.rules_for(tenant_id))

    @classmethod
    def load(cls, path: Path) -> Policy:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"privacy policy {path}: {exc}") from None
        return parse(data, str(path))


def _rule(path: str, spec: Any, where: str, fields: set[str]) -> Rule:
    if isinstance(spec, str):
        spec = {"action": spec}
    if not isinstance(spec, dict) or set(spec) - {"action", "keep_last"}:
        raise ConfigError(f"{where}: expected an action (drop, mask, hash, encrypt) or {{action: mask, keep_last: N}}")
    try:
        action = Action(spec.get("action"))
    except ValueError:
        raise ConfigError(f"{where}: unknown action {spec.get('action')!r}; use drop, mask, hash or encrypt") from None
    keep = spec.get("keep_last", 0)
    if "keep_last" in spec and action is not Action.MASK:
        raise ConfigError(f"{where}: keep_last only goes with mask")
    if not isinstance(keep, int) or not 0 <= keep <= MAX_KEEP:
        raise ConfigError(f"{where}: keep_last must be a whole number from 0 to {MAX_KEEP}")
    rule = Rule(path, action, keep)
    if rule.field not in fields:
        classes = field_classes()
        if classes.get(rule.field) == "operational":
            raise ConfigError(f"{where}: {rule.field} is classified operational (schemas/avro/AgentAction): the "
                              "pipeline needs it to attribute, chain and query actions, so it cannot be redacted")
        raise ConfigError(f"{where}: {path!r} is not a field a policy can address; use one of "
                          f"{', '.join(sorted(fields))}, parameters.PATH or attributes.KEY")
    if action is Action.DROP and not rule.inner and rule.field in _REQUIRED:
        raise ConfigError(f"{where}: {path} is required by the schema and cannot be dropped; mask, hash or encrypt it")
    if rule.inner and any(not part for part in rule.inner.split(".")) and rule.field == "parameters":
        raise ConfigError(f"{where}: {path!r} has an empty step")
    return rule


_REQUIRED = frozenset({"principal.id", "error.message", "approval.approver.id"})


def _subject(data: Any, where: str) -> Subject:
    if data is None:
        return Subject()
    if not isinstance(data, dict) or set(data) - {"field", "principal_types"}:
        raise ConfigError(f"{where}: expected {{field: principal.id|parameters.PATH|attributes.KEY, principal_types: [...]}}")
    field = data.get("field", "principal.id")
    if not isinstance(field, str) or not (field == "principal.id" or
                                          field.startswith(("parameters.", "attributes.")) and len(field) > 11):
        raise ConfigError(f"{where}.field: {field!r}: the subject is principal.id, parameters.PATH or attributes.KEY")
    types = data.get("principal_types", ["user"])
    known = ("user", "service", "agent", "system", "unknown")
    if not isinstance(types, list) or not types or any(t not in known for t in types):
        raise ConfigError(f"{where}.principal_types: a non-empty list of {', '.join(known)}")
    if "principal_types" in data and field != "principal.id":
        raise ConfigError(f"{where}: principal_types only goes with field: principal.id")
    return Subject(field, tuple(types))


def parse(data: Any, source: str) -> Policy:
    """The policy in data (the YAML document); ConfigError naming source and the place of the mistake."""
    if not isinstance(data, dict) or set(data) - {"version", "subject", "tenants"}:
        raise ConfigError(f"privacy policy {source}: expected a mapping with version, subject and tenants")
    version = data.get("version")
    if not isinstance(version, (str, int)) or not str(version).strip():
        raise ConfigError(f"privacy policy {source}: version is required (it is recorded in every redacted record)")
    tenants = data.get("tenants")
    if not isinstance(tenants, dict) or not tenants:
        raise ConfigError(f"privacy policy {source}: tenants must map tenant ids (or \"*\") to their rules")
    fields = set(text_fields())
    parsed: dict[str, tuple[Rule, ...]] = {}
    for tenant, rules in tenants.items():
        where = f"privacy policy {source}, tenant {tenant}"
        if not isinstance(rules, dict) or not rules:
            raise ConfigError(f"{where}: expected a mapping of field or path to action")
        made = tuple(_rule(str(path), spec, f"{where}, {path}", fields) for path, spec in rules.items())
        whole = {r.field for r in made if not r.inner}
        mixed = sorted({r.field for r in made if r.inner} & whole)
        if mixed:
            raise ConfigError(f"{where}: {mixed[0]} has a rule for the whole field and rules inside it; keep one kind")
        parsed[str(tenant)] = made
    return Policy(str(version), _subject(data.get("subject"), f"privacy policy {source}, subject"), parsed)
