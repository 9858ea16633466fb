"""Loads the Avro schemas under schemas/avro and indexes every version.

Files are named NAME.vN.avsc. Every version of a schema stays readable: the
newest is the reader schema, older ones are writer schemas that the newest must
resolve (see schemas/README.md for the evolution rules, enforced by a test).

Logical types are dropped from the parsed copies on purpose: timestamps stay
integers of microseconds and UUIDs stay strings, which is faster and leaves no
room for time-zone conversions. That changes nothing on the wire, and the
parsing canonical form that fingerprints are computed from omits logical types
anyway.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from agentaudit.errors import ConfigError

_FILE = re.compile(r"^(?P<name>[A-Za-z]+)\.v(?P<version>\d+)\.avsc$")


def schema_dir() -> Path:
    """schemas/avro in a source checkout, or the copy packaged into the wheel."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_schemas" / "avro", here.parent.parent / "schemas" / "avro"):
        if candidate.is_dir():
            return candidate
    raise ConfigError("schemas/avro not found beside the agentaudit package")


def _strip_logical(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_logical(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_strip_logical(v) for v in node]
    return node


@dataclass(frozen=True)
class SchemaVersion:
    name: str
    version: int
    raw: dict[str, Any]
    parsed: dict[str, Any]
    fingerprint: bytes  # CRC-64-AVRO of the parsing canonical form, little-endian

    @property
    def canonical_form(self) -> str:
        return str(to_parsing_canonical_form(self.raw))


class SchemaSet:
    """Every version of every schema, by name and by fingerprint."""

    def __init__(self, versions: list[SchemaVersion]) -> None:
        self.by_fingerprint = {v.fingerprint: v for v in versions}
        self._by_name: dict[str, dict[int, SchemaVersion]] = {}
        for v in versions:
            self._by_name.setdefault(v.name, {})[v.version] = v

    def latest(self, name: str) -> SchemaVersion:
        try:
            versions = self._by_name[name]
        except KeyError:
            raise ConfigError(f"no Avro schema named {name!r} under schemas/avro") from None
        return versions[max(versions)]

    def versions(self, name: str) -> list[SchemaVersion]:
        return [v for _, v in sorted(self._by_name.get(name, {}).items())]

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)


def _load(path: Path) -> SchemaVersion:
    match = _FILE.match(path.name)
    if not match:
        raise ConfigError(f"{path}: schema files are named NAME.vN.avsc")
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("name") != match["name"]:
        raise ConfigError(f"{path}: file name and schema name {raw.get('name')!r} differ")
    pcf = to_parsing_canonical_form(raw)
    parsed = parse_schema(_strip_logical(raw))
    if not isinstance(parsed, dict):
        raise ConfigError(f"{path}: top level must be a record schema")
    return SchemaVersion(
        name=match["name"],
        version=int(match["version"]),
        raw=raw,
        parsed=parsed,
        fingerprint=bytes.fromhex(fingerprint(pcf, "CRC-64-AVRO")),
    )


@lru_cache(maxsize=4)
def load_schemas(directory: Path | None = None) -> SchemaSet:
    directory = directory or schema_dir()
    return SchemaSet([_load(p) for p in sorted(directory.glob("*.avsc"))])
