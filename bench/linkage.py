"""Linkage side by side: this product's linker and Splink 5 on the same staged records.

    .venv/bin/python bench/linkage.py --persons 20000 --ours-persons 100000

For each size: generate the sample once (``python -m safetynet.sample_data``, cached under
var/bench/sample_<N>), stage it through the real pipeline (`safetynet.pipeline.load_sources`,
cached under var/bench/linkage/staged_<N>.duckdb), then run each engine in its own subprocess on a
fresh copy of the staged warehouse, for a clean wall time and peak RSS. Both engines are scored
with the same code (`safetynet.matching.evaluate.evaluate`) against the sample truth.

- ours: `safetynet.matching.linker.link` (exact IDs, then Fellegi–Sunter with EM over named
  blocking rules), every quarter in order (person keys carry over).
- splink: Splink 5, DuckDB backend, link_only records -> roster persons, with its best reasonable
  set-up: the same cleaned inputs (normalised ID, t2s name key, pinyin, birth date / sex / county
  from the record or else from its ID), comparisons on ID (Damerau-Levenshtein 1, 2), name (exact,
  pinyin, Jaro-Winkler on pinyin), birth date, sex, county / prefecture; blocking on name + birth
  date, pinyin + birth date, ID prefix (12) and ID tail (5); u by random sampling, EM on name +
  birth date and on exact ID blocks, prior from exact-ID matches; each record linked to its best
  candidate when its match probability is at least 0.99 (the same threshold as ours).

Splink is a bench extra (``pip install splink==5.0.0``), not a dependency of the product.
Prints a table (F1, precision, recall, decoy links, wall time, peak RSS) and writes
bench/results/linkage.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
QUARTERS = ("2026-06-30", "2026-09-30")
THRESHOLD = 0.99


# --- data ----------------------------------------------------------------------------------

def ensure_sample(persons: int, work: Path) -> Path:
    """var/bench/sample_<N> with both quarters and truth (generated in a subprocess)."""
    sample = work / f"sample_{persons}"
    if not all((sample / q / "truth" / "links.csv").exists() for q in QUARTERS):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "safetynet.sample_data", "--out", str(sample),
                        "--persons", str(persons), "--quarters", *QUARTERS], check=True,
                       stdout=subprocess.DEVNULL)
        print(f"generated {persons} persons in {time.perf_counter() - t0:.0f} s (excluded)")
    return sample


def ensure_staged(persons: int, sample: Path, work: Path) -> Path:
    """A warehouse with every quarter staged through the real pipeline stages."""
    from safetynet.pipeline import load_sources, open_warehouse
    from safetynet.settings import RunSettings

    staged = work / "linkage" / f"staged_{persons}.duckdb"
    for q in QUARTERS:
        settings = RunSettings(as_of=q, sources_dir=ROOT / "sample_data" / "sources",
                               data_dir=sample / q, warehouse=staged,
                               out_dir=work / "linkage" / "out")
        con = open_warehouse(settings)
        try:
            done = con.execute("select count(*) from meta.source_loads where as_of = ? and "
                               "status = 'loaded'", [date.fromisoformat(q)]).fetchone()[0]
            if not done:
                t0 = time.perf_counter()
                load_sources(con, settings)
                print(f"staged {persons} persons {q} in {time.perf_counter() - t0:.0f} s "
                      "(excluded)")
        finally:
            con.close()
    return staged


# --- workers (each in its own process) ------------------------------------------------------

def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker_ours(warehouse: Path, quarters: list[str], truth: Path) -> dict[str, Any]:
    """Link every quarter with this product's linker; score each against the truth."""
    from safetynet.matching.evaluate import evaluate
    from safetynet.matching.linker import link
    from safetynet.warehouse import connect

    con = connect(warehouse)
    out: dict[str, Any] = {"quarters": {}}
    for q in quarters:
        day = date.fromisoformat(q)
        t0, cpu0 = time.perf_counter(), _cpu_s()
        summary = link(con, day)
        wall = time.perf_counter() - t0
        out["quarters"][q] = {"wall_s": round(wall, 2), "cpu_s": round(_cpu_s() - cpu0, 2),
                              "peak_rss_mib": round(_peak_rss_mib()),
                              "load_avg": round(os.getloadavg()[0], 2),
                              "stages_s": summary.model.get("seconds"),
                              "pairs": summary.model["info"].get("pairs")}
    for q in quarters:
        out["quarters"][q]["quality"] = evaluate(con, date.fromisoformat(q), truth)
    con.close()
    return out


def _splink_inputs(con: Any, day: date) -> tuple[Any, Any, Any]:
    """Records, roster persons (Splink input frames, cleaned as ours are) and record keys."""
    from safetynet.matching.names import pinyin_from_key
    from safetynet.matching.prepare import drop_temp, prepare
    from safetynet.matching.settings import MatchSettings

    prepare(con, f"date '{day.isoformat()}'", MatchSettings(blocking_rules=()))
    left = con.execute("""
        select r.rid::varchar as unique_id, coalesce(r.normalized, r.digits) as id_number,
               n.name_key_nodot as name,
               strftime(coalesce(r.rec_birth, r.id_birth), '%Y%m%d') as dob,
               coalesce(r.rec_sex, case when r.quality in ('valid', 'legacy15')
                        then case when cast(substr(r.normalized, 17, 1) as int) % 2 = 1
                                  then 'male' else 'female' end end) as sex,
               coalesce(r.rec_county, r.id_region6) as county
        from _sn_rec r left join _sn_names n on n.raw = r.name_raw""").df()
    right = con.execute("""
        select person_id as unique_id, person_id as id_number, name_key_nodot as name,
               strftime(birth_date_eff, '%Y%m%d') as dob, sex_eff as sex,
               counties[1] as county
        from _sn_persons""").df()
    keys = con.execute("select rid::varchar as rid, source, record_key from _sn_records").df()
    drop_temp(con)
    for frame in (left, right):
        frame["pinyin"] = [pinyin_from_key(n) if isinstance(n, str) and n else None
                           for n in frame["name"]]
        frame["prefecture"] = frame["county"].str[:4]
        frame["id_head12"] = frame["id_number"].str[:12]
        frame["id_tail5"] = frame["id_number"].str[-5:]
    return left, right, keys


def worker_splink(warehouse: Path, quarters: list[str], truth: Path) -> dict[str, Any]:
    """Splink 5 (DuckDB backend) with its best reasonable settings, one quarter at a time."""
    import duckdb
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from safetynet.matching.evaluate import evaluate
    from safetynet.warehouse import connect

    con = connect(warehouse)
    out: dict[str, Any] = {"quarters": {}, "splink": __import__("splink").__version__}
    for q in quarters:
        day = date.fromisoformat(q)
        t0, cpu0 = time.perf_counter(), _cpu_s()
        left, right, keys = _splink_inputs(con, day)
        settings = SettingsCreator(
            link_type="link_only",
            comparisons=[
                cl.DamerauLevenshteinAtThresholds("id_number", [1, 2]),
                cl.CustomComparison(output_column_name="name", comparison_levels=[
                    cll.NullLevel("name"), cll.ExactMatchLevel("name"),
                    cll.ExactMatchLevel("pinyin"), cll.JaroWinklerLevel("pinyin", 0.9),
                    cll.ElseLevel()]),
                cl.LevenshteinAtThresholds("dob", [1]),
                cl.ExactMatch("sex"),
                cl.CustomComparison(output_column_name="county", comparison_levels=[
                    cll.NullLevel("county"), cll.ExactMatchLevel("county"),
                    cll.ExactMatchLevel("prefecture"), cll.ElseLevel()]),
            ],
            blocking_rules_to_generate_predictions=[
                block_on("name", "dob"), block_on("pinyin", "dob"), block_on("id_head12"),
                block_on("id_tail5")],
            retain_intermediate_calculation_columns=False, retain_matching_columns=False,
        )
        db = DuckDBAPI(duckdb.connect())
        linker = Linker([db.register(left, dataset_display_name="records"),
                         db.register(right, dataset_display_name="roster")], settings)
        linker.training.estimate_probability_two_random_records_match(
            [block_on("id_number")], recall=0.95)
        linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on("name", "dob"))
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on("id_number"))
        pred = linker.inference.predict(threshold_match_probability=0.01).as_pandas_dataframe()
        left_ids = set(left["unique_id"])
        pred = pred.assign(rid=pred["unique_id_l"].where(pred["unique_id_l"].isin(left_ids),
                                                         pred["unique_id_r"]),
                           pid=pred["unique_id_r"].where(pred["unique_id_l"].isin(left_ids),
                                                         pred["unique_id_l"]))
        best = pred.sort_values("match_probability", ascending=False).drop_duplicates("rid")
        best = best[best["match_probability"] >= THRESHOLD][["rid", "pid"]]
        links = keys.merge(best, left_on="rid", right_on="rid", how="left")
        wall = time.perf_counter() - t0
        con.register("splink_links", links)
        con.execute("""create or replace table main.bench_links as
            select ? as as_of, source, record_key, pid as person_id,
                   case when pid is null then 'unlinked' else 'linked' end as status,
                   'splink' as method from splink_links""", [day])
        con.unregister("splink_links")
        out["quarters"][q] = {"wall_s": round(wall, 2), "cpu_s": round(_cpu_s() - cpu0, 2),
                              "peak_rss_mib": round(_peak_rss_mib()),
                              "load_avg": round(os.getloadavg()[0], 2), "pairs": int(len(pred))}
        out["quarters"][q]["quality"] = evaluate(con, day, truth, table="main.bench_links")
    con.close()
    return out


# --- driver ----------------------------------------------------------------------------------

def run_engine(engine: str, staged: Path, quarters: list[str], sample: Path,
               scratch: Path) -> dict[str, Any]:
    """Copy the staged warehouse, run one engine in a fresh process, return its result."""
    copy = scratch / f"{engine}_{staged.stem}.duckdb"
    shutil.copy(staged, copy)
    result_file = scratch / f"{engine}_{staged.stem}.json"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--worker", engine, "--warehouse", str(copy),
                           "--truth", str(sample), "--result", str(result_file),
                           "--quarters", *quarters], check=False)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}", "process_s": time.perf_counter() - t0}
    copy.unlink(missing_ok=True)
    return json.loads(result_file.read_text())


def _row(engine: str, persons: int, q: str, r: dict[str, Any]) -> dict[str, Any]:
    quality = r["quality"]
    overall = quality["overall"]
    decoys = sum(v["false_links"] for v in quality["by_decoy_kind"].values())
    low = {k: v["recall"] for k, v in quality["by_noise_kind"].items()
           if v["should_link"] and v["recall"] < 0.98}
    return {"engine": engine, "persons": persons, "as_of": q,
            "records": overall["records"], "f1": overall["f1"],
            "precision": overall["precision"], "recall": overall["recall"],
            "false_links": overall["false_links"], "decoy_links": decoys,
            "noise_kinds_below_0.98": low, "wall_s": r["wall_s"], "cpu_s": r.get("cpu_s"),
            "peak_rss_mib": r["peak_rss_mib"], "load_avg": r.get("load_avg")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=20_000, help="size both engines run at")
    ap.add_argument("--ours-persons", type=int, default=100_000,
                    help="a larger size for this product's linker only (0: skip)")
    ap.add_argument("--engines", default="ours,splink")
    ap.add_argument("--work", type=Path, default=ROOT / "var" / "bench")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "linkage.json")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--truth", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--quarters", nargs="+", default=list(QUARTERS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        fn = {"ours": worker_ours, "splink": worker_splink}[args.worker]
        args.result.write_text(json.dumps(fn(args.warehouse, args.quarters, args.truth),
                                          default=str))
        return
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    rows: list[dict[str, Any]] = []
    runs: list[tuple[int, str, list[str]]] = []
    for engine in engines:
        # Splink on the last quarter (each quarter is an independent link for it); ours on both
        runs.append((args.persons, engine, list(QUARTERS) if engine == "ours" else [QUARTERS[-1]]))
    if args.ours_persons and "ours" in engines and args.ours_persons != args.persons:
        runs.append((args.ours_persons, "ours", list(QUARTERS)))
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        for persons, engine, quarters in runs:
            sample = ensure_sample(persons, args.work)
            staged = ensure_staged(persons, sample, args.work)
            print(f"running {engine} at {persons} persons: {', '.join(quarters)}", flush=True)
            result = run_engine(engine, staged, quarters, sample, Path(tmp))
            if "error" in result:
                print(f"  {engine} failed: {result['error']}")
                rows.append({"engine": engine, "persons": persons, "error": result["error"]})
                continue
            for q, r in result["quarters"].items():
                rows.append(_row(engine, persons, q, r))
    header = ("engine", "persons", "as_of", "records", "f1", "precision", "recall",
              "false_links", "decoy_links", "wall_s", "cpu_s", "peak_rss_mib", "load_avg")
    print("\n" + " | ".join(header))
    for row in rows:
        print(" | ".join(str(row.get(h, "")) for h in header))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "threshold": THRESHOLD}, indent=2,
                                   ensure_ascii=False))
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
