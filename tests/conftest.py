"""Shared fixtures: one generated sample, and both of its quarters run once per test session."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

import safetynet  # noqa: F401  (sets telemetry-off and PREFECT_HOME before prefect is imported)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SOURCES = ROOT / "sample_data" / "sources"
QUARTERS = ("2026-06-30", "2026-09-30")
E2E_PERSONS = int(os.environ.get("SAFETYNET_TEST_PERSONS", "3000"))


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@dataclass
class QuarterRun:
    as_of: str
    data_dir: Path
    truth_dir: Path
    out_dir: Path
    summary: dict


@dataclass
class E2E:
    root: Path
    warehouse: Path
    quarters: dict[str, QuarterRun]


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two quarters of generated department extracts (seeded) with ground truth."""
    from safetynet.sample_data.generate import generate

    out = tmp_path_factory.mktemp("sample")
    generate(out, persons=E2E_PERSONS, seed=20260930, quarters=QUARTERS)
    return out


@pytest.fixture(scope="session")
def e2e(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> E2E:
    """Both sample quarters compared, in order, into one warehouse."""
    from safetynet.pipeline import run_quarter
    from safetynet.settings import RunSettings

    root = tmp_path_factory.mktemp("e2e")
    warehouse = root / "warehouse.duckdb"
    runs: dict[str, QuarterRun] = {}
    for q in QUARTERS:
        settings = RunSettings(as_of=q, sources_dir=SAMPLE_SOURCES, data_dir=sample_dir / q,
                               warehouse=warehouse, out_dir=root / "out")
        summary = run_quarter(settings)
        runs[q] = QuarterRun(q, sample_dir / q, sample_dir / q / "truth",
                             settings.run_out_dir, summary)
    return E2E(root, warehouse, runs)
