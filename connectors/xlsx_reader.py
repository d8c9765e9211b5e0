"""Excel workbooks (xlsx, also xls/ods) through python-calamine, one sheet per source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import python_calamine

from safetynet.connectors.config import SourceConfig
from safetynet.connectors.sink import RawSink
from safetynet.connectors.text import header_text, value_text
from safetynet.errors import SafetynetError
from safetynet.outputs import sha256_file

Row = list[Any]


def _blank(cell: Any) -> bool:
    return cell is None or cell == ""


class XlsxReader:
    """One sheet of one workbook. Rows are numbered as Excel shows them (1-based sheet rows).

    Rows above ``header_row`` (titles, merged or not) are skipped; fully empty rows are ignored;
    columns right of the header are kept (as ``_col<n>``) only when some data row uses them;
    a cell merged down rows below the header repeats its value on every row of the merge.
    """

    def __init__(self, source: SourceConfig, path: Path, rel: str) -> None:
        self.source, self.rel, self.path = source, rel, path
        try:
            self._book = python_calamine.CalamineWorkbook.from_path(str(path))
        except Exception as exc:  # calamine raises several types for broken files
            raise self._error(f"workbook cannot be read / 无法读取 Excel 文件: "
                              f"{type(exc).__name__}") from None
        self._sheet = self._pick_sheet()
        self.header, self._width = self._read_header()

    def _error(self, message: str, row: int | None = None) -> SafetynetError:
        return SafetynetError(message, source=self.source.name, file=self.rel, row=row)

    @property
    def sha256(self) -> str:
        return sha256_file(self.path)

    def close(self) -> None:
        self._book.close()

    def _pick_sheet(self) -> python_calamine.CalamineSheet:
        sheet, names = self.source.sheet, self._book.sheet_names
        if sheet is None:
            sheet = 0
        if isinstance(sheet, str) and sheet not in names and sheet.strip().isdigit():
            sheet = int(sheet.strip())
        if isinstance(sheet, int) and not isinstance(sheet, bool):
            if not 0 <= sheet < len(names):
                raise self._error(f"sheet index {sheet} out of range, workbook has {names} / "
                                  f"工作表序号 {sheet} 不存在")
            return self._book.get_sheet_by_index(sheet)
        if str(sheet) not in names:
            raise self._error(f"sheet '{sheet}' not found, workbook has {names} / "
                              f"找不到工作表「{sheet}」")
        return self._book.get_sheet_by_name(str(sheet))

    def _rows(self) -> Iterator[tuple[int, Row]]:
        """(sheet row number, cells) from row 1; calamine starts at the first used column."""
        return enumerate(self._sheet.iter_rows(), start=1)

    def _read_header(self) -> tuple[list[str], int]:
        header_row = self.source.header_row
        cells: Row | None = None
        for number, row in self._rows():
            if number == header_row:
                cells = row
                break
        if cells is None:
            raise self._error(f"sheet '{self._sheet.name}' has no row {header_row} for the "
                              f"header / 工作表「{self._sheet.name}」没有第 {header_row} 行（表头）",
                              header_row)
        header = [header_text(c) for c in cells]
        named = [i for i, h in enumerate(header) if h]
        if not named:
            raise self._error("header row is empty / 表头行为空", header_row)
        width = named[-1] + 1
        if width < len(header):  # unnamed trailing columns: keep those some data row uses
            for number, row in self._rows():
                if number <= header_row:
                    continue
                for j in range(len(row) - 1, width - 1, -1):
                    if not _blank(row[j]):
                        width = j + 1
                        break
                if width == len(header):
                    break
        return header[:width], width

    def _merges_below_header(self) -> dict[int, list[tuple[int, int]]]:
        """Vertical merges starting below the header: {first row: [(column, last row)]}, rows
        1-based, columns relative to the first used column (as iter_rows gives them)."""
        start = self._sheet.start
        col0 = start[1] if start else 0
        merges: dict[int, list[tuple[int, int]]] = {}
        for (r0, c0), (r1, _c1) in self._sheet.merged_cell_ranges or []:
            if r1 > r0 and r0 + 1 > self.source.header_row and 0 <= c0 - col0 < self._width:
                merges.setdefault(r0 + 1, []).append((c0 - col0, r1 + 1))
        return merges

    def read_into(self, sink: RawSink, batch_rows: int) -> None:
        """Stream the data rows below the header into sink (no structural rejects in xlsx).

        A cell merged down several rows (a household number spanning its members) gives its
        value to every row of the merge in its column, as the officer reads it.
        """
        width, header_row = self._width, self.source.header_row
        merges = self._merges_below_header()
        active: list[tuple[int, int, Any]] = []  # (column, last row, value)
        columns: list[list[str | None]] = [[] for _ in range(width)]
        numbers: list[int] = []
        for number, row in self._rows():
            if number <= header_row:
                continue
            cells = row[:width] if len(row) >= width else row + [""] * (width - len(row))
            if merges:
                active = [m for m in active if m[1] >= number]
                active += [(j, last, cells[j]) for j, last in merges.get(number, ())]
                for j, _, value in active:
                    cells[j] = value
            if all(_blank(c) for c in cells):
                continue
            for j, cell in enumerate(cells):
                columns[j].append(cell if type(cell) is str else value_text(cell))
            numbers.append(number)
            if len(numbers) >= batch_rows:
                sink.add_batch(columns, numbers)
                columns, numbers = [[] for _ in range(width)], []
        sink.add_batch(columns, numbers)
