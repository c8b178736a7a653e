"""Charts as inline SVG, drawn on the server: no script, no font or file to fetch, so the
statistics page and the report file look the same offline and in a mail attachment."""

from __future__ import annotations

from html import escape

# Okabe-Ito: told apart by people with the common colour-vision deficiencies.
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
)  # fmt: skip
MAX_SERIES = len(PALETTE)
OTHER = "other"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _nice_max(value: float) -> float:
    """A round axis top at or above `value` (1, 2, 5 × 10^k)."""
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if factor * step >= value:
            return factor * step
    return 10 * step


def _fmt(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0")


def bar_chart(
    counts: list[tuple[str, float]], title: str, percent: bool = False, width: int = 520
) -> str:
    """Horizontal bars, one per label, largest first as given."""
    row, left, right, top = 22, 150, 70, 8
    height = top + row * max(len(counts), 1) + 8
    top_value = max([v for _, v in counts], default=0)
    scale = _nice_max(top_value) if not percent else max(top_value, 1e-9)
    plot = width - left - right
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{_e(title)}</title>'
    ]
    for i, (label, value) in enumerate(counts):
        y = top + i * row
        length = plot * (value / scale) if scale else 0
        parts.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" class="label">'
            f"{_e(_short(label))}</text>"
            f'<rect x="{left}" y="{y + 3}" width="{length:.1f}" height="{row - 6}" '
            f'fill="{PALETTE[0]}"><title>{_e(label)}: {_fmt(value, percent)}</title></rect>'
            f'<text x="{left + length + 4:.1f}" y="{y + 15}" class="value">'
            f"{_fmt(value, percent)}</text>"
        )
    if not counts:
        parts.append(f'<text x="{left}" y="{top + 15}" class="label">—</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    weeks: list[str],
    series: dict[str, dict[str, float]],
    title: str,
    percent: bool = False,
    width: int = 640,
    height: int = 240,
) -> str:
    """One line per label over the weeks; beyond the palette the smallest are summed as 'other'."""
    series = _fold_small(series)
    left, right, top, bottom = 48, 170, 10, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series.values() for v in s.values()]
    top_value = 1.0 if percent else _nice_max(max(values, default=0))
    n = len(weeks)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - plot_h * (v / top_value if top_value else 0)

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{_e(title)}</title>'
    ]
    for k in range(5):
        v = top_value * k / 4
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            f'class="grid"/><text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end" '
            f'class="tick">{_fmt(v, percent)}</text>'
        )
    every = max(1, n // 6)
    for i, week in enumerate(weeks):
        if i % every == 0 or i == n - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                f'class="tick">{_e(week[5:] if len(weeks) < 53 else week[:7])}</text>'
            )
    for j, (label, points) in enumerate(series.items()):
        colour = PALETTE[j % MAX_SERIES]
        coords = " ".join(f"{x(i):.1f},{y(points.get(w, 0)):.1f}" for i, w in enumerate(weeks))
        if n == 1:
            parts.append(
                f'<circle cx="{x(0):.1f}" cy="{y(points.get(weeks[0], 0)):.1f}" r="4" '
                f'fill="{colour}"><title>{_e(label)}</title></circle>'
            )
        else:
            parts.append(
                f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2">'
                f"<title>{_e(label)}</title></polyline>"
            )
        ly = top + 14 * j + 8
        parts.append(
            f'<rect x="{left + plot_w + 10}" y="{ly - 8}" width="10" height="10" '
            f'fill="{colour}"/><text x="{left + plot_w + 24}" y="{ly + 1}" class="label">'
            f"{_e(_short(label, 24))}</text>"
        )
    if not weeks:
        parts.append(f'<text x="{left + 8}" y="{top + 20}" class="label">—</text>')
    parts.append("</svg>")
    return "".join(parts)


def _fold_small(series: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    if len(series) <= MAX_SERIES:
        return series
    ranked = sorted(series, key=lambda label: -sum(series[label].values()))
    kept = {label: series[label] for label in ranked[: MAX_SERIES - 1]}
    other: dict[str, float] = {}
    for label in ranked[MAX_SERIES - 1 :]:
        for week, v in series[label].items():
            other[week] = other.get(week, 0) + v
    kept[OTHER] = other
    return kept


def _short(label: str, limit: int = 22) -> str:
    label = str(label)
    return label if len(label) <= limit else label[: limit - 1] + "…"
