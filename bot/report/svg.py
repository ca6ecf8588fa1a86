"""Charts drawn on the server as inline SVG: no script, no web font, nothing fetched, and readable when printed.

Every chart is ``role="img"`` with a ``<title>`` and ``<desc>`` (named by ``aria-labelledby``) saying what it shows;
the table under it on the page holds the same figures, so the chart is never the only way to read them. Ratings in
the heat map carry a letter as well as a colour, so they survive grey-scale printing and colour blindness.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from html import escape

from bot.report.data import HealthRow

WIDTH = 720
SERIES_COLOURS = ("#464775", "#c4314b", "#0f7b6c", "#8a6d00")
RATING_FILL = {"green": "#237b4b", "amber": "#f2c94c", "red": "#c4314b", "none": "#e1e1e1"}
RATING_INK = {"green": "#ffffff", "amber": "#1f1f1f", "red": "#ffffff", "none": "#1f1f1f"}
RATING_LETTER = {"green": "G", "amber": "A", "red": "R", "none": "N"}
_ids = itertools.count(1)


def _open(title: str, description: str, width: int, height: int) -> tuple[str, str]:
    n = next(_ids)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" aria-labelledby="chart{n}-t chart{n}-d">'
        f'<title id="chart{n}-t">{escape(title)}</title><desc id="chart{n}-d">{escape(description)}</desc>'
    )
    return head, "</svg>"


def _nice_top(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000):
        if value <= step * 5:
            return float(step * 5)
    return float(value)


def bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    unit: str = "",
) -> str:
    """Grouped vertical bars: one group per label, one bar per series, each bar labelled with its value."""
    height, left, bottom, top = 260, 48, 46, 28
    plot_w, plot_h = WIDTH - left - 12, height - bottom - top
    peak = _nice_top(max((v for _, values in series for v in values), default=0.0))
    description = "; ".join(
        f"{label}: " + ", ".join(f"{name} {_fmt(values[i])}{unit}" for name, values in series)
        for i, label in enumerate(labels)
    )
    head, tail = _open(title, description or "No figures yet.", WIDTH, height)
    parts = [head]
    for k in range(5 + 1):  # grid and axis figures
        y = top + plot_h - plot_h * k / 5
        parts.append(f'<line x1="{left}" x2="{WIDTH - 12}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{_fmt(peak * k / 5)}</text>')
    group_w = plot_w / max(len(labels), 1)
    bar_w = min(36.0, group_w * 0.8 / max(len(series), 1))
    for i, label in enumerate(labels):
        x0 = left + group_w * i + (group_w - bar_w * len(series)) / 2
        for j, (_, values) in enumerate(series):
            value = values[i]
            h = plot_h * value / peak
            x, y = x0 + j * bar_w, top + plot_h - h
            colour = SERIES_COLOURS[j % len(SERIES_COLOURS)]
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" fill="{colour}"/>')
            parts.append(
                f'<text x="{x + (bar_w - 2) / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" class="value">'
                f"{_fmt(value)}</text>"
            )
        parts.append(
            f'<text x="{left + group_w * (i + 0.5):.1f}" y="{height - bottom + 16}" text-anchor="middle" '
            f'class="axis">{escape(label)}</text>'
        )
    for j, (name, _) in enumerate(series):  # legend
        x = left + j * 190
        colour = SERIES_COLOURS[j % len(SERIES_COLOURS)]
        parts.append(f'<rect x="{x}" y="{height - 18}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 18}" y="{height - 8}" class="axis">{escape(name)}</text>')
    parts.append(tail)
    return "".join(parts)


def heat_map(titles: Sequence[str], rows: Sequence[HealthRow]) -> str:
    """One row per CoP, one cell per health area (colour and letter), and the members trend as a sparkline."""
    name_w, cell_w, cell_h, spark_w, head_h = 200, 76, 26, 90, 58
    width = name_w + cell_w * len(titles) + spark_w + 16
    height = head_h + cell_h * max(len(rows), 1) + 8
    summary = "; ".join(
        f"{r.name}: " + ", ".join(f"{t} {rating}" for t, rating in zip(titles, r.ratings, strict=True)) for r in rows
    )
    head, tail = _open("Health of each CoP by area, with the members trend", summary or "No CoPs yet.", width, height)
    parts = [head]
    for i, title in enumerate(titles):
        x = name_w + cell_w * i + cell_w / 2
        for k, line in enumerate(_wrap(title, 12)[:3]):
            parts.append(f'<text x="{x:.1f}" y="{18 + k * 14}" text-anchor="middle" class="axis">{escape(line)}</text>')
    parts.append(f'<text x="{width - spark_w / 2 - 8:.0f}" y="18" text-anchor="middle" class="axis">Members</text>')
    for r_index, row in enumerate(rows):
        y = head_h + cell_h * r_index
        parts.append(f'<text x="4" y="{y + 17}" class="label">{escape(_clip(row.name, 28))}</text>')
        for i, rating in enumerate(row.ratings):
            x = name_w + cell_w * i
            parts.append(
                f'<rect x="{x + 1}" y="{y + 1}" width="{cell_w - 2}" height="{cell_h - 2}" '
                f'fill="{RATING_FILL.get(rating, RATING_FILL["none"])}"/>'
            )
            parts.append(
                f'<text x="{x + cell_w / 2:.0f}" y="{y + 17}" text-anchor="middle" class="cell" '
                f'fill="{RATING_INK.get(rating, "#1f1f1f")}">{RATING_LETTER.get(rating, "N")}</text>'
            )
        parts.append(_spark(row.trend, name_w + cell_w * len(titles) + 8, y + 3, spark_w - 8, cell_h - 6))
    parts.append(tail)
    return "".join(parts)


def _spark(points: Sequence[int], x: float, y: float, w: float, h: float) -> str:
    if len(points) < 2:
        return f'<text x="{x}" y="{y + h - 4}" class="axis">no trend yet</text>'
    low, high = min(points), max(points)
    span = (high - low) or 1
    step = w / (len(points) - 1)
    path = " ".join(f"{x + i * step:.1f},{y + h - (p - low) / span * h:.1f}" for i, p in enumerate(points))
    return f'<polyline points="{path}" fill="none" stroke="{SERIES_COLOURS[0]}" stroke-width="1.5"/>'


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
