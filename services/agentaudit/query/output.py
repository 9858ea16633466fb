"""Renders query results: an aligned table for a terminal, JSON lines or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

# Long free-text cells are cut in the table view only; --json/--csv keep them whole.
MAX_CELL = 48


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds").replace("+00:00", "Z")
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Columns padded to their widest cell; numbers right-aligned."""
    cells = [[_cut(cell(row[c])) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [bool(rows) and all(isinstance(row[c], int | float) or row[c] is None for row in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    out = [line(list(columns)), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def _cut(text: str) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def json_lines(rows: Iterable[dict[str, Any]]) -> str:
    return "\n".join(json.dumps({k: _jsonable(v) for k, v in row.items()}, ensure_ascii=False) for row in rows)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | bytes):
        return cell(value)
    return value


def csv_text(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row[c]) for c in columns])
    return buf.getvalue().rstrip("\n")


def summary_text(result: dict[str, Any]) -> str:
    """The summary as a few readable lines (the demo prints this)."""
    lines = [f"recorded {result['recorded']}, rejected {result['rejected']}"]
    if result["by_outcome"]:
        lines.append("  by outcome: " + ", ".join(f"{k} {v}" for k, v in result["by_outcome"].items()))
    if result["by_action"]:
        lines.append("  by action:  " + ", ".join(f"{k} {v}" for k, v in result["by_action"].items()))
    if result["rejected_by_reason"]:
        lines.append("  rejected by reason: " + ", ".join(f"{k} {v}" for k, v in result["rejected_by_reason"].items()))
    return "\n".join(lines)
