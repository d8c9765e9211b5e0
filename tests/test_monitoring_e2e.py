"""Lifecycle of the two generated sample quarters, run through the whole pipeline, against the
generator's truth (truth_lifecycle.csv: warning_key x quarter, 1 where it fires)."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from safetynet.monitoring.lifecycle import quarter_report, update_lifecycle
from safetynet.warehouse import connect
from tests.conftest import E2E, QUARTERS, read_csv
from tests.fixtures.monitoring.builders import snapshot

pytestmark = pytest.mark.slow


def test_new_persisting_resolved_per_rule_match_the_generator(e2e: E2E, sample_dir: Path,
                                                              tmp_path: Path) -> None:
    warehouse = tmp_path / "copy.duckdb"
    shutil.copyfile(e2e.warehouse, warehouse)  # the shared e2e warehouse stays untouched
    con = connect(warehouse)
    first, second = (date.fromisoformat(q) for q in QUARTERS)
    try:
        update_lifecycle(con, first)
        summary = update_lifecycle(con, second)
        truth = read_csv(sample_dir / "truth_lifecycle.csv")
        labels = [c for c in truth[0] if c != "warning_key"]
        expected: Counter[tuple[str, str]] = Counter()
        for row in truth:
            before, now = (int(row[c]) for c in labels)
            state = ("persisting" if before and now else "new" if now
                     else "resolved" if before else None)
            if state:
                expected[(row["warning_key"].split(":", 1)[0], state)] += 1
        got: Counter[tuple[str, str]] = Counter()
        for r in quarter_report(con, second):
            for state in ("new", "persisting", "resolved", "reopened"):
                got[(r.rule_id, state)] += getattr(r, state)
        assert +got == expected
        assert summary.states["persisting"] > 0 and summary.states["resolved"] > 0
        # rerunning the later quarter changes nothing
        tables = ("warnings.history", "warnings.lifecycle", "warnings.audit")
        before_rerun = snapshot(con, tables)
        update_lifecycle(con, second)
        assert snapshot(con, tables) == before_rerun
    finally:
        con.close()
