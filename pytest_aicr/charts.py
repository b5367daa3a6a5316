"""Inline SVG charts for the HTML report: no script, no network, text escaped.

Values are fractions in [0, 1]; ``None`` (an undefined metric) leaves a gap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
_WIDTH, _HEIGHT = 640, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 12, 34, 30


def _y(value: float) -> float:
    return _TOP + (1.0 - value) * (_HEIGHT - _TOP - _BOTTOM)


def _frame(title: str, body: list[str]) -> str:
    grid = []
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = _y(tick)
        grid.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_WIDTH - _RIGHT}" y2="{y:.1f}" '
            'stroke="#ddd"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="11">{tick:g}</text>'
        )
    return (
        f'<svg class="aicr-chart" xmlns="http://www.w3.org/2000/svg" '
        f'width="{_WIDTH}" height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'role="img" font-family="sans-serif"><title>{escape(title)}</title>'
        + "".join(grid)
        + "".join(body)
        + "</svg>"
    )


def _legend(names: Sequence[str]) -> list[str]:
    items, x = [], float(_LEFT)
    for index, name in enumerate(names):
        color = PALETTE[index % len(PALETTE)]
        items.append(
            f'<rect x="{x:.1f}" y="8" width="12" height="12" fill="{color}"/>'
            f'<text x="{x + 16:.1f}" y="18" font-size="12">{escape(name)}</text>'
        )
        x += 28 + 7 * min(len(name), 40)
    return items


def bar_chart(
    title: str,
    values: Mapping[str, Mapping[str, float | None]],
    intervals: Mapping[str, Mapping[str, Sequence[float] | None]],
    metrics: Sequence[str],
) -> str:
    """Grouped bars: one group per metric, one bar per variant, interval whiskers."""
    names = list(values)
    group = (_WIDTH - _LEFT - _RIGHT) / max(1, len(metrics))
    bar = (group - 12) / max(1, len(names))
    body = _legend(names)
    for m_index, metric in enumerate(metrics):
        x0 = _LEFT + m_index * group + 6
        body.append(
            f'<text x="{x0 + (group - 12) / 2:.1f}" y="{_HEIGHT - 10}" '
            f'text-anchor="middle" font-size="12">{escape(metric)}</text>'
        )
        for v_index, name in enumerate(names):
            value = values[name].get(metric)
            if value is None:
                continue
            x = x0 + v_index * bar
            color = PALETTE[v_index % len(PALETTE)]
            body.append(
                f'<rect x="{x:.1f}" y="{_y(value):.1f}" width="{bar - 2:.1f}" '
                f'height="{_y(0) - _y(value):.1f}" fill="{color}">'
                f"<title>{escape(name)} {escape(metric)} {value:.3f}</title></rect>"
            )
            interval = (intervals.get(name) or {}).get(metric)
            if interval:
                mid = x + (bar - 2) / 2
                body.append(
                    f'<line x1="{mid:.1f}" y1="{_y(interval[0]):.1f}" x2="{mid:.1f}" '
                    f'y2="{_y(interval[1]):.1f}" stroke="#333"/>'
                )
    return _frame(title, body)


def line_chart(
    title: str,
    xs: Sequence[float],
    series: Mapping[str, Sequence[float | None]],
    marker: float | None = None,
) -> str:
    """Lines over ``xs`` (gaps where a value is ``None``); a dashed marker line."""
    low, high = min(xs), max(xs)
    span = (high - low) or 1.0

    def x_of(value: float) -> float:
        return _LEFT + (value - low) / span * (_WIDTH - _LEFT - _RIGHT)

    body = _legend(list(series))
    for x in xs[:: max(1, len(xs) // 7)]:
        body.append(
            f'<text x="{x_of(x):.1f}" y="{_HEIGHT - 10}" text-anchor="middle" '
            f'font-size="11">{x:g}</text>'
        )
    if marker is not None and low <= marker <= high:
        body.append(
            f'<line x1="{x_of(marker):.1f}" y1="{_TOP}" x2="{x_of(marker):.1f}" '
            f'y2="{_y(0):.1f}" stroke="#555" stroke-dasharray="4 3"/>'
        )
    for index, ys in enumerate(series.values()):
        color = PALETTE[index % len(PALETTE)]
        for run in _runs(xs, ys):
            points = " ".join(f"{x_of(x):.1f},{_y(y):.1f}" for x, y in run)
            body.append(
                f'<polyline points="{points}" fill="none" stroke="{color}" '
                'stroke-width="2"/>'
            )
    return _frame(title, body)


def _runs(
    xs: Sequence[float], ys: Sequence[float | None]
) -> list[list[tuple[float, float]]]:
    """Consecutive defined points, so an undefined value breaks the line."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=True):
        if y is None:
            runs.append([])
        else:
            runs[-1].append((x, y))
    return [run for run in runs if run]
