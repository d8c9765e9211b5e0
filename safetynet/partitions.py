"""Prefecture partitions: link and warn per prefecture in its own DuckDB file, then merge.

Extract, stage and the contract checks run once in the main warehouse. Then:

1. ``plan_partitions`` splits the quarter's roster by prefecture (the first `prefix_len` digits
   of region_code). Households tied together by one person enrolled in both (same normalised ID
   in two households) stay together, in the partition of their smallest prefix, so each
   person and each household lives in exactly one partition: DUPLICATE_ENROLMENT and every
   household rule see the whole of their subject. Department records whose ID text is exactly
   a valid roster ID of partition P are routed to P (the linker can only link them `id_exact`
   to that person); every other record (damaged, missing or unknown ID, or one an officer has
   decided on) goes to the residual partition ``_residual``, which links against the whole
   roster, so its fuzzy candidates and posteriors are those of a single-machine run.
2. ``link_partition`` (each prefecture, and the residual) copies its roster and records from the
   main warehouse (attached READ_ONLY: any number of workers may read it, none writes it) into
   ``<warehouse dir>/partitions/<as_of>/<name>.duckdb`` and links them with one fixed model.
3. ``warn_partition`` adds the residual's links to the partition's persons, then evaluates the
   rule pack on the partition.
4. ``merge_partitions`` unions the partitions into the main warehouse: links of the prefecture
   partitions plus all residual links, the roster and person keys from the residual, warnings
   from every prefecture. Lifecycle and referral files then run on the merged warehouse
   (they carry history across quarters and one manifest).

The model is fixed before linking (given in the settings, else the latest earlier quarter's,
else fitted on the residual partition first): a model estimated on each partition's data would
differ between partitions and from a single-machine run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from safetynet.settings import RunSettings
from safetynet.warehouse import (
    connect,
    create_table_like,
    quote_ident,
    table_exists,
    transaction,
)

log = logging.getLogger(__name__)

RESIDUAL = "_residual"
DEFAULT_PREFIX_LEN = 4  # province 2 digits + prefecture 2 digits
_NOT_DEPARTMENT = ("roster", "standards")
_PLAN_DDL = """
create table if not exists meta.partition_households (
    as_of date, household_id varchar, partition varchar);
create table if not exists meta.partition_ids (
    as_of date, id_number varchar, partition varchar);
"""


@dataclass(frozen=True)
class PartitionResult:
    """What one partition did (counts only: no personal data)."""

    name: str
    stage: str
    roster_rows: int
    records: int
    seconds: float = 0.0
    warnings: int = 0


def partition_dir(settings: RunSettings) -> Path:
    """Folder of the quarter's partition files: <warehouse dir>/partitions/<as_of>/."""
    return settings.warehouse.parent / "partitions" / settings.as_of.isoformat()


def partition_path(settings: RunSettings, name: str) -> Path:
    """The DuckDB file of one partition (one writer each: workers never share a file)."""
    return partition_dir(settings) / f"{name}.duckdb"


def _connect(settings: RunSettings, path: Path, *, read_only: bool = False
             ) -> duckdb.DuckDBPyConnection:
    return connect(path, memory_limit=settings.memory_limit, threads=settings.threads,
                   temp_directory=settings.temp_directory, read_only=read_only)


def _attach(con: duckdb.DuckDBPyConnection, path: Path, alias: str) -> None:
    con.execute(f"attach '{str(path).replace(chr(39), chr(39) * 2)}' as {alias} (read_only)")


def _department_tables(con: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    rows = con.execute(
        "select table_name from duckdb_tables() where database_name = ? and schema_name = "
        "'staged' order by table_name", [catalog]).fetchall()
    return [r[0] for r in rows if r[0] not in _NOT_DEPARTMENT]


# ---------------------------------------------------------------- 1 plan
def plan_partitions(con: duckdb.DuckDBPyConnection, as_of: date,
                    prefix_len: int = DEFAULT_PREFIX_LEN) -> list[str]:
    """Assign every roster household of `as_of` to a prefecture partition; route record IDs.

    Writes meta.partition_households and meta.partition_ids (rows of `as_of` replaced) and
    returns the partition names (prefixes), sorted. The residual partition is implied.
    """
    from safetynet.matching.ids import normalize_ids

    roster = con.sql(
        "select household_id, id_number, left(region_code, ?) as prefix from staged.roster "
        "where as_of = ? order by household_id, _row", params=[prefix_len, as_of]
    ).to_arrow_table()
    ids = normalize_ids(roster.column("id_number"))
    norm = dict(zip(ids.column("raw").to_pylist(), zip(ids.column("normalized").to_pylist(),
                                                       ids.column("quality").to_pylist(),
                                                       strict=True), strict=True))
    parent: dict[str, str] = {}

    def find(h: str) -> str:
        while parent.setdefault(h, h) != h:
            parent[h] = parent[parent[h]]
            h = parent[h]
        return h

    first_household: dict[str, str] = {}
    households = roster.column("household_id").to_pylist()
    raws = roster.column("id_number").to_pylist()
    prefixes = roster.column("prefix").to_pylist()
    for household, raw in zip(households, raws, strict=True):
        find(household)
        person = norm.get(raw, (None, None))[0]
        if person is None:
            continue
        other = first_household.setdefault(person, household)
        if other != household:
            a, b = find(other), find(household)
            if a != b:
                parent[max(a, b)] = min(a, b)
    component_prefix: dict[str, str] = {}
    for household, prefix in zip(households, prefixes, strict=True):
        root = find(household)
        prefix = prefix if prefix and prefix.isdigit() else "unknown"
        if root not in component_prefix or prefix < component_prefix[root]:
            component_prefix[root] = prefix
    assigned = {h: component_prefix[find(h)] for h in parent}
    id_rows = {}
    for household, raw in zip(households, raws, strict=True):
        person, quality = norm.get(raw, (None, None))
        if quality == "valid" and person == raw:  # the linker's exact path, nothing else
            id_rows[raw] = assigned[household]
    with transaction(con):
        con.execute(_PLAN_DDL)
        con.execute("delete from meta.partition_households where as_of = ?", [as_of])
        con.execute("delete from meta.partition_ids where as_of = ?", [as_of])
        _insert_arrow(con, "meta.partition_households", pa.table({
            "as_of": pa.array([as_of] * len(assigned), pa.date32()),
            "household_id": list(assigned), "partition": list(assigned.values())}))
        _insert_arrow(con, "meta.partition_ids", pa.table({
            "as_of": pa.array([as_of] * len(id_rows), pa.date32()),
            "id_number": list(id_rows), "partition": list(id_rows.values())}))
    names = sorted(set(assigned.values()))
    log.info("partitions %s: %d prefectures, %d households, %d routable IDs", as_of, len(names),
             len(assigned), len(id_rows))
    return names


def _insert_arrow(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
    con.register("_sn_part_arrow", data)
    try:
        con.execute(f"insert into {table} by name select * from _sn_part_arrow")
    finally:
        con.unregister("_sn_part_arrow")


# ---------------------------------------------------------------- model
def resolve_model(settings: RunSettings) -> dict[str, Any] | None:
    """The model every partition links with: the settings', else the latest earlier quarter's."""
    if settings.match_settings.get("model"):
        return settings.match_settings["model"]
    con = _connect(settings, settings.warehouse, read_only=True)
    try:
        if not table_exists(con, "links", "model"):
            return None
        row = con.execute("select model from links.model where as_of < ? order by as_of desc "
                          "limit 1", [settings.as_of]).fetchone()
    finally:
        con.close()
    return json.loads(row[0]) if row else None


def partition_model(settings: RunSettings, name: str = RESIDUAL) -> dict[str, Any]:
    """The model a linked partition used (after `link_partition(..., model=None)`)."""
    con = _connect(settings, partition_path(settings, name), read_only=True)
    try:
        row = con.execute("select model from links.model where as_of = ?",
                          [settings.as_of]).fetchone()
    finally:
        con.close()
    return json.loads(row[0])


def _with_model(settings: RunSettings, model: dict[str, Any] | None) -> RunSettings:
    match = dict(settings.match_settings)
    if model is not None:
        match["model"] = model
    return dataclasses.replace(settings, match_settings=match)


# ---------------------------------------------------------------- 2 link
def _routing(name: str) -> str:
    """SQL condition on staged rows `s` (main warehouse attached as `wh`) of partition `name`."""
    reviewed = ("exists (select 1 from _sn_reviewed d where d.source = s._source "
                "and d.record_key = s._record_key)")
    if name == RESIDUAL:
        return (f"(s.id_number is null or {reviewed} or not exists (select 1 from "
                "wh.meta.partition_ids p where p.as_of = s.as_of and p.id_number = s.id_number))")
    return (f"not {reviewed} and exists (select 1 from wh.meta.partition_ids p where "
            f"p.as_of = s.as_of and p.id_number = s.id_number and p.partition = $name)")


def link_partition(settings: RunSettings, name: str,
                   model: dict[str, Any] | None) -> PartitionResult:
    """Build partition `name`'s file from the main warehouse (read-only) and link it."""
    import time

    from safetynet.matching.linker import MatchSettings, link

    started = time.perf_counter()
    path = partition_path(settings, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = _connect(settings, path)
    try:
        _attach(con, settings.warehouse, "wh")
        params = {"as_of": settings.as_of, "name": name}
        roster_filter = "" if name == RESIDUAL else (
            " and household_id in (select household_id from wh.meta.partition_households "
            "where as_of = $as_of and partition = $name)")
        _run(con, "create table staged.roster as select * from wh.staged.roster "
             f"where as_of = $as_of{roster_filter}", **params)
        con.execute("create table staged.standards as select * from wh.staged.standards")
        reviewed = ("select source, record_key from wh.links.review_decisions"
                    if _has(con, "wh", "links", "review_decisions")
                    else "select null::varchar as source, null::varchar as record_key where false")
        con.execute(f"create temp table _sn_reviewed as {reviewed}")
        records = 0
        for table in _department_tables(con, "wh"):
            _run(con, f"create table staged.{quote_ident(table)} as select s.* from "
                 f"wh.staged.{quote_ident(table)} s where s.as_of = $as_of "
                 f"and {_routing(name)} order by s._source, s._file, s._row", **params)
            records += con.execute(f"select count(*) from staged.{quote_ident(table)}"
                                   ).fetchone()[0]
        _copy_history(con, settings.as_of, name)
        con.execute("detach wh")
        roster_rows = con.execute("select count(*) from staged.roster").fetchone()[0]
        # the linker only: link-quality reports are written once, from the merged links
        link(con, settings.as_of, MatchSettings(**_with_model(settings, model).match_settings))
    finally:
        con.close()
    return PartitionResult(name, "link", int(roster_rows), int(records),
                           round(time.perf_counter() - started, 2))


def _run(con: duckdb.DuckDBPyConnection, sql: str, **params: Any) -> duckdb.DuckDBPyConnection:
    """Execute with the named parameters the statement uses (DuckDB refuses extra ones)."""
    return con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})


def _current(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("select current_database()").fetchone()[0]


def _has(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> bool:
    return bool(con.execute(
        "select count(*) from duckdb_tables() where database_name = ? and schema_name = ? "
        "and table_name = ?", [catalog, schema, table]).fetchone()[0])


def _copy_history(con: duckdb.DuckDBPyConnection, as_of: date, name: str) -> None:
    """What the linker reads besides this quarter: person keys, officers' decisions, and the
    previous quarter's roster rows (to carry a person key over an ID correction)."""
    for table in ("person_ids", "review_decisions"):
        if _has(con, "wh", "links", table):
            con.execute(f"create table links.{table} as select * from wh.links.{table}")
    if _has(con, "wh", "links", "roster"):
        keep = "" if name == RESIDUAL else (
            " and household_id in (select household_id from wh.meta.partition_households "
            "where as_of = $as_of and partition = $name)")
        _run(con, "create table links.roster as select * from wh.links.roster where as_of = "
             "(select max(as_of) from wh.links.roster where as_of < $as_of)" + keep,
             as_of=as_of, name=name)


# ---------------------------------------------------------------- 3 warn
def warn_partition(settings: RunSettings, name: str, tables: set[str]) -> PartitionResult:
    """Add the residual's links to this partition's persons, then evaluate the rule pack."""
    import time

    from safetynet.matching.link_store import insert_record_links
    from safetynet.pipeline import evaluate_rules

    started = time.perf_counter()
    con = _connect(settings, partition_path(settings, name))
    try:
        _attach(con, settings.warehouse, "wh")
        _attach(con, partition_path(settings, RESIDUAL), "res")
        with transaction(con):
            con.execute("""
                create or replace table meta.imported_links as
                select l.* from res.links.record_links l
                where l.as_of = ? and l.status = 'linked' and l.person_id in (
                    select person_id from links.roster where as_of = ? and person_id is not null)
                """, [settings.as_of, settings.as_of])
            insert_record_links(con, "select * from meta.imported_links")
            for table in _department_tables(con, _current(con)):
                con.execute(
                    f"insert into staged.{quote_ident(table)} by name select s.* from "
                    f"wh.staged.{quote_ident(table)} s join meta.imported_links i on "
                    f"i.source = s._source and i.record_key = s._record_key "
                    f"and i.table_name = '{table}' where s.as_of = ? "
                    f"order by s._source, s._file, s._row", [settings.as_of])
        con.execute("detach wh")
        con.execute("detach res")
        summary = evaluate_rules(con, settings, tables)
        roster_rows, records = con.execute(
            "select (select count(*) from links.roster where as_of = $d), "
            "(select count(*) from links.record_links where as_of = $d)",
            {"d": settings.as_of}).fetchone()
    finally:
        con.close()
    return PartitionResult(name, "warn", int(roster_rows), int(records),
                           round(time.perf_counter() - started, 2), summary.total_warnings)


# ---------------------------------------------------------------- 4 merge
def merge_partitions(con: duckdb.DuckDBPyConnection, settings: RunSettings,
                     names: list[str]) -> dict[str, int]:
    """Union the partitions' links and warnings into the main warehouse (as_of rows replaced).

    Links: every residual record plus each prefecture's own records (the residual links it
    imported for its rules are not taken twice). Roster, person keys, model: from the
    residual, which holds the whole roster. Warnings: every prefecture's. Rule status: one row
    per rule (evaluated when evaluated everywhere; counts summed).
    """
    from safetynet.matching.link_store import (
        copy_record_links,
        delete_record_links,
        ensure_record_links,
        prune_explanations,
    )
    from safetynet.matching.linker import MODEL_DDL, REVIEW_CANDIDATES_SQL, VIEW_SQL
    from safetynet.matching.persons import PERSON_IDS_DDL, rebuild_persons
    from safetynet.warning_rules.engine import ensure_warning_tables

    as_of = settings.as_of
    aliases = {n: f"p{i}" for i, n in enumerate(names)}
    _attach(con, partition_path(settings, RESIDUAL), "res")
    for name, alias in aliases.items():
        _attach(con, partition_path(settings, name), alias)
    try:
        with transaction(con):
            ensure_record_links(con)
            con.execute(MODEL_DDL)
            con.execute(PERSON_IDS_DDL)
            ensure_warning_tables(con)
            if not _has(con, _current(con), "links", "roster"):
                create_table_like(con, "links.roster", "select * from res.links.roster")
            delete_record_links(con, as_of)
            for table in ("links.roster", "links.model", "warnings.warnings",
                          "warnings.rule_status"):
                con.execute(f"delete from {table} where as_of = ?", [as_of])
            copy_record_links(con, "res", "r.as_of = ?", [as_of])
            for alias in aliases.values():
                copy_record_links(con, alias, f"""
                    r.as_of = ? and not exists (
                        select 1 from {alias}.meta.imported_links i
                        where i.source = r.source and i.record_key = r.record_key)""", [as_of])
            prune_explanations(con)
            have = {r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = "
                "'links' and table_name = 'roster'").fetchall()}
            for column, sql_type, *_ in con.execute(
                    "describe select * from res.links.roster").fetchall():
                if column not in have:
                    con.execute(f"alter table links.roster add column {quote_ident(column)} "
                                f"{sql_type}")
            con.execute("insert into links.roster by name select * from res.links.roster "
                        "where as_of = ?", [as_of])
            con.execute("insert into links.person_ids by name select * from res.links.person_ids "
                        "r where not exists (select 1 from links.person_ids p "
                        "where p.id_number = r.id_number)")
            con.execute("insert into links.model by name select * from res.links.model "
                        "where as_of = ?", [as_of])
            rebuild_persons(con)
            tables = [r[0] for r in con.execute(
                "select distinct table_name from links.record_links where as_of = ? "
                "order by 1", [as_of]).fetchall()]
            for name in tables:
                con.execute(f"create or replace view links.{quote_ident(name)} as "
                            + VIEW_SQL.format(table=quote_ident(name),
                                              name=name.replace("'", "''")))
            con.execute(REVIEW_CANDIDATES_SQL)
            if aliases:
                warn_union = " union all ".join(
                    f"select * from {a}.warnings.warnings where as_of = $d"
                    for a in aliases.values())
                status_union = " union all ".join(
                    f"select * from {a}.warnings.rule_status where as_of = $d"
                    for a in aliases.values())
                con.execute(f"insert into warnings.warnings by name {warn_union}", {"d": as_of})
                con.execute(f"""
                    insert into warnings.rule_status by name
                    select any_value(as_of) as as_of, rule_id, any_value(title) as title,
                           case when bool_and(status = 'evaluated') then 'evaluated'
                                else 'not_evaluated' end as status,
                           coalesce(string_agg(distinct nullif(reason, ''), '；'
                                               order by nullif(reason, '')), '') as reason,
                           sum(warning_count) as warning_count,
                           any_value(rule_pack) as rule_pack
                    from ({status_union}) group by rule_id order by rule_id""", {"d": as_of})
        counts = con.execute(
            "select (select count(*) from links.record_links where as_of = $d), "
            "(select count(*) from links.roster where as_of = $d), "
            "(select count(*) from warnings.warnings where as_of = $d)", {"d": as_of}).fetchone()
    finally:
        for alias in ["res", *aliases.values()]:
            con.execute(f"detach {alias}")
    return {"record_links": int(counts[0]), "roster": int(counts[1]), "warnings": int(counts[2])}


def remove_partition_files(settings: RunSettings) -> None:
    """Delete the quarter's partition files (after a successful merge, when not kept)."""
    shutil.rmtree(partition_dir(settings), ignore_errors=True)


# ---------------------------------------------------------------- the whole quarter
def run_quarter_partitioned(settings: RunSettings, *, prefix_len: int = DEFAULT_PREFIX_LEN,
                            only: list[str] | None = None, keep_files: bool = True,
                            map_fn: Any = None) -> dict[str, Any]:
    """The quarterly comparison with link + warn per prefecture (no Prefect; see flows/scaleout).

    Args:
        settings: the run's settings (the main warehouse is `settings.warehouse`).
        prefix_len: region-code digits naming a partition (4: prefecture).
        only: rerun these prefectures alone (their link and warn), reusing the other
            partitions' files of the same as_of; extract and stage are then skipped when the
            quarter is already staged (meta.source_loads).
        keep_files: keep the partition files after the merge (needed for `only` reruns).
        map_fn: ``map_fn(function, list of argument tuples) -> list of results``: how
            partitions run (default: one after another in this process).
    """
    from datetime import datetime

    from safetynet import pipeline
    from safetynet.lock import run_lock

    started = datetime.now()
    run_id = f"{settings.quarter}-{started:%Y%m%dT%H%M%S}-partitioned"
    with run_lock(settings.warehouse, run_id=run_id):
        pipeline.record_run_status(settings, run_id, started, "running")
        try:
            summary = _run_partitioned(settings, prefix_len, only, keep_files, map_fn)
        except BaseException:
            pipeline.record_run_status(settings, run_id, started, "failed")
            raise
        pipeline.record_run_status(settings, run_id, started, "finished")
    return summary


def _run_partitioned(settings: RunSettings, prefix_len: int, only: list[str] | None,
                     keep_files: bool, map_fn: Any) -> dict[str, Any]:
    from safetynet import pipeline

    run = map_fn or (lambda fn, args: [fn(*a) for a in args])
    con = pipeline.open_warehouse(settings)
    try:
        staged = only and con.execute("select count(*) from meta.source_loads where as_of = ? "
                                      "and status = 'loaded'", [settings.as_of]).fetchone()[0]
        if staged:
            loads = _loads_from_meta(con, settings)
        else:
            loads = pipeline.load_sources(con, settings)
            pipeline.check_required(loads)
            pipeline.validate_contracts(con, settings, pipeline.loaded_tables(loads))
            pipeline.write_quarantine_reports(con, settings)
        tables = pipeline.loaded_tables(loads)
        names = plan_partitions(con, settings.as_of, prefix_len)
    finally:
        con.close()  # partitions attach the warehouse read-only: nobody may hold it for writing
    model = resolve_model(settings)
    todo = [n for n in names if only is None or n in only]
    results: list[PartitionResult] = []
    reuse_residual = only is not None and partition_path(settings, RESIDUAL).exists()
    if model is None and reuse_residual:
        model = partition_model(settings, RESIDUAL)  # the model the other partitions used
    if not reuse_residual:
        if model is None:  # fit once, on the residual (whole roster), then share it
            results.append(link_partition(settings, RESIDUAL, None))
            model = partition_model(settings, RESIDUAL)
            results += run(link_partition, [(settings, n, model) for n in todo])
        else:
            results += run(link_partition, [(settings, n, model) for n in [RESIDUAL, *todo]])
    else:
        results += run(link_partition, [(settings, n, model) for n in todo])
    results += run(warn_partition, [(settings, n, tables) for n in todo])
    summary, merged = pipeline.finish_merged(settings, names)
    if not keep_files:
        remove_partition_files(settings)
    summary["partitions"] = {"names": names, "merged": merged,
                             "runs": [dataclasses.asdict(r) for r in results]}
    return summary


def _loads_from_meta(con: duckdb.DuckDBPyConnection, settings: RunSettings) -> list[Any]:
    from safetynet.pipeline import SourceLoad

    rows = con.execute("select source, department, table_name, status from meta.source_loads "
                       "where as_of = ?", [settings.as_of]).fetchall()
    return [SourceLoad(s, d, t, False, status=st) for s, d, t, st in rows]
