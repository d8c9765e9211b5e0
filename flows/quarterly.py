"""The quarterly comparison as a Prefect flow: one task per stage; only I/O retries.

    extract -> stage -> contracts -> link -> warn -> refer -> summary

Each task opens the embedded DuckDB warehouse itself, so a task can be retried or rerun alone.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from safetynet import pipeline
from safetynet.connectors.config import SourceConfig, load_source_configs
from safetynet.lock import run_lock
from safetynet.log import redact_handlers, run_log
from safetynet.outputs import owner_only
from safetynet.settings import RunSettings, quarter_end_before


@task(retries=2, retry_delay_seconds=[5, 30])
def extract(settings: RunSettings, configs: list[SourceConfig]) -> list[pipeline.SourceLoad]:
    """Read department files and databases into raw.* (retried: I/O)."""
    con = pipeline.open_warehouse(settings)
    try:
        return pipeline.extract_sources(con, settings, configs)
    finally:
        con.close()


@task
def stage(settings: RunSettings, configs: list[SourceConfig],
          loads: list[pipeline.SourceLoad]) -> list[pipeline.SourceLoad]:
    """Map to canonical tables, quarantine contract breaks, fail on a missing required source."""
    con = pipeline.open_warehouse(settings)
    try:
        loads = pipeline.stage_sources(con, settings, configs, loads)
        pipeline.check_required(loads)
        return loads
    finally:
        con.close()


@task
def contracts(settings: RunSettings, tables: set[str]) -> dict[str, Any]:
    """Great Expectations suites on the staged tables; quarantine reports per department."""
    con = pipeline.open_warehouse(settings)
    try:
        results = pipeline.validate_contracts(con, settings, tables)
        pipeline.write_quarantine_reports(con, settings)
        return results
    finally:
        con.close()


@task
def link(settings: RunSettings) -> None:
    """Link department records to roster persons."""
    con = pipeline.open_warehouse(settings)
    try:
        pipeline.link_records(con, settings)
    finally:
        con.close()


@task
def warn(settings: RunSettings, tables: set[str]) -> None:
    """Evaluate the warning rule pack and track each warning's lifecycle."""
    con = pipeline.open_warehouse(settings)
    try:
        pipeline.evaluate_rules(con, settings, tables)
        pipeline.track_lifecycle(con, settings)
    finally:
        con.close()


@task
def refer(settings: RunSettings) -> None:
    """Write referral files per department and county."""
    con = pipeline.open_warehouse(settings)
    try:
        pipeline.write_referrals(con, settings)
    finally:
        con.close()


@task
def summarize(settings: RunSettings) -> dict[str, Any]:
    """Run summary as JSON beside the outputs and as a Prefect artifact."""
    con = pipeline.open_warehouse(settings)
    try:
        summary = pipeline.run_summary(con, settings.as_of)
    finally:
        con.close()
    pipeline.write_summary(settings, summary)
    create_markdown_artifact(key=f"safetynet-summary-{settings.as_of:%Y%m%d}",
                             markdown=summary_markdown(summary),
                             description=f"safetynet 季度比对 {settings.as_of}")
    return summary


def summary_markdown(summary: dict[str, Any]) -> str:
    """Markdown tables of the run summary (counts only, no personal data)."""
    lines = [f"# 季度比对 {summary['as_of']}", "", "## 数据源",
             "| 数据源 | 状态 | 读取 | 入库 | 隔离 |", "|---|---|---|---|---|"]
    for s in summary.get("sources", []):
        lines.append(f"| {s['source']} | {s['status']} | {s['rows_read']} | {s['rows_staged']} "
                     f"| {s['rows_quarantined']} |")
    lines += ["", "## 关联", "| 数据源 | 状态 | 方式 | 记录数 |", "|---|---|---|---|"]
    for r in summary.get("links", []):
        lines.append(f"| {r['source']} | {r['status']} | {r['method']} | {r['records']} |")
    lines += ["", "## 预警", "| 规则 | 严重程度 | 数量 |", "|---|---|---|"]
    for r in summary.get("warnings", []):
        lines.append(f"| {r['rule_id']} | {r['severity']} | {r['warnings']} |")
    for r in summary.get("rules", []):
        if r.get("status") != "evaluated":
            lines.append(f"\n未评估：{r['rule_id']}（{r.get('reason')}）")
    lines += ["", f"转办文件：{len(summary.get('referral_files', []))} 个"]
    return "\n".join(lines)


@flow(name="safetynet-quarterly-comparison", log_prints=True)
def quarterly_comparison(
    as_of: str | None = None,
    sources_dir: str = "sample_data/sources",
    data_dir: str = "var/sample/2026-09-30",
    warehouse: str = "var/safetynet.duckdb",
    out_dir: str = "var/out",
    rule_pack: str = "default",
    memory_limit: str | None = None,
) -> dict[str, Any]:
    """Compare the quarter ending `as_of` (default: the quarter just ended)."""
    day = date.fromisoformat(as_of) if as_of else quarter_end_before(date.today())
    settings = RunSettings(as_of=day, sources_dir=sources_dir, data_dir=data_dir,
                           warehouse=warehouse, out_dir=out_dir, rule_pack=rule_pack,
                           memory_limit=memory_limit)
    configs = load_source_configs(settings.sources_dir)
    started = datetime.now()
    run_id = f"{settings.quarter}-{started:%Y%m%dT%H%M%S}"
    with owner_only(), run_log(settings.run_out_dir / pipeline.RUN_LOG,
                               logger_names=("safetynet", *_PREFECT_RUN_LOGGERS)), \
            run_lock(settings.warehouse, run_id=run_id):
        redact_handlers(h for n in ("", "prefect", *_PREFECT_RUN_LOGGERS)
                        for h in logging.getLogger(n).handlers)
        pipeline.begin_outputs(settings)
        pipeline.record_run_status(settings, run_id, started, "running")
        try:
            loads = stage(settings, configs, extract(settings, configs))
            tables = pipeline.loaded_tables(loads)
            contracts(settings, tables)
            link(settings)
            warn(settings, tables)
            refer(settings)
            pipeline.record_run_status(settings, run_id, started, "finished")
            summary = summarize(settings)  # last: summary.json only ever shows a finished run
        except BaseException:
            pipeline.record_run_status(settings, run_id, started, "failed")
            raise
    return summary


_PREFECT_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


if __name__ == "__main__":
    quarterly_comparison()
