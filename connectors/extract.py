"""Extract stage: one department source (files or a database query) -> raw."<source>".

Reads stream in batches (never a whole file in a pandas frame), every value lands as VARCHAR
under its header text, and structural rejects (bad encoding, wrong field count, unparsable
lines) go to meta.quarantine with a Chinese reason naming file, row and column.

Example:
    >>> con = connect("warehouse.duckdb")
    >>> result = extract_source(con, load_source_config("sources/hrss_pension.yaml"),
    ...                         Path("data/2025Q1"), date(2025, 3, 31))
    >>> result.rows_read == con.execute('select count(*) from raw."hrss_pension"').fetchone()[0] \\
    ...     + result.rows_quarantined
    True
"""

from __future__ import annotations

import gc
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol

import duckdb

from safetynet.connectors.config import SourceConfig
from safetynet.connectors.paths import SourceFile, resolve_source_files
from safetynet.connectors.sink import RawSink, clear_quarantine
from safetynet.connectors.text import unique_columns
from safetynet.errors import SafetynetError, SourceUnavailable

log = logging.getLogger(__name__)


@dataclass
class ExtractResult:
    """What one extract read.

    ``rows_read`` counts every data row seen, quarantined ones included, so
    ``rows_read == count(raw."<source>") + rows_quarantined``. ``notes`` are Chinese remarks for
    the load report (renamed headers, detected encodings).
    """

    source: str
    files: list[str]
    sha256: str
    rows_read: int
    rows_quarantined: int
    columns: list[str]
    notes: list[str] = field(default_factory=list)


class _Reader(Protocol):
    header: list[str]

    @property
    def sha256(self) -> str: ...

    def read_into(self, sink: RawSink, batch_rows: int) -> None: ...

    def close(self) -> None: ...


def _open_file(source: SourceConfig, f: SourceFile) -> _Reader:
    if source.format == "csv":
        from safetynet.connectors.csv_reader import CsvReader
        return CsvReader(source, f.path, f.rel)
    if source.format == "xlsx":
        from safetynet.connectors.xlsx_reader import XlsxReader
        return XlsxReader(source, f.path, f.rel)
    if source.format == "parquet":
        from safetynet.connectors.parquet_reader import ParquetReader
        return ParquetReader(source, f.path, f.rel)
    if source.format == "jsonl":
        from safetynet.connectors.jsonl_reader import JsonlReader
        return JsonlReader(source, f.path, f.rel)
    raise SafetynetError(f"format '{source.format}' has no file reader", source=source.name)


def _header_mismatch(source: SourceConfig, rel: str, first_rel: str, expected: list[str],
                     got: list[str]) -> SafetynetError:
    diff = next((i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b),
                min(len(expected), len(got)))
    shown = (expected[diff] if diff < len(expected) else "（无）",
             got[diff] if diff < len(got) else "（无）")
    return SafetynetError(
        f"header differs from {first_rel} / 表头与 {first_rel} 不一致：第 {diff + 1} 列应为"
        f"「{shown[0]}」，实为「{shown[1]}」（{len(got)} 列，应为 {len(expected)} 列）",
        source=source.name, file=rel, column=shown[1])


def _in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    """True inside an explicit transaction: autocommit gives each statement a new txid.

    (A failed ``begin`` inside a transaction would abort the caller's transaction.)
    """
    txid = "select txid_current()"
    return con.execute(txid).fetchone()[0] == con.execute(txid).fetchone()[0]


def _begin(con: duckdb.DuckDBPyConnection) -> bool:
    """Start a transaction unless the caller already holds one (then the caller commits)."""
    if _in_transaction(con):
        return False
    con.execute("begin transaction")
    return True


def extract_source(con: duckdb.DuckDBPyConnection, source: SourceConfig, data_root: Path,
                   as_of: date, *, allowed_roots: Sequence[Path] | None = None,
                   batch_rows: int = 100_000) -> ExtractResult:
    """Read one source into raw."<source.name>" and its structural rejects into meta.quarantine.

    Args:
        con: warehouse connection (``safetynet.warehouse.connect``).
        source: the source's config; ``location.path`` may be a glob (files sorted, one header).
        data_root: the quarter's data folder; paths resolve inside it or ``allowed_roots``.
        as_of: the quarter's reference date (keys the quarantine rows).
        batch_rows: rows per Arrow batch inserted into DuckDB.

    All of it lands in one transaction: on any error the previous raw table and quarantine
    rows stay. Raises ConfigError (bad config, path outside the data folder), SourceUnavailable
    (missing or empty file, database unreachable or query failing) and SafetynetError
    (unreadable layout, header differing between files), each naming source and file.
    """
    files = ([] if source.is_database
             else resolve_source_files(source, Path(data_root), allowed_roots))
    own_txn = _begin(con)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of short-lived row lists: the cyclic GC would double the time
    try:
        result = _extract(con, source, files, as_of, batch_rows)
    except BaseException:
        if own_txn:
            con.execute("rollback")
        raise
    finally:
        if gc_was_enabled:
            gc.enable()
    if own_txn:
        con.execute("commit")
    log.info("extract %s: %d files, %d rows read, %d quarantined", source.name,
             len(result.files), result.rows_read, result.rows_quarantined)
    return result


def _extract(con: duckdb.DuckDBPyConnection, source: SourceConfig, files: list[SourceFile],
             as_of: date, batch_rows: int) -> ExtractResult:
    clear_quarantine(con, source.name, as_of)
    sink: RawSink | None = None
    first_header: list[str] = []
    notes: list[str] = []
    digests: list[str] = []
    if source.is_database:
        from safetynet.connectors.db_reader import open_database

        openers = [lambda: open_database(source)]
        rels = [f"db:{source.name}"]
    else:
        openers = [lambda f=f: _open_file(source, f) for f in files]
        rels = [f.rel for f in files]
    for opener, rel in zip(openers, rels, strict=True):
        try:
            reader = opener()
        except OSError as exc:
            raise SourceUnavailable(f"cannot read file / 无法读取文件: {exc.strerror or exc}",
                                    source=source.name, file=rel) from None
        try:
            if sink is None:
                first_header = list(reader.header)
                columns, renamed = unique_columns(first_header)
                notes += [f"{rel}：{n}" for n in renamed]
                for note in renamed:
                    log.warning("source %s, %s: %s", source.name, rel, note)
                sink = RawSink(con, source, as_of, columns)
            elif reader.header != first_header:
                raise _header_mismatch(source, rel, rels[0], first_header, reader.header)
            encoding = getattr(reader, "encoding", None)
            if encoding is not None:
                notes.append(f"{rel}：编码 {encoding.codec}（{encoding.how}）")
            sink.set_file(rel)
            try:
                reader.read_into(sink, batch_rows)
            except OSError as exc:
                raise SourceUnavailable(f"read failed / 读取文件失败: {exc.strerror or exc}",
                                        source=source.name, file=rel) from None
            digests.append(reader.sha256)
        finally:
            reader.close()
    assert sink is not None
    sink.flush()
    sha = digests[0] if len(digests) == 1 else hashlib.sha256(
        "\n".join(digests).encode("ascii")).hexdigest()
    return ExtractResult(
        source=source.name, files=rels, sha256=sha,
        rows_read=sink.rows_loaded + sink.rows_quarantined,
        rows_quarantined=sink.rows_quarantined, columns=sink.columns, notes=notes)
