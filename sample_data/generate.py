"""Seeded generator of department extracts for consecutive quarters, with ground truth.

``generate(out_dir)`` writes ``out_dir/<as_of>/`` per quarter: the roster, the dibao standards and
nine department files as the departments deliver them (see sources.py and layouts.py), plus
``truth/`` computed from the clean model (truth.py). Same seed, same bytes.
"""

from __future__ import annotations

from pathlib import Path

from safetynet.sample_data import layouts, snapshots, writers
from safetynet.sample_data.dates import day, iso, to_date
from safetynet.sample_data.population import EXTRACT_LAG, build_world
from safetynet.sample_data.sources import DEPARTMENT_SOURCES, build_timelines
from safetynet.sample_data.truth import QuarterTruth, lifecycle

DEFAULT_QUARTERS = ("2026-06-30", "2026-09-30")
CHUNK_ROWS = 1_000_000  # settlements are written and checked this many timeline rows at a time


def _label(as_of: int, all_days: tuple[int, ...]) -> str:
    quarters = {(to_date(d).year, (to_date(d).month + 2) // 3) for d in all_days}
    d = to_date(as_of)
    return f"q{(d.month + 2) // 3}" if len({y for y, _ in quarters}) == 1 else d.isoformat()


def generate(out_dir: Path, persons: int = 3000, seed: int = 20260930,
             quarters: tuple[str, ...] = DEFAULT_QUARTERS) -> dict:
    """Write every quarter's extracts and truth under out_dir; return row counts per file.

    Args:
        out_dir: folder that receives one sub-folder per as_of (created if missing).
        persons: number of roster persons (the general population adds half as many).
        seed: random seed; the same seed gives byte-identical files.
        quarters: as_of dates (ISO), ascending quarter ends.
    """
    out_dir = Path(out_dir)
    days = tuple(sorted(day(q) for q in quarters))
    world = build_world(int(persons), days, int(seed))
    timelines = build_timelines(world)
    summary: dict = {"persons": int(persons), "seed": int(seed), "quarters": {}}
    per_quarter = {}
    for q, as_of in enumerate(days):
        folder = out_dir / str(iso([as_of])[0])
        files: dict[str, int] = {}
        roster = snapshots.roster_frame(world, q)
        for table in (layouts.roster(world, roster), layouts.standards(world, q)):
            files[table.path] = writers.write_table(folder, table)
        truth = QuarterTruth(world, q, roster, folder / "truth")
        for src in DEPARTMENT_SOURCES:
            extract = as_of + EXTRACT_LAG[src.name]
            qt = layouts.Quarter(index=q, as_of=as_of, extract=extract)
            timeline = timelines[src.name]
            if src.path.endswith(".parquet"):  # the big one: chunk by chunk
                stream = None
                for lo in range(0, max(len(timeline), 1), CHUNK_ROWS):
                    snap = snapshots.snapshot(src.name, timeline.iloc[lo:lo + CHUNK_ROWS],
                                              extract)
                    table = src.layout(world, snap, qt)
                    stream = stream or writers.ArrowStream(folder / src.path, table.schema,
                                                           "parquet")
                    stream.write(table)
                    truth.add(src.name, snap, src.bad)
                files[src.path] = stream.close()
                continue
            snap = snapshots.snapshot(src.name, timeline, extract)
            made = src.layout(world, snap, qt)
            if src.path.endswith(".jsonl"):
                writers.write(folder, src.path, writers.jsonl_bytes(made))
            else:
                writers.write_table(folder, made)
            files[src.path] = len(snap)
            truth.add(src.name, snap, src.bad)
            del snap, made
        files.update(truth.write())
        per_quarter[_label(as_of, days)] = truth.warnings_frame
        summary["quarters"][str(iso([as_of])[0])] = files
    if len(days) > 1:
        table = lifecycle(per_quarter)
        writers.write(out_dir, "truth_lifecycle.csv",
                      table.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return summary
