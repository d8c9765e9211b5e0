"""Regression cases for warning rules (Sigma's regression data, as YAML).

A case file `cases/<rule_id lowercase>.yml` holds `must_fire` and `must_not_fire` lists. Each case
gives `as_of`, a tiny `roster`, the linked department rows under `tables` (canonical columns),
optional `standards`, optional `pack` (default `default`) and `status` (default `evaluated`),
and for `must_fire` the exact warnings expected for the rule: `subject` (person_id or
household_id), `severity`, `routes`, optionally `household_id` and `due_date`.

`run_case` builds `links.roster`, `links.<table>` and `staged.standards` in a real DuckDB file
(the matching stage is bypassed: department rows link by their normalised ID) and runs the
engine with only the case's rule enabled.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from safetynet.errors import ConfigError
from safetynet.warehouse import connect

from .engine import evaluate
from .packs import RulePack, load_pack
from .rule import read_yaml

CASES_DIR = Path(__file__).resolve().parent / "cases"

IDENTITY = {"id_number": "VARCHAR", "name": "VARCHAR", "sex": "VARCHAR",
            "birth_date": "DATE", "region_code": "VARCHAR"}
LINEAGE = {"as_of": "DATE", "_source": "VARCHAR", "_record_key": "VARCHAR",
           "_row": "BIGINT", "_file": "VARCHAR"}
LINK = {"person_id": "VARCHAR", "link_method": "VARCHAR", "link_score": "DOUBLE"}
ROSTER_IDENTITY = {"person_id": "VARCHAR", "id_quality": "VARCHAR", "name_key": "VARCHAR",
                   "birth_date_eff": "DATE", "sex_eff": "VARCHAR", "county_code": "VARCHAR"}

# Canonical columns of docs/architecture.md (department tables also carry IDENTITY).
CANONICAL: dict[str, dict[str, str]] = {
    "roster": {"household_id": "VARCHAR", "id_number": "VARCHAR", "name": "VARCHAR",
               "sex": "VARCHAR", "birth_date": "DATE", "relation": "VARCHAR",
               "region_code": "VARCHAR", "urban_rural": "VARCHAR", "category": "VARCHAR",
               "status": "VARCHAR", "assistance_start": "DATE", "gradual_exit_start": "DATE",
               "household_size": "INTEGER", "declared_income": "DOUBLE"},
    "standards": {"county_code": "VARCHAR", "urban_rural": "VARCHAR",
                  "monthly_standard": "DOUBLE"},
    "deaths": {"death_date": "DATE", "record_type": "VARCHAR"},
    "pension": {"insurance_type": "VARCHAR", "status": "VARCHAR",
                "contribution_base": "DOUBLE", "contribution_start": "DATE"},
    "unemployment": {"registration_date": "DATE", "status": "VARCHAR", "end_date": "DATE"},
    "vehicles": {"plate_number": "VARCHAR", "plate_type": "VARCHAR", "vehicle_class": "VARCHAR",
                 "status": "VARCHAR", "disabled_use": "BOOLEAN", "registration_date": "DATE"},
    "properties": {"unit_number": "VARCHAR", "usage": "VARCHAR", "acquisition_type": "VARCHAR",
                   "register_date": "DATE", "status": "VARCHAR"},
    "business_persons": {"credit_code": "VARCHAR", "entity_name": "VARCHAR",
                         "entity_type": "VARCHAR", "role": "VARCHAR",
                         "entity_status": "VARCHAR", "established_date": "DATE"},
    "medical_settlements": {"settle_date": "DATE", "total_cost": "DOUBLE",
                            "out_of_pocket": "DOUBLE", "major_illness": "BOOLEAN"},
    "disability_certs": {"cert_number": "VARCHAR", "category": "VARCHAR", "grade": "INTEGER",
                         "status": "VARCHAR", "valid_until": "DATE"},
}
ROSTER_DEFAULTS = {"relation": "head", "region_code": "430102001001", "urban_rural": "urban",
                   "category": "dibao", "status": "active", "household_size": 1}
DEFAULT_STANDARDS = {"urban": 800.0, "rural": 650.0}


@dataclass
class Case:
    """One regression case of one rule."""

    rule_id: str
    kind: str                        # must_fire | must_not_fire
    name: str
    as_of: dt.date
    roster: list[dict[str, Any]]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    standards: list[dict[str, Any]] | None = None
    pack: str = "default"
    status: str = "evaluated"
    expect: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.rule_id}/{self.kind}/{self.name}"


def load_cases(path: str | Path) -> list[Case]:
    """Parse a case file (ConfigError on an unknown key or a malformed case)."""
    path = Path(path)
    raw = read_yaml(path) or {}
    unknown = set(raw) - {"rule_id", "must_fire", "must_not_fire"}
    if unknown or "rule_id" not in raw:
        raise ConfigError(f"{path}: 需要 rule_id、must_fire、must_not_fire，未知字段 {unknown}")
    cases = []
    for kind in ("must_fire", "must_not_fire"):
        for item in raw.get(kind) or []:
            extra = set(item) - {"case", "as_of", "roster", "tables", "standards", "pack",
                                 "status", "expect"}
            if extra or "case" not in item or "as_of" not in item or "roster" not in item:
                raise ConfigError(f"{path}: 用例 {item.get('case')!r} 字段不全或有未知字段 {extra}")
            for table in item.get("tables") or {}:
                if table not in CANONICAL or table in ("roster", "standards"):
                    raise ConfigError(f"{path}: 用例 {item['case']} 的表 {table} 不是部门规范表")
            expect = item.get("expect") or []
            if kind == "must_fire" and item.get("status", "evaluated") == "evaluated" \
                    and not expect:
                raise ConfigError(f"{path}: must_fire 用例 {item['case']} 缺少 expect")
            if kind == "must_not_fire" and expect:
                raise ConfigError(f"{path}: must_not_fire 用例 {item['case']} 不应有 expect")
            cases.append(Case(
                rule_id=str(raw["rule_id"]), kind=kind, name=str(item["case"]),
                as_of=_date(item["as_of"]), roster=list(item["roster"]),
                tables={k: list(v or []) for k, v in (item.get("tables") or {}).items()},
                standards=item.get("standards"), pack=str(item.get("pack", "default")),
                status=str(item.get("status", "evaluated")), expect=list(expect)))
    return cases


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _norm_id(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).strip().upper() or None


def _birth_from_id(pid: str | None) -> dt.date | None:
    if pid and len(pid) == 18 and pid[6:14].isdigit():
        try:
            return dt.date(int(pid[6:10]), int(pid[10:12]), int(pid[12:14]))
        except ValueError:
            return None
    return None


def _cast(value: Any, sql_type: str) -> Any:
    if value is None:
        return None
    if sql_type == "DATE":
        return _date(value)
    if sql_type == "VARCHAR":
        return str(value)
    return value


def _create(con: duckdb.DuckDBPyConnection, relation: str, columns: dict[str, str],
            rows: list[dict[str, Any]]) -> None:
    cols = ", ".join(f'"{c}" {t}' for c, t in columns.items())
    con.execute(f"create or replace table {relation} ({cols})")
    if rows:
        marks = ", ".join("?" for _ in columns)
        con.executemany(f"insert into {relation} values ({marks})",
                        [[_cast(r.get(c), t) for c, t in columns.items()] for r in rows])


def _check_columns(rows: list[dict[str, Any]], allowed: dict[str, str], what: str) -> None:
    for row in rows:
        unknown = set(row) - set(allowed)
        if unknown:
            raise ConfigError(f"{what} 含非规范列 {sorted(unknown)}")


def build_case_warehouse(con: duckdb.DuckDBPyConnection, case: Case) -> set[str]:
    """Create links.roster, links.<table> and staged.standards for a case; return loaded tables."""
    roster_cols = {**CANONICAL["roster"], **LINEAGE, **ROSTER_IDENTITY}
    _check_columns(case.roster, {**roster_cols, "as_of": "DATE"}, f"{case.label} roster")
    roster_rows = []
    for i, given in enumerate(case.roster):
        row = {**ROSTER_DEFAULTS, "name": f"测试人员{i + 1}", **given}
        pid = row["person_id"] if "person_id" in row else _norm_id(row.get("id_number"))
        row.update({
            "as_of": _date(row.get("as_of", case.as_of)), "_source": row.get("_source", "roster"),
            "_record_key": row.get("_record_key", f"roster-{i + 1}"), "_row": i + 2,
            "_file": "roster.csv", "person_id": pid,
            "id_quality": row.get("id_quality", "valid" if pid else "missing"),
            "name_key": row["name"],
            "birth_date_eff": _date(row.get("birth_date")) or _birth_from_id(pid),
            "sex_eff": row.get("sex") or (("male" if int(pid[16]) % 2 else "female")
                                           if pid and pid[16].isdigit() else None),
            "county_code": str(row["region_code"])[:6],
        })
        roster_rows.append(row)
    _create(con, "links.roster", roster_cols, roster_rows)

    if case.standards is not None:
        standards = case.standards
    else:
        counties = sorted({r["county_code"] for r in roster_rows})
        standards = [{"county_code": c, "urban_rural": u, "monthly_standard": v}
                     for c in counties for u, v in DEFAULT_STANDARDS.items()]
    std_cols = {**CANONICAL["standards"], "as_of": "DATE", "_source": "VARCHAR"}
    _create(con, "staged.standards", std_cols,
            [{"as_of": case.as_of, "_source": "standards", **s} for s in standards])

    loaded = {"roster", "standards"}
    for table, rows in case.tables.items():
        cols = {**IDENTITY, **CANONICAL[table], **LINEAGE, **LINK}
        _check_columns(rows, cols, f"{case.label} {table}")
        built = []
        for i, given in enumerate(rows):
            row = {"as_of": case.as_of, "_source": f"{table}_case",
                   "_record_key": f"{table}-{i + 1}", "_row": i + 2, "_file": f"{table}.csv",
                   "link_method": "id_exact", "link_score": 1.0, **given}
            if "person_id" not in given:
                row["person_id"] = _norm_id(row.get("id_number"))
            built.append(row)
        _create(con, f'links."{table}"', cols, built)
        loaded.add(table)
    return loaded


def reset_case_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    """Empty the schemas a case writes (links, staged, warnings, meta) so cases can share a file."""
    for schema in ("links", "staged", "warnings", "meta"):
        con.execute(f"drop schema if exists {schema} cascade")
        con.execute(f"create schema {schema}")


def run_case(case: Case, target: str | Path | duckdb.DuckDBPyConnection, *,
             pack: RulePack | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Build the case warehouse and evaluate the case's rule alone; return (status, warnings).

    `target` is a DuckDB file path (created) or an open connection (its case schemas are reset).
    """
    pack = (pack or load_pack(case.pack)).only(case.rule_id)
    own = not isinstance(target, duckdb.DuckDBPyConnection)
    con = connect(target) if own else target
    try:
        if not own:
            reset_case_warehouse(con)
        loaded = build_case_warehouse(con, case)
        evaluate(con, case.as_of, pack, loaded_tables=loaded)
        status = con.execute(
            "select status from warnings.rule_status where as_of = ? and rule_id = ?",
            [case.as_of, case.rule_id]).fetchone()
        cur = con.execute(
            "select * from warnings.warnings where as_of = ? and rule_id = ? order by warning_key",
            [case.as_of, case.rule_id])
        names = [d[0] for d in cur.description]
        warnings = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        if own:
            con.close()
    for w in warnings:
        w["evidence"] = json.loads(w["evidence"]) if w["evidence"] else None
    return (status[0] if status else "missing"), warnings


def check_case(case: Case, status: str, warnings: list[dict[str, Any]]) -> list[str]:
    """Differences between a case's expectation and what the engine wrote (empty = pass)."""
    problems: list[str] = []
    if status != case.status:
        problems.append(f"status {status!r}, expected {case.status!r}")
    got = {w["person_id"] or w["household_id"]: w for w in warnings}
    if case.kind == "must_not_fire":
        if got:
            problems.append(f"fired for {sorted(got)}")
        return problems
    want = {str(e["subject"]): e for e in case.expect}
    if set(got) != set(want):
        problems.append(f"subjects {sorted(got)}, expected {sorted(want)}")
    for subject, exp in want.items():
        w = got.get(subject)
        if w is None:
            continue
        if w["severity"] != exp["severity"]:
            problems.append(f"{subject}: severity {w['severity']}, expected {exp['severity']}")
        if sorted(w["routes"]) != sorted(exp["routes"]):
            problems.append(f"{subject}: routes {w['routes']}, expected {exp['routes']}")
        if "household_id" in exp and w["household_id"] != str(exp["household_id"]):
            problems.append(f"{subject}: household {w['household_id']}, "
                            f"expected {exp['household_id']}")
        if "due_date" in exp and w["due_date"] != _date(exp["due_date"]):
            problems.append(f"{subject}: due {w['due_date']}, expected {exp['due_date']}")
    return problems
