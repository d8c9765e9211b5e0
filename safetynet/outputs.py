"""Files officers and departments receive: atomic, owner-only, formula-safe, byte-reproducible."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

_FORMULA_START = re.compile(r"^[=+\-@\t\r]")
# Control characters a worksheet cannot hold (openpyxl refuses them) and CSV readers choke on.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def formula_safe(value: Any) -> Any:
    """Neutralise spreadsheet formula injection: prefix a risky text cell with an apostrophe."""
    if isinstance(value, str) and _FORMULA_START.match(value):
        return "'" + value
    return value


def visible_controls(text: str) -> str:
    """Control characters shown as ``\\xNN`` (a NUL in a department's cell must not break a file)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _cell(value: Any) -> Any:
    if isinstance(value, str) and _CONTROL.search(value):
        value = visible_controls(value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    return formula_safe(value)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write bytes to a temporary file in the same folder, fsync, then rename over `path` (0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete temporary files a killed writer left under `folder` (`.<name>.<random>.tmp`).

    Call it only while holding the run lock (no other writer can be mid-write).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.rglob(".*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


@contextmanager
def owner_only() -> Iterator[None]:
    """Files and folders created in the block are private to this user (umask 077).

    The umask is process-wide: use it around a whole run (CLI, flow), not in a library call
    that shares the process with other work.
    """
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def csv_bytes(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8-with-BOM CSV (opens correctly in Excel on Chinese Windows), CRLF line ends."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def xlsx_bytes(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    sheet_title: str = "Sheet1",
    column_widths: Sequence[int] | None = None,
) -> bytes:
    """A one-sheet XLSX whose bytes depend only on its content (fixed zip times and metadata).

    Written with xlsxwriter (streaming, constant memory; several times faster than openpyxl)
    when it is installed, else with openpyxl.
    """
    try:
        import xlsxwriter  # noqa: F401
    except ImportError:
        return _xlsx_bytes_openpyxl(headers, rows, sheet_title=sheet_title,
                                    column_widths=column_widths)
    return _xlsx_bytes_xlsxwriter(headers, rows, sheet_title=sheet_title,
                                  column_widths=column_widths)


def _column_width(i: int, header: Any, column_widths: Sequence[int] | None) -> int:
    return column_widths[i] if column_widths else max(10, min(40, 2 * len(str(header)) + 4))


_XLSX_MAX_TEXT = 32_767  # Excel's limit for one cell; xlsxwriter would drop a longer text


def _xlsx_cell(value: Any) -> Any:
    value = _cell(value)
    if isinstance(value, str) and len(value) > _XLSX_MAX_TEXT:
        return value[:_XLSX_MAX_TEXT - 1] + "…"
    return value


def _xlsx_bytes_xlsxwriter(headers: Sequence[str], rows: Iterable[Sequence[Any]], *,
                           sheet_title: str, column_widths: Sequence[int] | None) -> bytes:
    return xlsx_sheets_bytes([(sheet_title, headers, rows)], column_widths=column_widths)


def xlsx_sheets_bytes(sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Any]]]], *,
                      column_widths: Sequence[int] | None = None, max_width: int = 40) -> bytes:
    """An XLSX with one sheet per (title, headers, rows), written by xlsxwriter: bold frozen
    header, formula-safe cells, bytes that depend only on the content.

    Example:
        >>> data = xlsx_sheets_bytes([("概览", ["项目", "数量"], [["记录", 12]])])
    """
    import xlsxwriter

    buf = io.BytesIO()
    fixed = datetime(2000, 1, 1)
    # text stays text: no formulas, URLs or numbers guessed from strings
    wb = xlsxwriter.Workbook(buf, {"constant_memory": True, "strings_to_formulas": False,
                                   "strings_to_urls": False, "strings_to_numbers": False,
                                   "in_memory": True})
    wb.set_properties({"created": fixed, "author": "safetynet"})
    bold = wb.add_format({"bold": True})
    for title, headers, rows in sheets:
        ws = wb.add_worksheet(str(title)[:31])
        for i, header in enumerate(headers):
            width = column_widths[i] if column_widths else max(
                10, min(max_width, 2 * len(str(header)) + 4))
            ws.set_column(i, i, width)
        ws.freeze_panes(1, 0)
        ws.write_row(0, 0, [str(h) for h in headers], bold)
        write_row = ws.write_row
        for r, row in enumerate(rows, start=1):
            write_row(r, 0, [_xlsx_cell(v) for v in row])
    wb.close()
    return _normalise_zip(buf.getvalue())


def _xlsx_bytes_openpyxl(headers: Sequence[str], rows: Iterable[Sequence[Any]], *,
                         sheet_title: str, column_widths: Sequence[int] | None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = sheet_title[:31]
    ws.append(list(headers))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([_cell(v) for v in row])
    for i, header in enumerate(headers):
        width = _column_width(i, header, column_widths)
        ws.column_dimensions[ws.cell(row=1, column=i + 1).column_letter].width = width
    ws.freeze_panes = "A2"
    fixed = datetime(2000, 1, 1)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    wb.properties.creator = "safetynet"
    buf = io.BytesIO()
    wb.save(buf)
    return _normalise_zip(buf.getvalue())


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed entry times so identical content gives identical bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(
        out, "w", compression=zipfile.ZIP_DEFLATED
    ) as zout:
        for info in zin.infolist():
            content = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"<dcterms:modified[^>]*>[^<]*</dcterms:modified>",
                                 b"", content)
            zi = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            zout.writestr(zi, content)
    return out.getvalue()


def write_csv(path: str | Path, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Atomically write a formula-safe UTF-8-BOM CSV."""
    return atomic_write_bytes(path, csv_bytes(headers, rows))


def write_xlsx(path: str | Path, headers: Sequence[str], rows: Iterable[Sequence[Any]],
               *, sheet_title: str = "Sheet1") -> Path:
    """Atomically write a formula-safe, byte-reproducible XLSX."""
    return atomic_write_bytes(path, xlsx_bytes(headers, rows, sheet_title=sheet_title))


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


normalise_zip = _normalise_zip  # public: other writers (multi-sheet reports) reuse it
