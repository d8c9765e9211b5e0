"""Parquet: every column as text.

Files whose columns are all plain types (text, integers, floats, decimals, booleans, dates) are
read by DuckDB itself (`read_parquet`, in parallel, no Python per value), with SQL that writes
each type as `safetynet.connectors.text` does; other files stream through pyarrow record
batches and `arrow_text`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from safetynet.connectors.config import SourceConfig
from safetynet.connectors.sink import RawSink
from safetynet.connectors.text import arrow_text, header_text
from safetynet.errors import SafetynetError
from safetynet.outputs import sha256_file


class ParquetReader:
    """One Parquet file; rows numbered by 1-based record ordinal."""

    def __init__(self, source: SourceConfig, path: Path, rel: str) -> None:
        self.source, self.rel, self.path = source, rel, path
        try:
            self._file = pq.ParquetFile(path)
        except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
            raise SafetynetError(f"parquet file cannot be read / 无法读取 Parquet 文件: {exc}",
                                 source=source.name, file=rel) from None
        self.header = [header_text(n) for n in self._file.schema_arrow.names]

    @property
    def sha256(self) -> str:
        return sha256_file(self.path)

    def close(self) -> None:
        self._file.close()

    def read_into(self, sink: RawSink, batch_rows: int) -> None:
        """Read every record into sink (DuckDB directly when the column types allow it)."""
        exprs = duckdb_text_exprs(self._file.schema_arrow)
        if exprs is not None:
            self._read_with_duckdb(sink, exprs)
            return
        self._read_batches(sink, batch_rows)

    def _read_with_duckdb(self, sink: RawSink, exprs: list[str]) -> None:
        from safetynet.connectors.text import float_text

        con = sink.con
        with contextlib.suppress(duckdb.Error):  # (already registered on this connection)
            con.create_function("_sn_float_text", float_text, ["DOUBLE"], "VARCHAR",
                                side_effects=False)
        path = str(self.path).replace("'", "''")
        try:
            sink.add_select(exprs, "file_row_number + 1",
                            f"read_parquet('{path}', file_row_number = true)")
        except duckdb.Error as exc:  # a truncated or corrupt page
            detail = str(exc).splitlines()[0]
            raise SafetynetError(f"parquet file cannot be read / 无法读取 Parquet 文件: {detail}",
                                 source=self.source.name, file=self.rel) from None

    def _read_batches(self, sink: RawSink, batch_rows: int) -> None:
        """Stream record batches into sink."""
        first = 1
        batches = self._file.iter_batches(batch_size=batch_rows)
        while True:
            try:
                batch = next(batches, None)
            except (OSError, ValueError) as exc:  # a truncated or corrupt page
                raise SafetynetError(
                    f"parquet file cannot be read / 无法读取 Parquet 文件: {exc}",
                    source=self.source.name, file=self.rel, row=first) from None
            if batch is None:
                return
            n = batch.num_rows
            sink.add_batch([arrow_text(c) for c in batch.columns],
                           pa.array(np.arange(first, first + n, dtype=np.int64)))
            first += n


def _double_text(col: str) -> str:
    """SQL text of a DOUBLE like float_text: [1e-4, 1e10) in SQL, the rest in Python."""
    return (f"CASE WHEN {col} IS NULL OR isnan({col}) THEN NULL "
            f"WHEN {col} = 0 THEN CASE WHEN signbit({col}) THEN '-0' ELSE '0' END "
            f"WHEN abs({col}) >= 1e-4 AND abs({col}) < 1e10 THEN CASE WHEN {col} = trunc({col}) "
            f"THEN CAST(CAST({col} AS BIGINT) AS VARCHAR) ELSE CAST({col} AS VARCHAR) END "
            f"ELSE _sn_float_text({col}) END")


def duckdb_text_exprs(schema: pa.Schema) -> list[str] | None:
    """SQL text expressions of each column when every type has one, else None."""
    from safetynet.warehouse import quote_ident

    names = [n.casefold() for n in schema.names]
    if len(set(names)) != len(names):
        return None  # DuckDB would rename repeated columns
    exprs = []
    for fld in schema:
        col, t = quote_ident(fld.name), fld.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            exprs.append(f"CAST({col} AS VARCHAR)")
        elif pa.types.is_null(t):
            exprs.append("CAST(NULL AS VARCHAR)")
        elif pa.types.is_boolean(t) or pa.types.is_date32(t) or pa.types.is_decimal(t) or (
                pa.types.is_integer(t)):
            exprs.append(f"CAST({col} AS VARCHAR)")
        elif pa.types.is_floating(t):
            exprs.append(_double_text(f"CAST({col} AS DOUBLE)"))
        else:
            return None
    return exprs
