"""The console's server-side SVG charts: named images whose marks are proportional to the figures."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from leadwise.api.console_charts import (
    LABEL,
    Bars,
    Chart,
    Reference,
    bar_chart,
    calibration_chart,
    interval_chart,
    line_chart,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    root = ET.fromstring(str(markup))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    title, desc = root.get("aria-labelledby", "").split()
    ids = {e.get("id"): e.text for e in root.iter() if e.get("id")}
    assert ids[title] and ids[desc]  # a name and a description for screen readers
    return root


def test_bars_are_proportional_and_a_missing_figure_draws_nothing() -> None:
    chart = Chart("Conversion", "won over closed", references=[Reference(0.5, "half")])
    root = parse(bar_chart(chart, [Bars("a", [1.0]), Bars("b", [0.25]), Bars("<c>", [None])], top=1.0))
    widths = [float(r.get("width")) for r in root.iter(f"{SVG}rect")]
    assert len(widths) == 2 and widths[1] == pytest.approx(widths[0] / 4)
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "<c>" in labels and "100%" in labels and "25%" in labels  # escaped in the markup, read back whole
    (line,) = [e for e in root.iter(f"{SVG}line") if e.get("stroke-dasharray")]
    assert float(line.get("x1")) == pytest.approx(LABEL + widths[0] / 2, abs=0.1)  # the reference at half the scale


def test_grouped_bars_have_a_legend_per_series() -> None:
    chart = Chart("Speed", "two series", series=("to assignment", "to acceptance"))
    root = parse(bar_chart(chart, [Bars("Ann", [1.0, 3.0])], fmt=str))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "to assignment" in texts and "to acceptance" in texts
    bars = [r for r in root.iter(f"{SVG}rect") if float(r.get("height")) > 12]
    assert [float(r.get("width")) for r in bars][1] == pytest.approx(3 * float(bars[0].get("width")), abs=0.2)


def test_a_line_chart_leaves_gaps_where_a_period_has_no_figure() -> None:
    root = parse(line_chart(Chart("Gini", "over time", series=("leads",)), ["d1", "d2", "d3", "d4"], [[0.5, None, 0.2, 0.4]]))
    (polyline,) = root.iter(f"{SVG}polyline")  # d1 alone, then d3–d4
    assert len(polyline.get("points").split()) == 2
    assert len(list(root.iter(f"{SVG}circle"))) == 3


def test_calibration_and_interval_charts_place_their_marks() -> None:
    root = parse(calibration_chart(Chart("Calibration", "bins"), [(0.1, 0.1, 10), (0.9, 0.5, 40)]))
    first, second = root.iter(f"{SVG}circle")
    assert float(first.get("r")) < float(second.get("r"))  # area grows with the count
    assert float(second.get("cy")) < float(first.get("cy"))  # higher observed rate drawn higher
    root = parse(interval_chart(Chart("What-if", "estimates"), [("a", 0.5, 0.4, 0.6), ("b", 0.7, 0.65, 0.75)]))
    dots = list(root.iter(f"{SVG}circle"))
    whiskers = [e for e in root.iter(f"{SVG}line") if e.get("stroke-width") == "2" and e.get("y1") == e.get("y2")]
    for dot, whisker in zip(dots, whiskers, strict=True):
        assert float(whisker.get("x1")) < float(dot.get("cx")) < float(whisker.get("x2"))
