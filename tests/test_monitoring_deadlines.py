"""Overdue lists in official working days across the 2026 National Day holiday (chinese_calendar
1.11: Oct 1-7 off, Sep 20 and Oct 10 make-up working days), escalation after a grace period,
reruns, and a year without holiday data."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest

from safetynet.monitoring.deadlines import overdue
from safetynet.monitoring.feedback import record_disposition
from safetynet.monitoring.lifecycle import update_lifecycle
from safetynet.workdays import CalendarYearMissing, add_working_days
from tests.fixtures.monitoring.builders import (
    Q3,
    insert_warnings,
    open_warehouse,
    person_id,
    snapshot,
    warning,
)

DUE = date(2026, 9, 30)     # due right before the National Day holiday
STATE = ("warnings.lifecycle", "warnings.escalations", "warnings.audit")


def _expected_lag(due: date, today: date) -> int:
    """Working days d with due < d <= today, straight from chinese_calendar."""
    return sum(chinese_calendar.is_workday(due + timedelta(n))
               for n in range(1, (today - due).days + 1))


@pytest.fixture()
def con(tmp_path):
    con = open_warehouse(tmp_path / "wh.duckdb")
    real_due = add_working_days(Q3, 25)
    insert_warnings(con, [
        warning(Q3, "VEHICLE_OWNED", 0, due=DUE),             # A: 430102, civil_affairs
        warning(Q3, "MAJOR_ILLNESS", 3, due=DUE),             # B: 430103, two departments
        warning(Q3, "VEHICLE_OWNED", 6, due=DUE),             # C: answered in time
        warning(Q3, "VEHICLE_OWNED", 9, due=real_due),        # D: 25 working days after as_of
    ])
    update_lifecycle(con, Q3)
    record_disposition(con, f"VEHICLE_OWNED:{person_id(6)}", "not_confirmed", date(2026, 10, 5),
                       "陈科员", actor="t")
    yield con
    con.close()


def test_calendar_facts_the_test_relies_on():
    assert not any(chinese_calendar.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert chinese_calendar.is_workday(date(2026, 10, 10))      # Saturday, make-up working day
    assert add_working_days(Q3, 25) == date(2026, 11, 10)


def test_overdue_counts_working_days_across_the_holiday(con):
    a = f"VEHICLE_OWNED:{person_id(0)}"
    day = date(2026, 10, 1)
    seen = []
    while day <= date(2026, 10, 20):
        report = overdue(con, day, escalate=False)
        lags = {i.warning_key: i.overdue_working_days for i in report.items}
        expected = _expected_lag(DUE, day)
        assert lags.get(a, 0) == expected, day
        assert f"VEHICLE_OWNED:{person_id(6)}" not in lags        # closed
        assert f"VEHICLE_OWNED:{person_id(9)}" not in lags        # due 2026-11-10
        seen.append(expected)
        day += timedelta(1)
    # nothing is overdue during the holiday; the first working day after it is day 1
    assert seen[:7] == [0] * 7 and seen[7] == 1
    assert overdue(con, date(2026, 10, 10), escalate=False).items[0].overdue_working_days == 3
    late = {i.warning_key: i.overdue_working_days
            for i in overdue(con, date(2026, 11, 11), escalate=False).items}
    assert late[f"VEHICLE_OWNED:{person_id(9)}"] == _expected_lag(date(2026, 11, 10),
                                                                  date(2026, 11, 11)) == 1
    assert con.execute("select count(*) from warnings.escalations").fetchone()[0] == 0


def test_escalation_after_grace_once_per_cycle(con):
    a, b = f"VEHICLE_OWNED:{person_id(0)}", f"MAJOR_ILLNESS:{person_id(3)}"
    grace = 5
    # the last day within the grace period (5 working days overdue) escalates nothing
    last_grace_day = next(date(2026, 10, 1) + timedelta(n) for n in range(40)
                          if _expected_lag(DUE, date(2026, 10, 1) + timedelta(n)) == grace)
    first = overdue(con, last_grace_day, grace_working_days=grace)
    assert first.newly_escalated == 0
    assert con.execute("select count(*) from warnings.lifecycle where overdue").fetchone()[0] == 2
    escalation_day = next(last_grace_day + timedelta(n) for n in range(1, 10)
                          if chinese_calendar.is_workday(last_grace_day + timedelta(n)))
    report = overdue(con, escalation_day, grace_working_days=grace, actor="scheduler")
    assert report.newly_escalated == 2
    assert con.execute("select warning_key, escalated_at, escalated_to, overdue, "
                       "overdue_working_days from warnings.lifecycle where escalated_at is not null "
                       "order by 1").fetchall() == [
        (b, escalation_day, "4301", True, grace + 1), (a, escalation_day, "4301", True, grace + 1)]
    audit = con.execute("select warning_key, from_status, to_status, actor, channel, "
                        "detail->>'escalated_to' from warnings.audit where channel = 'deadline' "
                        "order by 1").fetchall()
    assert audit == [(b, "open", "open", "scheduler", "deadline", "4301"),
                     (a, "open", "open", "scheduler", "deadline", "4301")]
    groups = {(g.county_code, g.department): (g.open, g.overdue, g.escalated)
              for g in report.groups}
    assert groups == {("430102", "civil_affairs"): (2, 1, 1),
                      ("430103", "medical_security"): (1, 1, 1),
                      ("430103", "civil_affairs"): (1, 1, 1)}
    assert {(i.county_code, i.department) for i in report.items} == {
        ("430102", "civil_affairs"), ("430103", "medical_security"), ("430103", "civil_affairs")}

    # rerun on the same day: nothing changes; a later day: no second escalation
    before = snapshot(con, STATE)
    overdue(con, escalation_day, grace_working_days=grace, actor="scheduler")
    assert snapshot(con, STATE) == before
    later = overdue(con, date(2026, 10, 30), grace_working_days=grace)
    assert later.newly_escalated == 0
    assert con.execute("select count(*) from warnings.escalations").fetchone()[0] == 2
    assert {i.overdue_working_days for i in later.items} == {_expected_lag(DUE, date(2026, 10, 30))}
    # an answer closes it: it leaves the overdue list and its flag is cleared
    record_disposition(con, a, "confirmed", date(2026, 10, 30), "陈科员", actor="t")
    assert con.execute("select status, overdue, escalated_at from warnings.lifecycle "
                       "where warning_key = ?", [a]).fetchone() == ("closed", False,
                                                                    escalation_day)
    assert a not in {i.warning_key for i in overdue(con, date(2026, 11, 2)).items}


def test_year_without_holiday_data_fails_loudly_and_writes_nothing(con):
    before = snapshot(con, STATE)
    with pytest.raises(CalendarYearMissing) as exc:
        overdue(con, date(2035, 1, 8))
    assert "holidays" in str(exc.value)
    assert snapshot(con, STATE) == before


def test_missing_due_date_defaults_to_25_working_days_from_the_cycle(con):
    key = f"VEHICLE_OWNED:{person_id(0)}"
    con.execute("update warnings.lifecycle set due_date = null where warning_key = ?", [key])
    due = add_working_days(Q3, 25)
    assert key not in {i.warning_key for i in overdue(con, due, escalate=False).items}
    next_day = add_working_days(due, 1)
    lags = {i.warning_key: i.overdue_working_days
            for i in overdue(con, next_day, escalate=False).items}
    assert lags[key] == 1
