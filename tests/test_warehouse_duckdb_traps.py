"""DuckDB traps the warehouse code steps around, measured on the pinned DuckDB."""

from __future__ import annotations

import duckdb
import pytest

from safetynet.warehouse import connect, create_table_like, transaction

ROWS = 1_000_000  # enough for DuckDB to write the insert's row groups optimistically


def _fill(path, create) -> tuple[int, int]:
    con = connect(path)
    con.execute(f"create temp table src as select i as id, 'x' || i as s, "
                f"date '2026-09-30' as as_of from range({ROWS}) t(i)")
    with transaction(con):
        create(con)
        con.execute("delete from links.r where as_of = date '2026-09-30'")
        con.execute("insert into links.r by name select * from src")
    # count(distinct) scans the rows (a bare count(*) is answered from metadata)
    seen = con.execute("select count(*), count(distinct id) from links.r").fetchone()
    con.close()
    return seen


def test_create_table_like_keeps_a_big_insert_visible(tmp_path) -> None:
    seen = _fill(tmp_path / "ok.duckdb",
                 lambda con: create_table_like(con, "links.r", "select * from src"))
    assert seen == (ROWS, ROWS)


def test_the_ctas_where_false_trap_is_still_there(tmp_path) -> None:
    """If this starts failing, DuckDB fixed it: create_table_like may go back to CTAS."""
    seen = _fill(tmp_path / "trap.duckdb",
                 lambda con: con.execute("create table links.r as select * from src where false"))
    if seen == (ROWS, ROWS):
        pytest.xfail(f"DuckDB {duckdb.__version__} no longer hides the rows")
    assert seen == (0, 0)
    reopened = duckdb.connect(str(tmp_path / "trap.duckdb"))
    assert reopened.execute("select count(distinct id) from links.r").fetchone() == (ROWS,)
