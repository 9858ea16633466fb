"""Charts as inline SVG, drawn here in Python: the pack fetches nothing and runs no script. Pure.

Two kinds are enough for the pack: horizontal stacked bars (a count per
category, split by series) and stacked columns over time. Every text is
escaped; colours come from the fixed palettes below, so a reader (and the
rendering test) finds the same colour for the same meaning in every chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

OUTCOME_COLORS = {"success": "#2e7d32", "failure": "#ef6c00", "denied": "#c62828", "pending": "#6a1b9a",
                  "unknown": "#757575"}
SEVERITY_COLORS = {"critical": "#b71c1c", "high": "#e65100", "medium": "#f9a825", "low": "#1565c0",
                   "info": "#607d8b"}
ACCENT = "#3949ab"  # single-series charts
OTHER = "#9e9e9e"
_FONT = "font-family:Helvetica,Arial,sans-serif;font-size:11px"


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: Sequence[int]


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" style="{_FONT}"{extra}>'
            f"{escape(text)}</text>")


def _legend(series: Sequence[Series], y: float) -> tuple[str, float]:
    parts, x = [], 0.0
    for s in series:
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="12" height="12" fill="{s.color}"/>')
        parts.append(_text(x + 16, y + 10, s.name))
        x += 28 + 7 * len(s.name)
    return "".join(parts), y + 20


def _svg(width: float, height: float, title: str, body: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" class="chart"><title>{escape(title)}</title>{body}</svg>')


def hbars(title: str, categories: Sequence[str], series: Sequence[Series], *, width: int = 680,
          label_width: int = 190, bar: int = 18) -> str:
    """One stacked bar per category, longest total scaled to the width, the total written after it."""
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    scale = (width - label_width - 60) / max(max(totals, default=0), 1)
    legend, top = _legend(series, 0)
    parts = [legend]
    for i, category in enumerate(categories):
        y = top + i * (bar + 6)
        parts.append(_text(label_width - 6, y + bar - 5, category, "end"))
        x = float(label_width)
        for s in series:
            w = s.values[i] * scale
            if w > 0:
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bar}" fill="{s.color}">'
                             f"<title>{escape(f'{category}, {s.name}: {s.values[i]:,}')}</title></rect>")
            x += w
        parts.append(_text(x + 4, y + bar - 5, f"{totals[i]:,}"))
    return _svg(width, top + len(categories) * (bar + 6) + 4, title, "".join(parts))


def columns(title: str, labels: Sequence[str], series: Sequence[Series], *, width: int = 680,
            height: int = 200) -> str:
    """Stacked columns, one per label (time buckets), with the highest total on the y axis and a few x labels."""
    legend, top = _legend(series, 0)
    left, bottom = 40.0, 28.0
    plot_h = height - bottom
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    peak = max(max(totals, default=0), 1)
    step = (width - left) / max(len(labels), 1)
    parts = [legend,
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width}" y2="{top + plot_h}" stroke="#444"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#444"/>',
             _text(left - 4, top + 10, f"{peak:,}", "end"), _text(left - 4, top + plot_h, "0", "end")]
    every = max(1, len(labels) // 6)
    for i, label in enumerate(labels):
        x = left + i * step
        y = top + plot_h
        for s in series:
            h = s.values[i] / peak * (plot_h - 4)
            if h > 0:
                y -= h
                parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" height="{h:.1f}" '
                             f'fill="{s.color}"><title>{escape(f"{label}, {s.name}: {s.values[i]:,}")}</title></rect>')
        if i % every == 0:
            parts.append(_text(x, top + plot_h + 14, label))
    return _svg(width, top + height, title, "".join(parts))
