"""Read a returned referral file (CSV in any common encoding, or XLSX/XLS/ODS) as rows.

Row numbers are the ones the department sees: the CSV line number (header line included) or the
spreadsheet row number. The header row is found among the first rows by a required header, so a
title line above the header does not break intake.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetynet.errors import SafetynetError

SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
CSV_SUFFIXES = (".csv", ".txt")
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "cp936"}
_SPACES = re.compile(r"\s+")


class TableFileError(SafetynetError):
    """A file that cannot be read as a table at all (format, encoding, header)."""

    def __init__(self, message: str, *, code: str, file: str, column: str | None = None) -> None:
        self.code = code
        super().__init__(message, file=file, column=column)


@dataclass
class Table:
    """A file's header and data rows; `rows` holds (row_number, cells) in file order."""

    path: Path
    format: str
    encoding: str | None
    header_row: int
    headers: list[str]
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)
    raw_headers: list[str] = field(default_factory=list)


def normalise_header(value: Any) -> str:
    """Header text for matching: BOM, spaces and a trailing `*` (required marker) removed."""
    text = "" if value is None else str(value)
    return _SPACES.sub("", text.replace("\ufeff", "")).rstrip("*＊")


def _decode(data: bytes, name: str) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    encoding = best.encoding.lower() if best else ""
    if encoding in _GB_FAMILY:
        encoding = "gb18030"  # GBK-labelled files are read as its superset
    if not encoding:
        raise TableFileError(f"文件编码无法识别（不是 UTF-8，也不是 GBK/GB18030）/ cannot detect "
                             f"the encoding of {name}", code="encoding_error", file=name)
    try:
        return data.decode(encoding), encoding
    except (UnicodeDecodeError, LookupError):
        raise TableFileError(f"文件含无法按 {encoding} 解码的字节 / undecodable bytes in {name}",
                             code="encoding_error", file=name) from None


def _csv_rows(data: bytes, name: str) -> tuple[list[tuple[int, list[Any]]], str]:
    text, encoding = _decode(data, name)
    first = text.split("\n", 1)[0]
    delimiter = max(",\t;", key=first.count) if first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[Any]]] = []
    start = 1
    try:
        for cells in reader:
            rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise TableFileError(f"CSV 结构错误（第 {start} 行）/ malformed CSV: {exc}",
                             code="malformed_row", file=name) from None
    return rows, encoding


def _sheet_rows(path: Path, name: str) -> list[tuple[int, list[Any]]]:
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
        sheet = book.get_sheet_by_index(0)
        cells = sheet.to_python(skip_empty_area=False)
    except Exception as exc:  # noqa: BLE001 - calamine raises several private error types
        raise TableFileError(f"无法读取电子表格 / cannot read spreadsheet: {exc}",
                             code="malformed_row", file=name) from None
    return [(i + 1, list(row)) for i, row in enumerate(cells)]


def read_table(path: str | Path, *, is_header: Callable[[list[str]], bool],
               search_rows: int = 10) -> Table:
    """Read `path`; the header is the first of the first `search_rows` rows where
    `is_header(normalised cells)` holds (else TableFileError code `missing_column`)."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise TableFileError(f"文件不存在 / file not found: {path}", code="missing_file", file=name)
    suffix = path.suffix.lower()
    encoding: str | None = None
    if suffix in SPREADSHEET_SUFFIXES:
        rows, fmt = _sheet_rows(path, name), "xlsx"
    elif suffix in CSV_SUFFIXES:
        (rows, encoding), fmt = _csv_rows(path.read_bytes(), name), "csv"
    else:
        raise TableFileError(f"不支持的文件类型 {suffix}（请用 .xlsx 或 .csv）/ unsupported file type",
                             code="malformed_row", file=name)
    for idx, (row_number, cells) in enumerate(rows[:search_rows]):
        headers = [normalise_header(c) for c in cells]
        if is_header(headers):
            raw = ["" if c is None else str(c).replace("\ufeff", "").strip() for c in cells]
            return Table(path, fmt, encoding, row_number, headers, rows[idx + 1:], raw)
    hint = ""
    if encoding and encoding not in ("utf-8", "utf-8-sig"):
        hint = f"（文件按 {encoding} 读取，若表头显示为乱码请另存为 UTF-8 或 xlsx）"
    raise TableFileError(f"前 {search_rows} 行中找不到表头{hint} / header row not found",
                         code="missing_column", file=name)
