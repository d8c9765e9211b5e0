"""A run lock beside the warehouse: one run at a time, stale locks from dead processes detected."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from safetynet.errors import SafetynetError


class RunLocked(SafetynetError):
    """Another live run holds the warehouse."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def run_lock(warehouse: Path) -> Iterator[Path]:
    """Hold `<warehouse>.lock` for the block; refuse if a live process holds it."""
    lock = Path(str(warehouse) + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "started": datetime.now().isoformat(timespec="seconds")}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            try:
                holder = json.loads(lock.read_text() or "{}")
            except (OSError, json.JSONDecodeError):
                holder = {}
            pid = int(holder.get("pid", 0) or 0)
            same_host = holder.get("host") in (None, me["host"])
            if pid and same_host and _alive(pid):
                raise RunLocked(
                    f"仓库正被另一次运行占用（进程 {pid}，开始于 {holder.get('started')}）。"
                    f" Another run (pid {pid}) holds {warehouse}; wait for it to finish.",
                    file=str(lock)) from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        break
    else:  # pragma: no cover - lost a race twice
        raise RunLocked(f"could not take the run lock {lock}", file=str(lock))
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)
