"""Warning lifecycle across quarters: warnings.history (state per quarter) and warnings.lifecycle.

State (what the data says, per quarter) and status (where the verification stands) are kept
apart:

- state, per rule and warning key, against the previous quarter in which *that rule* was
  evaluated (a rule `not_evaluated` this quarter neither resolves nor renews its warnings):
  `new` (never fired before), `persisting` (fired in the previous evaluated quarter too),
  `reopened` (fired before, was resolved, fires again), `resolved` (fired in the previous
  evaluated quarter, not now; the row carries the last known columns).
- a *cycle* starts at each `new` or `reopened` quarter. The status is derived from the cycle:
  `closed` when a result was recorded in the cycle (feedback.as_of >= cycle start),
  `in_verification` when a referral file holding it was delivered in the cycle, else `open`.
  So a persisting warning keeps its disposition (it is not referred again as new), a resolved one
  keeps it too (an unanswered referral still has to be answered), and a reopened one is `open`
  again with `last_result` cleared, except when the previous cycle ended `wrong_person` and every
  record in the new evidence is a link the review decisions already reject (the linker made the
  same false link again): then it stays `closed` with `wrong_person`.

History is recomputed from warnings.warnings for every quarter up to the latest quarter ever
passed to `update_lifecycle`, so a rerun gives identical rows and running an older quarter after
a newer one re-derives the newer quarters' states. Every change of (status, last_result) is
appended to warnings.audit; a rerun that changes nothing appends nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import duckdb

from safetynet.warehouse import table_exists, transaction

from .linkage import evidence_links, rejected_links
from .schema import (
    STATE_LABELS_ZH,
    STATES,
    WARNING_ID_SQL,
    columns_of,
    ensure_tables,
    insert_rows,
    require_warnings,
)

HISTORY_COLUMNS = (
    "rule_id", "title", "direction", "subject_level", "person_id", "household_id", "name",
    "region_code", "county_code", "severity", "routes", "due_date", "action", "evidence",
    "rule_pack",
)
LIFECYCLE_COLUMNS = (
    "warning_key", "warning_id", "rule_id", "title", "direction", "subject_level", "person_id",
    "household_id", "county_code", "routes", "first_as_of", "last_as_of", "state_as_of", "state",
    "cycle_as_of", "cycles", "status", "last_result", "last_result_date", "due_date", "overdue",
    "overdue_working_days", "escalated_at", "escalated_to",
)


def now_utc() -> datetime:
    """Naive UTC timestamp (the warehouse's convention for received_at / ts / delivered_at)."""
    return datetime.now(UTC).replace(tzinfo=None)


def as_date(value: date | str) -> date:
    """A date from a date, datetime or ISO text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


@dataclass
class LifecycleSummary:
    """What `update_lifecycle` found for one quarter (counts only, no personal data)."""

    as_of: date
    previous_as_of: date | None
    states: dict[str, int] = field(default_factory=dict)
    by_rule: dict[str, dict[str, int]] = field(default_factory=dict)
    quarters: list[date] = field(default_factory=list)
    status_changes: int = 0


@dataclass(frozen=True)
class QuarterRow:
    """One rule x county line of the quarter-over-quarter report."""

    rule_id: str
    title: str
    county_code: str | None
    new: int
    persisting: int
    reopened: int
    resolved: int

    @property
    def firing(self) -> int:
        """Warnings that fire this quarter (new + persisting + reopened)."""
        return self.new + self.persisting + self.reopened


# ---------------------------------------------------------------- history
def _history_sql(con: duckdb.DuckDBPyConnection) -> str:
    """SQL selecting every history row up to $upto from warnings.warnings (+ rule_status)."""
    status_cols = set(columns_of(con, "warnings", "rule_status"))
    use_status = {"as_of", "rule_id", "status"} <= status_cols
    ev_parts = ["select distinct rule_id, as_of from w"]
    if use_status:
        ev_parts.append("select distinct rule_id, as_of from warnings.rule_status "
                        "where as_of <= $upto and status = 'evaluated'")
        unlisted = ("select distinct as_of from w where as_of not in "
                    "(select as_of from warnings.rule_status where as_of is not null)")
    else:
        unlisted = "select distinct as_of from w"
    # a quarter with warnings but no rule_status rows: every known rule counts as evaluated
    ev_parts.append(f"select r.rule_id, q.as_of from ({unlisted}) q "
                    "cross join (select distinct rule_id from w) r")
    cols = ", ".join(HISTORY_COLUMNS)
    return f"""
    with w as (
        select as_of, warning_key, {cols} from warnings.warnings where as_of <= $upto
    ),
    ev as ({' union '.join(ev_parts)}),
    ev_seq as (
        select rule_id, as_of,
               lag(as_of) over (partition by rule_id order by as_of) as prev_ev,
               lead(as_of) over (partition by rule_id order by as_of) as next_ev
        from ev
    ),
    fired as (
        select w.*,
               lag(as_of) over (partition by warning_key order by as_of) as prev_fired,
               lead(as_of) over (partition by warning_key order by as_of) as next_fired
        from w
    ),
    states as (
        select f.*, e.next_ev,
               case when f.prev_fired is null then 'new'
                    when f.prev_fired = e.prev_ev then 'persisting'
                    else 'reopened' end as state
        from fired f join ev_seq e on e.rule_id = f.rule_id and e.as_of = f.as_of
    ),
    final as (
        select as_of, warning_key, state, {cols}, as_of as fired_as_of,
               prev_fired as previous_as_of
        from states
        union all
        select next_ev, warning_key, 'resolved', {cols}, as_of, as_of
        from states
        where next_ev is not null and (next_fired is null or next_fired > next_ev)
    )
    select * from final
    """


def _rebuild_history(con: duckdb.DuckDBPyConnection, upto: date) -> None:
    cols = ", ".join(("as_of", "warning_key", "state", *HISTORY_COLUMNS, "fired_as_of",
                      "previous_as_of"))
    con.execute("delete from warnings.history")
    con.execute(f"insert into warnings.history ({cols}) {_history_sql(con)}", {"upto": upto})


# ---------------------------------------------------------------- lifecycle (derived)
_CYCLES_CTE = """
    agg as (
        select warning_key,
               min(as_of) filter (where state <> 'resolved') as first_as_of,
               max(as_of) filter (where state <> 'resolved') as last_as_of,
               max(as_of) as state_as_of,
               max(as_of) filter (where state in ('new', 'reopened')) as cycle_as_of,
               count(*) filter (where state in ('new', 'reopened'))::integer as cycles
        from h group by warning_key
    )"""


_CARRIED_REASON = "再次出现的预警仅由已被否决的错误关联引起，维持“非本人”办结"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _key_filter(keys: list[str] | None) -> tuple[str, dict[str, Any]]:
    if keys is None:
        return "true", {}
    return "warning_key in (select unnest($keys::varchar[]))", {"keys": list(keys)}


def _carried_wrong_person(con: duckdb.DuckDBPyConnection,
                          keys: list[str] | None) -> list[tuple[str, str, date | None]]:
    """Reopened warnings whose previous cycle ended `wrong_person` and whose new evidence only
    repeats links the review decisions reject: (warning_key, result, result_date)."""
    where, params = _key_filter(keys)
    rows = con.execute(f"""
        with h as (select * from warnings.history where {where}),
        {_CYCLES_CTE},
        prior as (
            select f.warning_key, f.result, f.result_date
            from warnings.feedback f join agg using (warning_key)
            where f.as_of < agg.cycle_as_of
            qualify row_number() over (partition by f.warning_key
                                       order by f.as_of desc, f.received_at desc) = 1
        ),
        in_cycle as (
            select distinct f.warning_key from warnings.feedback f join agg using (warning_key)
            where f.as_of >= agg.cycle_as_of
        )
        select a.warning_key, a.cycle_as_of, h.person_id, h.evidence::varchar, p.result_date
        from agg a
        join prior p using (warning_key)
        join h on h.warning_key = a.warning_key and h.as_of = a.cycle_as_of
                  and h.state = 'reopened'
        where p.result = 'wrong_person'
          and a.warning_key not in (select warning_key from in_cycle)
        """, params).fetchall()
    out = []
    for key, cycle_as_of, person_id, evidence, result_date in rows:
        links = evidence_links(con, cycle_as_of, evidence, person_id)
        if links and rejected_links(con, links) == set(links):
            out.append((key, "wrong_person", result_date))
    return out


def _derive_sql(where: str) -> str:
    return f"""
    with h as (select * from warnings.history where {where}),
    {_CYCLES_CTE},
    latest as (
        select h.warning_key, h.state from h join agg using (warning_key)
        where h.as_of = agg.state_as_of
    ),
    last_fired as (
        select h.* from h join agg using (warning_key)
        where h.as_of = agg.last_as_of and h.state <> 'resolved'
    ),
    cycle_row as (
        select h.warning_key, h.due_date from h join agg using (warning_key)
        where h.as_of = agg.cycle_as_of and h.state <> 'resolved'
    ),
    fb as (
        select f.warning_key, f.result, f.result_date
        from warnings.feedback f join agg using (warning_key)
        where f.as_of >= agg.cycle_as_of
        qualify row_number() over (partition by f.warning_key
                                   order by f.received_at desc, f.result_date desc) = 1
    ),
    delivered as (
        select distinct d.warning_key from referrals.delivery_items d join agg using (warning_key)
        where d.as_of >= agg.cycle_as_of
    ),
    esc as (
        select e.warning_key, min(e.escalated_at) as escalated_at,
               arg_min(e.escalated_to, e.escalated_at) as escalated_to
        from warnings.escalations e join agg using (warning_key)
        where e.cycle_as_of = agg.cycle_as_of
        group by e.warning_key
    ),
    derived as (
        select a.*, l.state, lf.rule_id, lf.title, lf.direction, lf.subject_level,
               lf.person_id, lf.household_id, lf.county_code, lf.routes, cr.due_date,
               coalesce(fb.result, c.result) as last_result,
               coalesce(fb.result_date, c.result_date) as last_result_date,
               case when coalesce(fb.result, c.result) is not null then 'closed'
                    when dl.warning_key is not null then 'in_verification'
                    else 'open' end as status,
               esc.escalated_at, esc.escalated_to
        from agg a
        join latest l using (warning_key)
        join last_fired lf using (warning_key)
        left join cycle_row cr using (warning_key)
        left join fb using (warning_key)
        left join _sn_carried c using (warning_key)
        left join delivered dl using (warning_key)
        left join esc using (warning_key)
    )
    select d.warning_key, {WARNING_ID_SQL.format(key='d.warning_key')} as warning_id,
           d.rule_id, d.title, d.direction, d.subject_level, d.person_id, d.household_id,
           d.county_code, d.routes, d.first_as_of, d.last_as_of, d.state_as_of, d.state,
           d.cycle_as_of, d.cycles, d.status, d.last_result, d.last_result_date, d.due_date,
           case when d.status <> 'closed' and o.cycle_as_of = d.cycle_as_of
                then coalesce(o.overdue, false) else false end as overdue,
           case when d.status <> 'closed' and o.cycle_as_of = d.cycle_as_of
                then o.overdue_working_days end as overdue_working_days,
           d.escalated_at, d.escalated_to
    from derived d
    left join warnings.lifecycle o using (warning_key)
    """


def refresh_lifecycle(con: duckdb.DuckDBPyConnection, keys: list[str] | None = None, *,
                      actor: str = "system", channel: str = "lifecycle",
                      detail: dict[str, Any] | None = None, audit: bool = True) -> int:
    """Re-derive warnings.lifecycle rows (all, or `keys`) from history, feedback, deliveries and
    escalations; append one audit row per changed (status, last_result) unless `audit` is
    False (the caller writes its own). Returns the number of changed warnings.

    Runs inside the caller's transaction (it opens none).
    """
    ensure_tables(con)
    where, params = _key_filter(keys)
    carried = _carried_wrong_person(con, keys)
    con.execute("create or replace temp table _sn_carried (warning_key varchar, result varchar, "
                "result_date date)")
    insert_rows(con, "_sn_carried", ("warning_key", "result", "result_date"), carried)
    con.execute(f"create or replace temp table _sn_lc_new as {_derive_sql(where)}", params)
    con.execute("create or replace temp table _sn_lc_old as select warning_key, status, "
                f"last_result from warnings.lifecycle where {where}", params)
    con.execute(f"""
        create or replace temp table _sn_lc_diff as
        select coalesce(n.warning_key, o.warning_key) as warning_key, o.status as from_status,
               n.status as to_status,
               case when n.warning_key is null
                    then json_object('event', 'removed', 'reason', '预警已不在任何季度的结果中')
                    else json_merge_patch(json_object(
                        'event', case when o.warning_key is null then 'created'
                                      else 'status_changed' end,
                        'state', n.state, 'state_as_of', n.state_as_of::varchar,
                        'result', n.last_result,
                        'reason', case when c.warning_key is not null then {_lit(_CARRIED_REASON)}
                                  end), $detail::json) end as detail
        from _sn_lc_new n
        full join _sn_lc_old o on o.warning_key = n.warning_key
        left join _sn_carried c on c.warning_key = n.warning_key
        where n.warning_key is null or o.warning_key is null
           or n.status is distinct from o.status
           or n.last_result is distinct from o.last_result""",
                {"detail": json.dumps(detail or {}, ensure_ascii=False, default=str)})
    cols = ", ".join(LIFECYCLE_COLUMNS)
    con.execute(f"delete from warnings.lifecycle where {where}", params)
    con.execute(f"insert into warnings.lifecycle ({cols}) select {cols} from _sn_lc_new")
    (changed,) = con.execute("select count(*) from _sn_lc_diff").fetchone()
    if audit and changed:
        con.execute("insert into warnings.audit (ts, warning_key, from_status, to_status, actor, "
                    "channel, detail) select $ts, warning_key, from_status, to_status, $actor, "
                    "$channel, detail from _sn_lc_diff order by warning_key",
                    {"ts": now_utc(), "actor": actor, "channel": channel})
    for temp in ("_sn_lc_new", "_sn_lc_old", "_sn_lc_diff", "_sn_carried"):
        con.execute(f"drop table if exists {temp}")
    return int(changed)


# ---------------------------------------------------------------- public entry points
def update_lifecycle(con: duckdb.DuckDBPyConnection, as_of: date | str, *,
                     actor: str = "system") -> LifecycleSummary:
    """Compute warnings.history for `as_of` (and every other stored quarter up to the latest
    monitored one) and upsert warnings.lifecycle.

    Args:
        con: warehouse connection holding warnings.warnings (and warnings.rule_status).
        as_of: the quarter just evaluated.
        actor: written to the audit rows of status changes this update causes.

    Returns:
        Counts of new / persisting / reopened / resolved for `as_of`, per rule and in total.

    Example:
        >>> update_lifecycle(con, date(2026, 9, 30)).states
        {'new': 120, 'persisting': 310, 'reopened': 4, 'resolved': 57}
    """
    as_of = as_date(as_of)
    require_warnings(con)
    ensure_tables(con)
    with transaction(con):
        con.execute("insert into warnings.lifecycle_runs select ?::date where not exists "
                    "(select 1 from warnings.lifecycle_runs where as_of = ?)", [as_of, as_of])
        (upto,) = con.execute("select max(as_of) from warnings.lifecycle_runs").fetchone()
        _rebuild_history(con, upto)
        changes = refresh_lifecycle(con, actor=actor, channel="lifecycle")
    from .chain import ensure_chain_macro

    ensure_chain_macro(con)
    return _summary(con, as_of, changes)


def _summary(con: duckdb.DuckDBPyConnection, as_of: date, changes: int) -> LifecycleSummary:
    quarters = [r[0] for r in con.execute(
        "select distinct as_of from warnings.history order by as_of").fetchall()]
    earlier = [q for q in quarters if q < as_of]
    summary = LifecycleSummary(as_of=as_of, previous_as_of=earlier[-1] if earlier else None,
                               quarters=quarters, status_changes=changes)
    summary.states = {s: 0 for s in STATES}
    for rule_id, state, n in con.execute(
            "select rule_id, state, count(*) from warnings.history where as_of = ? "
            "group by all order by all", [as_of]).fetchall():
        summary.states[state] += n
        summary.by_rule.setdefault(rule_id, {s: 0 for s in STATES})[state] = n
    return summary


def quarter_report(con: duckdb.DuckDBPyConnection, as_of: date | str) -> list[QuarterRow]:
    """Per rule x county: new, persisting, reopened and resolved warnings of `as_of`."""
    as_of = as_date(as_of)
    ensure_tables(con)
    rows = con.execute("""
        select rule_id, any_value(title), county_code,
               count(*) filter (where state = 'new'),
               count(*) filter (where state = 'persisting'),
               count(*) filter (where state = 'reopened'),
               count(*) filter (where state = 'resolved')
        from warnings.history where as_of = ?
        group by rule_id, county_code order by rule_id, county_code nulls last""",
                       [as_of]).fetchall()
    return [QuarterRow(r, t or "", c, n, p, o, s) for r, t, c, n, p, o, s in rows]


QUARTER_REPORT_HEADERS = ("规则", "预警事项", "区县", STATE_LABELS_ZH["new"],
                          STATE_LABELS_ZH["persisting"], STATE_LABELS_ZH["reopened"],
                          STATE_LABELS_ZH["resolved"], "本期预警合计")


def quarter_report_rows(rows: list[QuarterRow]) -> list[list[Any]]:
    """Report rows in the order of QUARTER_REPORT_HEADERS (for CSV/XLSX)."""
    return [[r.rule_id, r.title, r.county_code, r.new, r.persisting, r.reopened, r.resolved,
             r.firing] for r in rows]


def referral_plan(con: duckdb.DuckDBPyConnection, as_of: date | str) -> dict[str, str]:
    """warning_key -> how the referral writer should treat it in `as_of`'s files.

    `new` / `reopened`: refer as a new lead; `pending`: persisting and still open (never
    delivered, or delivered and unanswered: a reminder, not a new lead); `skip`: already closed
    in its cycle (a persisting answered warning, or a reopened one that only repeats a link
    rejected as "wrong person"). Warnings that do not fire in `as_of` are absent.
    """
    as_of = as_date(as_of)
    if not table_exists(con, "warnings", "history"):
        return {}
    rows = con.execute("""
        select h.warning_key, h.state, l.status, l.cycle_as_of
        from warnings.history h left join warnings.lifecycle l using (warning_key)
        where h.as_of = ? and h.state <> 'resolved'""", [as_of]).fetchall()
    plan: dict[str, str] = {}
    for key, state, status, _cycle in rows:
        if status == "closed":
            plan[key] = "skip"
        else:
            plan[key] = state if state in ("new", "reopened") else "pending"
    return plan
