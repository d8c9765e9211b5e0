"""Where readers put what they read: raw."<source>" in Arrow batches, rejects in meta.quarantine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa

from safetynet.connectors.config import SourceConfig
from safetynet.errors import ReasonCode
from safetynet.warehouse import quote_ident

QUARANTINE_FLUSH_ROWS = 10_000
MAX_VALUE_CHARS = 1000
_QUARANTINE_SCHEMA = pa.schema([
    ("as_of", pa.date32()), ("source", pa.string()), ("department", pa.string()),
    ("file", pa.string()), ("row_number", pa.int64()), ("record_key", pa.string()),
    ("column_name", pa.string()), ("value", pa.string()), ("reason_code", pa.string()),
    ("reason", pa.string()),
])


def where(file: str, row: int, column: str | None = None, *, last_row: int | None = None) -> str:
    """Chinese location prefix for a reason: 文件 a.csv 第 17 行 列「姓名」."""
    rows = f"第 {row} 行" if last_row is None or last_row == row else f"第 {row}–{last_row} 行"
    text = f"文件 {file} {rows}"
    return f"{text} 列「{column}」" if column else text


class RawSink:
    """Writes raw."<source>" (CREATE OR REPLACE) and the source's structural rejects.

    ``columns`` are the final (unique) source column names. Batches are column lists of text
    (or Arrow string arrays) in that order plus the 1-based row numbers; empty strings become
    NULL on insert so every format says "no value" the same way.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, source: SourceConfig, as_of: date,
                 columns: Sequence[str]) -> None:
        self.con, self.source, self.as_of = con, source, as_of
        self.columns = list(columns)
        self.file = ""
        self.rows_loaded = 0
        self._quarantined_rows: set[tuple[str, int]] = set()
        self._pending: list[tuple[Any, ...]] = []
        self._view = f"_safetynet_batch_{source.name}"
        self.table = f"raw.{quote_ident(source.name)}"
        defs = ", ".join(f"{quote_ident(c)} varchar" for c in self.columns)
        con.execute(f"create or replace table {self.table} "
                    f"({defs}{', ' if defs else ''}_row bigint, _file varchar)")
        selects = [f"nullif(c{i}, '')" for i in range(len(self.columns))]
        self._insert_sql = (f"insert into {self.table} select "
                            f"{', '.join([*selects, '_row', '?::varchar'])} from {self._view}")
        self._names = [f"c{i}" for i in range(len(self.columns))] + ["_row"]

    @property
    def rows_quarantined(self) -> int:
        """Distinct rows (file, row) rejected by this stage."""
        return len(self._quarantined_rows)

    def set_file(self, file: str) -> None:
        """The file (relative to the data folder, or db:<source>) the next rows come from."""
        self.file = file

    def add_batch(self, columns: Sequence[Sequence[str | None] | pa.Array],
                  rows: Sequence[int] | pa.Array) -> None:
        """Insert one batch: one text column per source column, and the rows' numbers."""
        if len(rows) == 0:
            return
        arrays = [c if isinstance(c, pa.Array) else pa.array(c, type=pa.string())
                  for c in columns]
        arrays.append(rows if isinstance(rows, pa.Array) else pa.array(rows, type=pa.int64()))
        batch = pa.RecordBatch.from_arrays(arrays, names=self._names)
        self.con.register(self._view, batch)
        try:
            self.con.execute(self._insert_sql, [self.file])
        finally:
            self.con.unregister(self._view)
        self.rows_loaded += len(rows)

    def add_select(self, exprs: Sequence[str], row_sql: str, from_sql: str) -> None:
        """Insert rows computed by DuckDB: one text expression per source column, the row
        number expression, over `from_sql` (e.g. read_parquet(...)), in the source's order."""
        selects = [f"nullif({e}, '')" for e in exprs]
        (inserted,) = self.con.execute(
            f"insert into {self.table} select {', '.join([*selects, row_sql])}, ?::varchar "
            f"from {from_sql}", [self.file]).fetchone()
        self.rows_loaded += int(inserted)

    def reject(self, row: int, code: ReasonCode, reason: str, *, column: str | None = None,
               value: str | None = None) -> None:
        """Quarantine one source row (several calls for one row count it once)."""
        if value is not None and len(value) > MAX_VALUE_CHARS:
            value = value[:MAX_VALUE_CHARS] + "…"
        self._quarantined_rows.add((self.file, row))
        self._pending.append((self.as_of, self.source.name, self.source.department, self.file,
                              row, None, column, value, str(code), reason))
        if len(self._pending) >= QUARANTINE_FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write pending quarantine rows."""
        if not self._pending:
            return
        table = pa.Table.from_pylist(
            [dict(zip(_QUARANTINE_SCHEMA.names, r, strict=True)) for r in self._pending],
            schema=_QUARANTINE_SCHEMA)
        view = f"_safetynet_quarantine_{self.source.name}"
        self.con.register(view, table)
        try:
            self.con.execute(f"insert into meta.quarantine by name select * from {view}")
        finally:
            self.con.unregister(view)
        self._pending.clear()


def clear_quarantine(con: duckdb.DuckDBPyConnection, source: str, as_of: date) -> None:
    """Delete this stage's earlier rejects of (as_of, source) so a rerun is idempotent.

    data_contracts writes its own rejects for the same (as_of, source) after this stage; a
    rerun of the extract reruns staging, so all of them go.
    """
    con.execute("delete from meta.quarantine where as_of = ? and source = ?", [as_of, source])
