"""JSON lines: one object per line; keys in first-seen order become the columns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from safetynet.connectors.config import SourceConfig
from safetynet.connectors.encoding import (
    DecodedLines,
    detect_encoding,
    has_undecodable,
    show_undecodable,
)
from safetynet.connectors.sink import RawSink
from safetynet.connectors.text import header_text, value_text
from safetynet.errors import ReasonCode


class JsonlReader:
    """One JSON-lines file, read twice: once for the keys (and hash), once for the rows.

    Rows are numbered by record ordinal (blank lines are not records); reasons also name the
    physical line.
    """

    def __init__(self, source: SourceConfig, path: Path, rel: str) -> None:
        self.source, self.rel = source, rel
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        try:
            self.encoding = detect_encoding(self._fh, source.encoding, source=source.name)
            keys: dict[str, int] = {}
            lines = DecodedLines(self._fh, self.encoding)
            for _, _, _, obj in self._records(lines):
                if isinstance(obj, dict):
                    for key in obj:
                        keys.setdefault(key, len(keys))
            self._keys = keys
            self.header = [header_text(k) for k in keys]
            self.sha256 = lines.sha256
        except BaseException:
            self._fh.close()
            raise

    def close(self) -> None:
        self._fh.close()

    @staticmethod
    def _records(lines: DecodedLines) -> Iterator[tuple[int, int, str, Any]]:
        """(ordinal, physical line, text, parsed object or an Exception) per non-blank line."""
        ordinal = 0
        for line_no, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            ordinal += 1
            if line_no in lines.bad_lines:
                yield ordinal, line_no, text, UnicodeError()
                continue
            try:
                yield ordinal, line_no, text, json.loads(text)
            except ValueError as exc:
                yield ordinal, line_no, text, exc

    def read_into(self, sink: RawSink, batch_rows: int) -> None:
        """Stream the records into sink; bad lines and non-objects to quarantine."""
        width, keys = len(self._keys), self._keys
        columns: list[list[str | None]] = [[] for _ in range(width)]
        numbers: list[int] = []
        lines = DecodedLines(self._fh, self.encoding)
        for ordinal, line_no, text, obj in self._records(lines):
            place = f"文件 {self.rel} 第 {line_no} 行（第 {ordinal} 条记录）"
            value = text.rstrip("\r\n")
            if isinstance(obj, UnicodeError) or has_undecodable(text):
                sink.reject(ordinal, ReasonCode.ENCODING_ERROR,
                            f"{place}：含无法按 {self.encoding.codec} 解码的字节",
                            value=show_undecodable(value))
                continue
            if not isinstance(obj, dict):
                what = "无法解析为 JSON" if isinstance(obj, Exception) else "不是 JSON 对象"
                sink.reject(ordinal, ReasonCode.MALFORMED_ROW, f"{place}：{what}", value=value)
                continue
            row: list[str | None] = [None] * width
            for key, cell in obj.items():
                row[keys[key]] = value_text(cell)
            for j in range(width):
                columns[j].append(row[j])
            numbers.append(ordinal)
            if len(numbers) >= batch_rows:
                sink.add_batch(columns, numbers)
                columns, numbers = [[] for _ in range(width)], []
        sink.add_batch(columns, numbers)
