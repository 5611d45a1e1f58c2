"""Charts as SVG drawn on the server: no chart script in the browser.

Ours rather than pygal's: pygal writes its colours into a ``<style>`` element inside
each chart and expects a tooltip script, both of which the console's CSP refuses
(``style-src 'self'``, ``script-src 'self'``). These charts carry classes only, coloured by
app.css, and a text alternative listing every value, read by screen readers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 600, 220
TOP, BOTTOM, LEFT, RIGHT = 24, 28, 8, 8
_ids = itertools.count()


@dataclass(frozen=True)
class Point:
    label: str
    value: float | None


def _frame(title: str, points: Sequence[Point], shown: Callable[[float], str]) -> tuple[str, str]:
    """The chart's ``<svg>`` opening (with its text alternative) and its closing."""
    chart_id = f"chart-{next(_ids)}"
    described = "; ".join(
        f"{point.label}: {shown(point.value) if point.value is not None else '—'}"
        for point in points
    )
    opening = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(described)}</desc>'
        f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" '
        f'y2="{HEIGHT - BOTTOM}"/>'
    )
    return opening, "</svg>"


def bar_chart(title: str, points: Sequence[Point], shown: Callable[[float], str]) -> Markup:
    """One bar per point, the last one (the current period) highlighted."""
    opening, closing = _frame(title, points, shown)
    values = [p.value for p in points if p.value is not None]
    top = max(values, default=0) or 1
    slot = (WIDTH - LEFT - RIGHT) / max(len(points), 1)
    plot_height = HEIGHT - TOP - BOTTOM
    parts = [opening]
    for index, point in enumerate(points):
        x = LEFT + index * slot
        centre = x + slot / 2
        parts.append(
            f'<text x="{centre:.1f}" y="{HEIGHT - 10}" text-anchor="middle">'
            f"{escape(point.label)}</text>"
        )
        if point.value is None:
            continue
        height = plot_height * max(point.value, 0) / top
        y = HEIGHT - BOTTOM - height
        current = " current" if index == len(points) - 1 else ""
        parts.append(
            f'<rect class="bar{current}" x="{x + slot * 0.15:.1f}" y="{y:.1f}" '
            f'width="{slot * 0.7:.1f}" height="{height:.1f}"/>'
            f'<text class="value" x="{centre:.1f}" y="{y - 6:.1f}" text-anchor="middle">'
            f"{escape(shown(point.value))}</text>"
        )
    parts.append(closing)
    return Markup("".join(parts))  # noqa: S704 - every text in it is escaped above


def line_chart(title: str, points: Sequence[Point], shown: Callable[[float], str]) -> Markup:
    """A line through the points in order (oldest first), the first and last labelled."""
    opening, closing = _frame(title, points, shown)
    known = [(i, p) for i, p in enumerate(points) if p.value is not None]
    parts = [opening]
    if known:
        low = min(p.value for _, p in known if p.value is not None)
        high = max(p.value for _, p in known if p.value is not None)
        span = (high - low) or 1
        step = (WIDTH - LEFT - RIGHT - 80) / max(len(points) - 1, 1)
        plot_height = HEIGHT - TOP - BOTTOM

        def xy(index: int, value: float) -> tuple[float, float]:
            return LEFT + 40 + index * step, TOP + plot_height * (1 - (value - low) / span)

        coordinates = [xy(i, p.value) for i, p in known if p.value is not None]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
        parts.append(f'<polyline class="line" points="{path}"/>')
        for (index, point), (x, y) in zip(known, coordinates, strict=True):
            parts.append(f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3"/>')
            if index in (known[0][0], known[-1][0]) and point.value is not None:
                parts.append(
                    f'<text class="value" x="{x:.1f}" y="{y - 8:.1f}" text-anchor="middle">'
                    f"{escape(shown(point.value))}</text>"
                    f'<text x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="middle">'
                    f"{escape(point.label)}</text>"
                )
    parts.append(closing)
    return Markup("".join(parts))  # noqa: S704 - every text in it is escaped above
