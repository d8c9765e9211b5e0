"""Incremental loads: a rerun of the same as_of does not read a source whose files, config and
staged rows are unchanged; a changed file or config is read again."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_SOURCES

AS_OF = "2026-09-30"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from safetynet.sample_data.generate import generate

    out = tmp_path_factory.mktemp("incremental_sample")
    generate(out, persons=300, seed=7, quarters=(AS_OF,))
    return out / AS_OF


def load(settings, configs=None):
    from safetynet.pipeline import load_sources, open_warehouse

    con = open_warehouse(settings)
    try:
        loads = {ld.source: ld for ld in load_sources(con, settings, configs)}
        rows = {r[0]: r[1:] for r in con.execute(
            "select source, status, note, sha256, rows_read, rows_staged, rows_quarantined "
            "from meta.source_loads where as_of = ?", [settings.as_of]).fetchall()}
        staged = con.execute("select count(*), sum(hash(_source, _record_key, _row)) from "
                             "staged.pension where as_of = ?", [settings.as_of]).fetchone()
        quarantined = con.execute("select count(*) from meta.quarantine where as_of = ?",
                                  [settings.as_of]).fetchone()[0]
    finally:
        con.close()
    return loads, rows, staged, quarantined


def test_unchanged_sources_are_not_read_again(data_dir: Path, tmp_path: Path) -> None:
    from safetynet.connectors.config import load_source_configs
    from safetynet.outputs import sha256_file
    from safetynet.settings import RunSettings

    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    settings = RunSettings(as_of=AS_OF, sources_dir=SAMPLE_SOURCES, data_dir=data,
                           warehouse=tmp_path / "w.duckdb", out_dir=tmp_path / "out")
    first, rows1, staged1, quarantined1 = load(settings)
    assert {r[0] for r in rows1.values()} == {"loaded"}
    assert {r[1] for r in rows1.values()} == {""}
    pension = data / "hrss" / "pension.csv"
    assert rows1["hrss_pension"][2] == sha256_file(pension)  # the digest the rerun compares

    second, rows2, staged2, quarantined2 = load(settings)
    assert {r[0] for r in rows2.values()} == {"loaded"}
    assert {r[1] for r in rows2.values()} == {"unchanged"}
    # counts carried over, nothing restaged, quarantine kept
    assert {k: v[2:] for k, v in rows2.items()} == {k: v[2:] for k, v in rows1.items()}
    assert staged2 == staged1 and quarantined2 == quarantined1

    # one changed file: only that source is read again (and its new row is staged)
    with open(pension, "rb") as fh:
        lines = fh.read().splitlines(keepends=True)
    pension.write_bytes(b"".join(lines[:-1]))  # the department sent one row fewer
    _, rows3, staged3, _ = load(settings)
    assert rows3["hrss_pension"][1] == "" and rows3["hrss_pension"][3] == rows1[
        "hrss_pension"][3] - 1
    assert staged3[0] == staged1[0] - 1 or rows1["hrss_pension"][5] > 0
    assert {k for k, v in rows3.items() if v[1] == "unchanged"} == set(rows1) - {"hrss_pension"}

    # a changed config (another value map) is read again though its file is the same
    configs = load_source_configs(SAMPLE_SOURCES)
    vehicles = next(c for c in configs if c.name == "public_security_vehicles")
    changed = [dataclasses.replace(c, title=c.title + "（新）") if c is vehicles else c
               for c in configs]
    _, rows4, _, _ = load(settings, changed)
    assert rows4["public_security_vehicles"][1] == ""
    assert rows4["hrss_pension"][1] == "unchanged"


def test_missing_staged_rows_force_a_read(data_dir: Path, tmp_path: Path) -> None:
    from safetynet.settings import RunSettings
    from safetynet.warehouse import connect

    settings = RunSettings(as_of=AS_OF, sources_dir=SAMPLE_SOURCES, data_dir=data_dir,
                           warehouse=tmp_path / "w.duckdb", out_dir=tmp_path / "out")
    load(settings)
    con = connect(settings.warehouse)
    con.execute("delete from staged.pension where as_of = ?", [AS_OF])
    con.close()
    _, rows, staged, _ = load(settings)
    assert rows["hrss_pension"][1] == "" and staged[0] == rows["hrss_pension"][4]
