"""Benchmark: one full quarter end to end at N persons (about 24 department records a person).

    .venv/bin/python bench/quarter.py --persons 100000      # issue 3: <= 60 s, <= 4 GB
    .venv/bin/python bench/quarter.py --persons 1000000     # issue 7: <= 300 s, <= 8 GB
    .venv/bin/python bench/quarter.py --persons 100000 --memory-limit 2GB --label limit2g

Prints wall time, CPU time (the machine is shared: CPU moves less than wall), peak RSS and rows
per second per stage. The sample is generated first in a separate process (cached under
var/bench/sample_<N>, excluded from the figures). Writes bench/results/quarter_<N>[_<label>].json,
appends to bench/results/quarter.jsonl and redraws bench/results/scaling.svg.
`--compare DIR` checks that this run's results equal those of an earlier run's warehouse
(e.g. the same quarter without a memory limit).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import StageClock, figures_dict, peak_rss_gb, print_figures  # noqa: E402

RESULTS = ROOT / "bench" / "results"
STAGE_KEYS = {  # Chinese progress label -> short English key used in results and the plot
    "读取并暂存各部门数据": "extract_stage",
    "数据契约校验": "contracts",
    "人员关联": "link",
    "预警规则": "rules",
    "生成转办文件": "referrals",
}


def ensure_sample(work: Path, persons: int, as_of: str) -> Path:
    """The cached sample of `persons`, generated in a child process when missing."""
    sample = work / f"sample_{persons}"
    if not (sample / as_of / "truth").exists():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "safetynet.sample_data", "--out", str(sample),
                        "--persons", str(persons)], check=True, cwd=ROOT)
        print(f"generated {persons} persons in {time.perf_counter() - started:.1f} s (excluded)")
    return sample


def stage_rows(summary: dict[str, Any]) -> dict[str, int]:
    """Rows each stage handled, from the run summary."""
    return {
        "extract_stage": sum(s["rows_read"] for s in summary["sources"]),
        "contracts": sum(s["rows_staged"] for s in summary["sources"]),
        "link": sum(r["records"] for r in summary.get("links", [])),
        "rules": sum(r["warnings"] for r in summary.get("warnings", [])),
        "referrals": sum(f["rows"] for f in summary.get("referral_files", [])),
    }


def result_digest(warehouse: Path, as_of: str) -> dict[str, str]:
    """Order-independent digests of a run's result tables (for --compare and the memory test)."""
    from safetynet.warehouse import connect

    queries = {
        "staged_rows": "select count(*) || ':' || sum(hash(_source, _record_key)) from ("
                       "select _source, _record_key from staged.roster where as_of = ? union all "
                       "select _source, _record_key from staged.medical_settlements where as_of = ?)",
        "quarantine": "select count(*) || ':' || sum(hash(source, row_number, column_name, "
                      "reason_code)) from meta.quarantine where as_of = ? and ? is not null",
        "record_links": "select count(*) || ':' || sum(hash(source, record_key, person_id, status, "
                        "method, score)) from links.record_links where as_of = ? and ? is not null",
        "warnings": "select count(*) || ':' || sum(hash(warning_key, severity, due_date, "
                    "evidence::varchar)) from warnings.warnings where as_of = ? and ? is not null",
        "referral_files": "select count(*) || ':' || sum(hash(path, sha256)) from referrals.files "
                          "where as_of = ? and is_current and ? is not null",
    }
    con = connect(warehouse, read_only=True)
    try:
        return {k: str(con.execute(q, [as_of, as_of]).fetchone()[0]) for k, q in queries.items()}
    finally:
        con.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--as-of", default="2026-09-30")
    ap.add_argument("--memory-limit", default=None, help="DuckDB memory_limit, e.g. 2GB")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--temp-directory", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=ROOT / "var" / "bench")
    ap.add_argument("--label", default="", help="suffix of the results file")
    ap.add_argument("--keep", action="store_true",
                    help="keep the previous warehouse (measures an incremental rerun)")
    ap.add_argument("--compare", type=Path, default=None,
                    help="a previous run folder whose results must be identical")
    args = ap.parse_args(argv)

    sample = ensure_sample(args.work, args.persons, args.as_of)

    from safetynet.pipeline import run_quarter
    from safetynet.settings import RunSettings

    name = f"run_{args.persons}{'_' + args.label if args.label else ''}"
    run_dir = args.work / name
    if not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    settings = RunSettings(as_of=args.as_of, sources_dir=ROOT / "sample_data" / "sources",
                           data_dir=sample / args.as_of, warehouse=run_dir / "warehouse.duckdb",
                           out_dir=run_dir / "out", memory_limit=args.memory_limit,
                           threads=args.threads, temp_directory=args.temp_directory)
    load_before = os.getloadavg()[0]
    clock = StageClock()
    t0, cpu0 = time.perf_counter(), time.process_time()
    summary = run_quarter(settings, progress=lambda label: clock.mark(STAGE_KEYS.get(label, label)))
    figures = clock.stop()
    total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rows = stage_rows(summary)
    for f in figures:
        f.rows = rows.get(f.stage)
    records = rows["extract_stage"]
    peak = peak_rss_gb()

    print(f"\nquarter {args.as_of}, {args.persons:,} persons, {records:,} department records"
          f"{', memory_limit ' + args.memory_limit if args.memory_limit else ''}")
    print_figures(figures)
    print(f"  {'total':<22}{total:>9.2f}{cpu:>9.2f}{peak:>9.2f}{records:>12,}"
          f"{records / total:>11,.0f}")
    result: dict[str, Any] = {
        "persons": args.persons, "records": records, "seconds": round(total, 2),
        "cpu_seconds": round(cpu, 2), "peak_rss_gb": round(peak, 2),
        "rows_per_second": round(records / total), "stages": figures_dict(figures),
        "memory_limit": args.memory_limit, "threads": args.threads, "label": args.label,
        "incremental": args.keep,
        "machine": {"cpus": os.cpu_count(), "load_before": round(load_before, 2),
                    "load_after": round(os.getloadavg()[0], 2), "python": platform.python_version()},
        "at": datetime.now().isoformat(timespec="seconds"),
        "digest": result_digest(settings.warehouse, args.as_of),
        "command": "bench/quarter.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    if args.compare:
        other = result_digest(args.compare / "warehouse.duckdb", args.as_of)
        result["identical_to"] = {"run": str(args.compare), "same": other == result["digest"]}
        print(f"  results identical to {args.compare}: {other == result['digest']}")
        if other != result["digest"]:
            for key in other:
                if other[key] != result["digest"][key]:
                    print(f"    differs: {key}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"quarter_{args.persons}{'_' + args.label if args.label else ''}.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    with open(RESULTS / "quarter.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(result, ensure_ascii=False) + "\n")
    from bench.plot import write_plot

    print(f"  results: {out.relative_to(ROOT)}, plot: {write_plot().relative_to(ROOT)}")
    return result


if __name__ == "__main__":
    main()
