"""Declarative conditions, Sigma-style, compiled to closures at load.

A condition names selections and combines them::

    condition:
      selections:
        executed: {action.outcome: success}
        denied:   {action.policy.decision: deny}
        unapproved:
          - {action.policy.decision: require_approval, action.approval.decision|exists: false}
          - {action.policy.decision: require_approval, action.approval.decision|one_of: [rejected]}
      match: executed and (denied or unapproved)

A selection is a mapping (every entry must hold) or a list of mappings (any
one must hold). An entry is `path|modifier: value`, the path from
agentaudit.detect.fields. Modifiers:

| modifier            | holds when the field ...                                          |
|---------------------|-------------------------------------------------------------------|
| (none) / equals     | equals the value; a list value means one of them                  |
| one_of              | equals one of the listed values                                   |
| contains, startswith, endswith | (a string) contains / starts / ends with the value, or one of a list |
| re                  | (a string) matches the regular expression anywhere (re.search)    |
| gt, gte, lt, lte    | (an integer) compares so with the number                          |
| exists              | is present and not null (value true), or absent or null (false)   |
| pii                 | (parameters or attributes) holds one of the listed scan kinds (agentaudit.detect.scan), or any with `any` |

`match` is an expression over selection names with and, or, not and
parentheses. A selection never used by `match`, an unknown path or modifier,
a regex that does not compile, or a modifier that does not fit the field's
type is a RuleError naming the file and key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from agentaudit.detect.errors import RuleError
from agentaudit.detect.fields import ATTRIBUTES, INT, MAP, STR, RecordView, field_type
from agentaudit.detect.scan import ALL_KINDS

Predicate = Callable[[RecordView], bool]

_STRING_MODIFIERS = ("contains", "startswith", "endswith")
_COMPARISONS: Mapping[str, Callable[[int, int], bool]] = {
    "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
}
MODIFIERS = ("equals", "one_of", *_STRING_MODIFIERS, "re", *_COMPARISONS, "exists", "pii")
_TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z_][A-Za-z0-9_]*)")


def compile_condition(raw: object, where: str, paths: set[str]) -> Predicate:
    """The predicate for a rule's `condition:`; adds every path it reads to paths."""
    if not isinstance(raw, dict) or set(raw) != {"selections", "match"}:
        raise RuleError(where, "a condition is a mapping with exactly the keys selections and match")
    selections_raw = raw["selections"]
    if not isinstance(selections_raw, dict) or not selections_raw:
        raise RuleError(f"{where}.selections", "expected a non-empty mapping of named selections")
    selections = {str(name): _selection(body, f"{where}.selections.{name}", paths)
                  for name, body in selections_raw.items()}
    if not isinstance(raw["match"], str):
        raise RuleError(f"{where}.match", "expected an expression over selection names")
    used: set[str] = set()
    predicate = _Expression(raw["match"], selections, used, f"{where}.match").parse()
    unused = sorted(set(selections) - used)
    if unused:
        raise RuleError(f"{where}.selections.{unused[0]}", "selection is never used in match")
    return predicate


def _selection(body: object, where: str, paths: set[str]) -> Predicate:
    if isinstance(body, list) and body:
        alternatives = tuple(_all_of(item, f"{where}[{i}]", paths) for i, item in enumerate(body))
        return lambda view: any(alternative(view) for alternative in alternatives)
    return _all_of(body, where, paths)


def _all_of(body: object, where: str, paths: set[str]) -> Predicate:
    if not isinstance(body, dict) or not body:
        raise RuleError(where, "a selection is a non-empty mapping of field|modifier: value, or a list of them")
    tests = tuple(_entry(str(key), value, f"{where}.{key}", paths) for key, value in body.items())
    if len(tests) == 1:
        return tests[0]
    return lambda view: all(test(view) for test in tests)


def _entry(key: str, value: object, where: str, paths: set[str]) -> Predicate:
    path, _, modifier = key.partition("|")
    modifier = modifier or "equals"
    kind = field_type(path)
    if kind is None:
        raise RuleError(where, f"unknown field {path!r}; see agentaudit.detect.fields.FIELD_TYPES")
    if modifier not in MODIFIERS:
        raise RuleError(where, f"unknown modifier {modifier!r}; allowed: {', '.join(MODIFIERS)}")
    if modifier == "pii":
        return _pii(path, value, where)
    paths.add(path)
    if modifier == "exists":
        if not isinstance(value, bool):
            raise RuleError(where, "exists takes true or false")
        return (lambda view: view.values[path] is not None) if value else (lambda view: view.values[path] is None)
    if kind == MAP:
        raise RuleError(where, f"{path} is a map: use exists or pii, or name one key as {ATTRIBUTES}.<key>")
    if modifier in ("equals", "one_of"):
        choices = _literals(value, kind, where, modifier == "one_of")
        if len(choices) == 1:
            only = choices[0]
            return lambda view: view.values[path] == only
        options = frozenset(choices)
        return lambda view: view.values[path] in options
    if modifier in _COMPARISONS:
        if kind != INT or isinstance(value, bool) or not isinstance(value, int):
            raise RuleError(where, f"{modifier} compares an integer field with an integer")
        compare, bound = _COMPARISONS[modifier], value

        def ordered(view: RecordView) -> bool:
            current = view.values[path]
            return current is not None and compare(current, bound)

        return ordered
    if kind != STR:
        raise RuleError(where, f"{modifier} applies to string fields; {path} is an integer")
    if modifier == "re":
        if not isinstance(value, str):
            raise RuleError(where, "re takes one regular expression")
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise RuleError(where, f"bad regular expression {value!r}: {exc}") from exc
        return lambda view: (text := view.values[path]) is not None and pattern.search(text) is not None
    needles = tuple(_literals(value, STR, where, False))
    method = modifier  # contains, startswith or endswith
    if method == "contains":
        return lambda view: (text := view.values[path]) is not None and any(n in text for n in needles)
    if method == "startswith":
        return lambda view: (text := view.values[path]) is not None and text.startswith(needles)
    return lambda view: (text := view.values[path]) is not None and text.endswith(needles)


def _literals(value: object, kind: str, where: str, list_required: bool) -> list[Any]:
    values = value if isinstance(value, list) else [value]
    if (list_required and not isinstance(value, list)) or not values:
        raise RuleError(where, "expected a non-empty list of values")
    wanted = str if kind == STR else int
    for item in values:
        if isinstance(item, bool) or not isinstance(item, wanted):
            raise RuleError(where, f"expected {wanted.__name__} values for this field, got {item!r}")
    return values


def _pii(path: str, value: object, where: str) -> Predicate:
    if path not in ("action.parameters", ATTRIBUTES):
        raise RuleError(where, "pii scans action.parameters or action.attributes")
    kinds = ALL_KINDS if value == "any" else value
    if not isinstance(kinds, (list, tuple)) or not kinds or any(kind not in ALL_KINDS for kind in kinds):
        raise RuleError(where, f"pii takes `any` or a list of kinds from {', '.join(ALL_KINDS)}")
    wanted = frozenset(kinds)
    if path == ATTRIBUTES:
        return lambda view: not wanted.isdisjoint(view.attribute_kinds())
    return lambda view: not wanted.isdisjoint(view.parameter_kinds())


class _Expression:
    """Recursive descent over `match`: or binds loosest, then and, then not."""

    def __init__(self, text: str, selections: Mapping[str, Predicate], used: set[str], where: str) -> None:
        self.tokens = self._tokenize(text, where)
        self.selections, self.used, self.where = selections, used, where
        self.at = 0

    @staticmethod
    def _tokenize(text: str, where: str) -> list[str]:
        tokens, at = [], 0
        while at < len(text.rstrip()):
            match = _TOKEN.match(text, at)
            if match is None:
                raise RuleError(where, f"cannot parse {text[at:]!r}")
            tokens.append(match.group(1))
            at = match.end()
        return tokens

    def parse(self) -> Predicate:
        predicate = self._or()
        if self.at != len(self.tokens):
            raise RuleError(self.where, f"unexpected {self.tokens[self.at]!r}")
        return predicate

    def _peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._peek() == "or":
            self.at += 1
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        options = tuple(parts)
        return lambda view: any(part(view) for part in options)

    def _and(self) -> Predicate:
        parts = [self._not()]
        while self._peek() == "and":
            self.at += 1
            parts.append(self._not())
        if len(parts) == 1:
            return parts[0]
        required = tuple(parts)
        return lambda view: all(part(view) for part in required)

    def _not(self) -> Predicate:
        if self._peek() == "not":
            self.at += 1
            inner = self._not()
            return lambda view: not inner(view)
        return self._atom()

    def _atom(self) -> Predicate:
        token = self._peek()
        self.at += 1
        if token == "(":
            inner = self._or()
            if self._peek() != ")":
                raise RuleError(self.where, "missing )")
            self.at += 1
            return inner
        if token is None or token in ("and", "or", "not", ")"):
            raise RuleError(self.where, f"expected a selection name, got {token or 'the end'!r}")
        if token not in self.selections:
            raise RuleError(self.where, f"unknown selection {token!r}")
        self.used.add(token)
        return self.selections[token]
