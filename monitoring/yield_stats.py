"""Yield of the comparison: what became of the warnings raised, per rule, county and quarter.

A warning is *raised* in the quarter its cycle starts (`new` or `reopened` in warnings.history;
a persisting warning is not raised again). Its outcome is the latest answer recorded for that
cycle (feedback.as_of from the cycle start up to the next cycle start):
raised >= verified (any answer) >= confirmed (属实, 已调整救助 or 已纳入救助) >= adjusted + enrolled.
`not_confirmed` and `wrong_person` are counted too (false leads, false links).

Discovery (应保未保: direction `discovery`) and exit review (应退尽退: `exit` and `exit_review`)
are put side by side per county and quarter by `yield_by_direction`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb

from .lifecycle import as_date
from .schema import ensure_tables

DIRECTION_GROUPS = {"discovery": "discovery", "exit": "exit", "exit_review": "exit",
                    "integrity": "integrity"}
GROUP_LABELS_ZH = {"discovery": "应保未保（主动发现）", "exit": "应退尽退（退出核查）",
                   "integrity": "数据核查"}

_CYCLES_SQL = """
with cycles as (
    select warning_key, as_of as cycle_as_of, rule_id, title, county_code, direction,
           lead(as_of) over (partition by warning_key order by as_of) as next_cycle
    from warnings.history where state in ('new', 'reopened')
),
answers as (
    select c.warning_key, c.cycle_as_of, f.result
    from cycles c join warnings.feedback f
      on f.warning_key = c.warning_key and f.as_of >= c.cycle_as_of
     and (c.next_cycle is null or f.as_of < c.next_cycle)
    qualify row_number() over (partition by c.warning_key, c.cycle_as_of
                               order by f.received_at desc) = 1
),
outcomes as (
    select c.*, a.result from cycles c left join answers a using (warning_key, cycle_as_of)
)
"""


@dataclass(frozen=True)
class YieldRow:
    """Funnel of one rule x county x quarter."""

    as_of: date
    rule_id: str
    title: str
    county_code: str | None
    direction: str
    raised: int
    verified: int
    confirmed: int
    adjusted: int
    enrolled: int
    not_confirmed: int
    wrong_person: int

    @property
    def confirmation_rate(self) -> float | None:
        """Confirmed share of the verified warnings."""
        return self.confirmed / self.verified if self.verified else None


def yield_stats(con: duckdb.DuckDBPyConnection, as_of: date | str | None = None) -> list[YieldRow]:
    """Per rule, county and quarter (one quarter when `as_of` is given): the funnel."""
    ensure_tables(con)
    where = "where cycle_as_of = $as_of" if as_of is not None else ""
    params: dict[str, Any] = {"as_of": as_date(as_of)} if as_of is not None else {}
    rows = con.execute(_CYCLES_SQL + f"""
        select cycle_as_of, rule_id, any_value(title), county_code, any_value(direction),
               count(*),
               count(result),
               count(*) filter (where result in ('confirmed', 'assistance_adjusted', 'enrolled')),
               count(*) filter (where result = 'assistance_adjusted'),
               count(*) filter (where result = 'enrolled'),
               count(*) filter (where result = 'not_confirmed'),
               count(*) filter (where result = 'wrong_person')
        from outcomes {where}
        group by cycle_as_of, rule_id, county_code
        order by cycle_as_of, rule_id, county_code nulls last""", params).fetchall()
    return [YieldRow(r[0], r[1], r[2] or "", r[3], r[4] or "", *r[5:]) for r in rows]


@dataclass(frozen=True)
class DirectionYield:
    """Discovery and exit review side by side for one county and quarter."""

    as_of: date
    county_code: str | None
    discovery_raised: int
    discovery_verified: int
    discovery_confirmed: int
    discovery_enrolled: int
    exit_raised: int
    exit_verified: int
    exit_confirmed: int
    exit_adjusted: int
    integrity_raised: int
    integrity_confirmed: int


def yield_by_direction(con: duckdb.DuckDBPyConnection,
                       as_of: date | str | None = None) -> list[DirectionYield]:
    """应保未保 vs 应退尽退 per county and quarter (integrity checks alongside)."""
    acc: dict[tuple[date, str | None], list[int]] = {}
    for r in yield_stats(con, as_of):
        group = DIRECTION_GROUPS.get(r.direction, "integrity")
        v = acc.setdefault((r.as_of, r.county_code), [0] * 10)
        if group == "discovery":
            for i, n in enumerate((r.raised, r.verified, r.confirmed, r.enrolled)):
                v[i] += n
        elif group == "exit":
            for i, n in enumerate((r.raised, r.verified, r.confirmed, r.adjusted)):
                v[4 + i] += n
        else:
            v[8] += r.raised
            v[9] += r.confirmed
    return [DirectionYield(q, c, *v) for (q, c), v in
            sorted(acc.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))]


YIELD_HEADERS = ("比对日期", "规则", "预警事项", "区县", "方向", "预警数", "已核查", "属实",
                 "已调整救助", "已纳入救助", "不属实", "非本人")
DIRECTION_HEADERS = ("比对日期", "区县", "应保未保-预警", "应保未保-已核查", "应保未保-属实",
                     "应保未保-已纳入", "应退尽退-预警", "应退尽退-已核查", "应退尽退-属实",
                     "应退尽退-已调整", "数据核查-预警", "数据核查-属实")


def yield_rows(rows: list[YieldRow]) -> list[list[Any]]:
    """Rows in the order of YIELD_HEADERS."""
    return [[r.as_of, r.rule_id, r.title, r.county_code,
             GROUP_LABELS_ZH.get(DIRECTION_GROUPS.get(r.direction, ""), r.direction), r.raised,
             r.verified, r.confirmed, r.adjusted, r.enrolled, r.not_confirmed, r.wrong_person]
            for r in rows]


def direction_rows(rows: list[DirectionYield]) -> list[list[Any]]:
    """Rows in the order of DIRECTION_HEADERS."""
    return [[r.as_of, r.county_code, r.discovery_raised, r.discovery_verified,
             r.discovery_confirmed, r.discovery_enrolled, r.exit_raised, r.exit_verified,
             r.exit_confirmed, r.exit_adjusted, r.integrity_raised, r.integrity_confirmed]
            for r in rows]
