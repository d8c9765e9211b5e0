"""A run lock beside the warehouse: one run at a time, stale locks from dead processes detected.

`<warehouse>.lock` exists while a run holds the warehouse (the web workbench lets go of the file
when it appears). The lock itself is an exclusive `flock` on that file: the kernel drops it when
its process ends, however it ends, so a lock left by a killed run (SIGKILL, power cut of the
process) is recognised as stale and taken over, and a recycled process id cannot keep it alive.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from safetynet.errors import SafetynetError

log = logging.getLogger(__name__)


class RunLocked(SafetynetError):
    """Another live run holds the warehouse."""


def lock_path(warehouse: str | Path) -> Path:
    """The lock file of a warehouse: `<warehouse>.lock`."""
    return Path(str(warehouse) + ".lock")


def _read(fd: int) -> dict[str, Any]:
    try:
        raw = os.pread(fd, 4096, 0)
        data = json.loads(raw.decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _refusal(warehouse: Path, lock: Path, holder: dict[str, Any]) -> RunLocked:
    who = f"进程 {holder.get('pid', '?')}@{holder.get('host', '?')}"
    return RunLocked(
        f"仓库正被另一次运行占用（{who}，开始于 {holder.get('started', '?')}，运行 "
        f"{holder.get('run', '?')}），请等它结束后再运行。Another run (pid {holder.get('pid', '?')}"
        f" on {holder.get('host', '?')}) holds {warehouse}; wait for it to finish.",
        file=str(lock))


def lock_holder(warehouse: str | Path) -> dict[str, Any] | None:
    """Who holds the run lock now (pid, host, started, run), or None when no live run does.

    A lock file left by a dead process reads as None: it is stale.
    """
    lock = lock_path(warehouse)
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd) or {"pid": "?"}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextmanager
def run_lock(warehouse: str | Path, *, run_id: str | None = None) -> Iterator[Path]:
    """Hold `<warehouse>.lock` for the block; refuse (RunLocked) while a live run holds it.

    A lock file whose process is gone is taken over (logged as stale). The file is removed when
    the block ends.
    """
    warehouse = Path(warehouse)
    lock = lock_path(warehouse)
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise _refusal(warehouse, lock, holder) from None
        try:  # the previous holder may have removed the file between our open and flock
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        stale = _read(fd)
        if stale.get("pid"):
            log.warning("stale run lock of pid %s on %s (started %s) taken over: that run ended "
                        "without finishing", stale.get("pid"), stale.get("host"),
                        stale.get("started"))
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": datetime.now().isoformat(timespec="seconds"), "run": run_id}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode("utf-8"), 0)
        os.fsync(fd)
        yield lock
    finally:
        try:
            lock.unlink(missing_ok=True)  # while still holding the flock: no one else can own it
        finally:
            os.close(fd)
