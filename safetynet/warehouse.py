"""The embedded DuckDB warehouse: one file, one schema per layer, history keyed by as_of."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

LAYERS = ("raw", "staged", "links", "warnings", "referrals", "meta")

META_DDL = """
create table if not exists meta.quarantine (
    as_of date, source varchar, department varchar, file varchar, row_number bigint,
    record_key varchar, column_name varchar, value varchar, reason_code varchar, reason varchar
);
create table if not exists meta.source_loads (
    as_of date, source varchar, department varchar, table_name varchar, files varchar,
    sha256 varchar, rows_read bigint, rows_staged bigint, rows_quarantined bigint,
    status varchar, error varchar
);
create table if not exists meta.runs (
    as_of date, run_id varchar, started_at timestamp, finished_at timestamp, status varchar,
    rule_pack varchar, settings json
);
"""


def connect(
    path: str | Path = ":memory:",
    *,
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory: str | Path | None = None,
    read_only: bool = False,
) -> duckdb.DuckDBPyConnection:
    """Open (and create) the warehouse with offline-safe settings and every layer schema."""
    config: dict[str, str | bool | int] = {"autoinstall_known_extensions": False,
                                           "autoload_known_extensions": False}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = threads
    if temp_directory:
        config["temp_directory"] = str(temp_directory)
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        existed = Path(path).exists()
    con = _connect_retrying(str(path), read_only, config)
    con.execute("set enable_progress_bar = false")
    if path != ":memory:" and not existed:
        os.chmod(path, 0o600)
    if not read_only:
        for layer in LAYERS:
            con.execute(f"create schema if not exists {layer}")
        con.execute(META_DDL)
    return con


def _connect_retrying(path: str, read_only: bool, config: dict[str, str | bool | int],
                      wait_s: float = 10.0) -> duckdb.DuckDBPyConnection:
    """Connect, waiting up to `wait_s` while another process (e.g. the web workbench letting go
    of the file when a run starts) still holds DuckDB's file lock."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(path, read_only=read_only, config=config)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    """True when schema.name is a table or view."""
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB SQL (source column names may be Chinese or odd)."""
    return '"' + name.replace('"', '""') + '"'


def digest_sql(*exprs: str, lower64: bool = False) -> str:
    """SQL for a content key of `exprs`: md5 of an unambiguous text (each value length-prefixed,
    NULL as ``-``), as UHUGEINT (or its lower 64 bits, UBIGINT, with `lower64`).

    Not DuckDB's ``hash()``: it is a fast table hash, not a digest. Measured on DuckDB 2.0.0,
    the 198 one-edit variants of one 18-digit ID gave 196 distinct ``hash()`` values.
    """
    parts = ", ".join(f"coalesce(length(cast({e} as varchar)) || ':' || cast({e} as varchar), '-')"
                      for e in exprs)
    return f"{'md5_number_lower' if lower64 else 'md5_number'}(concat_ws('|', {parts}))"


def create_table_like(con: duckdb.DuckDBPyConnection, table: str, select_sql: str) -> None:
    """``create table <table> (...)`` with the columns of `select_sql`, by DDL.

    Not ``create table ... as <select> where false``: in DuckDB 2.0.0, when a transaction
    creates a table that way and then inserts enough rows to be written optimistically (about
    a million), this connection reads the table as empty until it reconnects (measured;
    tests/test_warehouse_duckdb_traps.py).
    """
    cols = ", ".join(f"{quote_ident(name)} {sql_type}" for name, sql_type, *_ in
                     con.execute(f"describe {select_sql}").fetchall())
    con.execute(f"create table {table} ({cols})")


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a block in one DuckDB transaction: all of it lands or none of it."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    else:
        con.execute("commit")
