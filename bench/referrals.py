"""Benchmark: the referral stage (write_referrals) alone on an existing warehouse.

    .venv/bin/python bench/referrals.py /tmp/wh100k.duckdb --out /tmp/ref_out
    .venv/bin/python bench/referrals.py /tmp/wh100k.duckdb --out /tmp/ref_out --profile /tmp/p.prof

The warehouse is copied to a temporary file first (write_referrals records its files in
`referrals.files`), so the source warehouse is never written. Prints wall time, CPU time and the
peak RSS of this process (run it in a fresh process: ru_maxrss covers the whole process).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import peak_rss_gb, rss_bytes  # noqa: E402


def _as_of(con) -> date:
    return con.execute("select max(as_of) from warnings.warnings").fetchone()[0]


def main(argv: list[str] | None = None) -> dict[str, float | int | str]:
    """Run write_referrals once on a copy of the warehouse and print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="referral output folder")
    parser.add_argument("--profile", type=Path, help="write a cProfile dump here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")

    from safetynet.monitoring.lifecycle import referral_plan
    from safetynet.referrals import write_referrals
    from safetynet.warehouse import connect

    with tempfile.TemporaryDirectory(prefix="bench_ref_") as tmp:
        copy = Path(tmp) / "wh.duckdb"
        shutil.copyfile(args.warehouse, copy)
        con = connect(copy)
        as_of = _as_of(con)
        plan = referral_plan(con, as_of)
        rss_before = rss_bytes()
        profiler = cProfile.Profile() if args.profile else None
        t0, c0 = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        manifest = write_referrals(con, as_of, args.out, plan=plan)
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        con.close()
    figures = {
        "as_of": as_of.isoformat(), "files": len(manifest.files),
        "warnings": sum(t["warnings"] for t in manifest.totals.values()),
        "seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
        "rss_before_gb": round(rss_before / 1e9, 3), "peak_rss_gb": round(peak_rss_gb(), 3),
    }
    print(json.dumps(figures, ensure_ascii=False))
    return figures


if __name__ == "__main__":
    main()
