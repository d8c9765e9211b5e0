"""The quarterly comparison with its prefecture partitions on Dask (prefect-dask).

    load (extract, stage, contracts, plan)  ->  link each partition  ->  warn each partition
        ->  merge  ->  lifecycle + referral files  ->  summary

Extract and stage run once, on the machine holding the warehouse; each prefecture partition
(and the residual partition of records no ID routes to a prefecture) is linked and warned by a
Dask worker in its own DuckDB file, reading the warehouse READ_ONLY (safetynet/partitions.py).
The merged results are identical to a single-machine run with the same matching model.

Local cluster (what the tests run; on 2 cores DuckDB's own threads are as fast, the gain is
across machines):

    .venv/bin/python -m safetynet.flows.scaleout --as-of 2026-09-30 --data var/sample/2026-09-30

An existing cluster: start workers where the warehouse folder is mounted at the same path
(shared storage: the workers read the warehouse and write partition files beside it):

    dask scheduler                                   # on the scheduler host, port 8786
    dask worker tcp://scheduler:8786 --nworkers 1 --nthreads 1 --memory-limit 8GB   # each host
    .venv/bin/python -m safetynet.flows.scaleout --address tcp://scheduler:8786 ...

or in Python: ``scaleout_flow(address="tcp://scheduler:8786")(as_of=..., ...)``. Give each
worker one Dask thread and let DuckDB use the host's cores (`threads`, `memory_limit`).
"""

from __future__ import annotations

import argparse
from datetime import date, datetime
from typing import Any

from prefect import flow, task, unmapped
from prefect_dask import DaskTaskRunner

from safetynet import partitions, pipeline
from safetynet.lock import run_lock
from safetynet.outputs import owner_only
from safetynet.settings import RunSettings, quarter_end_before


@task(retries=2, retry_delay_seconds=[5, 30])
def load(settings: RunSettings, prefix_len: int) -> tuple[set[str], list[str]]:
    """Extract + stage + contracts in the main warehouse; plan the partitions (retried: I/O)."""
    con = pipeline.open_warehouse(settings)
    try:
        loads = pipeline.load_sources(con, settings)
        pipeline.check_required(loads)
        tables = pipeline.loaded_tables(loads)
        pipeline.validate_contracts(con, settings, tables)
        pipeline.write_quarantine_reports(con, settings)
        names = partitions.plan_partitions(con, settings.as_of, prefix_len)
    finally:
        con.close()  # workers attach the warehouse read-only: nobody may hold it for writing
    return tables, names


@task
def link_partition(settings: RunSettings, name: str,
                   model: dict[str, Any] | None) -> partitions.PartitionResult:
    """Link one partition in its own file."""
    return partitions.link_partition(settings, name, model)


@task
def fitted_model(settings: RunSettings) -> dict[str, Any]:
    """The model the residual partition fitted (when none was given)."""
    return partitions.partition_model(settings, partitions.RESIDUAL)


@task
def warn_partition(settings: RunSettings, name: str,
                   tables: set[str]) -> partitions.PartitionResult:
    """Evaluate the rule pack on one partition."""
    return partitions.warn_partition(settings, name, tables)


@task
def merge_and_refer(settings: RunSettings, names: list[str]) -> dict[str, Any]:
    """Merge the partitions, then link-quality reports, lifecycle, referral files and the
    summary (main warehouse)."""
    summary, merged = pipeline.finish_merged(settings, names)
    summary["partitions"] = {"names": names, "merged": merged}
    return summary


@flow(name="safetynet-quarterly-scaleout", log_prints=True)
def scaleout_comparison(
    as_of: str | None = None,
    sources_dir: str = "sample_data/sources",
    data_dir: str = "var/sample/2026-09-30",
    warehouse: str = "var/safetynet.duckdb",
    out_dir: str = "var/out",
    rule_pack: str = "default",
    memory_limit: str | None = None,
    threads: int | None = None,
    match_settings: dict[str, Any] | None = None,
    prefix_len: int = partitions.DEFAULT_PREFIX_LEN,
) -> dict[str, Any]:
    """Compare the quarter ending `as_of` with link + warn per prefecture on the task runner."""
    day = date.fromisoformat(as_of) if as_of else quarter_end_before(date.today())
    settings = RunSettings(as_of=day, sources_dir=sources_dir, data_dir=data_dir,
                           warehouse=warehouse, out_dir=out_dir, rule_pack=rule_pack,
                           memory_limit=memory_limit, threads=threads,
                           match_settings=dict(match_settings or {}))
    started = datetime.now()
    run_id = f"{settings.quarter}-{started:%Y%m%dT%H%M%S}-scaleout"
    with owner_only(), run_lock(settings.warehouse, run_id=run_id):
        pipeline.begin_outputs(settings)
        pipeline.record_run_status(settings, run_id, started, "running")
        try:
            tables, names = load(settings, prefix_len)
            model = partitions.resolve_model(settings)
            todo = list(names)
            if model is None:  # fit once on the residual (whole roster), then share it
                link_partition(settings, partitions.RESIDUAL, None)
                model = fitted_model(settings)
            else:
                todo.insert(0, partitions.RESIDUAL)
            linked = link_partition.map(unmapped(settings), todo, unmapped(model))
            linked.wait()
            _raise_failed(linked)
            warned = warn_partition.map(unmapped(settings), names, unmapped(tables))
            warned.wait()
            _raise_failed(warned)
            summary = merge_and_refer(settings, names)
            pipeline.record_run_status(settings, run_id, started, "finished")
            pipeline.write_summary(settings, summary)
        except BaseException:
            pipeline.record_run_status(settings, run_id, started, "failed")
            raise
    return summary


def _raise_failed(futures: Any) -> None:
    for f in futures:
        f.result()  # raises the task's exception


def scaleout_flow(address: str | None = None, n_workers: int = 2,
                  threads_per_worker: int = 1) -> Any:
    """The flow on Dask: an existing cluster at `address`, else a local cluster of
    `n_workers` processes."""
    if address:
        runner = DaskTaskRunner(address=address)
    else:
        runner = DaskTaskRunner(cluster_kwargs={"n_workers": n_workers, "processes": True,
                                                "threads_per_worker": threads_per_worker,
                                                "dashboard_address": None})
    return scaleout_comparison.with_options(task_runner=runner)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description="safetynet 季度比对（按地市分区，Dask）")
    ap.add_argument("--as-of", default=None)
    ap.add_argument("--sources", default="sample_data/sources")
    ap.add_argument("--data", default="var/sample/2026-09-30")
    ap.add_argument("--warehouse", default="var/safetynet.duckdb")
    ap.add_argument("--out", default="var/out")
    ap.add_argument("--memory-limit", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--address", default=None, help="Dask scheduler, e.g. tcp://host:8786")
    ap.add_argument("--workers", type=int, default=2, help="local cluster size")
    args = ap.parse_args(argv)
    run = scaleout_flow(args.address, args.workers)
    return run(as_of=args.as_of, sources_dir=args.sources, data_dir=args.data,
               warehouse=args.warehouse, out_dir=args.out, memory_limit=args.memory_limit,
               threads=args.threads)


if __name__ == "__main__":
    main()
