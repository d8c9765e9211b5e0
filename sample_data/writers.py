"""Byte-reproducible writers for the sample files (CSV in any encoding, XLSX, JSONL, Parquet)."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from safetynet.outputs import atomic_write_bytes
from safetynet.sample_data import xlsx
from safetynet.sample_data.layouts import FileTable


def csv_bytes(table: FileTable) -> bytes:
    """Minimal quoting as Excel writes it; the encoding and BOM the department uses."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n" if table.crlf else "\n")
    writer.writerow(table.headers)
    writer.writerows(zip(*table.columns, strict=True))
    text = ("\ufeff" if table.bom else "") + buf.getvalue()
    return text.encode(table.encoding)


def xlsx_bytes(table: FileTable) -> bytes:
    """One sheet, title rows above the header, typed cells (dates, numbers) kept as given."""
    return xlsx.xlsx_bytes(table.headers, table.columns, sheet=table.sheet,
                           title_rows=table.title_rows)


def jsonl_bytes(records: list[dict[str, Any]]) -> bytes:
    """One JSON object per line, UTF-8, keys in the given order."""
    lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records]
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")


def write(folder: Path, rel: str, data: bytes) -> Path:
    """Atomically write bytes to folder/rel."""
    return atomic_write_bytes(folder / rel, data)


def write_table(folder: Path, table: FileTable) -> int:
    """Write a FileTable in its format; returns the number of data rows."""
    data = csv_bytes(table) if table.fmt == "csv" else xlsx_bytes(table)
    write(folder, table.path, data)
    return len(table.columns[0]) if table.columns else 0


class ArrowStream:
    """A CSV or Parquet file written batch by batch to a temporary file, renamed on close
    (owner-only, like safetynet.outputs.atomic_write_bytes), so large tables never sit in
    memory whole."""

    def __init__(self, path: Path, schema: pa.Schema, fmt: str = "csv") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                   suffix=".tmp")
        os.close(fd)
        self.tmp, self.rows = Path(tmp), 0
        if fmt == "csv":
            options = pacsv.WriteOptions(quoting_style="none", quoting_header="none")
            self.writer = pacsv.CSVWriter(str(self.tmp), schema, write_options=options)
        else:
            self.writer = pq.ParquetWriter(str(self.tmp), schema, compression="zstd")

    def write(self, table: pa.Table) -> None:
        """Append rows (same schema)."""
        self.writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> int:
        """Finish the file and move it into place; returns the number of rows."""
        self.writer.close()
        with open(self.tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(self.tmp, 0o600)
        os.replace(self.tmp, self.path)
        return self.rows
