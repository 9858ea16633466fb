"""Small HTML builders for the report page. Pure. Every value passes through esc(): agent ids, reasons,
notes and the like come from agents and people, and must never become markup."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

NONE = "—"


def esc(value: Any) -> str:
    if value is None or value == "":
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value), quote=True)


def when(value: str | None) -> str:
    """An ISO time as the report prints it: to the second, UTC."""
    if not value:
        return NONE
    return esc(value[:19].replace("T", " ") + " UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86_400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86_400}d {s % 86_400 // 3600:02d}h"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str = "none in the window") -> str:
    """A table of cells that are already markup (built with esc/when): headers are escaped here."""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figures(items: Mapping[str, Any], bad: Iterable[str] = ()) -> str:
    """Key figures as tiles; names in `bad` are highlighted when non-zero."""
    flagged = set(bad)
    tiles = []
    for name, value in items.items():
        alarm = " alarm" if name in flagged and value else ""
        tiles.append(f'<div class="figure{alarm}"><div class="value">{esc(value)}</div>'
                     f'<div class="label">{esc(name)}</div></div>')
    return f'<div class="figures">{"".join(tiles)}</div>'


def verdict(ok: bool | None, yes: str, no: str, neither: str) -> str:
    cls, text = ("ok", yes) if ok else ("neither", neither) if ok is None else ("bad", no)
    return f'<p class="verdict {cls}">{esc(text)}</p>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'
