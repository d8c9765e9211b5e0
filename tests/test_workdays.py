"""Official working days: chinese_calendar years, project/regional tables, loud missing years."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safetynet.errors import ConfigError
from safetynet.workdays import (
    CalendarYearMissing,
    WorkingDayCalendar,
    add_working_days,
    is_working_day,
    working_days_between,
)

D = dt.date


def test_national_day_and_mid_autumn_2026_with_make_up_days() -> None:
    # 国办发明电 2026 年安排: 中秋 9/25-27 放假; 国庆 10/1-7 放假, 9/20 (Sun) and 10/10 (Sat) 上班.
    assert not is_working_day(D(2026, 9, 25))             # Friday, Mid-Autumn
    assert is_working_day(D(2026, 9, 20))                 # Sunday, make-up working day
    assert all(not is_working_day(D(2026, 10, d)) for d in range(1, 8))
    assert is_working_day(D(2026, 10, 10))                # Saturday, make-up working day
    assert not is_working_day(D(2026, 10, 11))            # ordinary Sunday
    # From Q3 as_of: 10/8, 10/9, 10/10 are the first three working days.
    assert add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 8)
    assert add_working_days(D(2026, 9, 30), 3) == D(2026, 10, 10)
    assert add_working_days(D(2026, 9, 30), 4) == D(2026, 10, 12)
    # 25th working day: Oct 8,9,10 (3) + 12-16 (8) + 19-23 (13) + 26-30 (18) + Nov 2-6 (23) + 9, 10.
    assert add_working_days(D(2026, 9, 30), 25) == D(2026, 11, 10)
    # A plain weekend count would be 2026-11-04: the holidays really move the deadline.
    assert working_days_between(D(2026, 9, 30), D(2026, 11, 10)) == 25
    # Crossing the make-up Sunday before the holiday.
    assert add_working_days(D(2026, 9, 18), 1) == D(2026, 9, 20)
    assert add_working_days(D(2026, 9, 24), 1) == D(2026, 9, 28)


def test_spring_festival_2026() -> None:
    # 2/15-23 放假, 2/14 (Sat) and 2/28 (Sat) 上班.
    assert is_working_day(D(2026, 2, 14))
    assert all(not is_working_day(D(2026, 2, d)) for d in range(15, 24))
    assert is_working_day(D(2026, 2, 28))
    assert not is_working_day(D(2026, 3, 1))
    assert add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 14)
    assert add_working_days(D(2026, 2, 13), 2) == D(2026, 2, 24)
    assert working_days_between(D(2026, 2, 13), D(2026, 3, 2)) == 1 + 4 + 1 + 1  # 14; 24-27; 28; 3/2


def test_weekends_and_direction() -> None:
    assert not is_working_day(D(2025, 11, 22))            # Saturday
    assert not is_working_day(D(2025, 11, 23))            # Sunday
    assert is_working_day(D(2025, 11, 24))
    assert add_working_days(D(2025, 11, 21), 1) == D(2025, 11, 24)   # Friday -> Monday
    assert add_working_days(D(2025, 11, 24), -1) == D(2025, 11, 21)
    assert add_working_days(D(2025, 11, 22), 0) == D(2025, 11, 22)
    assert working_days_between(D(2025, 11, 24), D(2025, 11, 21)) == -1
    assert working_days_between(D(2025, 11, 24), D(2025, 11, 24)) == 0


def test_unconfigured_year_fails_loudly() -> None:
    with pytest.raises(CalendarYearMissing) as err:
        is_working_day(D(2027, 3, 1))
    assert "2027 年法定节假日安排未配置，请在 safetynet/holidays/2027.yaml 中配置" in str(err.value)
    assert err.value.year == 2027
    # Q4 2026: the 25th working day after 2026-12-31 lies in 2027 -> no guess.
    with pytest.raises(CalendarYearMissing):
        add_working_days(D(2026, 12, 31), 25)
    with pytest.raises(CalendarYearMissing):
        is_working_day(D(2003, 6, 2))


def _write(folder: Path, year: int, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{year}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_configured_fake_year_in_a_folder(tmp_path: Path) -> None:
    _write(tmp_path, 2031, """
scope: national
source: 测试用虚构安排
holidays:
  - 2031-01-01
  - 2031-01-22..2031-01-28
  - {from: 2031-10-01, to: 2031-10-07}
workdays: [2031-01-19, 2031-02-08]
""")
    cal = WorkingDayCalendar(tmp_path)
    assert not cal.is_working_day(D(2031, 1, 1))          # Wednesday holiday
    assert cal.is_working_day(D(2031, 1, 2))
    assert cal.is_working_day(D(2031, 1, 19))             # Sunday make-up
    assert not cal.is_working_day(D(2031, 1, 22))
    assert cal.is_working_day(D(2031, 2, 8))              # Saturday make-up
    assert not cal.is_working_day(D(2031, 2, 9))          # plain Sunday
    # 2031-01-17 (Fri) -> 19 (Sun, worked), 20, 21, then 29 after the festival.
    assert cal.add_working_days(D(2031, 1, 17), 4) == D(2031, 1, 29)
    assert add_working_days(D(2031, 1, 17), 4, holidays_dir=tmp_path) == D(2031, 1, 29)
    with pytest.raises(CalendarYearMissing):
        cal.is_working_day(D(2032, 1, 5))


def test_project_table_overrides_package_and_regional_amends(tmp_path: Path) -> None:
    project = tmp_path / "project"
    _write(project, 2026, "holidays: [2026-11-09]\nworkdays: []\n")   # a full (odd) year table
    cal = WorkingDayCalendar(project_dir=project)
    assert not cal.is_working_day(D(2026, 11, 9))
    assert cal.is_working_day(D(2026, 10, 5))             # the package's holiday is replaced
    regional = tmp_path / "region"
    _write(regional, 2026, "scope: regional\nholidays: [2026-11-09..2026-11-10]\n"
                           "workdays: [2026-11-14]\n")
    cal = WorkingDayCalendar(regional)
    assert not cal.is_working_day(D(2026, 11, 10))        # regional holiday on a Tuesday
    assert cal.is_working_day(D(2026, 11, 14))            # regional make-up Saturday
    assert not cal.is_working_day(D(2026, 10, 5))         # national holidays still apply
    assert cal.add_working_days(D(2026, 11, 6), 1) == D(2026, 11, 11)


def test_regional_table_for_an_unconfigured_year_is_not_enough(tmp_path: Path) -> None:
    _write(tmp_path, 2027, "scope: regional\nholidays: [2027-05-20]\n")
    with pytest.raises(CalendarYearMissing):
        WorkingDayCalendar(tmp_path).is_working_day(D(2027, 5, 21))


@pytest.mark.parametrize("text, message", [
    ("holidays: [2031-01-01]\n", "scope"),                         # extra folder must say scope
    ("scope: national\nholidays: [2030-12-31]\n", "不属于 2031"),
    ("scope: national\nholidays: [2031-01-05]\nworkdays: [2031-01-05]\n", "同时"),
    ("scope: national\nholidays: [2031-02-30]\n", "无法识别"),
    ("scope: national\nholiday: [2031-01-01]\n", "未知字段"),
])
def test_bad_year_files_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    _write(tmp_path, 2031, text)
    with pytest.raises(ConfigError, match=message):
        WorkingDayCalendar(tmp_path).is_working_day(D(2031, 1, 6))


def test_missing_regional_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="不存在"):
        WorkingDayCalendar(tmp_path / "nope")


def test_a_year_added_later_is_picked_up(tmp_path: Path) -> None:
    cal = WorkingDayCalendar(tmp_path)
    with pytest.raises(CalendarYearMissing):
        cal.is_working_day(D(2031, 3, 3))
    _write(tmp_path, 2031, "scope: national\nholidays: [2031-03-03]\n")
    assert not cal.is_working_day(D(2031, 3, 3))


dates = st.dates(min_value=D(2004, 1, 1), max_value=D(2026, 6, 30))
steps = st.integers(min_value=1, max_value=90)


@settings(max_examples=150, deadline=None)
@given(start=dates, n=steps)
def test_add_working_days_lands_on_a_working_day(start: dt.date, n: int) -> None:
    result = add_working_days(start, n)
    assert result > start
    assert is_working_day(result)
    assert working_days_between(start, result) == n


@settings(max_examples=100, deadline=None)
@given(start=dates, n=steps)
def test_add_working_days_is_strictly_increasing(start: dt.date, n: int) -> None:
    assert add_working_days(start, n) < add_working_days(start, n + 1)
    # Every day strictly between two consecutive results is a day off.
    a, b = add_working_days(start, n), add_working_days(start, n + 1)
    assert all(not is_working_day(a + dt.timedelta(i)) for i in range(1, (b - a).days))


@settings(max_examples=100, deadline=None)
@given(start=dates, n=steps)
def test_backwards_inverts_forwards(start: dt.date, n: int) -> None:
    if not is_working_day(start):
        return
    assert add_working_days(add_working_days(start, n), -n) == start
