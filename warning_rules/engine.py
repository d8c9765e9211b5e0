"""Evaluate a rule pack for one as_of: links.* -> warnings.warnings + warnings.rule_status.

Every rule condition returns one row per subject with `person_id` (person-level; optionally the
qualifying `household_id`) or `household_id` (household-level), `severity`, `routes`, `evidence`
(a struct with a non-empty `records` list) and, for month-based due dates, `due_basis`.
The engine adds what every warning shares: key, title, the subject's roster name and region,
the due date, `action = 'verify'` and the pack label. A rerun of an as_of replaces its rows.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from safetynet.errors import SafetynetError
from safetynet.warehouse import transaction
from safetynet.workdays import PathLike, calendar_for

from .packs import RuleConfig, RulePack, load_pack

PRELUDE_SQL = (Path(__file__).resolve().parent / "sql" / "int_roster_persons.sql").read_text(
    encoding="utf-8")
_EMPTY_STANDARDS = ("(select null::varchar as county_code, null::varchar as urban_rural, "
                    "null::double as monthly_standard, null::date as as_of where false)")

WARNINGS_DDL = """
create table if not exists warnings.warnings (
    as_of date, warning_key varchar, rule_id varchar, title varchar, direction varchar,
    subject_level varchar, person_id varchar, household_id varchar, name varchar,
    region_code varchar, county_code varchar, severity varchar, routes varchar[],
    due_date date, action varchar, evidence json, rule_pack varchar
);
create table if not exists warnings.rule_status (
    as_of date, rule_id varchar, title varchar, status varchar, reason varchar,
    warning_count bigint, rule_pack varchar
);
"""

TABLE_TITLES_ZH = {
    "roster": "低收入人口花名册", "standards": "低保标准", "deaths": "死亡火化信息",
    "pension": "养老保险参保信息", "unemployment": "失业登记信息", "vehicles": "机动车登记信息",
    "properties": "不动产登记信息", "business_persons": "市场主体登记人员信息",
    "medical_settlements": "医疗费用结算信息", "disability_certs": "残疾人证信息",
}
_ALWAYS_PRESENCE_CHECKED = ("roster", "standards")
WARNING_COLUMNS = ("as_of", "warning_key", "rule_id", "title", "direction", "subject_level",
                   "person_id", "household_id", "name", "region_code", "county_code", "severity",
                   "routes", "due_date", "action", "evidence", "rule_pack")
STATUS_COLUMNS = ("as_of", "rule_id", "title", "status", "reason", "warning_count", "rule_pack")
_PRELUDE = "int_roster_persons"
_OUT = "_sn_rule_out"


@dataclass(frozen=True)
class RuleOutcome:
    """What happened to one rule in one evaluation."""

    rule_id: str
    title: str
    status: str                 # evaluated | not_evaluated
    reason: str
    warnings: int
    seconds: float = 0.0


@dataclass
class EvaluationSummary:
    """Result of `evaluate`: per-rule outcomes and totals (no personal data)."""

    as_of: dt.date
    rule_pack: str
    pack_hash: str
    outcomes: list[RuleOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total_warnings(self) -> int:
        return sum(o.warnings for o in self.outcomes)

    @property
    def by_rule(self) -> dict[str, int]:
        return {o.rule_id: o.warnings for o in self.outcomes if o.status == "evaluated"}

    @property
    def not_evaluated(self) -> dict[str, str]:
        return {o.rule_id: o.reason for o in self.outcomes if o.status == "not_evaluated"}


def relation_for(table: str) -> tuple[str, str]:
    """(schema, name) a rule input is read from."""
    if table == "standards":
        return "staged", "standards"
    return "links", table


def ensure_warning_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create warnings.warnings and warnings.rule_status when missing."""
    con.execute("create schema if not exists warnings")
    con.execute(WARNINGS_DDL)


def _relations(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(schema, name) of every table and view of the warehouse, in one catalog query."""
    rows = con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = current_database() "
        "union all select schema_name, view_name from duckdb_views() "
        "where database_name = current_database() and not internal").fetchall()
    return {(s, n) for s, n in rows}


def _has_rows(con: duckdb.DuckDBPyConnection, table: str, as_of: dt.date) -> bool:
    schema, name = relation_for(table)
    row = con.execute(f'select exists (select 1 from {schema}."{name}" where as_of = ?)',
                      [as_of]).fetchone()
    return bool(row and row[0])


def _loaded_from_meta(con: duckdb.DuckDBPyConnection, as_of: dt.date,
                      relations: set[tuple[str, str]]) -> set[str] | None:
    if ("meta", "source_loads") not in relations:
        return None
    rows = con.execute("select table_name, status from meta.source_loads where as_of = ?",
                       [as_of]).fetchall()
    if not rows:
        return None
    return {t for t, status in rows if status == "loaded"}


def _input_problem(con: duckdb.DuckDBPyConnection, table: str, as_of: dt.date,
                   loaded: set[str] | None, relations: set[tuple[str, str]]) -> str | None:
    """Chinese reason why an input is unavailable, or None when it can be read."""
    label = f"{TABLE_TITLES_ZH.get(table, table)}（{table}）"
    schema, name = relation_for(table)
    if loaded is not None and table not in _ALWAYS_PRESENCE_CHECKED and table not in loaded:
        return f"本期未加载数据源：{label}，本规则未评估"
    if (schema, name) not in relations:
        return f"数据表 {schema}.{name} 不存在（未加载{label}），本规则未评估"
    if (loaded is None or table in _ALWAYS_PRESENCE_CHECKED) and not _has_rows(con, table, as_of):
        return f"{schema}.{name} 中没有 {as_of.isoformat()} 的数据（{label}），本规则未评估"
    return None


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    return [r[0] for r in con.execute(f"describe {relation}").fetchall()]


def _check_output(con: duckdb.DuckDBPyConnection, rc: RuleConfig) -> None:
    """A rule's output must match its declaration: loud error on any rule defect."""
    rule = rc.rule
    cols = set(_columns(con, _OUT))
    need = {rule.subject_column, "severity", "routes", "evidence"}
    if rule.due.kind == "months_after":
        need.add("due_basis")
    if not need <= cols:
        raise SafetynetError(f"规则 {rule.rule_id} 的结果缺少列 {sorted(need - cols)}")
    subject = rule.subject_column
    problems = con.execute(f"""
        select
            count(*) filter (where {subject} is null),
            count(*) - count(distinct {subject}),
            count(*) filter (where severity is null or not list_contains($severities, severity)),
            count(*) filter (where routes is null or len(routes) = 0
                             or len(list_filter(routes, lambda r: not list_contains($routes, r))) > 0),
            count(*) filter (where coalesce(len(evidence.records), 0) = 0)
        from {_OUT}""", {"severities": list(rule.severity), "routes": list(rule.routes)}
    ).fetchone()
    labels = ("主体为空", "主体重复", "严重程度不在声明范围", "推送部门不在声明范围", "证据缺少来源记录")
    bad = [f"{label} {n} 行" for label, n in zip(labels, problems or (), strict=True) if n]
    if rule.due.kind == "months_after":
        (n,) = con.execute(f"select count(*) from {_OUT} where due_basis is null").fetchone()
        if n:
            bad.append(f"due_basis 为空 {n} 行")
    if bad:
        raise SafetynetError(f"规则 {rule.rule_id} 的结果不符合约定：" + "；".join(bad))


def _insert_warnings(con: duckdb.DuckDBPyConnection, rc: RuleConfig, as_of: dt.date,
                     due_date: dt.date | None, pack_label: str) -> int:
    rule = rc.rule
    params: dict[str, Any] = {"as_of": as_of, "rule_id": rule.rule_id, "title": rule.title,
                              "direction": rule.direction, "rule_pack": pack_label}
    if rule.due.kind == "working_days":
        due_expr = "$due_date"
        params["due_date"] = due_date
    else:
        due_expr = "cast(o.due_basis + to_months($due_months) as date)"
        params["due_months"] = rc.due_amount
    columns = ", ".join(WARNING_COLUMNS)
    if rule.subject_level == "person":
        household = "o.household_id" if "household_id" in _columns(con, _OUT) else "null::varchar"
        sql = f"""
        insert into warnings.warnings ({columns})
        with out as (
            select person_id, {household} as household_id, severity, routes, evidence,
                   {'due_basis' if rule.due.kind == 'months_after' else 'null::date'} as due_basis
            from {_OUT} as o
        ),
        subject_rows as (
            select out.person_id, r.household_id, r.name, r.region_code, r.county_code,
                   row_number() over (
                       partition by out.person_id
                       order by coalesce(r.household_id = out.household_id, false) desc,
                                r.in_roster desc, r.is_recipient desc,
                                coalesce(r.relation = 'head', false) desc,
                                r.household_id, r._row) as pick
            from out join {_PRELUDE} as r on r.person_id = out.person_id
        )
        select $as_of, $rule_id || ':' || o.person_id, $rule_id, $title, $direction, 'person',
               o.person_id, coalesce(o.household_id, s.household_id), s.name, s.region_code,
               s.county_code, o.severity, o.routes, {due_expr}, 'verify', to_json(o.evidence),
               $rule_pack
        from out as o
        left join subject_rows as s on s.person_id = o.person_id and s.pick = 1
        """
    else:
        basis = "o.due_basis" if rule.due.kind == "months_after" else "null::date"
        sql = f"""
        insert into warnings.warnings ({columns})
        with subject_rows as (
            select r.household_id, r.name, r.region_code, r.county_code, 1 as pick
            from {_PRELUDE} as r
            where r.is_household_representative
        ),
        out as (select household_id, severity, routes, evidence, {basis} as due_basis
                from {_OUT} as o)
        select $as_of, $rule_id || ':' || o.household_id, $rule_id, $title, $direction,
               'household', null, o.household_id, s.name, s.region_code, s.county_code,
               o.severity, o.routes, {due_expr}, 'verify', to_json(o.evidence), $rule_pack
        from out as o
        left join subject_rows as s on s.household_id = o.household_id and s.pick = 1
        """
    con.execute(sql, params)
    (n,) = con.execute(f"select count(*) from {_OUT}").fetchone()
    return int(n)


def _standards_note(con: duckdb.DuckDBPyConnection) -> str:
    rows = con.execute(f"""
        select county_code, urban_rural, count(*) from {_PRELUDE}
        where in_roster and local_standard is null
        group by all order by 1, 2""").fetchall()
    if not rows:
        return ""
    n = sum(r[2] for r in rows)
    where = "、".join(f"{c or '未知'}/{u or '未知'}" for c, u, _ in rows[:5])
    more = " 等" if len(rows) > 5 else ""
    return f"已评估；{n} 名在册人员所在县区缺少低保标准（{where}{more}），涉及标准的判断不完整"


def evaluate(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date | str,
    pack: RulePack | str | Path,
    *,
    loaded_tables: set[str] | None = None,
    holidays_dir: PathLike | Sequence[PathLike] | None = None,
) -> EvaluationSummary:
    """Run every rule of `pack` for `as_of` and (re)write that as_of's warnings and statuses.

    Args:
        con: warehouse connection holding links.roster, links.<table> and staged.standards.
        as_of: comparison date (date or ISO text).
        pack: a RulePack, or a pack name / path for `load_pack`.
        loaded_tables: canonical department tables loaded this quarter; a rule reading any
            other table is `not_evaluated`. None: taken from meta.source_loads when it has rows
            for as_of, else from which relations hold rows for as_of.
        holidays_dir: extra (regional) holiday folder for the working-day due dates.

    Raises CalendarYearMissing before writing anything when a due date falls in a year
    without a holiday arrangement, and SafetynetError when a rule returns malformed rows.
    """
    started = time.perf_counter()
    as_of = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    pack = pack if isinstance(pack, RulePack) else load_pack(pack)
    calendar = calendar_for(holidays_dir)
    ensure_warning_tables(con)
    relations = _relations(con)
    loaded = (set(loaded_tables) if loaded_tables is not None
              else _loaded_from_meta(con, as_of, relations))

    plan: list[tuple[RuleConfig, str | None, dt.date | None]] = []
    for rc in sorted(pack.rules.values(), key=lambda c: c.rule.rule_id):
        if not rc.enabled:
            plan.append((rc, f"规则包 {pack.label} 未启用本规则", None))
            continue
        problem = next((p for t in rc.rule.inputs
                        if (p := _input_problem(con, t, as_of, loaded, relations))), None)
        due = (calendar.add_working_days(as_of, rc.due_amount)
               if rc.rule.due.kind == "working_days" and problem is None else None)
        plan.append((rc, problem, due))

    summary = EvaluationSummary(as_of=as_of, rule_pack=pack.label, pack_hash=pack.hash)
    evaluable = [p for p in plan if p[1] is None]
    with transaction(con):
        con.execute("delete from warnings.warnings where as_of = ?", [as_of])
        con.execute("delete from warnings.rule_status where as_of = ?", [as_of])
        if evaluable:
            standards = ("staged.standards" if ("staged", "standards") in relations
                         else _EMPTY_STANDARDS)
            con.execute(f"create or replace temp table {_PRELUDE} as "
                        + PRELUDE_SQL.replace("{standards_relation}", standards),
                        {"as_of": as_of})
            standards_note = _standards_note(con)
        for rc, problem, due in plan:
            rule = rc.rule
            t0 = time.perf_counter()
            if problem is not None:
                outcome = RuleOutcome(rule.rule_id, rule.title, "not_evaluated", problem, 0)
            else:
                try:
                    con.execute(f"create or replace temp table {_OUT} as {rule.condition}",
                                rule.bind(rc.parameters, as_of))
                except duckdb.Error as exc:
                    raise SafetynetError(f"规则 {rule.rule_id} 执行失败：{exc}") from exc
                _check_output(con, rc)
                n = _insert_warnings(con, rc, as_of, due, pack.label)
                reason = standards_note if "standards" in rule.inputs else ""
                outcome = RuleOutcome(rule.rule_id, rule.title, "evaluated", reason, n,
                                      round(time.perf_counter() - t0, 3))
            summary.outcomes.append(outcome)
        if summary.outcomes:
            values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(summary.outcomes))
            con.execute(f"insert into warnings.rule_status ({', '.join(STATUS_COLUMNS)}) "
                        f"values {values}",
                        [v for o in summary.outcomes for v in (
                            as_of, o.rule_id, o.title, o.status, o.reason, o.warnings,
                            pack.label)])
        con.execute(f"drop table if exists {_OUT}")
        con.execute(f"drop table if exists {_PRELUDE}")
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary
