"""Deadlines in official working days: overdue lists per county and department, escalation.

A warning that is not closed is overdue on `today` when at least one official working day lies
after its due date (due < d <= today): a due date on a Friday is not overdue on the weekend, and
a due date before the National Day holiday is not overdue until the first working day after it.
The due date is the one of the warning's current cycle (a persisting warning keeps its first
deadline). When the overdue working days exceed the grace period the warning is escalated once
per cycle to the level above: the prefecture, i.e. the first 4 digits of the county code
(`warnings.escalations`, `warnings.lifecycle.escalated_at/escalated_to`, one audit row).
Working days come from `safetynet.workdays` (chinese-calendar plus the project's holiday tables);
a year nobody configured raises `CalendarYearMissing` before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from safetynet.warehouse import transaction
from safetynet.workdays import calendar_for

from .lifecycle import as_date, now_utc, refresh_lifecycle
from .schema import AUDIT_COLUMNS, ensure_tables, insert_rows

DEFAULT_GRACE_WORKING_DAYS = 10
DEFAULT_DUE_WORKING_DAYS = 25


@dataclass(frozen=True)
class OverdueItem:
    """One overdue warning for one receiving department."""

    warning_key: str
    warning_id: str
    rule_id: str
    county_code: str | None
    department: str
    status: str
    due_date: date
    overdue_working_days: int
    escalated_to: str | None
    escalated_at: date | None


@dataclass(frozen=True)
class OverdueGroup:
    """Per county and department: open warnings, overdue ones, escalated ones."""

    county_code: str | None
    department: str
    open: int
    overdue: int
    escalated: int
    max_overdue_working_days: int


@dataclass
class OverdueReport:
    """Result of `overdue`: the list per county and department plus its totals."""

    today: date
    grace_working_days: int
    items: list[OverdueItem] = field(default_factory=list)
    groups: list[OverdueGroup] = field(default_factory=list)
    newly_escalated: int = 0


def prefecture_of(county_code: str | None) -> str | None:
    """The level above a county: the first 4 digits of its code."""
    return county_code[:4] if county_code and len(county_code) >= 4 else None


def overdue(
    con: duckdb.DuckDBPyConnection,
    today: date | str,
    *,
    grace_working_days: int = DEFAULT_GRACE_WORKING_DAYS,
    holidays_dir: str | Path | Sequence[str | Path] | None = None,
    escalate: bool = True,
    actor: str = "system",
) -> OverdueReport:
    """Mark overdue warnings on `today`, escalate those past the grace period, list them.

    Args:
        today: the day the deadlines are checked.
        grace_working_days: working days after the due date before escalation.
        holidays_dir: extra (regional) holiday folder, as for the rules engine.
        escalate: False only reports (nothing is written).

    Returns:
        The overdue items (one per warning and receiving department) and per county x
        department totals. A rerun on the same day changes nothing.

    Example:
        >>> overdue(con, date(2026, 11, 20), grace_working_days=5).groups[0]
        OverdueGroup(county_code='430102', department='civil_affairs', open=12, overdue=3, ...)
    """
    today = as_date(today)
    ensure_tables(con)
    calendar = calendar_for(holidays_dir)
    rows = con.execute("""
        select warning_key, warning_id, rule_id, county_code, routes, status, due_date,
               cycle_as_of, escalated_at, escalated_to, overdue, overdue_working_days
        from warnings.lifecycle where status <> 'closed'
        order by county_code, rule_id, warning_key""").fetchall()
    # a warning without a due date gets the default period from the start of its cycle
    rows = [r if r[6] is not None or r[7] is None else
            (*r[:6], calendar.add_working_days(r[7], DEFAULT_DUE_WORKING_DAYS), *r[7:])
            for r in rows]
    lag: dict[date, int] = {}
    for due in {r[6] for r in rows if r[6] is not None}:
        lag[due] = calendar.working_days_between(due, today) if due < today else 0

    report = OverdueReport(today=today, grace_working_days=grace_working_days)
    updates: list[list[Any]] = []
    escalations: list[list[Any]] = []
    late: list[tuple[Any, ...]] = []
    for (key, wid, rule_id, county, routes, status, due, cycle, esc_at, esc_to, was_overdue,
         was_days) in rows:
        days = lag.get(due, 0) if due is not None else 0
        is_overdue = days > 0
        if (bool(was_overdue), was_days) != (is_overdue, days if is_overdue else None):
            updates.append([is_overdue, days if is_overdue else None, key])
        if is_overdue and days > grace_working_days and esc_at is None:
            esc_at, esc_to = today, prefecture_of(county)
            escalations.append([key, cycle, today, esc_to, days, grace_working_days, status, due])
        if is_overdue:
            late.append((key, wid, rule_id, county, routes, status, due, days, esc_to, esc_at))
    if escalate and (updates or escalations):
        with transaction(con):
            if updates:
                con.execute("create or replace temp table _sn_overdue (overdue boolean, "
                            "overdue_working_days integer, warning_key varchar)")
                insert_rows(con, "_sn_overdue", ("overdue", "overdue_working_days",
                                                 "warning_key"), updates)
                con.execute("update warnings.lifecycle l set overdue = u.overdue, "
                            "overdue_working_days = u.overdue_working_days from _sn_overdue u "
                            "where l.warning_key = u.warning_key")
                con.execute("drop table _sn_overdue")
            if escalations:
                insert_rows(con, "warnings.escalations",
                            ("warning_key", "cycle_as_of", "escalated_at", "escalated_to",
                             "overdue_working_days", "grace_working_days"),
                            [e[:6] for e in escalations])
                refresh_lifecycle(con, [e[0] for e in escalations], audit=False)
                ts = now_utc()
                insert_rows(con, "warnings.audit", AUDIT_COLUMNS, [
                    [ts, e[0], e[6], e[6], actor, "deadline", json.dumps({
                        "event": "escalated", "escalated_to": e[3], "due_date": str(e[7]),
                        "overdue_working_days": e[4], "grace_working_days": e[5],
                        "reason": f"逾期{e[4]}个工作日，超过宽限期{e[5]}个工作日，已上报上级（{e[3]}）",
                    }, ensure_ascii=False)] for e in escalations])
        report.newly_escalated = len(escalations)

    groups: dict[tuple[str | None, str], list[int]] = {}
    for (_key, _wid, _rule, county, routes, _status, _due, *_rest) in rows:
        for dept in dict.fromkeys(routes or ["(未指定)"]):
            groups.setdefault((county, dept), [0, 0, 0, 0])[0] += 1
    for key, wid, rule_id, county, routes, status, due, days, esc_to, esc_at in late:
        for dept in dict.fromkeys(routes or ["(未指定)"]):
            report.items.append(OverdueItem(key, wid, rule_id, county, dept, status, due, days,
                                            esc_to, esc_at))
            g = groups[(county, dept)]
            g[1] += 1
            g[2] += esc_at is not None
            g[3] = max(g[3], days)
    report.items.sort(key=lambda i: (i.county_code or "", i.department, -i.overdue_working_days,
                                     i.warning_key))
    report.groups = [OverdueGroup(c, d, *v) for (c, d), v in
                     sorted(groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))]
    return report


OVERDUE_HEADERS = ("区县", "部门", "预警编号", "规则", "状态", "截止日期", "逾期工作日", "已上报至",
                   "上报日期")


def overdue_rows(report: OverdueReport) -> list[list[Any]]:
    """The overdue list in the order of OVERDUE_HEADERS (for CSV/XLSX)."""
    from .schema import STATUS_LABELS_ZH

    return [[i.county_code, i.department, i.warning_id, i.rule_id,
             STATUS_LABELS_ZH.get(i.status, i.status), i.due_date, i.overdue_working_days,
             i.escalated_to, i.escalated_at] for i in report.items]
