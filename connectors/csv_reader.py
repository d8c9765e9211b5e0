"""CSV / delimited text: csv module (C) over tolerant decoded lines, batches of text columns."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from safetynet.connectors.config import SourceConfig
from safetynet.connectors.encoding import (
    DecodedLines,
    detect_encoding,
    has_undecodable,
    show_undecodable,
)
from safetynet.connectors.sink import RawSink, where
from safetynet.connectors.text import header_text
from safetynet.errors import ConfigError, ReasonCode, SafetynetError, SourceUnavailable

csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 1 << 30)))


class CsvReader:
    """One delimited text file. ``header`` is read on open; ``read_into`` streams the rows."""

    def __init__(self, source: SourceConfig, path: Path, rel: str) -> None:
        if len(source.delimiter) != 1:
            raise ConfigError(f"delimiter must be one character, got {source.delimiter!r}",
                              source=source.name)
        self.source, self.rel = source, rel
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        try:
            self.encoding = detect_encoding(self._fh, source.encoding, source=source.name)
            self._lines = DecodedLines(self._fh, self.encoding)
            self._it = iter(self._lines)
            self.header = self._read_header()
        except BaseException:
            self._fh.close()
            raise

    @property
    def sha256(self) -> str:
        return self._lines.sha256

    def close(self) -> None:
        self._fh.close()

    def _error(self, message: str, row: int | None = None) -> SafetynetError:
        return SafetynetError(message, source=self.source.name, file=self.rel, row=row)

    def _read_header(self) -> list[str]:
        skip = self.source.header_row - 1
        for _ in range(skip):
            if next(self._it, None) is None:
                raise self._error(f"file ends before header row {self.source.header_row} / "
                                  f"文件不足 {self.source.header_row} 行，找不到表头")
        self._reader = csv.reader(self._it, delimiter=self.source.delimiter, quotechar='"',
                                  doublequote=True, strict=False)
        self._offset = skip
        try:
            fields = next(self._reader, None)
        except csv.Error as exc:
            raise self._error(f"header cannot be parsed / 表头无法解析: {exc}",
                              self.source.header_row) from None
        if fields is None:
            if skip == 0 and self._lines.lines_seen == 0:
                raise SourceUnavailable("file has no text / 文件为空", source=self.source.name,
                                        file=self.rel)
            raise self._error(f"file ends before header row {self.source.header_row} / "
                              f"文件不足 {self.source.header_row} 行，找不到表头")
        self._last = skip + self._reader.line_num
        if any(n in self._lines.bad_lines for n in range(skip + 1, self._last + 1)):
            raise self._error(f"header is not valid {self.encoding.codec} / 表头无法按 "
                              f"{self.encoding.codec} 解码，请在配置中指定 encoding",
                              self.source.header_row)
        header = [header_text(f) for f in fields]
        if not any(header):
            raise self._error("header row is empty / 表头行为空", self.source.header_row)
        return header

    def read_into(self, sink: RawSink, batch_rows: int) -> None:
        """Stream every record after the header into sink; structural rejects to quarantine."""
        ncols = len(self.header)
        reader, offset, bad = self._reader, self._offset, self._lines.bad_lines
        rows: list[list[str]] = []
        numbers: list[int] = []
        last = self._last
        while True:
            try:
                for fields in reader:  # the hot loop: keep it lean
                    start, last = last + 1, offset + reader.line_num
                    if not any(fields):
                        continue  # blank line, or only delimiters
                    if len(fields) != ncols or (bad and not bad.isdisjoint(range(start, last + 1))):
                        self._reject(sink, fields, start, last)
                        continue
                    rows.append(fields)
                    numbers.append(start)
                    if len(rows) >= batch_rows:
                        sink.add_batch(list(zip(*rows, strict=True)), numbers)
                        rows, numbers = [], []
                break
            except csv.Error as exc:
                start, last = last + 1, offset + reader.line_num
                sink.reject(start, ReasonCode.MALFORMED_ROW,
                            f"{where(self.rel, start, last_row=last)}：无法按 CSV 格式解析（{exc}）")
        if rows:
            sink.add_batch(list(zip(*rows, strict=True)), numbers)

    def _reject(self, sink: RawSink, fields: list[str], start: int, last: int) -> None:
        bad = self._lines.bad_lines
        if bad and not bad.isdisjoint(range(start, last + 1)):
            self._reject_encoding(sink, fields, start, last)
            return
        sink.reject(start, ReasonCode.MALFORMED_ROW,
                    f"{where(self.rel, start, last_row=last)}：列数为 {len(fields)}，"
                    f"表头为 {len(self.header)} 列",
                    value=self.source.delimiter.join(fields))

    def _reject_encoding(self, sink: RawSink, fields: list[str], start: int, last: int) -> None:
        codec = self.encoding.codec
        hit = False
        for i, value in enumerate(fields):
            if has_undecodable(value):
                hit = True
                column = sink.columns[i] if len(fields) == len(sink.columns) else None
                sink.reject(start, ReasonCode.ENCODING_ERROR,
                            f"{where(self.rel, start, column, last_row=last)}：含无法按 {codec} "
                            "解码的字节（文件编码不一致）",
                            column=column, value=show_undecodable(value))
        if not hit:  # the bad bytes sat in a delimiter position; blame the row
            sink.reject(start, ReasonCode.ENCODING_ERROR,
                        f"{where(self.rel, start, last_row=last)}：含无法按 {codec} 解码的字节",
                        value=show_undecodable(self.source.delimiter.join(fields)))
