"""Plot of wall time and peak memory against persons, as a dependency-free SVG.

    .venv/bin/python bench/plot.py        # reads bench/results/quarter_<N>.json -> scaling.svg

One point per measured size (the unlabelled run of each size: the default settings), the issue
targets as crosses, and the paper model's 5-million-person estimate (bench/results/
paper_model.json, when present) as a hollow point.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = [(100_000, 60.0, 4.0), (1_000_000, 300.0, 8.0)]  # persons, seconds, GB
_W, _H, _PAD = 380, 300, 56


def measured(results: Path = RESULTS) -> list[dict[str, Any]]:
    """The default run of each size, smallest first."""
    runs = []
    for path in results.glob("quarter_*.json"):
        if re.fullmatch(r"quarter_\d+\.json", path.name):
            runs.append(json.loads(path.read_text(encoding="utf-8")))
    return sorted(runs, key=lambda r: r["persons"])


def _panel(x0: int, title: str, unit: str, points: list[tuple[float, float]],
           targets: list[tuple[float, float]], model: list[tuple[float, float]]) -> str:
    xs = [p[0] for p in points + targets + model] or [1e4, 1e6]
    ys = [p[1] for p in points + targets + model] or [1.0]
    lo, hi = math.log10(min(xs)) - 0.2, math.log10(max(xs)) + 0.2
    top = max(ys) * 1.15

    def px(x: float) -> float:
        return x0 + _PAD + (math.log10(x) - lo) / (hi - lo) * (_W - 1.5 * _PAD)

    def py(y: float) -> float:
        return _H - _PAD + 10 - y / top * (_H - 1.6 * _PAD)

    out = [f'<text x="{x0 + _W / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
           f'<line x1="{px(10 ** lo)}" y1="{py(0)}" x2="{px(10 ** hi)}" y2="{py(0)}" '
           'stroke="#333"/>',
           f'<line x1="{px(10 ** lo)}" y1="{py(0)}" x2="{px(10 ** lo)}" y2="{py(top)}" '
           'stroke="#333"/>']
    for k in range(math.ceil(lo), math.floor(hi) + 1):
        out.append(f'<text x="{px(10 ** k):.1f}" y="{py(0) + 16:.1f}" text-anchor="middle" '
                   f'font-size="11">{10 ** k:,}</text>')
    for i in range(6):
        y = top * i / 5
        out.append(f'<text x="{px(10 ** lo) - 6:.1f}" y="{py(y) + 4:.1f}" text-anchor="end" '
                   f'font-size="11">{y:.0f}</text>')
    out.append(f'<text x="{x0 + 14}" y="{py(top / 2):.1f}" font-size="11" '
               f'transform="rotate(-90 {x0 + 14} {py(top / 2):.1f})" '
               f'text-anchor="middle">{unit}</text>')
    out.append(f'<text x="{px(math.sqrt(10 ** lo * 10 ** hi)):.1f}" y="{_H - 8}" '
               'text-anchor="middle" font-size="11">persons (log scale)</text>')
    if len(points) > 1:
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
    for x, y in points:
        out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="#1f77b4"/>'
                   f'<text x="{px(x) + 6:.1f}" y="{py(y) - 6:.1f}" font-size="11">{y:.1f}</text>')
    for x, y in targets:
        out.append(f'<path d="M{px(x) - 5:.1f},{py(y) - 5:.1f} l10,10 m-10,0 l10,-10" '
                   'stroke="#d62728" stroke-width="2"/>')
    for x, y in model:
        out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="none" '
                   f'stroke="#2ca02c" stroke-width="2"/><text x="{px(x) - 6:.1f}" '
                   f'y="{py(y) - 8:.1f}" font-size="11" text-anchor="end">{y:.0f}</text>')
    return "\n".join(out)


def write_plot(results: Path = RESULTS) -> Path:
    """Draw scaling.svg from the results folder; returns its path."""
    runs = measured(results)
    model_file = results / "paper_model.json"
    model = json.loads(model_file.read_text(encoding="utf-8")) if model_file.exists() else {}
    one = model.get("one_machine", {})
    model_t = [(model["persons"], one["seconds"])] if one.get("seconds") else []
    model_m = [(model["persons"], one["peak_rss_gb"])] if one.get("peak_rss_gb") else []
    left = _panel(0, "wall time per quarter", "seconds",
                  [(r["persons"], r["seconds"]) for r in runs],
                  [(p, s) for p, s, _ in TARGETS], model_t)
    right = _panel(_W, "peak memory (RSS)", "GB",
                   [(r["persons"], r["peak_rss_gb"]) for r in runs],
                   [(p, g) for p, _, g in TARGETS], model_m)
    legend = (f'<text x="10" y="{_H + 18}" font-size="11">blue: measured (bench/quarter.py; settings in '
              'results/quarter_N.json); red x: issue targets; green o: paper model, one machine</text>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * _W}" height="{_H + 28}" '
           f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>\n'
           f"{left}\n{right}\n{legend}\n</svg>\n")
    path = results / "scaling.svg"
    results.mkdir(parents=True, exist_ok=True)
    path.write_text(svg, encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_plot())
