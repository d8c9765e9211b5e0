"""The quarterly comparison as plain, typed stage functions.

The Prefect flow (flows/quarterly.py) wraps each stage in a task; `run_quarter` chains them for
the CLI and the tests. Every stage reads and writes the warehouse only, so any stage can be rerun.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from safetynet.connectors.config import SourceConfig, load_source_configs
from safetynet.errors import SafetynetError, SourceUnavailable
from safetynet.lock import run_lock
from safetynet.log import get_logger, redact, run_log
from safetynet.outputs import atomic_write_bytes, owner_only, remove_stale_temp_files
from safetynet.settings import RunSettings
from safetynet.warehouse import connect, transaction

log = get_logger("safetynet.pipeline")


@dataclass
class SourceLoad:
    """What happened to one source in one run (one row of meta.source_loads)."""

    source: str
    department: str
    table_name: str
    required: bool
    status: str = "pending"  # loaded | missing | rejected
    files: list[str] = field(default_factory=list)
    sha256: str = ""
    rows_read: int = 0
    rows_staged: int = 0
    rows_quarantined: int = 0
    error: str = ""
    note: str = ""  # "unchanged": same files and config as the last load of this as_of
    config_sha256: str = ""


class RequiredSourceMissing(SafetynetError):
    """A source marked `required: true` could not be loaded: the quarter cannot be compared."""


def open_warehouse(settings: RunSettings, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Connect to the run's warehouse with its memory/thread/temp settings."""
    return connect(settings.warehouse, memory_limit=settings.memory_limit,
                   threads=settings.threads, temp_directory=settings.temp_directory,
                   read_only=read_only)


def _jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: _jsonable(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (date, datetime, Path)):
        return str(obj)
    return obj


# ---------------------------------------------------------------- 1 extract + 2 stage
def extract_sources(con: duckdb.DuckDBPyConnection, settings: RunSettings,
                    configs: list[SourceConfig]) -> list[SourceLoad]:
    """Read every configured source into raw.<source> (I/O: the only stage worth retrying).

    A source that cannot be read (missing file, unreachable database) is `missing`; it does not
    stop the other sources: `check_required` decides afterwards whether the run may go on.
    """
    from safetynet.connectors.extract import extract_source
    from safetynet.connectors.incremental import UNCHANGED, config_digest, previous_load

    loads: list[SourceLoad] = []
    for cfg in configs:
        load = SourceLoad(cfg.name, cfg.department, cfg.table, cfg.required,
                          config_sha256=config_digest(cfg))
        before = previous_load(con, cfg, settings.as_of, settings.data_dir,
                               settings.allowed_roots)
        if before is not None:  # same bytes, same config, staged rows present: not read again
            load.files, load.sha256 = before["files"], before["sha256"]
            load.rows_read, load.rows_quarantined = before["rows_read"], before["rows_quarantined"]
            load.rows_staged, load.status, load.note = before["rows_staged"], "loaded", UNCHANGED
            log.info("source %s unchanged since its last load of %s: not read again", cfg.name,
                     settings.as_of)
            loads.append(load)
            continue
        # read again: until this run records its loads, the last record vouches for nothing
        # (a run killed after staging must not let a later run take its rows as "unchanged")
        con.execute("delete from meta.source_loads where as_of = ? and source = ?",
                    [settings.as_of, cfg.name])
        try:
            ext = extract_source(con, cfg, settings.data_dir, settings.as_of,
                                 allowed_roots=settings.allowed_roots)
            load.files, load.sha256 = list(ext.files), ext.sha256
            load.rows_read, load.rows_quarantined = ext.rows_read, ext.rows_quarantined
            load.status = "extracted"
        except SourceUnavailable as exc:
            load.status, load.error = "missing", redact(str(exc))
        except SafetynetError as exc:
            load.status, load.error = "rejected", redact(str(exc))
        loads.append(load)
    return loads


def stage_sources(con: duckdb.DuckDBPyConnection, settings: RunSettings,
                  configs: list[SourceConfig], loads: list[SourceLoad]) -> list[SourceLoad]:
    """Map each extracted source to its canonical table; quarantine rows that break the contract.

    A source whose layout does not fit its config (renamed column, unknown table) is `rejected`.
    """
    from safetynet.data_contracts.stage import stage_source

    by_name = {c.name: c for c in configs}
    for load in loads:
        cfg = by_name[load.source]
        if load.status == "extracted":
            try:
                staged = stage_source(con, cfg, settings.as_of)
                load.rows_staged = staged.rows_staged
                load.rows_quarantined += staged.rows_quarantined
                load.status = "loaded"
            except SafetynetError as exc:
                load.status, load.error = "rejected", redact(str(exc))
        if load.status != "loaded":
            _forget_source(con, cfg, settings.as_of)
            # nothing of a rejected source is staged: every row it read is held back with it
            load.rows_staged, load.rows_quarantined = 0, load.rows_read
            log.warning("source %s %s: %s", cfg.name, load.status, load.error)
        else:
            log.info("source %s: read %d, staged %d, quarantined %d", cfg.name,
                     load.rows_read, load.rows_staged, load.rows_quarantined)
    _record_loads(con, settings.as_of, loads)
    return loads


def load_sources(con: duckdb.DuckDBPyConnection, settings: RunSettings,
                 configs: list[SourceConfig] | None = None) -> list[SourceLoad]:
    """Extract then stage every configured source."""
    configs = configs if configs is not None else load_source_configs(settings.sources_dir)
    return stage_sources(con, settings, configs, extract_sources(con, settings, configs))


def _forget_source(con: duckdb.DuckDBPyConnection, cfg: SourceConfig, as_of: date) -> None:
    """A source that failed this run must leave no staged rows from an earlier attempt."""
    from safetynet.warehouse import table_exists

    if table_exists(con, "staged", cfg.table):
        con.execute(f'delete from staged."{cfg.table}" where as_of = ? and _source = ?',
                    [as_of, cfg.name])


def _record_loads(con: duckdb.DuckDBPyConnection, as_of: date, loads: list[SourceLoad]) -> None:
    with transaction(con):
        # (note, config_sha256: for incremental reruns, see connectors/incremental.py)
        con.execute("alter table meta.source_loads add column if not exists note varchar")
        con.execute("alter table meta.source_loads add column if not exists config_sha256 varchar")
        con.execute("delete from meta.source_loads where as_of = ?", [as_of])
        for ld in loads:
            con.execute(
                "insert into meta.source_loads (as_of, source, department, table_name, files, "
                "sha256, rows_read, rows_staged, rows_quarantined, status, error, note, "
                "config_sha256) values (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [as_of, ld.source, ld.department, ld.table_name, ";".join(ld.files), ld.sha256,
                 ld.rows_read, ld.rows_staged, ld.rows_quarantined, ld.status, ld.error, ld.note,
                 ld.config_sha256])


def check_required(loads: list[SourceLoad]) -> None:
    """Fail clearly when a required source is missing or rejected."""
    bad = [ld for ld in loads if ld.required and ld.status != "loaded"]
    if bad:
        lines = "; ".join(f"{ld.source} ({ld.status}): {ld.error}" for ld in bad)
        raise RequiredSourceMissing(f"必需数据源未能加载，本季度比对终止 / required source(s) not loaded: {lines}")


def loaded_tables(loads: list[SourceLoad]) -> set[str]:
    """Canonical tables whose every configured source loaded.

    A table fed by several sources (deaths: registrations and cremations) is incomplete when
    one of them is missing or rejected: the rules reading it are then `not_evaluated`, never
    reported as if the quarter had no such cases.
    """
    incomplete = {ld.table_name for ld in loads if ld.status != "loaded"}
    return {ld.table_name for ld in loads if ld.status == "loaded"} - incomplete


def validate_contracts(con: duckdb.DuckDBPyConnection, settings: RunSettings,
                       tables: set[str]) -> dict[str, Any]:
    """Run each staged table's Great Expectations suite; keep the results with the run."""
    from safetynet.data_contracts.gx_suite import validate_staged

    results = {t: _jsonable(validate_staged(con, t, settings.as_of)) for t in sorted(tables)}
    con.execute("create table if not exists meta.contract_results "
                "(as_of date, table_name varchar, success boolean, result json)")
    with transaction(con):
        con.execute("delete from meta.contract_results where as_of = ?", [settings.as_of])
        for t, r in results.items():
            ok = bool(r.get("success")) if isinstance(r, dict) else bool(r)
            con.execute("insert into meta.contract_results values (?,?,?,?)",
                        [settings.as_of, t, ok, json.dumps(r, ensure_ascii=False, default=str)])
    return results


def write_quarantine_reports(con: duckdb.DuckDBPyConnection, settings: RunSettings) -> list[Path]:
    """One XLSX per department listing its quarantined rows, to send back."""
    from safetynet.data_contracts.report import write_quarantine_reports as write

    return list(write(con, settings.as_of, settings.run_out_dir / "quarantine"))


# ---------------------------------------------------------------- 3 link
def link_records(con: duckdb.DuckDBPyConnection, settings: RunSettings) -> Any:
    """Link every staged department record to a roster person (or leave it unlinked)."""
    from safetynet.matching.linker import MatchSettings, link

    ms = MatchSettings(**settings.match_settings) if settings.match_settings else MatchSettings()
    # settings and the fitted model are saved with every quarter in links.model
    summary = link(con, settings.as_of, ms)
    write_link_quality(con, settings)
    return summary


def write_link_quality(con: duckdb.DuckDBPyConnection, settings: RunSettings) -> list[Path]:
    """Per-source linkage quality report (Chinese XLSX) to send back to each department."""
    from safetynet.matching.reports import write_quality_reports

    (n,) = con.execute("select count(*) from links.record_links where as_of = ?",
                       [settings.as_of]).fetchone()
    if not n:  # no department record loaded this quarter: nothing to report on
        return []
    return list(write_quality_reports(con, settings.as_of, settings.run_out_dir / "link_quality"))


# ---------------------------------------------------------------- 4 warn
def evaluate_rules(con: duckdb.DuckDBPyConnection, settings: RunSettings,
                   tables: set[str]) -> Any:
    """Evaluate the rule pack; rules whose inputs did not load are `not_evaluated`."""
    from safetynet.warning_rules.engine import evaluate, load_pack

    pack = load_pack(settings.rule_pack)
    return evaluate(con, settings.as_of, pack, loaded_tables=tables,
                    holidays_dir=settings.holidays_dir)


def track_lifecycle(con: duckdb.DuckDBPyConnection, settings: RunSettings) -> Any:
    """New / persisting / reopened / resolved per warning against the previous quarter."""
    from safetynet.monitoring.lifecycle import update_lifecycle

    return update_lifecycle(con, settings.as_of)


# ---------------------------------------------------------------- 5 refer
def write_referrals(con: duckdb.DuckDBPyConnection, settings: RunSettings) -> Any:
    """Referral files per department and county, plus their manifest.

    New and reopened warnings are referred as new leads, persisting unanswered ones as
    reminders; warnings already answered in their cycle are not sent again.
    """
    from safetynet.monitoring.lifecycle import referral_plan
    from safetynet.referrals.writer import write_referrals as write

    return write(con, settings.as_of, settings.run_out_dir / "referrals",
                 plan=referral_plan(con, settings.as_of))


# ---------------------------------------------------------------- summary
def run_summary(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, Any]:
    """The run summary: rows per source, quarantine, links by method, warnings, referral files."""

    def rows(sql: str) -> list[dict[str, Any]]:
        cur = con.execute(sql, [as_of])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    from safetynet.warehouse import table_exists

    summary: dict[str, Any] = {"as_of": as_of.isoformat()}
    summary["sources"] = rows(
        "select source, department, table_name, status, rows_read, rows_staged, rows_quarantined, "
        "rows_read = rows_staged + rows_quarantined as balanced, error "
        "from meta.source_loads where as_of = ? order by source")
    summary["quarantine"] = rows(
        "select source, reason_code, count(*) as rows from meta.quarantine where as_of = ? "
        "group by all order by source, reason_code")
    if table_exists(con, "links", "record_links"):
        summary["links"] = rows(
            "select source, status, method, count(*) as records from links.record_links "
            "where as_of = ? group by all order by source, status, method")
    if table_exists(con, "warnings", "warnings"):
        summary["warnings"] = rows(
            "select rule_id, severity, count(*) as warnings from warnings.warnings "
            "where as_of = ? group by all order by rule_id, severity")
    if table_exists(con, "warnings", "rule_status"):
        summary["rules"] = rows(
            "select rule_id, status, reason from warnings.rule_status where as_of = ? "
            "order by rule_id")
    if table_exists(con, "referrals", "files"):
        summary["referral_files"] = rows(
            "select department, county_code, format, rows, path from referrals.files "
            "where as_of = ? order by department, county_code, format")
    return _jsonable(summary)


RUN_LOG = "run.log"
SUMMARY_FILE = "summary.json"


def begin_outputs(settings: RunSettings) -> None:
    """Before a run writes anything: drop the previous summary.json (present only after a run
    finished) and temporary files a killed writer left behind. Call it holding the run lock."""
    (settings.run_out_dir / SUMMARY_FILE).unlink(missing_ok=True)
    for stale in remove_stale_temp_files(settings.run_out_dir):
        log.warning("removed a half-written file left by an interrupted run: %s", stale.name)


def run_status(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, Any] | None:
    """The meta.runs row of `as_of` (run_id, status, started_at, finished_at), or None."""
    row = con.execute("select run_id, status, started_at, finished_at from meta.runs "
                      "where as_of = ? order by started_at desc limit 1", [as_of]).fetchone()
    if row is None:
        return None
    return dict(zip(("run_id", "status", "started_at", "finished_at"), row, strict=True))


def write_summary(settings: RunSettings, summary: dict[str, Any]) -> Path:
    """summary.json in the quarter's output folder (masked: no person data inside)."""
    data = json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True, default=str)
    return atomic_write_bytes(settings.run_out_dir / SUMMARY_FILE, data.encode("utf-8"))


def record_run(con: duckdb.DuckDBPyConnection, settings: RunSettings, run_id: str,
               started: datetime, status: str) -> None:
    """One row per as_of in meta.runs (a rerun replaces it)."""
    from safetynet.warning_rules.engine import load_pack

    try:
        pack = load_pack(settings.rule_pack)
        pack_label = f"{pack.name}@{pack.version}"
    except Exception:  # noqa: BLE001 - a failed run still gets its row
        pack_label = str(settings.rule_pack)
    with transaction(con):
        con.execute("delete from meta.runs where as_of = ?", [settings.as_of])
        con.execute("insert into meta.runs values (?,?,?,?,?,?,?)",
                    [settings.as_of, run_id, started, datetime.now(), status, pack_label,
                     settings.to_json()])


def record_run_status(settings: RunSettings, run_id: str, started: datetime,
                      status: str) -> None:
    """`record_run` on a connection of its own (flows whose stages open their own)."""
    con = open_warehouse(settings)
    try:
        record_run(con, settings, run_id, started, status)
    finally:
        con.close()


def finish_merged(settings: RunSettings, names: list[str]) -> tuple[dict[str, Any], Any]:
    """After partitioned link + warn: merge the partitions into the warehouse, then link-quality
    reports, lifecycle, referral files; returns (run summary, merge counts)."""
    from safetynet.partitions import merge_partitions

    con = open_warehouse(settings)
    try:
        merged = merge_partitions(con, settings, names)
        write_link_quality(con, settings)
        track_lifecycle(con, settings)
        write_referrals(con, settings)
        return run_summary(con, settings.as_of), merged
    finally:
        con.close()


def run_quarter(settings: RunSettings, *, run_id: str | None = None,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the whole quarterly comparison without Prefect (same stages as the flow).

    `progress`, when given, is called with a Chinese label before each stage.
    """
    def step(label: str) -> None:
        log.info("stage: %s", label)
        if progress is not None:
            progress(label)

    started = datetime.now()
    run_id = run_id or f"{settings.quarter}-{started:%Y%m%dT%H%M%S}"
    with owner_only(), run_log(settings.run_out_dir / RUN_LOG), \
            run_lock(settings.warehouse, run_id=run_id):
        log.info("run %s: as_of %s, warehouse %s", run_id, settings.as_of, settings.warehouse)
        begin_outputs(settings)
        con = open_warehouse(settings)
        try:
            record_run(con, settings, run_id, started, "running")
            step("读取并暂存各部门数据")
            loads = load_sources(con, settings)
            check_required(loads)
            tables = loaded_tables(loads)
            step("数据契约校验")
            validate_contracts(con, settings, tables)
            write_quarantine_reports(con, settings)
            step("人员关联")
            link_records(con, settings)
            # a fresh connection after the bulk link (as the flow's tasks have): at 1M persons a
            # spilling DuckDB 2.0 connection was seen reading the just-written links.roster empty
            con.close()
            con = open_warehouse(settings)
            step("预警规则")
            evaluate_rules(con, settings, tables)
            track_lifecycle(con, settings)
            step("生成转办文件")
            write_referrals(con, settings)
            summary = run_summary(con, settings.as_of)
            record_run(con, settings, run_id, started, "finished")
            write_summary(settings, summary)  # last: summary.json only ever shows a finished run
            log.info("run %s finished", run_id)
            return summary
        except BaseException as exc:
            record_run(con, settings, run_id, started, "failed")
            log.error("run %s failed: %s", run_id, exc)
            raise
        finally:
            con.close()
