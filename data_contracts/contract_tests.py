"""Runner of the `unit_tests:` in contract YAMLs (dbt-style given/expect rows).

Each unit test builds a raw table from its `given` rows (source columns named like the canonical
columns, record key column `record_key`, unless the test's `config` says otherwise), stages it with
`stage_source` on a real DuckDB and compares staged and quarantined rows with `expect`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb

from safetynet.connectors.config import parse_source_config
from safetynet.data_contracts.contract import Contract, list_tables, load_contract
from safetynet.data_contracts.stage import stage_source
from safetynet.data_contracts.stage_sql import as_date, canonical_text
from safetynet.warehouse import connect, quote_ident

DEFAULT_AS_OF = date(2025, 6, 30)
RECORD_KEY_COLUMN = "record_key"


@dataclass
class UnitTestOutcome:
    """Result of one contract unit test."""

    table: str
    name: str
    passed: bool
    problems: list[str] = field(default_factory=list)


def _same(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual or expected == actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return math.isclose(float(expected), float(actual), rel_tol=1e-9, abs_tol=1e-9)
    return expected == actual


def run_unit_test(con: duckdb.DuckDBPyConnection, contract: Contract, index: int,
                  test: dict[str, Any]) -> UnitTestOutcome:
    """Run one unit test of a contract on an open warehouse connection."""
    name = str(test.get("name") or f"test_{index}")
    source_name = f"ut_{contract.table}_{index}"
    as_of = as_date(test.get("as_of", DEFAULT_AS_OF))
    given: list[dict[str, Any]] = list(test.get("given") or [])
    config = dict(test.get("config") or {})
    columns: dict[str, Any] = {c: c for c in contract.columns}
    columns.update(config.get("columns") or {})
    raw_cols = list(dict.fromkeys(
        [RECORD_KEY_COLUMN, *(v for v in columns.values() if isinstance(v, str)),
         *(k for row in given for k in row)]))
    col_ddl = ", ".join(f"{quote_ident(c)} VARCHAR" for c in raw_cols)
    con.execute(f"create or replace table raw.{quote_ident(source_name)} "
                f"({col_ddl}, _row BIGINT, _file VARCHAR)")
    file = f"unit_tests/{contract.table}.csv"
    rows = [[canonical_text(row.get(c)) for c in raw_cols] + [i + 2, file]
            for i, row in enumerate(given)]
    if rows:
        marks = ", ".join("?" for _ in range(len(raw_cols) + 2))
        con.executemany(f"insert into raw.{quote_ident(source_name)} values ({marks})", rows)
    cfg = parse_source_config({
        "name": source_name, "title": name, "department": "unit_test", "table": contract.table,
        "location": {"path": file}, "format": "csv", "record_key": RECORD_KEY_COLUMN,
        "columns": columns, "values": config.get("values") or {},
        **({"date_formats": config["date_formats"]} if config.get("date_formats") else {}),
    })
    result = stage_source(con, cfg, as_of)
    problems: list[str] = []
    if result.rows_read != len(given) or (
            result.rows_read != result.rows_staged + result.rows_quarantined):
        problems.append(f"counts do not add up: {result}")
    expect = test.get("expect") or {}
    cur = con.execute(f'select * from staged."{contract.table}" where as_of = ? and _source = ?',
                      [as_of, source_name])
    names = [d[0] for d in cur.description]
    staged = {r["_record_key"]: r for r in (dict(zip(names, row, strict=True))
                                            for row in cur.fetchall())}
    want_staged = list(expect.get("staged") or [])
    want_keys = {canonical_text(r.get("_record_key")) for r in want_staged}
    if set(staged) != want_keys:
        problems.append(f"staged keys {sorted(map(str, staged))} != expected "
                        f"{sorted(map(str, want_keys))}")
    for want in want_staged:
        got = staged.get(canonical_text(want.get("_record_key")))
        if got is None:
            continue
        for col, value in want.items():
            if col not in got:
                problems.append(f"expected column {col} is not staged")
            elif not _same(value, got[col]):
                problems.append(f"{want.get('_record_key')}.{col}: expected {value!r}, "
                                f"got {got[col]!r}")
    quarantined = Counter(con.execute(
        "select record_key, column_name, reason_code from meta.quarantine "
        "where as_of = ? and source = ?", [as_of, source_name]).fetchall())
    want_q = Counter((canonical_text(q.get("_record_key")), str(q["column"]),
                      str(q["reason_code"])) for q in expect.get("quarantined") or [])
    if quarantined != want_q:
        problems.append(f"quarantined {sorted(quarantined.elements(), key=str)} != expected "
                        f"{sorted(want_q.elements(), key=str)}")
    return UnitTestOutcome(contract.table, name, not problems, problems)


def run_unit_tests(tables: list[str] | None = None,
                   con: duckdb.DuckDBPyConnection | None = None) -> list[UnitTestOutcome]:
    """Run the unit tests of the given contracts (default: all) on a warehouse (default: memory)."""
    con = con or connect()
    outcomes = []
    for table in tables or list_tables():
        contract = load_contract(table)
        for i, test in enumerate(contract.unit_tests):
            outcomes.append(run_unit_test(con, contract, i, test))
    return outcomes
