"""An in-memory copy of one quarter's warning table, so filters and sorts stay fast.

A quarter's warnings joined to their lifecycle status, overdue flag and history state, with
integer sort ranks, are copied once into a private in-memory DuckDB; the table pages, counts and
overview charts then scan that copy (scope and filters are still applied in SQL per request).
A copy is tied to the warehouse's *generation*: it is rebuilt after the app reopens the file
following a release (a quarterly run may have written) and after a disposition.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date

import duckdb
import pyarrow as pa


class QuarterCache:
    """Quarter tables in a private in-memory DuckDB, keyed by (as_of, generation)."""

    def __init__(self, max_rows: int = 1_000_000) -> None:
        self.max_rows = max_rows
        self._mem = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                                       "autoload_known_extensions": False})
        self._lock = threading.Lock()
        self._tables: dict[date, tuple[int, str]] = {}
        self._seq = 0
        self.builds = 0

    def table(self, as_of: date, generation: int,
              build: Callable[[], pa.Table | None]) -> str | None:
        """Name of the current copy of `as_of` (built now if missing or stale), or None."""
        hit = self._tables.get(as_of)
        if hit and hit[0] == generation:
            return hit[1]
        with self._lock:
            hit = self._tables.get(as_of)
            if hit and hit[0] == generation:
                return hit[1]
            data = build()
            if data is None:
                return None
            self._seq += 1
            name = f"quarter_{self._seq}"
            self._mem.register("quarter_src", data)
            try:
                self._mem.execute(f"create table {name} as select * from quarter_src "
                                  f"order by key_rank")
            finally:
                self._mem.unregister("quarter_src")
            self._tables[as_of] = (generation, name)
            self.builds += 1
            self._drop_unused()
            return name

    def _drop_unused(self) -> None:
        live = {name for _, name in self._tables.values()}
        for (name,) in self._mem.execute(
                "select table_name from duckdb_tables() where database_name = 'memory'"
        ).fetchall():
            if name not in live:
                self._mem.execute(f"drop table if exists {name}")
        while len(self._tables) > 4:  # keep the four most recently built quarters
            oldest = min(self._tables, key=lambda d: int(self._tables[d][1].split("_")[1]))
            _, name = self._tables.pop(oldest)
            self._mem.execute(f"drop table if exists {name}")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the in-memory copies (one per request thread)."""
        return self._mem.cursor()

    def clear(self) -> None:
        """Forget every copy."""
        with self._lock:
            for _, name in self._tables.values():
                self._mem.execute(f"drop table if exists {name}")
            self._tables.clear()

    def close(self) -> None:
        self._mem.close()
