"""Request parameters, declared once: parsed and checked here, documented in OpenAPI from the same objects.

An unknown parameter is refused, not ignored: a typo such as `agent_id=` for
`agent=` would otherwise widen a query silently to every agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agentaudit.errors import ConfigError
from agentaudit.query.timeparse import HELP as TIME_HELP
from agentaudit.query.timeparse import parse_time

# Ids and names are short; the bounds keep every request the document allows
# within the server's request-line limit (server.HANDLER_ARGS).
MAX_VALUE_LENGTH = 256
MAX_REPEATS = 20


class BadRequest(ConfigError):
    """The request's parameters are wrong; the message says which and how (HTTP 400)."""


@dataclass(frozen=True)
class Param:
    """One query or path parameter: its name, type, rules and documentation."""

    name: str
    doc: str
    kind: str = "string"  # string, integer, time, boolean
    where: str = "query"  # query or path
    required: bool = False
    repeated: bool = False
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    default: Any = None

    def schema(self) -> dict[str, Any]:
        """The parameter's JSON schema for OpenAPI."""
        one: dict[str, Any] = {"type": "integer" if self.kind == "integer" else
                               "boolean" if self.kind == "boolean" else "string"}
        if self.kind == "time":
            one["description"] = TIME_HELP
        if self.choices:
            one["enum"] = list(self.choices)
        if self.minimum is not None:
            one["minimum"] = self.minimum
        if self.maximum is not None:
            one["maximum"] = self.maximum
        if self.kind in ("string", "time"):
            one["maxLength"] = MAX_VALUE_LENGTH
        if self.default is not None and not self.repeated:
            one["default"] = self.default
        return {"type": "array", "items": one, "maxItems": MAX_REPEATS} if self.repeated else one

    def parse(self, raw: str, now: datetime) -> Any:
        if len(raw) > MAX_VALUE_LENGTH:
            raise BadRequest(f"{self.name}: longer than {MAX_VALUE_LENGTH} characters")
        if self.kind == "integer":
            try:
                value: Any = int(raw)
            except ValueError:
                raise BadRequest(f"{self.name}: {raw!r} is not an integer") from None
            if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
                raise BadRequest(f"{self.name}: {value} is outside {self.minimum}..{self.maximum}")
            return value
        if self.kind == "boolean":
            if raw.lower() not in ("true", "false", "1", "0"):
                raise BadRequest(f"{self.name}: use true or false, not {raw!r}")
            return raw.lower() in ("true", "1")
        if self.kind == "time":
            try:
                return parse_time(raw, now)
            except ConfigError as exc:
                raise BadRequest(f"{self.name}: {exc}") from None
        if not raw:
            raise BadRequest(f"{self.name}: empty value; leave the parameter out instead")
        if self.choices and raw not in self.choices:
            raise BadRequest(f"{self.name}: {raw!r} is not one of {', '.join(self.choices)}")
        return raw


def parse_query(params: tuple[Param, ...], query: Mapping[str, Any], path: Mapping[str, str],
                now: datetime | None = None) -> dict[str, Any]:
    """Parameter name -> value (tuples for repeated ones); BadRequest naming the first problem.

    `query` is a multidict (aiohttp's request.query): getall gives every value.
    """
    now = now or datetime.now(UTC)
    known = {p.name for p in params if p.where == "query"}
    unknown = sorted(set(query.keys()) - known)
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0]!r}; this endpoint takes: {', '.join(sorted(known)) or 'none'}")
    values: dict[str, Any] = {}
    for p in params:
        if p.where == "path":
            values[p.name] = p.parse(path[p.name], now)
            continue
        raws: list[str] = list(query.getall(p.name, [])) if hasattr(query, "getall") else (
            [query[p.name]] if p.name in query else [])
        if not raws:
            if p.required:
                raise BadRequest(f"{p.name} is required: {p.doc}")
            values[p.name] = () if p.repeated else p.default
            continue
        if not p.repeated and len(raws) > 1:
            raise BadRequest(f"{p.name} may be given once")
        if len(raws) > MAX_REPEATS:
            raise BadRequest(f"{p.name}: at most {MAX_REPEATS} values")
        parsed = [p.parse(r, now) for r in raws]
        values[p.name] = tuple(dict.fromkeys(parsed)) if p.repeated else parsed[0]
    return values
