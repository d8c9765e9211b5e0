"""Benchmark: the quarter with link + warn per prefecture partition (one after another here),
to measure what a Dask cluster would run in parallel and what stays serial.

    .venv/bin/python bench/partitions.py --persons 100000

Uses the model of the single-machine run of the same size (bench/quarter.py must have run:
var/bench/run_<N>/warehouse.duckdb), so the merged results can be compared with it. Prints and
writes bench/results/partitions_<N>.json: serial part (load = extract + stage + contracts +
plan, residual link, merge + lifecycle + referrals) and the per-partition link and warn times.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import peak_rss_gb  # noqa: E402
from bench.quarter import RESULTS, ensure_sample, result_digest  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--as-of", default="2026-09-30")
    ap.add_argument("--work", type=Path, default=ROOT / "var" / "bench")
    ap.add_argument("--memory-limit", default=None)
    args = ap.parse_args(argv)

    from safetynet import partitions
    from safetynet.settings import RunSettings
    from safetynet.warehouse import connect

    sample = ensure_sample(args.work, args.persons, args.as_of)
    single = args.work / f"run_{args.persons}" / "warehouse.duckdb"
    con = connect(single, read_only=True)
    model = json.loads(con.execute("select model from links.model where as_of = ?",
                                   [args.as_of]).fetchone()[0])
    con.close()
    run_dir = args.work / f"partitions_{args.persons}"
    shutil.rmtree(run_dir, ignore_errors=True)
    settings = RunSettings(as_of=args.as_of, sources_dir=ROOT / "sample_data" / "sources",
                           data_dir=sample / args.as_of, warehouse=run_dir / "warehouse.duckdb",
                           out_dir=run_dir / "out", memory_limit=args.memory_limit,
                           match_settings={"model": model})
    timings: list[dict[str, Any]] = []

    def timed(fn: Any, items: list[tuple[Any, ...]]) -> list[Any]:
        out = []
        for item in items:
            t, cpu = time.perf_counter(), time.process_time()
            res = fn(*item)
            timings.append({"name": res.name, "stage": res.stage, "records": res.records,
                            "roster_rows": res.roster_rows,
                            "seconds": round(time.perf_counter() - t, 2),
                            "cpu_seconds": round(time.process_time() - cpu, 2)})
            out.append(res)
        return out

    started = time.perf_counter()
    summary = partitions.run_quarter_partitioned(settings, map_fn=timed)
    total = time.perf_counter() - started
    parallel = [t for t in timings if t["name"] != partitions.RESIDUAL]
    residual = [t for t in timings if t["name"] == partitions.RESIDUAL]
    serial_other = total - sum(t["seconds"] for t in timings)
    same = result_digest(settings.warehouse, args.as_of) == result_digest(single, args.as_of)
    result = {
        "persons": args.persons, "seconds": round(total, 2), "peak_rss_gb": round(peak_rss_gb(), 2),
        "partitions": summary["partitions"]["names"], "timings": timings,
        "serial_load_merge_refer_seconds": round(serial_other, 2),
        "residual_link_seconds": round(sum(t["seconds"] for t in residual), 2),
        "partition_seconds": round(sum(t["seconds"] for t in parallel), 2),
        "largest_partition_seconds": round(max(
            sum(t["seconds"] for t in parallel if t["name"] == n)
            for n in summary["partitions"]["names"]), 2),
        "records_residual": sum(t["records"] for t in residual),
        "records_partitions": sum(t["records"] for t in parallel if t["stage"] == "link"),
        "identical_to_single_run": same,
        "command": "bench/partitions.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "timings"}, indent=2))
    for t in timings:
        print(f"  {t['name']:<10} {t['stage']:<5} {t['records']:>10,} records "
              f"{t['seconds']:>8.2f} s  cpu {t['cpu_seconds']:>8.2f} s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"partitions_{args.persons}.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
