"""DuckDB traps the warehouse code steps around, measured on the pinned DuckDB."""

from __future__ import annotations

import duckdb
import pytest

from safetynet.warehouse import connect, create_table_like, digest_sql, transaction

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


def _one_edit_variants(id_number: str) -> list[str]:
    out = {id_number[:i] + d + id_number[i + 1:] for i in range(18) for d in "0123456789X"}
    out |= {id_number[:i] + id_number[i + 1] + id_number[i] + id_number[i + 2:]
            for i in range(17)}
    return sorted(out)


def test_digest_sql_keeps_near_identical_ids_apart() -> None:
    con = duckdb.connect()
    values = _one_edit_variants("43010210751212063X")
    con.execute("create table v (x varchar, y varchar)")
    con.executemany("insert into v values (?, ?)", [[x, "郑一"] for x in values] + [[None, "郑一"]])
    n = len(values) + 1
    assert con.execute(f"select count(distinct {digest_sql('x', 'y')}), "
                       f"count(distinct {digest_sql('x', 'y', lower64=True)}) from v"
                       ).fetchone() == (n, n)
    # the encoding is unambiguous: moving a separator between fields changes the key
    assert con.execute(f"select {digest_sql(repr('a|b'), repr('c'))} <> "
                       f"{digest_sql(repr('a'), repr('b|c'))}").fetchone()[0]


def test_duckdb_hash_is_no_digest() -> None:
    """Why digest_sql exists; if DuckDB's hash() ever separates these, the test says so."""
    con = duckdb.connect()
    values = _one_edit_variants("43010210751212063X")
    con.execute("create table v (x varchar)")
    con.executemany("insert into v values (?)", [[x] for x in values])
    distinct = con.execute("select count(distinct hash(x)) from v").fetchone()[0]
    if distinct == len(values):
        pytest.xfail(f"DuckDB {duckdb.__version__} hash() separated all {len(values)} variants")
    assert distinct < len(values)
