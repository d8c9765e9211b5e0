"""Paper model of a province from the measured runs: time and memory at P persons on one machine
and on a Dask cluster of N workers.

    .venv/bin/python bench/paper_model.py --persons 5000000 --workers 4 8 14

Reads bench/results/quarter_<N>.json (at least two sizes: a line a + b x persons per stage,
wall and CPU) and bench/results/partitions_<N>.json (which share of link + warn the prefecture
partitions take, the rest being serial: extract + stage in the one warehouse, the residual
link, merge, lifecycle, referral files). Writes bench/results/paper_model.json and the tables of
bench/paper_model.md between its generated-figures markers.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.plot import RESULTS, measured, write_plot  # noqa: E402

MD = ROOT / "bench" / "paper_model.md"
BEGIN, END = "<!-- generated figures: begin -->", "<!-- generated figures: end -->"


def line(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float]:
    """(a, b) of y = a + b x through two points (b >= 0: costs never fall with size)."""
    b = max(0.0, (y1 - y0) / (x1 - x0))
    return y0 - b * x0, b


def stage_lines(runs: list[dict[str, Any]], key: str) -> dict[str, tuple[float, float]]:
    small, large = runs[0], runs[-1]
    lines = {}
    for s_small in small["stages"]:
        s_large = next(s for s in large["stages"] if s["stage"] == s_small["stage"])
        lines[s_small["stage"]] = line(small["persons"], s_small[key],
                                       large["persons"], s_large[key])
    return lines


def model(persons: int, workers: list[int]) -> dict[str, Any]:
    runs = measured()
    if len(runs) < 2:
        raise SystemExit("need bench/results/quarter_<N>.json of two sizes")
    wall, cpu = stage_lines(runs, "seconds"), stage_lines(runs, "cpu_seconds")
    mem = line(runs[0]["persons"], runs[0]["peak_rss_gb"], runs[-1]["persons"],
               runs[-1]["peak_rss_gb"])
    at = {s: a + b * persons for s, (a, b) in wall.items()}
    cpu_at = {s: a + b * persons for s, (a, b) in cpu.items()}
    parts_file = max(RESULTS.glob("partitions_*.json"), default=None,
                     key=lambda p: int(re.findall(r"\d+", p.name)[0]))
    split = {"residual_share_of_link": 0.5, "source": "assumed (no partitions run)"}
    if parts_file is not None:
        parts = json.loads(parts_file.read_text(encoding="utf-8"))
        link_residual = parts["residual_link_seconds"]
        link_parts = sum(t["seconds"] for t in parts["timings"]
                         if t["stage"] == "link" and t["name"] != "_residual")
        warn_parts = sum(t["seconds"] for t in parts["timings"] if t["stage"] == "warn")
        split = {"residual_share_of_link": round(link_residual / (link_residual + link_parts), 3),
                 "partitions": len(parts["partitions"]),
                 "largest_partition_share": round(
                     parts["largest_partition_seconds"] / max(1e-9, link_parts + warn_parts), 3),
                 "identical_to_single_run": parts["identical_to_single_run"],
                 "source": parts_file.name}
    serial = at["extract_stage"] + at["contracts"] + at["referrals"] + \
        at["link"] * split["residual_share_of_link"]
    parallel = at["link"] * (1 - split["residual_share_of_link"]) + at["rules"]
    cluster = {}
    for n in workers:
        # Amdahl, with the largest prefecture as the floor of the parallel part
        floor = parallel * split.get("largest_partition_share", 0.0)
        cluster[str(n)] = {"seconds": round(serial + max(parallel / n, floor)),
                           "worker_peak_rss_gb": round(mem[0] + mem[1] * persons / max(n, 1), 1)}
    records_per_person = runs[-1]["records"] / runs[-1]["persons"]
    return {
        "persons": persons, "records": round(records_per_person * persons),
        "measured": [{"persons": r["persons"], "seconds": r["seconds"],
                      "cpu_seconds": r["cpu_seconds"], "peak_rss_gb": r["peak_rss_gb"],
                      "command": r.get("command")} for r in runs],
        "per_stage_seconds": {s: round(v) for s, v in at.items()},
        "per_stage_cpu_seconds": {s: round(v) for s, v in cpu_at.items()},
        "one_machine": {"seconds": round(sum(at.values())),
                        "peak_rss_gb": round(mem[0] + mem[1] * persons, 1)},
        "serial_seconds": round(serial), "parallel_seconds": round(parallel),
        "partition_split": split, "cluster": cluster,
        "ratio_largest_to_smallest": round(runs[-1]["seconds"] / runs[0]["seconds"], 2),
    }


def markdown(m: dict[str, Any]) -> str:
    rows = ["| measured persons | wall s | CPU s | peak RSS GB |", "|---:|---:|---:|---:|"]
    rows += [f"| {r['persons']:,} | {r['seconds']} | {r['cpu_seconds']} | {r['peak_rss_gb']} |"
             for r in m["measured"]]
    rows += ["", f"Model for {m['persons']:,} persons (~{m['records'] / 1e6:.0f} million "
             "department records):", "", "| stage | wall s (one machine) | CPU s |",
             "|---|---:|---:|"]
    rows += [f"| {s} | {v:,} | {m['per_stage_cpu_seconds'][s]:,} |"
             for s, v in m["per_stage_seconds"].items()]
    one = m["one_machine"]
    rows += [f"| **total, one machine** | **{one['seconds']:,}** "
             f"(~{one['seconds'] / 60:.0f} min) | |",
             "", f"Peak RSS on one machine (line through the measured peaks; each run's "
             f"DuckDB memory limit is in its results file): ~{one['peak_rss_gb']} GB, an upper "
             "bound when the runs had different limits: a limit bounds DuckDB (it spills), "
             "the Python side grows with the distinct IDs and names.", "",
             f"Serial part {m['serial_seconds']:,} s, parallel part {m['parallel_seconds']:,} s "
             f"(split from {m['partition_split']['source']}: residual link share "
             f"{m['partition_split']['residual_share_of_link']}).", "",
             "| Dask workers | wall s | ~min | peak RSS per worker GB |", "|---:|---:|---:|---:|"]
    rows += [f"| {n} | {c['seconds']:,} | {c['seconds'] / 60:.0f} | {c['worker_peak_rss_gb']} |"
             for n, c in m["cluster"].items()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=5_000_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[4, 8, 14])
    args = ap.parse_args(argv)
    m = model(args.persons, args.workers)
    (RESULTS / "paper_model.json").write_text(json.dumps(m, indent=2) + "\n", encoding="utf-8")
    text = MD.read_text(encoding="utf-8") if MD.exists() else f"{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    MD.write_text(f"{head}{BEGIN}\n{markdown(m)}\n{END}{tail}", encoding="utf-8")
    write_plot()
    print(markdown(m))
    return m


if __name__ == "__main__":
    main()
