"""Benchmark: one full quarter end to end at N persons; prints wall time per stage and peak RSS.

    .venv/bin/python bench/quarter.py --persons 100000            # issue target: <= 60 s, <= 4 GB

Generation runs in a separate process first (cached under var/bench/sample_<N>) and is excluded
from the figures. Results are appended to bench/results/quarter.jsonl.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--as-of", default="2026-09-30")
    ap.add_argument("--memory-limit", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--work", type=Path, default=ROOT / "var" / "bench")
    args = ap.parse_args()

    sample = args.work / f"sample_{args.persons}"
    if not (sample / args.as_of / "truth").exists():
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "safetynet.sample_data", "--out", str(sample),
                        "--persons", str(args.persons)], check=True)
        print(f"generated {args.persons} persons in {time.perf_counter() - t:.1f} s (excluded)")

    from safetynet.pipeline import run_quarter
    from safetynet.settings import RunSettings

    run_dir = args.work / f"run_{args.persons}"
    shutil.rmtree(run_dir, ignore_errors=True)
    settings = RunSettings(as_of=args.as_of, sources_dir=ROOT / "sample_data" / "sources",
                           data_dir=sample / args.as_of, warehouse=run_dir / "warehouse.duckdb",
                           out_dir=run_dir / "out", memory_limit=args.memory_limit,
                           threads=args.threads)
    marks: list[tuple[str, float]] = []

    def step(label: str) -> None:
        marks.append((label, time.perf_counter()))

    t0 = time.perf_counter()
    summary = run_quarter(settings, progress=step)
    t_end = time.perf_counter()
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    records = sum(s["rows_read"] for s in summary["sources"])
    print(f"\nquarter {args.as_of}, {args.persons} persons, {records} source rows")
    stages = []
    for i, (label, t) in enumerate(marks):
        nxt = marks[i + 1][1] if i + 1 < len(marks) else t_end
        stages.append({"stage": label, "seconds": round(nxt - t, 2)})
        print(f"  {label:<16} {nxt - t:7.2f} s")
    total = t_end - t0
    print(f"  {'total':<16} {total:7.2f} s   ({records / total:,.0f} rows/s)")
    print(f"  peak RSS         {rss_gb:7.2f} GB")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "quarter.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"persons": args.persons, "records": records, "seconds": round(total, 2),
                             "peak_rss_gb": round(rss_gb, 2), "stages": stages,
                             "memory_limit": args.memory_limit}) + "\n")


if __name__ == "__main__":
    main()
