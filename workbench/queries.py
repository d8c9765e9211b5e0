"""Every read of the workbench, as SQL scoped on the server (see scope.py).

The warning table is one scoped query over `warnings.warnings` (left-joined to the monitoring
tables when they exist) with LIMIT/OFFSET paging, a total count, and a stable tie-break on
`warning_key`. Missing stages degrade: without `warnings.lifecycle` every warning is `open` and
overdue means past its due date.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any
from urllib.parse import urlencode

import duckdb

from safetynet.workbench.auth import User
from safetynet.workbench.db import columns_of
from safetynet.workbench.labels import DIRECTION, SEVERITY, STATUS
from safetynet.workbench.scope import region_scope, warning_scope

PER_PAGE_CHOICES = (25, 50, 100)
EXPORT_LIMIT = 200_000
SEVERITY_RANK = ("case w.severity when 'high' then 3 when 'medium' then 2 "
                 "when 'low' then 1 else 0 end")
# Sort keys of the quarter relation (integer ranks; `key_rank` breaks ties stably).
SORTS = {"severity": "sev_rank", "due": "due_date", "rule": "rule_rank", "county": "county_rank",
         "status": "status_rank", "overdue": "overdue", "direction": "direction_rank"}
_RULE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_COUNTY = re.compile(r"^\d{6}$")


def warning_id(warning_key: str) -> str:
    """Opaque, stable id of a warning for URLs (same as the referral files' 预警编号)."""
    return "W" + hashlib.sha256(warning_key.encode("utf-8")).hexdigest()[:12]


def review_id(source: str, record_key: str, person_id: str | None) -> str:
    """Opaque id of a review-queue item for URLs (no ID number in any URL)."""
    raw = "\x1f".join((source, record_key, person_id or ""))
    return "R" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:12]


_REVIEW_ID_SQL = ("'R' || left(sha256(rl.source || chr(31) || rl.record_key || chr(31) || "
                  "coalesce(rl.person_id, '')), 12)")


@dataclass(frozen=True)
class WarningFilter:
    """The warning table's filter, sort and page, read from (untrusted) query parameters."""

    as_of: date | None = None
    rule: str = ""
    severity: str = ""
    status: str = ""
    county: str = ""
    overdue: str = ""
    direction: str = ""
    sort: str = "severity"
    order: str = "desc"
    page: int = 1
    per_page: int = 50

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> WarningFilter:
        """Keep only values that are allowed; anything else falls back to the default."""
        def pick(key: str, ok: Any) -> str:
            value = (params.get(key) or "").strip()
            return value if value and ok(value) else ""

        try:
            as_of = date.fromisoformat(params.get("as_of") or "") if params.get("as_of") else None
        except ValueError:
            as_of = None
        try:
            page = max(1, min(int(params.get("page") or 1), 1_000_000))
        except ValueError:
            page = 1
        try:
            per_page = int(params.get("per_page") or 50)
        except ValueError:
            per_page = 50
        return cls(
            as_of=as_of,
            rule=pick("rule", _RULE.match),
            severity=pick("severity", SEVERITY.__contains__),
            status=pick("status", STATUS.__contains__),
            county=pick("county", _COUNTY.match),
            overdue=pick("overdue", ("yes", "no").__contains__),
            direction=pick("direction", DIRECTION.__contains__),
            sort=pick("sort", SORTS.__contains__) or "severity",
            order="asc" if params.get("order") == "asc" else "desc",
            page=page,
            per_page=per_page if per_page in PER_PAGE_CHOICES else 50,
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """Non-default values as query parameters (with `changes` applied)."""
        f = replace(self, **changes)
        out: dict[str, str] = {}
        for fld in fields(f):
            value = getattr(f, fld.name)
            if value in (None, "") or value == fld.default:
                continue
            out[fld.name] = value.isoformat() if isinstance(value, date) else str(value)
        return out

    def query(self, **changes: Any) -> str:
        """URL query string for this filter with `changes` applied."""
        return urlencode(self.params(**changes))


@dataclass
class Page:
    """One page of rows and the total behind it."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def quarters(con: duckdb.DuckDBPyConnection, tables: frozenset[str]) -> list[date]:
    """Comparison dates present, newest first."""
    if "warnings.warnings" not in tables:
        return []
    rows = con.execute("select distinct as_of from warnings.warnings order by as_of desc")
    return [r[0] for r in rows.fetchall()]


def _status_sql(tables: frozenset[str]) -> tuple[str, str]:
    """SQL for status and overdue over aliases `w` (warnings) and `l` (lifecycle)."""
    if "warnings.lifecycle" not in tables:
        return "'open'", "coalesce(w.due_date < current_date, false)"
    status = "coalesce(l.status, 'open')"
    return status, f"({status} <> 'closed' and coalesce(l.overdue, w.due_date < current_date))"


def quarter_sql(tables: frozenset[str], *, evidence: bool = False) -> str:
    """One quarter's warnings (parameter: as_of) with status, overdue, state and sort ranks."""
    status, overdue = _status_sql(tables)
    joins, state = "", "null::varchar"
    if "warnings.lifecycle" in tables:
        joins += " left join warnings.lifecycle l on l.warning_key = w.warning_key"
    if "warnings.history" in tables:
        joins += (" left join warnings.history h on h.as_of = w.as_of "
                  "and h.warning_key = w.warning_key")
        state = "h.state"
    # The deadline of the warning's current cycle (a persisting warning keeps its first one).
    due = "coalesce(l.due_date, w.due_date)" if "warnings.lifecycle" in tables else "w.due_date"
    return (
        "select w.as_of, w.warning_key, w.rule_id, w.title, w.direction, w.severity, "
        "w.subject_level, w.person_id, w.household_id, w.name, w.county_code, w.region_code, "
        f"w.routes, {due} as due_date{', w.evidence' if evidence else ''}, "
        f"{status} as status, {overdue} as overdue, {state} as state, "
        f"{SEVERITY_RANK} as sev_rank, "
        f"case {status} when 'open' then 0 when 'in_verification' then 1 "
        f"when 'closed' then 2 else 3 end as status_rank, "
        "dense_rank() over (order by w.rule_id) as rule_rank, "
        "dense_rank() over (order by w.county_code) as county_rank, "
        "dense_rank() over (order by w.direction) as direction_rank, "
        "row_number() over (order by w.warning_key) as key_rank "
        f"from warnings.warnings w{joins} where w.as_of = ?")


@dataclass
class Source:
    """Where one quarter's table is read: the in-memory copy, or the warehouse itself."""

    con: duckdb.DuckDBPyConnection
    relation: str
    params: list[Any]
    cached: bool


def build_quarter(con: duckdb.DuckDBPyConnection, tables: frozenset[str], as_of: date,
                  max_rows: int) -> Any:
    """The quarter as an Arrow table for the cache (None when larger than `max_rows`)."""
    # fetchall, not fetchone: an unfinished result would block the relation API (DuckDB 2.0).
    n = con.execute("select count(*) from warnings.warnings where as_of = ?",
                    [as_of]).fetchall()[0][0]
    if n > max_rows:
        return None
    return con.sql(quarter_sql(tables), params=[as_of]).to_arrow_table()


def direct_source(con: duckdb.DuckDBPyConnection, tables: frozenset[str],
                  as_of: date | None) -> Source:
    """The quarter read straight from the warehouse (no cache)."""
    return Source(con, f"({quarter_sql(tables)})", [as_of], cached=False)


def _where(user: User, f: WarningFilter) -> tuple[str, list[Any]]:
    """Scope and filters over a quarter relation aliased `w`."""
    scope_sql, params = warning_scope(user, "w")
    where = [scope_sql]
    params = list(params)
    for col, value in (("rule_id", f.rule), ("severity", f.severity), ("status", f.status),
                       ("direction", f.direction), ("county_code", f.county)):
        if value:
            where.append(f"w.{col} = ?")
            params.append(value)
    if f.overdue:
        where.append("w.overdue" if f.overdue == "yes" else "not w.overdue")
    return " and ".join(where), params


def _order(f: WarningFilter) -> str:
    direction = "asc" if f.order == "asc" else "desc"
    return f"{SORTS[f.sort]} {direction} nulls last, key_rank"


def warning_page(src: Source, user: User, f: WarningFilter) -> Page:
    """One sorted page of the scoped, filtered warning table and the filtered total."""
    if f.as_of is None:
        return Page([], 0, 1, f.per_page)
    where, params = _where(user, f)
    base = f"from {src.relation} w where {where}"
    total = src.con.execute(f"select count(*) {base}", [*src.params, *params]).fetchone()[0]
    pages = max(1, -(-total // f.per_page))
    page = min(f.page, pages)
    # Late materialisation: choose the page's keys on narrow columns, then fetch its rows.
    rows = _dicts(src.con.execute(
        f"with page as (select key_rank {base} order by {_order(f)} limit ? offset ?) "
        f"select * from {src.relation} w where w.key_rank in (select key_rank from page) "
        f"order by {_order(f)}",
        [*src.params, *params, f.per_page, (page - 1) * f.per_page, *src.params]))
    for row in rows:
        row["wid"] = warning_id(row["warning_key"])
    return Page(rows, total, page, f.per_page)


def export_rows(con: duckdb.DuckDBPyConnection, tables: frozenset[str], user: User,
                f: WarningFilter) -> list[dict[str, Any]]:
    """Every row of the current filter (up to EXPORT_LIMIT), with evidence, in table order."""
    if "warnings.warnings" not in tables or f.as_of is None:
        return []
    where, params = _where(user, f)
    return _dicts(con.execute(
        f"select * from ({quarter_sql(tables, evidence=True)}) w where {where} "
        f"order by {_order(f)} limit ?", [f.as_of, *params, EXPORT_LIMIT]))


def filter_options(src: Source, user: User) -> dict[str, list[tuple[str, str]]]:
    """Rules and counties present in the user's scope for the quarter (for the filter form)."""
    scope_sql, params = warning_scope(user, "w")
    rows = src.con.execute(
        f"select rule_id, any_value(title), county_code from {src.relation} w "
        f"where {scope_sql} group by grouping sets ((rule_id), (county_code))",
        [*src.params, *params]).fetchall()
    rules = sorted((r[0], r[1] or r[0]) for r in rows if r[0] is not None)
    counties = sorted((r[2], r[2]) for r in rows if r[0] is None and r[2] is not None)
    return {"rules": rules, "counties": counties}


def overview(con: duckdb.DuckDBPyConnection, tables: frozenset[str], src: Source | None,
             user: User, as_of: date | None) -> dict[str, Any]:
    """Counts per rule, severity, county, direction, status and state; trend over quarters."""
    out: dict[str, Any] = {"total": 0, "high": 0, "by_rule": [], "by_severity": [],
                           "by_county": [], "by_direction": [], "by_status": [],
                           "by_state": [], "trend": [], "overdue": 0, "resolved": 0}
    if src is None or as_of is None:
        return out
    scope_sql, sparams = warning_scope(user, "w")
    rows = src.con.execute(
        f"select grouping(rule_id) = 0, grouping(severity) = 0, grouping(county_code) = 0, "
        f"grouping(direction) = 0, grouping(status) = 0, grouping(state) = 0, rule_id, "
        f"any_value(title), severity, county_code, direction, status, state, count(*), "
        f"count(*) filter (where severity = 'high'), count(*) filter (where overdue) "
        f"from {src.relation} w where {scope_sql} group by grouping sets "
        f"((rule_id), (severity), (county_code), (direction), (status), (state), ())",
        [*src.params, *sparams]).fetchall()
    for (by_rule, by_sev, by_county, by_dir, by_status, by_state, rule, title, sev, county,
         direction, status, state, n, high, overdue) in rows:
        if by_rule:
            out["by_rule"].append((rule, title, n, high))
        elif by_sev:
            out["by_severity"].append((sev, n))
        elif by_county:
            out["by_county"].append((county, n))
        elif by_dir:
            out["by_direction"].append((direction, n))
        elif by_status:
            out["by_status"].append((status, n))
        elif by_state:
            if state:
                out["by_state"].append((state, n))
        else:
            out["total"], out["high"], out["overdue"] = n, high, overdue
    rank = {"high": 0, "medium": 1, "low": 2}
    out["by_rule"].sort(key=lambda r: (-r[2], r[0]))
    out["by_severity"].sort(key=lambda r: rank.get(r[0], 9))
    out["by_county"].sort(key=lambda r: r[0] or "")
    out["by_direction"].sort(key=lambda r: (-r[1], r[0] or ""))
    out["by_status"].sort(key=lambda r: list(STATUS).index(r[0]) if r[0] in STATUS else 9)
    out["by_state"].sort(key=lambda r: -r[1])
    if "warnings.history" in tables and {"region_code", "county_code", "routes"} <= columns_of(
            con, "warnings", "history"):
        out["resolved"] = con.execute(
            f"select count(*) from warnings.history w where w.as_of = ? and w.state = 'resolved' "
            f"and {scope_sql}", [as_of, *sparams]).fetchone()[0]
    out["trend"] = con.execute(
        f"select w.as_of, w.direction, count(*) from warnings.warnings w where {scope_sql} "
        f"group by 1, 2 order by 1, 2", sparams).fetchall()
    return out


def find_warning(con: duckdb.DuckDBPyConnection, tables: frozenset[str], user: User, wid: str,
                 as_of: date | None = None) -> dict[str, Any] | None:
    """A warning in the user's scope by its opaque id (latest quarter it fired, or `as_of`)."""
    if "warnings.warnings" not in tables or not re.fullmatch(r"W[0-9a-f]{12}", wid):
        return None
    scope_sql, params = warning_scope(user, "w")
    when, when_args = (" and w.as_of = ?", [as_of]) if as_of else ("", [])
    # The lifecycle stores the id (monitoring); else hash every key (slower, always right).
    lookups = []
    if "warning_id" in columns_of(con, "warnings", "lifecycle"):
        lookups.append("w.warning_key in (select warning_key from warnings.lifecycle "
                       "where warning_id = ?)")
    lookups.append("'W' || left(sha256(w.warning_key), 12) = ?")
    for lookup in lookups:
        rows = _dicts(con.execute(
            f"select * from warnings.warnings w where {lookup} and {scope_sql}{when} "
            f"order by w.as_of desc limit 1", [wid, *params, *when_args]))
        if rows:
            return rows[0]
    return None


def warning_context(con: duckdb.DuckDBPyConnection, tables: frozenset[str], user: User,
                    warning: dict[str, Any]) -> dict[str, Any]:
    """Lifecycle, history, feedback and roster rows of one (already authorised) warning."""
    key = warning["warning_key"]
    ctx: dict[str, Any] = {"lifecycle": None, "history": [], "feedback": [], "roster": []}
    if "warnings.lifecycle" in tables:
        rows = _dicts(con.execute("select * from warnings.lifecycle where warning_key = ?",
                                  [key]))
        ctx["lifecycle"] = rows[0] if rows else None
    if "warnings.history" in tables:
        ctx["history"] = _dicts(con.execute(
            "select as_of, state, severity, due_date from warnings.history "
            "where warning_key = ? order by as_of", [key]))
    if "warnings.feedback" in tables:
        ctx["feedback"] = _dicts(con.execute(
            "select * from warnings.feedback where warning_key = ? "
            "order by received_at desc nulls last", [key]))
    if "links.roster" in tables:
        scope_sql, params = region_scope(user, "r.region_code")
        if warning.get("person_id"):
            cond, arg = "r.person_id = ?", warning["person_id"]
        else:
            cond, arg = "r.household_id = ?", warning["household_id"]
        ctx["roster"] = _dicts(con.execute(
            f"select * from links.roster r where r.as_of = ? and {cond} and {scope_sql} "
            f"order by r.household_id, r.relation = 'head' desc, r.person_id",
            [warning["as_of"], arg, *params]))
    return ctx


def record_link(con: duckdb.DuckDBPyConnection, tables: frozenset[str], as_of: date,
                source: str | None, table: str | None, record_key: str) -> dict[str, Any] | None:
    """The link decision of one source record (for a warning's evidence)."""
    if "links.record_links" not in tables:
        return None
    rows = _dicts(con.execute(
        "select source, table_name, record_key, person_id, status, method, score, id_quality, "
        "explanation from links.record_links where as_of = ? and record_key = ? "
        "and (? is null or source = ?) and (? is null or table_name = ?) limit 1",
        [as_of, record_key, source, source, table, table]))
    return rows[0] if rows else None


def household_chain(con: duckdb.DuckDBPyConnection, tables: frozenset[str], user: User,
                    household_id: str) -> dict[str, Any] | None:
    """A household's members and its warnings' states quarter by quarter (None: not in scope)."""
    scope_sql, params = warning_scope(user, "w")
    members: list[dict[str, Any]] = []
    member_as_of = None
    if "links.roster" in tables:
        rscope, rparams = region_scope(user, "r.region_code")
        latest = con.execute(
            f"select max(as_of) from links.roster r where household_id = ? and {rscope}",
            [household_id, *rparams]).fetchone()[0]
        if latest is not None:
            member_as_of = latest
            members = _dicts(con.execute(
                f"select * from links.roster r where as_of = ? and household_id = ? and {rscope} "
                f"order by relation = 'head' desc, birth_date_eff nulls last, person_id",
                [latest, household_id, *rparams]))
    sources = []
    if "warnings.warnings" in tables:
        sources.append(f"select warning_key, as_of, rule_id, title, subject_level, person_id, "
                       f"name, null::varchar as state from warnings.warnings w "
                       f"where household_id = ? and {scope_sql}")
    hist_cols = columns_of(con, "warnings", "history") if "warnings.history" in tables else set()
    if {"household_id", "region_code", "routes"} <= hist_cols:
        sources.append(f"select warning_key, as_of, rule_id, title, subject_level, person_id, "
                       f"name, state from warnings.history w where household_id = ? and {scope_sql}")
    if not sources:
        return {"members": members, "member_as_of": member_as_of, "quarters": [], "chain": [],
                "feedback": []} if members else None
    args: list[Any] = []
    for _ in sources:
        args += [household_id, *params]
    cells = _dicts(con.execute(
        "select warning_key, as_of, any_value(rule_id) as rule_id, any_value(title) as title, "
        "any_value(subject_level) as subject_level, any_value(person_id) as person_id, "
        "any_value(name) as name, max(state) as state from (" + " union all ".join(sources) +
        ") group by warning_key, as_of order by warning_key, as_of", args))
    if not members and not cells:
        return None
    quarters_ = sorted({c["as_of"] for c in cells})
    chain: dict[str, dict[str, Any]] = {}
    for c in cells:
        item = chain.setdefault(c["warning_key"], {
            "warning_key": c["warning_key"], "wid": warning_id(c["warning_key"]),
            "rule_id": c["rule_id"], "title": c["title"], "subject_level": c["subject_level"],
            "person_id": c["person_id"], "name": c["name"], "states": {}, "status": None,
            "last_result": None})
        item["states"][c["as_of"]] = c["state"] or "fired"
    keys = list(chain)
    if keys and "warnings.lifecycle" in tables:
        for key, status, result in con.execute(
                "select warning_key, status, last_result from warnings.lifecycle "
                "where list_contains(?, warning_key)", [keys]).fetchall():
            chain[key]["status"], chain[key]["last_result"] = status, result
    feedback = []
    if keys and "warnings.feedback" in tables:
        feedback = _dicts(con.execute(
            "select * from warnings.feedback where list_contains(?, warning_key) "
            "order by result_date, received_at", [keys]))
        for fb in feedback:
            fb["rule_id"] = chain[fb["warning_key"]]["rule_id"]
            fb["title"] = chain[fb["warning_key"]]["title"]
    return {"members": members, "member_as_of": member_as_of, "quarters": quarters_,
            "chain": list(chain.values()), "feedback": feedback}


def review_queue(con: duckdb.DuckDBPyConnection, tables: frozenset[str], user: User,
                 as_of: date | None, page: int = 1, per_page: int = 25) -> Page:
    """Uncertain links (status `review`) whose candidate roster person is in scope, undecided."""
    if "links.review_candidates" not in tables or "links.roster" not in tables or as_of is None:
        return Page([], 0, 1, per_page)
    rscope, rparams = region_scope(user, "r.region_code")
    decided = ""
    if "links.review_decisions" in tables:
        decided = ("and not exists (select 1 from links.review_decisions d where "
                   "d.source = rl.source and d.record_key = rl.record_key "
                   "and d.person_id is not distinct from rl.person_id)")
    base = (f"from links.review_candidates rl where rl.as_of = ? "
            f"and exists (select 1 from links.roster r where r.as_of = rl.as_of "
            f"and r.person_id = rl.person_id and {rscope}) {decided}")
    args = [as_of, *rparams]
    total = con.execute(f"select count(*) {base}", args).fetchone()[0]
    pages = max(1, -(-total // per_page))
    page = max(1, min(page, pages))
    rows = _dicts(con.execute(
        f"select rl.*, {_REVIEW_ID_SQL} as rid {base} order by rl.score desc nulls last, "
        f"rl.source, rl.record_key limit ? offset ?", [*args, per_page, (page - 1) * per_page]))
    for row in rows:
        row["candidates"] = _dicts(con.execute(
            "select person_id, name, household_id, region_code, birth_date_eff, category, status "
            "from links.roster where as_of = ? and person_id = ?", [as_of, row["person_id"]]))
        row["record"] = staged_identity(con, tables, row["table_name"], row["source"],
                                        row["record_key"], as_of)
    return Page(rows, total, page, per_page)


def staged_identity(con: duckdb.DuckDBPyConnection, tables: frozenset[str], table: str | None,
                    source: str, record_key: str, as_of: date) -> dict[str, Any] | None:
    """The identity columns of a staged department record, as the department sent them."""
    if not table or not re.fullmatch(r"[a-z0-9_]+", table) or f"staged.{table}" not in tables:
        return None
    have = columns_of(con, "staged", table)
    wanted = [c for c in ("id_number", "name", "sex", "birth_date", "region_code") if c in have]
    if not wanted or not {"_source", "_record_key", "as_of"} <= have:
        return None
    rows = _dicts(con.execute(
        f"select {', '.join(wanted)} from staged.{table} where as_of = ? and _source = ? "
        f"and _record_key = ? limit 1", [as_of, source, record_key]))
    return rows[0] if rows else None


def find_review_item(con: duckdb.DuckDBPyConnection, tables: frozenset[str], user: User,
                     rid: str) -> dict[str, Any] | None:
    """A review-queue item in the user's scope by its opaque id (any quarter, newest first)."""
    if "links.review_candidates" not in tables or "links.roster" not in tables:
        return None
    if not re.fullmatch(r"R[0-9a-f]{12}", rid):
        return None
    rscope, rparams = region_scope(user, "r.region_code")
    rows = _dicts(con.execute(
        f"select rl.* from links.review_candidates rl where true "
        f"and {_REVIEW_ID_SQL} = ? and exists (select 1 from links.roster r "
        f"where r.as_of = rl.as_of and r.person_id = rl.person_id and {rscope}) "
        f"order by rl.as_of desc limit 1", [rid, *rparams]))
    return rows[0] if rows else None


def access_log(con: duckdb.DuckDBPyConnection, user: User, *, action: str = "",
               username: str = "", page: int = 1, per_page: int = 100) -> Page:
    """The access log of accounts inside the viewer's region scope, newest first."""
    # Accounts inside the scope, the viewer, and names that match no account (failed sign-ins).
    where = ["(starts_with(u.region_scope, ?) or a.username = ? or u.username is null)"]
    args: list[Any] = [user.region_scope, user.username]
    if action:
        where.append("a.action = ?")
        args.append(action)
    if username:
        where.append("a.username = ?")
        args.append(username)
    base = (f"from meta.access_log a left join meta.users u on u.username = a.username "
            f"where {' and '.join(where)}")
    total = con.execute(f"select count(*) {base}", args).fetchone()[0]
    pages = max(1, -(-total // per_page))
    page = max(1, min(page, pages))
    rows = _dicts(con.execute(
        f"select a.ts, a.username, u.role, a.action, a.object, a.detail {base} "
        f"order by a.ts desc limit ? offset ?", [*args, per_page, (page - 1) * per_page]))
    return Page(rows, total, page, per_page)


CHAIN_KINDS = {"roster": "名册", "record": "部门记录", "warning": "预警", "delivery": "推送部门",
               "feedback": "核查反馈", "audit": "状态变更"}


def chain_events(con: duckdb.DuckDBPyConnection, user: User, household_id: str,
                 allowed_keys: set[str], members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The monitoring module's household chain (warnings.household_chain macro), cut to scope.

    Warning events (and their deliveries, feedback and status changes) are kept only for the
    warning keys the user may see; roster and record events only for members in scope.
    """
    try:
        from safetynet.monitoring.chain import MACRO
    except ImportError:  # pragma: no cover - monitoring is part of the package
        return []
    member_ids = {m.get("person_id") for m in members if m.get("person_id")}
    try:
        rows = _dicts(con.execute(
            f'select "at", kind, as_of, person_id, source, ref, summary, detail::varchar '
            f'as detail from {MACRO}(?) order by "at"', [household_id]))
    except duckdb.Error:  # the macro is made by monitoring's update_lifecycle
        return []
    out = []
    for ev in rows:
        ev["detail"] = load_json_detail(ev["detail"])
        if ev["kind"] in ("warning", "delivery", "feedback", "audit"):
            if ev["ref"] not in allowed_keys:
                continue
            inner = ev["detail"].get("detail")
            if ev["kind"] == "audit" and isinstance(inner, dict) and inner.get("event") == "created":
                continue  # "no status -> open" on the first lifecycle run says nothing
            ev["wid"] = warning_id(ev["ref"])
        elif ev["kind"] == "roster":
            region = str(ev["detail"].get("region_code") or "")
            if not region.startswith(user.region_scope):
                continue
        elif ev["person_id"] not in member_ids:
            continue
        out.append(ev)
    return out


def load_json_detail(text: str | None) -> dict[str, Any]:
    """A chain event's detail JSON as a dict (empty when absent or unreadable)."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
