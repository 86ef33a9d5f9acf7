"""The console's charts as SVG written on the server: nothing to load from anywhere, no script to run.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that says what it shows; the page
prints the same figures in a table next to it (the text alternative). Sizes are in viewBox units and the
CSS scales the SVG to its column, so a chart reads the same at 1280 and at 390 px wide.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

WIDTH = 380
ROW = 28  # height of one bar group's row
LABEL = 96  # room for the row labels on the left
PAD = 14
COLOURS = ("#1f5fa8", "#d9822b", "#2e8540", "#8e3fa6", "#b8323a", "#5b6770")
_ids = itertools.count(1)


def percent(value: float) -> str:
    return f"{value:.0%}" if abs(value) >= 0.1 else f"{value:.1%}"


def ratio(value: float) -> str:
    return f"{value:.2f}×"


@dataclass(frozen=True)
class Reference:
    """A vertical line across a bar chart (fair share, a bound) or a horizontal one on a line chart."""

    value: float
    label: str
    dashed: bool = True


@dataclass(frozen=True)
class Bars:
    label: str
    values: Sequence[float | None]  # one per series; None: no figure (drawn as nothing, said in the table)


@dataclass(frozen=True)
class Chart:
    title: str
    description: str
    series: Sequence[str] = ()
    references: Sequence[Reference] = field(default_factory=tuple)


def _open(chart: Chart, height: float, width: int = WIDTH) -> tuple[str, list[str]]:
    ident = f"chart-{next(_ids)}"
    head = [
        f'<svg class="chart" viewBox="0 0 {width} {height:.0f}" role="img" aria-labelledby="{ident}-t {ident}-d" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="14">',
        f'<title id="{ident}-t">{escape(chart.title)}</title><desc id="{ident}-d">{escape(chart.description)}</desc>',
    ]
    return ident, head


def _legend(series: Sequence[str], y: float) -> list[str]:
    parts, x = [], float(LABEL)
    for i, name in enumerate(series):
        parts.append(f'<rect x="{x:.0f}" y="{y - 10:.0f}" width="12" height="12" fill="{COLOURS[i % len(COLOURS)]}"/>')
        parts.append(f'<text x="{x + 16:.0f}" y="{y:.0f}">{escape(name)}</text>')
        x += 26 + 8 * len(name)
    return parts


def bar_chart(chart: Chart, rows: Sequence[Bars], fmt: Callable[[float], str] = percent, top: float | None = None) -> Markup:
    """Horizontal bars, one group per row and one bar per series, with reference lines (fair share, bounds)."""
    n_series = max(1, len(chart.series))
    figures = [v for r in rows for v in r.values if v is not None] + [ref.value for ref in chart.references]
    top = top if top is not None else max([*figures, 1e-9]) * 1.1
    plot = WIDTH - LABEL - PAD - 60
    legend = 22 if len(chart.series) > 1 or chart.references else 0
    height = PAD + legend + ROW * max(len(rows), 1) * (1 + 0.45 * (n_series - 1)) + 36
    _, out = _open(chart, height)
    if legend:
        out += _legend(chart.series if len(chart.series) > 1 else (), PAD + 12)
    y: float = PAD + legend
    group = ROW * (1 + 0.45 * (n_series - 1))
    bar = (group - 8) / n_series
    for row in rows:
        out.append(f'<text x="{LABEL - 8}" y="{y + group / 2 + 4:.1f}" text-anchor="end">{escape(row.label[:13])}</text>')
        for i, value in enumerate(row.values):
            if value is None:
                continue
            width = max(plot * value / top, 0.0) if top > 0 else 0.0
            top_y = y + 4 + i * bar
            out.append(f'<rect x="{LABEL}" y="{top_y:.1f}" width="{width:.1f}" height="{bar - 2:.1f}" fill="{COLOURS[i % len(COLOURS)]}"/>')
            out.append(f'<text x="{LABEL + width + 4:.1f}" y="{top_y + bar / 2 + 3:.1f}" font-size="12">{escape(fmt(value))}</text>')
        y += group
    bottom = y + 4
    out.append(f'<line x1="{LABEL}" y1="{PAD + legend}" x2="{LABEL}" y2="{bottom:.1f}" stroke="#333"/>')
    for k, ref in enumerate(chart.references):
        x = LABEL + plot * ref.value / top if top > 0 else LABEL
        dash = ' stroke-dasharray="4 3"' if ref.dashed else ""
        out.append(f'<line x1="{x:.1f}" y1="{PAD + legend - 4}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="#b8323a"{dash}/>')
        out.append(f'<text x="{x:.1f}" y="{bottom + 14 + 13 * (k % 2):.1f}" text-anchor="middle" font-size="12" fill="#b8323a">{escape(ref.label)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def line_chart(
    chart: Chart, x_labels: Sequence[str], values: Sequence[Sequence[float | None]], top: float = 1.0,
    fmt: Callable[[float], str] = lambda v: f"{v:.2f}",
) -> Markup:  # fmt: skip
    """One line per series over ``x_labels`` (``values[series][x]``; None leaves a gap), y from 0 to ``top``."""
    height, left, bottom = 240, 44, 200
    plot_w, plot_h = WIDTH - left - PAD, bottom - PAD - 24
    _, out = _open(chart, height)
    out += _legend(chart.series, PAD + 10)
    y0 = PAD + 24

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (plot_w * i / (len(x_labels) - 1) if len(x_labels) > 1 else plot_w / 2)
        return x, bottom - plot_h * min(v / top, 1.0) if top > 0 else bottom

    for tick in (0.0, 0.5, 1.0):
        _, ty = xy(0, tick * top)
        out.append(f'<line x1="{left}" y1="{ty:.1f}" x2="{WIDTH - PAD}" y2="{ty:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end" font-size="12">{escape(fmt(tick * top))}</text>')
    out.append(f'<line x1="{left}" y1="{y0}" x2="{left}" y2="{bottom}" stroke="#333"/>')
    every = max(1, -(-len(x_labels) // 5))
    for i, label in enumerate(x_labels):
        if (len(x_labels) - 1 - i) % every == 0:  # counted back from the latest, which is always shown
            x, _ = xy(i, 0.0)
            anchor = "end" if i == len(x_labels) - 1 else "start" if i == 0 else "middle"  # kept inside the frame
            out.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="{anchor}" font-size="12">{escape(label)}</text>')
    for s, line in enumerate(values):
        colour = COLOURS[s % len(COLOURS)]
        points = [xy(i, v) for i, v in enumerate(line) if v is not None]
        segments: list[list[tuple[float, float]]] = []
        current: list[tuple[float, float]] = []
        for i, v in enumerate(line):
            if v is None:
                segments.append(current)
                current = []
            else:
                current.append(xy(i, v))
        segments.append(current)
        for segment in segments:
            if len(segment) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in segment)
                out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        shape = "rect" if s % 2 else "circle"  # a second series differs by its marks too, not by colour alone
        for x, y in points:
            if shape == "circle":
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>')
            else:
                out.append(f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{colour}"/>')
    out.append("</svg>")
    return Markup("".join(out))


def calibration_chart(chart: Chart, points: Sequence[tuple[float, float, int]]) -> Markup:
    """Observed win rate against predicted P(win) per bin (dot area ~ count), with the diagonal."""
    size, left, pad = 310, 58, 14
    plot = size - left - pad
    height = pad + plot + 44  # the x axis title is the lowest mark
    _, out = _open(chart, height, width=size + 10)

    def xy(p: float, o: float) -> tuple[float, float]:
        return left + plot * p, pad + plot * (1 - o)

    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x, y = xy(tick, tick)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12">{tick:g}</text>')
        out.append(f'<text x="{x:.1f}" y="{pad + plot + 16}" text-anchor="middle" font-size="12">{tick:g}</text>')
    out.append(f'<rect x="{left}" y="{pad}" width="{plot}" height="{plot}" fill="none" stroke="#333"/>')
    middle = pad + plot / 2
    out.append(f'<text x="{left + plot / 2:.1f}" y="{pad + plot + 34}" text-anchor="middle" font-size="12">served P(win)</text>')
    out.append(f'<text x="14" y="{middle:.1f}" text-anchor="middle" font-size="12" transform="rotate(-90 14 {middle:.1f})">won, share</text>')
    x0, y0 = xy(0, 0)
    x1, y1 = xy(1, 1)
    out.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#999" stroke-dasharray="4 3"/>')
    biggest = max((c for _, _, c in points), default=1)
    path = []
    for predicted, observed, count in points:
        x, y = xy(predicted, observed)
        path.append(f"{x:.1f},{y:.1f}")
        radius = 3 + 6 * (count / biggest) ** 0.5
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="{COLOURS[0]}" fill-opacity="0.7"/>')
    if len(path) > 1:
        out.append(f'<polyline points="{" ".join(path)}" fill="none" stroke="{COLOURS[0]}"/>')
    out.append("</svg>")
    return Markup("".join(out))


def interval_chart(
    chart: Chart, rows: Sequence[tuple[str, float, float, float]], fmt: Callable[[float], str] = lambda v: f"{v:.3f}"
) -> Markup:
    """Each row's estimate as a dot with its interval as a whisker, on a shared axis."""
    low = min([r[2] for r in rows] + [r.value for r in chart.references], default=0.0)
    high = max([r[3] for r in rows] + [r.value for r in chart.references], default=1.0)
    span = (high - low) or max(abs(high), 1e-6)
    low, high = low - 0.08 * span, high + 0.08 * span
    plot = WIDTH - LABEL - PAD - 10
    height = PAD + ROW * max(len(rows), 1) + 40
    _, out = _open(chart, height)

    def x_of(v: float) -> float:
        return LABEL + plot * (v - low) / (high - low)

    bottom = PAD + ROW * len(rows)
    for tick in (low + (high - low) * k / 4 for k in range(5)):
        out.append(f'<line x1="{x_of(tick):.1f}" y1="{PAD}" x2="{x_of(tick):.1f}" y2="{bottom}" stroke="#eee"/>')
        out.append(f'<text x="{x_of(tick):.1f}" y="{bottom + 16}" text-anchor="middle" font-size="12">{escape(fmt(tick))}</text>')
    for ref in chart.references:
        out.append(f'<line x1="{x_of(ref.value):.1f}" y1="{PAD}" x2="{x_of(ref.value):.1f}" y2="{bottom}" stroke="#b8323a" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{x_of(ref.value):.1f}" y="{bottom + 32}" text-anchor="middle" font-size="12" fill="#b8323a">{escape(ref.label)}</text>')
    for i, (label, estimate, lo, hi) in enumerate(rows):
        y = PAD + ROW * i + ROW / 2
        out.append(f'<text x="{LABEL - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(label[:13])}</text>')
        out.append(f'<line x1="{x_of(lo):.1f}" y1="{y:.1f}" x2="{x_of(hi):.1f}" y2="{y:.1f}" stroke="#333" stroke-width="2"/>')
        for end in (lo, hi):
            out.append(f'<line x1="{x_of(end):.1f}" y1="{y - 6:.1f}" x2="{x_of(end):.1f}" y2="{y + 6:.1f}" stroke="#333" stroke-width="2"/>')
        out.append(f'<circle cx="{x_of(estimate):.1f}" cy="{y:.1f}" r="5" fill="{COLOURS[i % len(COLOURS)]}"/>')
    out.append("</svg>")
    return Markup("".join(out))
