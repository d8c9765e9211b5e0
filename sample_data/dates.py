"""Dates as int32 day numbers (days since 1970-01-01), vectorised, plus text renderings.

``NEVER`` stands for "no such date" (an event that does not happen before the horizon): it
compares greater than every real date, so ``change <= extract`` is simply false.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

NEVER = 1_000_000  # year 4707: later than any date the generator writes
_EPOCH = date(1970, 1, 1)


def day(value: str | date) -> int:
    """Day number of an ISO date string or a date."""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return (value - _EPOCH).days


def to_date(number: int) -> date:
    """The date of a day number."""
    return _EPOCH + timedelta(days=int(number))


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day (int arrays) of day numbers."""
    dt = np.asarray(days, dtype="int64").astype("datetime64[D]")
    months = dt.astype("datetime64[M]")
    year = months.astype("int64") // 12 + 1970
    month = months.astype("int64") % 12 + 1
    dom = (dt - months.astype("datetime64[D]")).astype("int64") + 1
    return year, month, dom


def from_ymd(year: np.ndarray, month: np.ndarray, dom: np.ndarray) -> np.ndarray:
    """Day numbers from year, month, day; the day is clamped to the month's last day."""
    year = np.asarray(year, dtype="int64")
    month = np.asarray(month, dtype="int64")
    first = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    last = ((first + 1).astype("datetime64[D]") - first.astype("datetime64[D]")).astype("int64")
    dom = np.minimum(np.asarray(dom, dtype="int64"), last)
    return (first.astype("datetime64[D]").astype("int64") + dom - 1).astype("int32")


def add_months(days: np.ndarray | int, months: int) -> np.ndarray:
    """Calendar month arithmetic with month-end clamping (2026-08-31 + 6 months = 2027-02-28)."""
    scalar = np.isscalar(days)
    arr = np.atleast_1d(np.asarray(days, dtype="int64"))
    year, month, dom = ymd(arr)
    total = year * 12 + (month - 1) + months
    out = from_ymd(total // 12, total % 12 + 1, dom)
    out = np.where(arr >= NEVER, NEVER, out).astype("int32")
    return int(out[0]) if scalar else out


def add_years(days: np.ndarray | int, years: int) -> np.ndarray:
    """Same day `years` later (29 Feb -> 28 Feb)."""
    return add_months(days, 12 * years)


def age_at(birth: np.ndarray, at: np.ndarray | int) -> np.ndarray:
    """Whole years from birth to `at` (the birthday itself counts)."""
    by, bm, bd = ymd(birth)
    ay, am, ad = ymd(np.broadcast_to(np.asarray(at, dtype="int64"), np.shape(birth)))
    before = (am < bm) | ((am == bm) & (ad < bd))
    return (ay - by - before).astype("int32")


def iso(days: np.ndarray) -> np.ndarray:
    """'YYYY-MM-DD' strings; NEVER -> ''."""
    arr = np.asarray(days, dtype="int64")
    out = np.datetime_as_string(np.minimum(arr, 2_900_000).astype("datetime64[D]"))
    return np.where(arr >= NEVER, "", out).astype(object)


def render(days: np.ndarray, style: str) -> np.ndarray:
    """Dates as department text: iso 2026-07-03, compact 20260703, slash 2026/7/3,
    cn 2026年7月3日, dotted 2026.07.03. NEVER -> ''."""
    arr = np.asarray(days, dtype="int64")
    if arr.size == 0:  # numpy's string functions fail on an empty array
        return np.empty(0, dtype=object)
    if style == "iso":
        return iso(arr)
    if style == "compact":
        out = np.char.replace(iso(arr).astype(str), "-", "")
    elif style == "dotted":
        out = np.char.replace(iso(arr).astype(str), "-", ".")
    else:
        y, m, d = ymd(np.minimum(arr, 2_900_000))
        ys, ms, ds = y.astype(str), m.astype(str), d.astype(str)
        if style == "slash":
            out = np.char.add(np.char.add(np.char.add(np.char.add(ys, "/"), ms), "/"), ds)
        elif style == "cn":
            out = np.char.add(np.char.add(np.char.add(np.char.add(np.char.add(ys, "年"), ms),
                                                      "月"), ds), "日")
        else:
            raise ValueError(f"unknown date style {style!r}")
    return np.where(arr >= NEVER, "", out).astype(object)


def working_day_due(as_of: date, working_days: int = 25) -> date:
    """The `working_days`-th official working day after as_of (as_of itself excluded).

    Uses chinese_calendar directly; it raises NotImplementedError for years it does not cover,
    and so does this function (a due date is never guessed).
    """
    import chinese_calendar

    current, counted = as_of, 0
    while counted < working_days:
        current += timedelta(days=1)
        if chinese_calendar.is_workday(current):
            counted += 1
    return current
