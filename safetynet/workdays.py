"""Official Chinese working days: weekends and public holidays off, make-up working days on.

Years 2004-2026 come from `chinese_calendar` (the State Council notices, with make-up days).
Other years come from the project's own tables `safetynet/holidays/<year>.yaml`, which also
override the package for a year they cover. A year nobody has configured raises
`CalendarYearMissing`: a deadline is never guessed.

A year file::

    scope: national                 # national (the whole year) | regional (amendments)
    holidays: [2027-01-01, 2027-02-05..2027-02-11, {from: 2027-10-01, to: 2027-10-07}]
    workdays: [2027-02-13]          # make-up working days (weekend days that are worked)

An extra folder (region-specific, e.g. a site's `holidays/`) may hold `scope: national` files
(a year the project lacks, or a correction) and `scope: regional` files (regional holidays on top
of the national calendar of that year). Files in extra folders must state their scope.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import chinese_calendar
import yaml

from safetynet.errors import ConfigError

PROJECT_HOLIDAYS_DIR = Path(__file__).resolve().parent / "holidays"
SCOPES = ("national", "regional")

PathLike = str | Path


class CalendarYearMissing(ConfigError):
    """No holiday arrangement is configured for a year a working-day computation needs."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(
            f"{year} 年法定节假日安排未配置，请在 safetynet/holidays/{year}.yaml 中配置"
            "（或在地区节假日目录中提供 scope: national 的年度文件）"
        )


@dataclass(frozen=True)
class YearTable:
    """One year file: days off and make-up working days."""

    year: int
    scope: str
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    path: Path


def _as_date(value: Any, path: Path) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigError(f"节假日文件中的日期无法识别：{value!r}", file=str(path)) from None


def _expand(entries: Any, path: Path, key: str) -> set[dt.date]:
    """Dates from a list of dates, `a..b` strings and `{from: a, to: b}` mappings."""
    if entries is None:
        return set()
    if not isinstance(entries, list):
        raise ConfigError(f"节假日文件的 {key} 必须是列表", file=str(path))
    days: set[dt.date] = set()
    for entry in entries:
        if isinstance(entry, dict):
            if "from" not in entry:
                raise ConfigError(f"{key} 中的区间需要 from 和 to：{entry!r}", file=str(path))
            start, end = _as_date(entry["from"], path), _as_date(entry.get("to", entry["from"]), path)
        elif isinstance(entry, str) and ".." in entry:
            left, right = entry.split("..", 1)
            start, end = _as_date(left, path), _as_date(right, path)
        else:
            start = end = _as_date(entry, path)
        if end < start:
            raise ConfigError(f"{key} 中的区间结束早于开始：{entry!r}", file=str(path))
        days.update(start + dt.timedelta(i) for i in range((end - start).days + 1))
    return days


@lru_cache(maxsize=256)
def _load_year_file(path: Path, mtime_ns: int, default_scope: str | None) -> YearTable:
    """Parse and validate one year file (cached per modification time)."""
    year = int(path.stem)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, ValueError) as exc:       # ValueError: a date like 2031-02-30
        raise ConfigError(f"节假日文件无法识别（YAML 或日期错误）：{exc}", file=str(path)) from None
    if not isinstance(raw, dict):
        raise ConfigError("节假日文件必须是映射（holidays / workdays）", file=str(path))
    unknown = set(raw) - {"scope", "holidays", "workdays", "source", "notes"}
    if unknown:
        raise ConfigError(f"节假日文件含未知字段：{sorted(unknown)}", file=str(path))
    scope = raw.get("scope", default_scope)
    if scope not in SCOPES:
        raise ConfigError(
            f"节假日文件必须写明 scope: national 或 scope: regional（当前：{scope!r}）",
            file=str(path))
    holidays = _expand(raw.get("holidays"), path, "holidays")
    workdays = _expand(raw.get("workdays"), path, "workdays")
    stray = sorted(d for d in holidays | workdays if d.year != year)
    if stray:
        raise ConfigError(f"{path.name} 中有不属于 {year} 年的日期：{stray[0]}", file=str(path))
    both = sorted(holidays & workdays)
    if both:
        raise ConfigError(f"{both[0]} 同时列为放假日和调休上班日", file=str(path))
    return YearTable(year, scope, frozenset(holidays), frozenset(workdays), path)


def _year_file(folder: Path, year: int, default_scope: str | None) -> YearTable | None:
    path = folder / f"{year}.yaml"
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    return _load_year_file(path, mtime, default_scope)


def _weekday_rule(year: int, holidays: Iterable[dt.date], workdays: Iterable[dt.date]) -> set[dt.date]:
    off, on = set(holidays), set(workdays)
    day, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    days: set[dt.date] = set()
    while day <= last:
        if day in on or (day.weekday() < 5 and day not in off):
            days.add(day)
        day += dt.timedelta(1)
    return days


@lru_cache(maxsize=64)
def _package_year(year: int) -> frozenset[dt.date] | None:
    """Working days of a year from chinese_calendar, or None when the package lacks the year."""
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return None
    day, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    days: set[dt.date] = set()
    while day <= last:
        if chinese_calendar.is_workday(day):
            days.add(day)
        day += dt.timedelta(1)
    return frozenset(days)


class WorkingDayCalendar:
    """Working days from chinese_calendar, the project tables and optional regional folders.

    Precedence for a year's national calendar: a `scope: national` file in an extra folder
    (last folder first), then `safetynet/holidays/<year>.yaml`, then chinese_calendar.
    `scope: regional` files of the extra folders are then applied on top, in folder order.
    """

    def __init__(
        self,
        holidays_dir: PathLike | Sequence[PathLike] | None = None,
        *,
        project_dir: PathLike = PROJECT_HOLIDAYS_DIR,
    ) -> None:
        if holidays_dir is None:
            extra: list[Path] = []
        elif isinstance(holidays_dir, (str, Path)):
            extra = [Path(holidays_dir)]
        else:
            extra = [Path(p) for p in holidays_dir]
        for folder in extra:
            if not folder.is_dir():
                raise ConfigError(f"地区节假日目录不存在：{folder}")
        self.extra_dirs = tuple(extra)
        self.project_dir = Path(project_dir)
        self._years: dict[int, tuple[tuple[Any, ...], frozenset[dt.date]]] = {}

    def _signature(self, year: int) -> tuple[Any, ...]:
        paths = [self.project_dir / f"{year}.yaml"] + [d / f"{year}.yaml" for d in self.extra_dirs]
        sig = []
        for p in paths:
            try:
                sig.append(p.stat().st_mtime_ns)
            except FileNotFoundError:
                sig.append(None)
        return tuple(sig)

    def working_days_of_year(self, year: int) -> frozenset[dt.date]:
        """All official working days of `year` (raises CalendarYearMissing)."""
        sig = self._signature(year)
        cached = self._years.get(year)
        if cached and cached[0] == sig:
            return cached[1]
        extra = [t for t in (_year_file(d, year, None) for d in self.extra_dirs) if t]
        national = next((t for t in reversed(extra) if t.scope == "national"), None)
        if national is None:
            national = _year_file(self.project_dir, year, "national")
            if national is not None and national.scope != "national":
                raise ConfigError("项目节假日表只能是 scope: national", file=str(national.path))
        if national is not None:
            days = _weekday_rule(year, national.holidays, national.workdays)
        else:
            package = _package_year(year)
            if package is None:
                raise CalendarYearMissing(year)
            days = set(package)
        for table in extra:
            if table.scope == "regional":
                days -= table.holidays
                days |= table.workdays
        result = frozenset(days)
        self._years[year] = (sig, result)
        return result

    def is_working_day(self, day: dt.date) -> bool:
        """True when `day` is an official working day."""
        return _to_date(day) in self.working_days_of_year(_to_date(day).year)

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The n-th working day after `start` (start excluded); n < 0 counts backwards, 0 = start."""
        start = _to_date(start)
        if n == 0:
            return start
        step = dt.timedelta(1 if n > 0 else -1)
        remaining, day = abs(n), start
        year_days: frozenset[dt.date] = frozenset()
        year = None
        while remaining:
            day += step
            if day.year != year:
                year, year_days = day.year, self.working_days_of_year(day.year)
            if day in year_days:
                remaining -= 1
        return day

    def working_days_between(self, a: dt.date, b: dt.date) -> int:
        """Working days d with a < d <= b (negative when b < a)."""
        a, b = _to_date(a), _to_date(b)
        if b < a:
            return -self.working_days_between(b, a)
        count = 0
        for year in range(a.year, b.year + 1):
            count += sum(1 for d in self.working_days_of_year(year) if a < d <= b)
        return count


def _to_date(value: dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise TypeError(f"expected a date, got {type(value).__name__}")


@lru_cache(maxsize=16)
def _calendar(dirs: tuple[Path, ...]) -> WorkingDayCalendar:
    return WorkingDayCalendar(list(dirs))


def calendar_for(holidays_dir: PathLike | Sequence[PathLike] | None = None) -> WorkingDayCalendar:
    """The (cached) calendar for the project tables plus optional regional folders."""
    if holidays_dir is None:
        dirs: tuple[Path, ...] = ()
    elif isinstance(holidays_dir, (str, Path)):
        dirs = (Path(holidays_dir).resolve(),)
    else:
        dirs = tuple(Path(p).resolve() for p in holidays_dir)
    return _calendar(dirs)


def is_working_day(d: dt.date, *, holidays_dir: PathLike | Sequence[PathLike] | None = None) -> bool:
    """True when `d` is an official working day (make-up working days included)."""
    return calendar_for(holidays_dir).is_working_day(d)


def add_working_days(
    start: dt.date, n: int, *, holidays_dir: PathLike | Sequence[PathLike] | None = None
) -> dt.date:
    """The n-th official working day after `start`, `start` itself excluded.

    >>> add_working_days(dt.date(2026, 9, 30), 3)   # 10-01..07 off, 10-10 (Saturday) worked
    datetime.date(2026, 10, 10)
    """
    return calendar_for(holidays_dir).add_working_days(start, n)


def working_days_between(
    a: dt.date, b: dt.date, *, holidays_dir: PathLike | Sequence[PathLike] | None = None
) -> int:
    """Number of official working days d with a < d <= b (negative when b < a)."""
    return calendar_for(holidays_dir).working_days_between(a, b)
