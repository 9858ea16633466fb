"""Reading docker-compose.yml and its neighbours the way Docker Compose does.

No Docker engine is needed: the files are parsed, `${VAR:-default}` is
interpolated with the defaults (what a plain `docker compose up` on a fresh
machine sees), and each agentaudit service's command is resolved against the
real click command tree, options included.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus" / "prometheus.yml"
# ClickHouse accounts for server deployments; docker-compose.yml mounts this file.
CLICKHOUSE_USERS_FILE = ROOT / "deploy" / "clickhouse" / "users.d" / "agentaudit.xml"
COMPOSE_README = ROOT / "deploy" / "compose" / "README.md"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, ${NAME?err},
# ${NAME:+alt}, ${NAME+alt}, $NAME, and $$ (a literal dollar).
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
# Settings' environment variables as they appear in any text.
SETTING_NAME = re.compile(r"\bAGENTAUDIT_[A-Z0-9_]*[A-Z0-9]\b")


@dataclass(frozen=True)
class Variable:
    """One `${...}` reference in the compose file."""

    name: str
    op: str | None  # None, "-", ":-", "?", ":?", "+", ":+"
    arg: str

    @property
    def has_default(self) -> bool:
        return self.op in ("-", ":-")


def variables(text: str) -> list[Variable]:
    found = []
    for m in _VARIABLE.finditer(text):
        if m.group("escaped"):
            continue
        name = m.group("name") or m.group("bare")
        found.append(Variable(name, m.group("op"), m.group("arg") or ""))
    return found


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """`value` with every string interpolated as Compose does, recursively."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        name = m.group("name") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        current = env.get(name)
        unset_or_empty = not current
        if op in (":-", "-"):
            return arg if (unset_or_empty if op == ":-" else current is None) else str(current)
        if op in (":?", "?"):
            if unset_or_empty if op == ":?" else current is None:
                raise ValueError(f"${{{name}}} is required: {arg}")
            return str(current)
        if op in (":+", "+"):
            return arg if (not unset_or_empty if op == ":+" else current is not None) else ""
        return current or ""

    return _VARIABLE.sub(substitute, value)


def raw_compose() -> dict[str, Any]:
    """docker-compose.yml as YAML, anchors merged, before interpolation."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(raw, dict), "docker-compose.yml is not a mapping"
    return raw


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    return dict(interpolate(raw_compose(), env or {}))


def strings(value: Any) -> Iterator[str]:
    """Every string value in a YAML document (where Compose interpolates; not comments, not keys)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, str):
        yield value


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as strings, from either Compose form (map or list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {k: v for k, v in pairs}
    for key, value in env.items():
        # YAML reads yes/no/true/false as booleans, which Compose refuses here.
        assert not isinstance(value, bool), f"environment {key}: quote the boolean value {value!r}"
    return {k: "" if v is None else str(v) for k, v in env.items()}


def as_argv(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def dockerfile_entrypoint() -> list[str]:
    for line in DOCKERFILE.read_text().splitlines():
        if line.strip().upper().startswith("ENTRYPOINT"):
            argv = json.loads(line.strip()[len("ENTRYPOINT"):].strip())
            assert isinstance(argv, list), "ENTRYPOINT must be in exec (JSON) form"
            return [str(a) for a in argv]
    raise AssertionError("Dockerfile has no ENTRYPOINT")


def cli_root() -> click.Group:
    from agentaudit.cli import _register, cli

    _register()
    return cli


def resolve_command(argv: list[str], root: click.Group | None = None) -> list[str]:
    """The subcommand path `argv` (what follows `agentaudit`) names, e.g. ["db", "migrate"].

    Each group's options are parsed by the group and the leaf's options and
    arguments by the leaf, exactly as click would before invoking it; an
    unknown command, an unknown option or a bad value raises click.UsageError.
    Nothing is invoked. (Group options are assumed to take no value, as
    agentaudit's -v and --version do.)
    """
    cmd: click.Command = root or cli_root()
    name, ctx, rest = "agentaudit", None, list(argv)
    path: list[str] = []
    while isinstance(cmd, click.Group):
        split = next((i for i, token in enumerate(rest) if not token.startswith("-")), None)
        if split is None:
            raise click.UsageError(f"`{' '.join(['agentaudit', *path])}` is a group: name one of its commands")
        ctx = cmd.make_context(name, rest[: split + 1], parent=ctx)
        sub = cmd.get_command(ctx, rest[split])
        if sub is None:
            raise click.UsageError(
                f"no command {rest[split]!r} in `{' '.join(['agentaudit', *path])}`; "
                f"it has {sorted(cmd.list_commands(ctx))}"
            )
        path.append(rest[split])
        cmd, name, rest = sub, rest[split], rest[split + 1 :]
    cmd.make_context(name, rest, parent=ctx)
    return path


def volume_mounts(service: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(kind, source, target) for each volume of a service; kind is "volume" or "bind"."""
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            source, target = str(entry.get("source", "")), str(entry["target"])
            kind = entry.get("type") or ("bind" if source.startswith((".", "/", "~")) else "volume")
        else:
            parts = str(entry).split(":")
            source, target = parts[0], parts[1] if len(parts) > 1 else parts[0]
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        yield kind, source, target


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """KAFKA_*LISTENERS ("NAME://host:port,...") as {name: (host, port)}."""
    out = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, address = item.split("://", 1)
        host, port = address.rsplit(":", 1)
        out[name] = (host, int(port))
    return out
