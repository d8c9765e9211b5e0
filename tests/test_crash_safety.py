"""Crash safety (issue 6): `safetynet run` killed with SIGKILL in every stage, then run again.

Each case starts the CLI as a subprocess on the small sample, kills it (SIGKILL: no cleanup
code runs) while it works in one stage, checks that nothing presents the killed run as
finished, reruns it, and compares the whole warehouse (every table of every layer, clock
columns aside), the link and warning exports and the output tree (referral files, manifest,
quarantine reports, summary.json) byte for byte with a clean run in another folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from safetynet.lock import lock_holder, lock_path
from tests.fixtures.bad_inputs.common import (
    Q3,
    ROOT,
    SAFETYNET,
    SAMPLE_SOURCES,
    STAGE_LABELS,
    CliRun,
    clean_cli_run,
    cli_args,
    cli_env,
    tree_digest,
    warehouse_digest,
)

Trigger = Callable[[Path], bool]


def _files_under(sub: str) -> Trigger:
    return lambda run_out: any(p.is_file() for p in (run_out / sub).rglob("*"))


# (stage label, when to kill after the label shows: seconds or a condition, what the killed
# run started from: an empty folder, or a finished run of the same quarter being rerun)
KILLS: list[tuple[str, float | Trigger, str]] = [
    (STAGE_LABELS[0], 0.3, "fresh"),  # extract + stage: inside a source's transaction
    (STAGE_LABELS[1], 2.0, "finished"),  # contracts: inside the Great Expectations suites
    (STAGE_LABELS[2], 0.3, "fresh"),  # link
    (STAGE_LABELS[3], 0.2, "finished"),  # rules + lifecycle
    (STAGE_LABELS[4], _files_under("referrals"), "fresh"),  # referral files half written
]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    return clean_cli_run(tmp_path_factory.getbasetemp())


def kill_during(folder: Path, data: Path, label: str, when: float | Trigger) -> str:
    """Start `safetynet run`, SIGKILL it in the stage `label`; return what it printed."""
    warehouse, out = folder / "w.duckdb", folder / "out"
    proc = subprocess.Popen(cli_args(Q3, SAMPLE_SOURCES, data, warehouse, out),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=cli_env(), cwd=ROOT)
    assert proc.stdout is not None
    printed = []
    for line in proc.stdout:
        printed.append(line)
        if label in line:
            if callable(when):
                deadline = time.monotonic() + 120
                while not when(out / Q3) and time.monotonic() < deadline:
                    time.sleep(0.005)
            else:
                time.sleep(when)
            os.kill(proc.pid, signal.SIGKILL)
            break
    rest = proc.communicate(timeout=60)[0]
    printed.append(rest or "")
    assert proc.returncode == -signal.SIGKILL, "the run ended before the kill:\n" + "".join(
        printed)
    return "".join(printed)


def assert_not_finished(folder: Path, *, via_cli: bool = False) -> None:
    """A killed run reads as unfinished everywhere a reader could look."""
    from safetynet.pipeline import run_status
    from safetynet.warehouse import connect

    warehouse = folder / "w.duckdb"
    con = connect(warehouse, read_only=True)
    try:
        assert run_status(con, date.fromisoformat(Q3))["status"] == "running"
    finally:
        con.close()
    assert not (folder / "out" / Q3 / "summary.json").exists()
    assert lock_path(warehouse).exists() and lock_holder(warehouse) is None  # stale
    if not via_cli:
        return
    shown = subprocess.run([str(SAFETYNET), "summary", "--as-of", Q3, "--warehouse",
                            str(warehouse), "--json"], capture_output=True, text=True,
                           timeout=120, env=cli_env(), cwd=ROOT)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["run_status"] == "interrupted"
    assert "未完成" in shown.stderr and "interrupted" in shown.stderr


def assert_same_as_clean(folder: Path, clean: CliRun) -> None:
    from safetynet.exports import export_links, export_warnings
    from safetynet.warehouse import connect

    warehouse = folder / "w.duckdb"
    assert warehouse_digest(warehouse) == warehouse_digest(clean.warehouse)
    assert tree_digest(folder / "out") == tree_digest(clean.out)
    assert not [p for p in (folder / "out").rglob("*.tmp")]
    for wh, target in ((warehouse, folder), (clean.warehouse, folder / "clean")):
        target.mkdir(exist_ok=True)
        con = connect(wh, read_only=True)
        try:
            export_links(con, date.fromisoformat(Q3), target / "links.csv")
            export_warnings(con, date.fromisoformat(Q3), target / "warnings.csv")
            status = con.execute("select status from meta.runs").fetchall()
        finally:
            con.close()
        assert status == [("finished",)]
    for name in ("links.csv", "warnings.csv"):
        assert (folder / name).read_bytes() == (folder / "clean" / name).read_bytes()
    assert lock_holder(warehouse) is None and not lock_path(warehouse).exists()


@pytest.mark.slow
@pytest.mark.parametrize(("label", "when", "start"), KILLS,
                         ids=[f"{i + 1}-{start}" for i, (_, _, start) in enumerate(KILLS)])
def test_killed_in_a_stage_then_rerun_equals_a_clean_run(
        label: str, when: float | Trigger, start: str, clean: CliRun, tmp_path: Path) -> None:
    if start == "finished":  # a rerun of a finished quarter (e.g. after a corrected file)
        shutil.copy(clean.warehouse, tmp_path / "w.duckdb")
        shutil.copytree(clean.out, tmp_path / "out")
        assert (tmp_path / "out" / Q3 / "summary.json").exists()
    printed = kill_during(tmp_path, clean.data, label, when)
    assert label in printed
    assert_not_finished(tmp_path, via_cli=label == STAGE_LABELS[2])
    if label == STAGE_LABELS[4]:  # some referral files were already written
        assert [p for p in (tmp_path / "out" / Q3 / "referrals").rglob("*") if p.is_file()]
    rerun(tmp_path, clean)
    log = (tmp_path / "out" / Q3 / "run.log").read_text(encoding="utf-8")
    assert "stale run lock" in log and "finished" in log.splitlines()[-1]
    assert_same_as_clean(tmp_path, clean)


def rerun(folder: Path, clean: CliRun) -> None:
    """Run the quarter again to the end, as the CLI does (in this process: the stages are the
    same functions, and Great Expectations is imported once for all the cases)."""
    from safetynet.pipeline import run_quarter
    from safetynet.settings import RunSettings

    run_quarter(RunSettings(as_of=Q3, sources_dir=clean.sources, data_dir=clean.data,
                            warehouse=folder / "w.duckdb", out_dir=folder / "out"))


def test_outputs_are_written_by_rename_never_in_place(tmp_path: Path) -> None:
    """atomic_write_bytes: a reader sees the old bytes or the new ones, never a mix; a killed
    writer leaves only a hidden temporary file, which the next run removes."""
    from safetynet.outputs import atomic_write_bytes, remove_stale_temp_files

    target = tmp_path / "a" / "file.csv"
    atomic_write_bytes(target, b"old")
    inode = target.stat().st_ino
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and target.stat().st_ino != inode  # replaced, not edited
    assert target.stat().st_mode & 0o777 == 0o600
    leftover = target.parent / ".file.csv.x1y2.tmp"
    leftover.write_bytes(b"half")
    assert remove_stale_temp_files(tmp_path) == [leftover] and not leftover.exists()
    assert target.read_bytes() == b"new"


@pytest.mark.slow
def test_a_referral_already_sent_is_sent_neither_twice_nor_as_new(
        clean: CliRun, tmp_path: Path) -> None:
    """Q2 is compared and its referral files delivered; Q2 is rerun and redelivered; Q3 is
    compared. The rerun writes no file and no new version, the redelivery sends nothing, and a
    lead sent in Q2 that still fires in Q3 is a reminder (持续未办结), never new (新增)."""
    import csv

    from safetynet.monitoring.delivery import deliver
    from safetynet.pipeline import run_quarter
    from safetynet.settings import RunSettings
    from safetynet.warehouse import connect
    from tests.fixtures.bad_inputs.common import Q2, source_config, write_sources

    sources = write_sources(tmp_path / "sources", [source_config(n) for n in (
        "civil_affairs_roster", "civil_affairs_standards", "medical_security_settlements",
        "hrss_pension")])
    sample = clean.data.parent

    def settings(as_of: str) -> RunSettings:
        return RunSettings(as_of=as_of, sources_dir=sources, data_dir=sample / as_of,
                           warehouse=tmp_path / "w.duckdb", out_dir=tmp_path / "out")

    def send(as_of: str) -> dict[str, int]:
        con = connect(tmp_path / "w.duckdb")
        try:
            report = deliver(con, as_of, settings(as_of).run_out_dir / "referrals",
                             {"destinations": {"*": {"drop_folder": str(
                                 tmp_path / "exchange" / "{department}" / "{county_code}")}}})
        finally:
            con.close()
        return {s: report.count(s) for s in ("delivered", "unchanged", "failed")}

    def files_state(as_of: str) -> dict[str, tuple[int, int, bytes]]:
        root = settings(as_of).run_out_dir / "referrals"
        return {p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns,
                                                 p.read_bytes())
                for p in sorted(root.rglob("*")) if p.is_file()}

    def versions(as_of: str) -> list[tuple]:
        con = connect(tmp_path / "w.duckdb", read_only=True)
        try:
            return con.execute("select department, county_code, format, sha256, version, "
                               "is_current from referrals.files where as_of = ? order by all",
                               [date.fromisoformat(as_of)]).fetchall()
        finally:
            con.close()

    run_quarter(settings(Q2))
    first = send(Q2)
    assert first["delivered"] > 0 and first["failed"] == 0
    before, recorded = files_state(Q2), versions(Q2)
    exchange = {p: p.stat().st_mtime_ns for p in (tmp_path / "exchange").rglob("*.*")}
    assert {v[4] for v in recorded} == {1} and "manifest.json" in before

    run_quarter(settings(Q2))  # rerun: same content, so nothing is written again
    assert files_state(Q2) == before and versions(Q2) == recorded
    assert send(Q2) == {"delivered": 0, "unchanged": first["delivered"], "failed": 0}
    assert {p: p.stat().st_mtime_ns for p in exchange} == exchange

    run_quarter(settings(Q3))
    sent = {}
    for p in (tmp_path / "exchange").rglob("*.csv"):
        with open(p, encoding="utf-8-sig", newline="") as fh:
            sent.update({r["预警编号"]: r["线索状态"] for r in csv.DictReader(fh)})
    assert set(sent.values()) == {"新增"}
    again = {}
    for p in (settings(Q3).run_out_dir / "referrals").rglob("*.csv"):
        if p.name.startswith("转办_"):
            with open(p, encoding="utf-8-sig", newline="") as fh:
                again.update({r["预警编号"]: r["线索状态"] for r in csv.DictReader(fh)})
    persisting = set(sent) & set(again)
    assert persisting, "some Q2 leads still fire in Q3"
    assert {again[w] for w in persisting} == {"持续未办结"}
    assert {again[w] for w in set(again) - set(sent)} <= {"新增", "再次出现"}


def test_a_crash_after_staging_never_leaves_rows_taken_for_unchanged(tmp_path: Path) -> None:
    """A rerun with a corrected file dies after staging it, before its load is recorded; the
    department then sends the first file again. The next run must read it again (not keep the
    dead run's rows as "unchanged" because the bytes match the last recorded load)."""
    from safetynet.connectors.config import parse_source_config
    from safetynet.data_contracts.stage import stage_source
    from safetynet.pipeline import extract_sources, load_sources
    from safetynet.settings import RunSettings
    from safetynet.warehouse import connect
    from tests.fixtures.bad_inputs.common import copy_quarter, small_sample, source_config

    data = copy_quarter(small_sample(tmp_path.parent), Q3, tmp_path / "data")
    cfg = parse_source_config(source_config("hrss_pension"))
    settings = RunSettings(as_of=Q3, sources_dir=data, data_dir=data,
                           warehouse=tmp_path / "w.duckdb")
    path, amounts = data / "hrss" / "pension.csv", "select _record_key, contribution_base " \
        "from staged.pension order by 1"
    original = path.read_bytes()
    con = connect(settings.warehouse)
    try:
        assert load_sources(con, settings, [cfg])[0].status == "loaded"
        before = con.execute(amounts).fetchall()
        text = original.decode("utf-8-sig").split("\r\n")
        head = text[1].split(",")
        head[8] = "77777"  # the corrected contribution base of the first record
        path.write_bytes(("\ufeff" + "\r\n".join([text[0], ",".join(head), *text[2:]]))
                         .encode("utf-8"))
        extract_sources(con, settings, [cfg])
        stage_source(con, cfg, settings.as_of)  # ... and the process dies here
        assert con.execute(amounts).fetchall() != before
        path.write_bytes(original)
        (load,) = load_sources(con, settings, [cfg])
        assert load.status == "loaded" and load.note != "unchanged"
        assert con.execute(amounts).fetchall() == before
    finally:
        con.close()
