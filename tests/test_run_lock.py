"""Run lock (issue 6): one run per warehouse; a lock left by a killed process is stale.

The lock is held by real other processes here (subprocesses), as it is in production.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from safetynet.lock import RunLocked, lock_holder, lock_path, run_lock
from tests.fixtures.bad_inputs.common import ROOT, SAFETYNET, cli_env

HOLD = """
import sys, time
from safetynet.lock import run_lock
with run_lock(sys.argv[1], run_id="holder-run"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def holder(warehouse: Path, seconds: float = 60) -> subprocess.Popen:
    """Another process holding the run lock; returns once it holds it."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(warehouse), str(seconds)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_run_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    proc = holder(warehouse)
    try:
        info = lock_holder(warehouse)
        assert info is not None and info["pid"] == proc.pid and info["run"] == "holder-run"
        with pytest.raises(RunLocked) as err, run_lock(warehouse):
            pytest.fail("the lock was taken twice")
        message = str(err.value)
        assert f"pid {proc.pid}" in message and "仓库正被另一次运行占用" in message
        assert "holder-run" in message and str(lock_path(warehouse)) in message
    finally:
        proc.kill()
        proc.wait()


def test_refused_run_through_the_cli_touches_nothing(tmp_path: Path) -> None:
    """`safetynet run` against a held warehouse: exit code 2, message, no run row written."""
    from safetynet.warehouse import connect

    warehouse = tmp_path / "w.duckdb"
    con = connect(warehouse)
    con.execute("insert into meta.runs values ('2026-09-30', 'the-live-run', now(), null, "
                "'running', 'default@1', '{}')")
    con.close()
    proc = holder(warehouse)
    try:
        done = subprocess.run(
            [str(SAFETYNET), "run", "--as-of", "2026-09-30", "--data", str(tmp_path),
             "--warehouse", str(warehouse), "--out", str(tmp_path / "out")],
            capture_output=True, text=True, timeout=120, env=cli_env(), cwd=ROOT)
    finally:
        proc.kill()
        proc.wait()
    assert done.returncode == 2, done.stdout + done.stderr
    assert "仓库正被另一次运行占用" in done.stdout and f"pid {proc.pid}" in done.stdout
    con = connect(warehouse, read_only=True)
    try:
        runs = con.execute("select run_id, status from meta.runs").fetchall()
    finally:
        con.close()
    assert runs == [("the-live-run", "running")]  # the refused run did not mark it failed


def test_lock_of_a_killed_process_is_stale_and_taken_over(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    warehouse = tmp_path / "w.duckdb"
    proc = holder(warehouse)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lock = lock_path(warehouse)
    assert lock.exists() and json.loads(lock.read_text())["pid"] == proc.pid
    assert lock_holder(warehouse) is None  # stale: no live process holds it
    with caplog.at_level("WARNING", logger="safetynet.lock"), run_lock(warehouse) as held:
        assert held == lock and json.loads(lock.read_text())["pid"] == os.getpid()
        assert lock_holder(warehouse)["pid"] == os.getpid()
    assert f"stale run lock of pid {proc.pid}" in caplog.text
    assert not lock.exists()  # released: the workbench sees no run


@pytest.mark.parametrize("content", [
    json.dumps({"pid": 1, "host": socket.gethostname()}), '{"pid": 1, "host": "other"}',
    "garbage", ""], ids=["recycled_pid", "other_host", "garbage", "empty"])
def test_lock_file_without_a_live_holder_is_stale_whatever_it_says(
        tmp_path: Path, content: str) -> None:
    """A pid in the file proves nothing (pids are recycled; pid 1 is alive): the flock decides."""
    warehouse = tmp_path / "w.duckdb"
    lock_path(warehouse).write_text(content)
    assert lock_holder(warehouse) is None
    with run_lock(warehouse):
        assert lock_holder(warehouse)["pid"] == os.getpid()


def test_lock_is_owner_only_exists_only_while_held_and_refuses_the_same_process(
        tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with run_lock(warehouse) as lock:
        assert lock.stat().st_mode & 0o777 == 0o600
        with pytest.raises(RunLocked), run_lock(warehouse):
            pass
        assert lock.exists()  # the refused attempt did not remove the holder's lock
    assert not lock.exists()
    with run_lock(warehouse):  # and it can be taken again
        pass


def test_lock_is_released_when_the_block_fails(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with pytest.raises(ZeroDivisionError), run_lock(warehouse):
        1 / 0  # noqa: B018
    assert lock_holder(warehouse) is None and not lock_path(warehouse).exists()


RACE = """
import sys, time
from safetynet.lock import RunLocked, run_lock
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
try:
    with run_lock(sys.argv[1]):
        print("won", flush=True)
        time.sleep(float(sys.argv[3]))
except RunLocked:
    print("refused", flush=True)
"""


def test_racing_processes_exactly_one_wins(tmp_path: Path) -> None:
    """Five processes try at the same instant, then again: one winner each round."""
    warehouse = tmp_path / "w.duckdb"
    start = time.time() + 3.0  # every interpreter is up by then
    procs = [subprocess.Popen([sys.executable, "-c", RACE, str(warehouse), str(start), "2.0"],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(5)]
    outcomes = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(outcomes) == ["refused"] * 4 + ["won"], outcomes
    assert not lock_path(warehouse).exists()


def test_run_quarter_refuses_while_a_run_holds_the_warehouse(tmp_path: Path) -> None:
    from safetynet.pipeline import run_quarter
    from safetynet.settings import RunSettings

    settings = RunSettings(as_of=date(2026, 9, 30), sources_dir=tmp_path, data_dir=tmp_path,
                           warehouse=tmp_path / "w.duckdb", out_dir=tmp_path / "out")
    proc = holder(settings.warehouse)
    try:
        with pytest.raises(RunLocked):
            run_quarter(settings)
    finally:
        proc.kill()
        proc.wait()
    assert not settings.warehouse.exists()  # refused before opening the warehouse
