"""How the workbench holds the warehouse (DuckDB allows one writer process per file).

The app keeps one warm connection (cursors per request: a page at 100,000 warnings needs a
warm buffer pool to stay well under 300 ms) and lets go of the file when it is not needed:

- when a quarterly run holds its run lock `<warehouse>.lock` (safetynet/lock.py `lock_holder`;
  a stale lock file left by a killed run does not count), the connection is closed within
  0.1 s and pages answer 503 "仓库正在更新" until the run ends;
- after `idle_release_s` seconds without a request.

`read_only=True` (the default of `create_app`): the warm connection is read-only; each write
(sign-in, access-log entry, disposition, review decision) closes it, writes through a short
read-write connection and the next read reopens read-only (cold). `read_only=False`: the warm
connection is read-write and writes use it too (no cold reopen after a write).
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import duckdb

from safetynet.lock import lock_holder
from safetynet.workbench.table_cache import QuarterCache

_CONFIG: dict[str, str | bool | int] = {"autoinstall_known_extensions": False,
                                        "autoload_known_extensions": False}

WORKBENCH_DDL = """
create schema if not exists meta;
create table if not exists meta.users (
    username varchar, password_hash varchar, role varchar, region_scope varchar,
    department varchar, display_name varchar, active boolean default true,
    created_at timestamp default current_timestamp
);
create table if not exists meta.access_log (
    ts timestamp, username varchar, action varchar, object varchar, detail varchar
);
create table if not exists meta.web_sessions (
    token_hash varchar, username varchar, csrf_token varchar, created_at timestamp,
    expires_at timestamp
);
"""


class WarehouseBusy(Exception):
    """Another process (normally a quarterly run) holds the warehouse file."""


class Warehouse(Protocol):
    """What the routes need: a read block and a write block."""

    path: Path
    generation: int
    cache: QuarterCache

    def read(self) -> Iterator[duckdb.DuckDBPyConnection]: ...  # pragma: no cover

    def write(self, *, changes_warnings: bool = False
              ) -> Iterator[duckdb.DuckDBPyConnection]: ...  # pragma: no cover

    def close(self) -> None: ...  # pragma: no cover


def _is_lock_error(exc: Exception) -> bool:
    return "lock" in str(exc).lower()


def _open(path: Path, *, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    """Open the file, retrying while another process holds a conflicting lock."""
    deadline = time.monotonic() + wait_s
    delay = 0.02
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=dict(_CONFIG))
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusy(str(path)) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def ensure_schema(path: Path, *, wait_s: float = 5.0) -> None:
    """Create the workbench's own tables (meta.users, meta.access_log, meta.web_sessions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, read_only=False, wait_s=wait_s)
    try:
        con.execute(WORKBENCH_DDL)
    finally:
        con.close()


class _ReadWriteLock:
    """Many readers or one writer (writer preferred) among the threads of this process."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class CachedWarehouse:
    """One warm connection, cursors per request, released on idle and on a run's lock file."""

    def __init__(self, path: Path, *, read_only: bool = True, idle_release_s: float = 300.0,
                 wait_s: float = 3.0, poll_s: float = 0.1) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.idle_release_s = idle_release_s
        self.wait_s = wait_s
        self._lock = _ReadWriteLock()
        self._mutex = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._last_used = time.monotonic()
        # Bumped whenever someone else may have written (after a release) and after our own
        # writes that change warnings; the quarter cache is tied to it.
        self.generation = 0
        self.cache = QuarterCache()
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, args=(poll_s,), daemon=True,
                                         name="workbench-warehouse-release")
        self._watcher.start()
        atexit.register(self.close)

    @property
    def is_open(self) -> bool:
        """True while the app holds the warehouse file."""
        return self._con is not None

    def run_in_progress(self) -> bool:
        """True while a live quarterly run holds the run lock (a stale lock file is ignored)."""
        return lock_holder(self.path) is not None

    def _connection(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        with self._mutex:
            if self.run_in_progress():
                # Other requests may still be using the connection: the watcher closes it
                # once they are done (it takes the exclusive lock).
                raise WarehouseBusy(str(self.path))
            if self._con is None:
                self._con = _open(self.path, read_only=read_only, wait_s=self.wait_s)
            return self._con

    def _close_locked(self, *, external: bool = True) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
            if external:
                self.generation += 1

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock.shared():
            cur = self._connection(read_only=self.read_only).cursor()
            try:
                yield cur
            finally:
                cur.close()
                self._last_used = time.monotonic()

    @contextmanager
    def write(self, *, changes_warnings: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection that may write; `changes_warnings` invalidates the quarter cache."""
        with self._lock.exclusive():
            try:
                if not self.read_only:
                    cur = self._connection(read_only=False).cursor()
                    try:
                        yield cur
                    finally:
                        cur.close()
                    return
                with self._mutex:
                    self._close_locked(external=False)
                    if self.run_in_progress():
                        raise WarehouseBusy(str(self.path))
                con = _open(self.path, read_only=False, wait_s=self.wait_s)
                try:
                    yield con
                finally:
                    con.close()
            finally:
                self._last_used = time.monotonic()
                if changes_warnings:
                    self.generation += 1

    def release(self) -> None:
        """Close the warm connection once in-flight requests are done (it reopens on demand)."""
        with self._lock.exclusive(), self._mutex:
            self._close_locked()

    def _watch(self, poll_s: float) -> None:
        while not self._stop.wait(poll_s):
            if self._con is None:
                continue
            idle = time.monotonic() - self._last_used > self.idle_release_s
            if idle or self.run_in_progress():
                self.release()

    def close(self) -> None:
        """Stop the watcher and close the file (idempotent)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._watcher.join(timeout=2)
        self.release()
        self.cache.close()
        atexit.unregister(self.close)


def existing_tables(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """Every `schema.table` (tables and views) of the warehouse, to adapt to missing stages."""
    rows = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables"
    ).fetchall()
    return frozenset(r[0] for r in rows)


def columns_of(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> frozenset[str]:
    """Column names of one table (empty when it does not exist)."""
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ?", [schema, table]).fetchall()
    return frozenset(r[0] for r in rows)
