"""Small inline SVG charts rendered on the server (no JavaScript, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

PALETTE = ("#1f5fa8", "#d9822b", "#3c8d40", "#b03a48", "#7a5ba6", "#5d6d7e")
SEVERITY_COLOURS = {"高": "#b03a48", "中": "#d9822b", "低": "#3c8d40"}


def bar_chart(items: Sequence[tuple[str, int]], *, width: int = 460, bar_h: int = 22,
              label_w: int = 170, colours: dict[str, str] | None = None,
              title: str = "") -> Markup:
    """Horizontal bars, one per (label, value), with the value at the end of each bar."""
    if not items:
        return Markup('<p class="muted">暂无数据</p>')
    top = max(v for _, v in items) or 1
    plot_w = width - label_w - 60
    height = len(items) * (bar_h + 6) + 6
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, value) in enumerate(items):
        y = 6 + i * (bar_h + 6)
        w = max(1, round(plot_w * value / top))
        colour = (colours or {}).get(label, PALETTE[0])
        short = label if len(label) <= 12 else label[:11] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.0f}" text-anchor="end" '
            f'font-size="13"><title>{escape(label)}</title>{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="{colour}" rx="2"/>'
            f'<text x="{label_w + w + 6}" y="{y + bar_h * 0.7:.0f}" font-size="13">{value:,}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(x_labels: Sequence[str], series: dict[str, Sequence[int]], *, width: int = 620,
               height: int = 240, title: str = "") -> Markup:
    """A line per series over the x labels (quarters), with a legend and point values."""
    if not x_labels:
        return Markup('<p class="muted">暂无数据</p>')
    left, right, top_pad, bottom = 50, 20, 20, 60
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = max([max(v) for v in series.values() if v] + [1])
    n = len(x_labels)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: int) -> float:
        return top_pad + plot_h - plot_h * v / top

    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - right}" '
             f'y2="{top_pad + plot_h}" stroke="#999"/>',
             f'<text x="{left - 6}" y="{top_pad + 4}" text-anchor="end" font-size="12">{top:,}</text>',
             f'<text x="{left - 6}" y="{top_pad + plot_h}" text-anchor="end" font-size="12">0</text>']
    for i, lab in enumerate(x_labels):
        parts.append(f'<text x="{x(i):.0f}" y="{top_pad + plot_h + 18}" text-anchor="middle" '
                     f'font-size="12">{escape(lab)}</text>')
    for k, (name, values) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        for i, v in enumerate(values):
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}">'
                         f'<title>{escape(name)} {escape(x_labels[i])}：{v:,}</title></circle>')
        lx = left + k * 130
        parts.append(f'<rect x="{lx}" y="{height - 22}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{lx + 18}" y="{height - 12}" font-size="12">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
