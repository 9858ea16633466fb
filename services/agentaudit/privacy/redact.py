"""Applies a redaction policy to one decoded action, and reverses its encryption for a DSAR. Pure, no I/O.

The processor calls apply() after validation and attribution (the agent's
signature is checked on the original bytes first) and stores what it returns;
detection scores the original, cleartext action, since finding personal data
and secrets is its job, and its reasons name kinds and families, never
values. apply() never changes the action it is given: scoring still needs it.

Parameters are a JSON object in text: path rules parse it once, change the
values they address and write it back compactly (key order kept). When path
rules exist but the parameters are not a JSON object, nothing inside them can
be told apart, so the whole field is encrypted (dropped without a subject
key) and recorded as such: free-form text is sensitive by classification.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from agentaudit.privacy.policy import Action, Policy, Rule
from agentaudit.privacy.tokens import HASH_PREFIX, MASK, Peppers, SubjectCipher, is_encrypted, mask, value_hash

_DROP = object()  # a transform's answer meaning "remove the value"
_REQUIRED = frozenset({"principal.id", "error.message", "approval.approver.id"})
UNPARSABLE = Rule("parameters", Action.ENCRYPT)

# (place for the AAD, value, whether value is a JSON value rather than text) -> new value or _DROP
Transform = Callable[[str, Any, bool], Any]


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


class Redactor:
    """One policy, with the peppers its hashes and subject references use."""

    def __init__(self, policy: Policy, peppers: Peppers) -> None:
        self.policy = policy
        self.peppers = peppers
        self._inside: dict[str, tuple[Rule, ...]] = {}  # per tenant: its rules inside parameters

    def _parameter_rules(self, tenant_id: str, rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
        found = self._inside.get(tenant_id)
        if found is None:
            found = self._inside[tenant_id] = tuple(r for r in rules if r.field == "parameters" and r.inner)
        return found

    def subject_ref(self, action: dict[str, Any]) -> str | None:
        """The data subject of action, as its keyed hash; None when the action names none."""
        subject = self.policy.subject
        value: Any = None
        if subject.field == "principal.id":
            principal = action["principal"]
            if principal["type"] in subject.principal_types:
                value = principal["id"]
        elif subject.field.startswith("attributes."):
            value = (action["attributes"] or {}).get(subject.field[len("attributes."):])
        else:
            value = _json_at(action["parameters"], subject.field[len("parameters."):].split("."))
        if value is None or value == "" or isinstance(value, (dict, list, bool)):
            return None
        return value_hash(self.peppers(action["tenant_id"]), str(value))

    def apply(
        self, action: dict[str, Any], subject_ref: str | None, cipher: SubjectCipher | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """(the action as it may be stored, the record's redaction field or None if nothing changed).

        subject_ref is self.subject_ref(action), cipher that subject's key.

        Without a cipher, values to encrypt are dropped (a required field is
        masked instead): a rejected action gets no subject key, and an action
        without a subject has nobody's key to be under.
        """
        tenant = action["tenant_id"]
        rules = self.policy.rules_for(tenant)
        if not rules:
            return action, None
        pepper = self.peppers(tenant)
        event_id = action["event_id"]
        applied: list[dict[str, str]] = []

        def transform(rule: Rule) -> Transform:
            def change(place: str, value: Any, is_json: bool) -> Any:
                text = value if isinstance(value, str) else _json_text(value)
                if rule.action is Action.HASH:
                    return HASH_PREFIX + value_hash(pepper, text)
                if rule.action is Action.MASK:
                    return mask(text, rule.keep_last)
                if rule.action is Action.ENCRYPT and cipher is not None:
                    return cipher.encrypt(tenant, event_id, place, _json_text(value) if is_json else value)
                return MASK if place in _REQUIRED else _DROP

            return change

        out = dict(action)
        parsed: dict[str, Any] | None = None
        parameter_rules = self._parameter_rules(tenant, rules)
        if parameter_rules and out["parameters"] is None:
            rules = tuple(r for r in rules if r not in parameter_rules)
        elif parameter_rules:
            try:
                loaded = json.loads(out["parameters"])
            except ValueError:
                loaded = None
            if isinstance(loaded, dict):
                parsed = loaded
            else:
                rules = tuple(r for r in rules if r not in parameter_rules) + (UNPARSABLE,)
        parameters_changed = False
        for rule in rules:
            if rule.field == "parameters" and rule.inner:
                assert parsed is not None
                changed = _walk_json(parsed, rule.inner.split("."), transform(rule), rule.path)
                parameters_changed |= changed
            else:
                changed = _rewrite(out, rule, transform(rule))
            if changed:
                done = rule.action if rule.action is not Action.ENCRYPT or cipher is not None else Action.DROP
                if done is Action.DROP and rule.path in _REQUIRED:
                    done = Action.MASK
                applied.append({"path": rule.path, "action": done.value})
        if parameters_changed:
            out["parameters"] = json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))
        if not applied:
            return action, None
        return out, {"policy_version": self.policy.version, "subject_ref": subject_ref, "fields": applied}


def reveal(action: dict[str, Any], redaction: dict[str, Any], decrypt: Callable[[str, str], str]) -> dict[str, Any]:
    """A stored action with its encrypted fields decrypted by decrypt(place, token).

    decrypt may return a stand-in ("erased on ...") instead; values that are
    not encrypted (hashed, masked, or never redacted) come back as stored.
    """
    out = dict(action)
    encrypted = [Rule(f["path"], Action.ENCRYPT) for f in redaction["fields"] if f["action"] == Action.ENCRYPT.value]

    def opening(is_parameters_path: bool) -> Transform:
        def change(place: str, value: Any, is_json: bool) -> Any:
            if not is_encrypted(value):
                return value
            text = decrypt(place, value)
            if is_json and is_parameters_path:
                try:
                    return json.loads(text)
                except ValueError:  # a stand-in, not the value
                    return text
            return text

        return change

    parsed: dict[str, Any] | None = None
    for rule in encrypted:
        if rule.field == "parameters" and rule.inner:
            if parsed is None:
                parsed = json.loads(out["parameters"])
            _walk_json(parsed, rule.inner.split("."), opening(True), rule.path)
        else:
            _rewrite(out, rule, opening(False))
    if parsed is not None:
        out["parameters"] = json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))
    return out


def _rewrite(action: dict[str, Any], rule: Rule, change: Transform) -> bool:
    """Apply change to a whole field, an attribute or every attribute; copies what it changes."""
    if rule.field == "attributes":
        attributes = dict(action["attributes"] or {})
        keys = [rule.inner] if rule.inner else list(attributes)
        changed = False
        for key in keys:
            if key in attributes:
                new = change(f"attributes.{key}", attributes[key], False)
                if new is _DROP:
                    del attributes[key]
                else:
                    attributes[key] = new
                changed = True
        action["attributes"] = attributes
        return changed
    steps = rule.path.split(".")
    parents = [action]
    for step in steps[:-1]:
        inner = parents[-1].get(step)
        if inner is None:
            return False
        parents.append(dict(inner))
    value = parents[-1].get(steps[-1])
    if value is None:
        return False
    new = change(rule.path, value, False)
    parents[-1][steps[-1]] = None if new is _DROP else new
    for parent, step, child in zip(reversed(parents[:-1]), reversed(steps[:-1]), reversed(parents[1:]), strict=True):
        parent[step] = child
    return True


def _walk_json(node: Any, steps: list[str], change: Transform, place: str) -> bool:
    """Apply change at steps inside a JSON value; through a list, to every element."""
    if isinstance(node, list):
        return any([_walk_json(element, steps, change, place) for element in node])
    if not isinstance(node, dict) or steps[0] not in node:
        return False
    if len(steps) > 1:
        return _walk_json(node[steps[0]], steps[1:], change, place)
    new = change(place, node[steps[0]], True)
    if new is _DROP:
        del node[steps[0]]
    else:
        node[steps[0]] = new
    return True


def _json_at(parameters: str | None, steps: list[str]) -> Any:
    if not parameters:
        return None
    try:
        node: Any = json.loads(parameters)
    except ValueError:
        return None
    for step in steps:
        if not isinstance(node, dict):
            return None
        node = node.get(step)
    return node
