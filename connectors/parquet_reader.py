"""Parquet through pyarrow: record batches, every column as text."""

from __future__ import annotations

from pathlib import Path

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
            sink.add_batch([arrow_text(c) for c in batch.columns], list(range(first, first + n)))
            first += n
