"""The HTML page and its SVG charts: everything shown, nothing agent-written becomes markup, nothing fetched."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from agentaudit.report import charts
from agentaudit.report.gather import SECTIONS
from agentaudit.report.markup import duration, esc
from agentaudit.report.render_html import render_html
from tests.unit.report.document import EVIL, document

SVG = "{http://www.w3.org/2000/svg}"


def _bars(svg: str) -> list[ET.Element]:
    return [r for r in ET.fromstring(svg).iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]


def test_stacked_bars_scale_to_the_longest_total_and_draw_no_empty_segment() -> None:
    svg = charts.hbars("t", ["a", "b"], [charts.Series("ok", "#2e7d32", [30, 0]), charts.Series("no", "#c62828", [10, 20])],
                       width=500, label_width=100)
    bars = _bars(svg)
    assert [(b.get("fill"), b.find(f"{SVG}title").text) for b in bars] == [  # type: ignore[union-attr]
        ("#2e7d32", "a, ok: 30"), ("#c62828", "a, no: 10"), ("#c62828", "b, no: 20")]
    widths = [float(b.get("width", 0)) for b in bars]
    assert abs(widths[0] + widths[1] - (500 - 100 - 60)) < 0.2  # the longest total fills the plot
    assert abs(widths[2] / (widths[0] + widths[1]) - 0.5) < 0.01


def test_columns_stack_per_label_under_the_peak() -> None:
    svg = charts.columns("t", ["x", "y", "z"], [charts.Series("s", charts.ACCENT, [0, 4, 2])], height=200)
    heights = [float(b.get("height", 0)) for b in _bars(svg)]
    assert len(heights) == 2 and abs(heights[0] / heights[1] - 2) < 0.01
    assert ">4<" in svg  # the y axis names the peak


def test_chart_text_is_escaped_and_the_svg_stays_well_formed() -> None:
    svg = charts.hbars(EVIL, [EVIL], [charts.Series(EVIL, "#000000", [1])])
    ET.fromstring(svg)  # raises if any text broke out into markup
    assert "<img" not in svg and "&lt;img" in svg


def test_the_page_has_every_section_in_order_and_the_sampled_chain() -> None:
    html = render_html(document())
    headings = re.findall(r"<h2>(.*?)</h2>", html)
    assert headings == [f"{esc(c)} — {esc(t)}" for _, c, t in SECTIONS]
    assert 'id="sample-e-1"' in html and "samples/e-1.proof.json" in html
    assert html.count("<svg") == 5  # CC6.1, CC7.2 (three), completeness
    assert "Verification found 1 problem(s)" in html and "NOT OK" in html


def test_nothing_agents_or_people_wrote_becomes_markup_and_nothing_is_fetched() -> None:
    html = render_html(document())
    assert "<img" not in html and "onerror=\"" not in html
    assert html.count("&lt;img src=&quot;http://evil.example/x&quot;") >= 10  # shown as text, everywhere it occurs
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    tags = re.findall(r"<[^>]*>", html)  # every real tag: text never contains a raw "<"
    assert not [t for t in tags if re.search(r"\s(src|href)=\"(?!#)", t) or t.startswith(("<script", "<link"))]


def test_durations_read_as_people_write_them() -> None:
    assert [duration(s) for s in (None, 4, 65, 3725, 90_000)] == ["—", "4s", "1m 05s", "1h 02m", "1d 01h"]
