"""Chinese resident ID numbers (GB 11643): clean, classify, convert legacy 15-digit numbers.

Validation is the GB 11643 check character (python-stdnum `calc_check_digit`) plus a real birth
date. The region table of `stdnum.cn.ric.is_valid` is deliberately NOT used: it rejects real
numbers of re-coded counties.

Qualities (docs/architecture.md):

- ``valid``: 18 characters, check character right, real birth date.
- ``legacy15``: 15-digit number, converted to 18 (``19`` inserted, check character computed).
- ``check_failed``: 18 characters, check character wrong (typo, transposition).
- ``bad_date``: check character right (or legacy) but the birth date does not exist.
- ``scientific``: an Excel float such as ``4.30102E+17``; unrecoverable.
- ``truncated_excel``: 18 digits from a float (``.0`` suffix) or ending in ``000`` (Excel keeps 15
  significant digits) whose check fails. A typo in a real ID ending in 000 looks the same, so the
  linker tries repair on these too.
- ``wrong_length``: anything else with digits in it (17 or 19 digits, stray letters).
- ``missing``: empty or no digit at all.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from stdnum.cn.ric import calc_check_digit

QUALITIES = ("valid", "legacy15", "check_failed", "bad_date", "scientific", "truncated_excel",
             "wrong_length", "missing")
USABLE = frozenset({"valid", "legacy15"})
DAMAGED = frozenset({"check_failed", "bad_date", "wrong_length"})

_MIN_BIRTH = date(1900, 1, 1)
# Dashes and look-alikes removed from an ID (after NFKC); whitespace is removed separately.
_REMOVE = dict.fromkeys(map(ord, "-‐‑‒–—―−﹣_\u200b\u200c\u200d\ufeff\u2060"), None)
_QUOTES = "'\"`‘’“”"
_WS_RE = re.compile(r"\s+")
_FAST_RE = re.compile(r"[0-9]{17}[0-9X]")
_DIGITS_RE = re.compile(r"[0-9]+X?")
_ONLY_DIGITS_RE = re.compile(r"[0-9]+")
_FLOAT_RE = re.compile(r"([0-9]+)\.0*")
_SCI_RE = re.compile(r"([0-9])(?:\.([0-9]*))?E\+?([0-9]{1,2})")
_EXCEL_TEXT_RE = re.compile(r'="(.*)"')


@dataclass(frozen=True, slots=True)
class IdInfo:
    """One raw ID value, cleaned and classified.

    Attributes:
        raw: the value as given.
        normalized: 18 characters with uppercase X, or None when the ID is unusable.
        quality: one of QUALITIES.
        digits: the cleaned candidate string even when damaged (for repair and blocking); for
            ``scientific`` the significant digits of the float (the last one may be rounded).
        birth_date: from the digits where they can be trusted to hold it, else None.
        sex: ``male`` / ``female`` from the order code (valid and legacy numbers only).
        region6: the first six digits (the issuing county), where present.
    """

    raw: str | None
    normalized: str | None
    quality: str
    digits: str | None
    birth_date: date | None
    sex: str | None
    region6: str | None


class _Dates:
    """YYYYMMDD -> date for every real birth date from 1900-01-01 to today (fast lookup)."""

    def __init__(self) -> None:
        self.today: date | None = None
        self.table: dict[str, date] = {}
        self.arrays: tuple[np.ndarray, np.ndarray] | None = None

    def get(self) -> dict[str, date]:
        today = date.today()
        if today != self.today:
            d, table, step = _MIN_BIRTH, {}, timedelta(days=1)
            while d <= today:
                table[d.strftime("%Y%m%d")] = d
                d += step
            self.table, self.today, self.arrays = table, today, None
        return self.table

    def get_numpy(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted YYYYMMDD ints, days since 1970-01-01) for vectorised look-ups."""
        table = self.get()
        if self.arrays is None:
            epoch = date(1970, 1, 1)
            self.arrays = (np.array([int(k) for k in table], dtype=np.int64),
                           np.array([(d - epoch).days for d in table.values()], dtype=np.int32))
        return self.arrays


_DATES = _Dates()


def _pre_clean(text: str) -> str:
    """Everything after NFKC: drop whitespace and dashes, unquote, uppercase."""
    s = _WS_RE.sub("", text).translate(_REMOVE)
    m = _EXCEL_TEXT_RE.fullmatch(s)  # ="430102..." (CSV text-forcing trick)
    if m:
        s = m.group(1)
    s = s.strip(_QUOTES).upper()
    # removing a space can leave a combining mark next to a letter: normalise again
    return s if s.isascii() else unicodedata.normalize("NFKC", s)


def _sex(digit: str) -> str:
    return "male" if int(digit) % 2 else "female"


def _classify(raw: str | None, s: str, dates: dict[str, date]) -> tuple:
    """Classify a pre-cleaned string; returns the IdInfo fields as a tuple (batch-friendly)."""
    if _FAST_RE.fullmatch(s):
        return _classify18(raw, s, dates, from_float=False)
    if not s or not any("0" <= c <= "9" for c in s):
        return (raw, None, "missing", None, None, None, None)
    from_float = False
    m = _FLOAT_RE.fullmatch(s)
    if m:
        s, from_float = m.group(1), True
    else:
        m = _SCI_RE.fullmatch(s)
        if m:
            written = m.group(1) + (m.group(2) or "")
            length = int(m.group(3)) + 1
            if len(written) == length:  # every digit written out: an exact number
                s, from_float = written, True
            else:
                return _scientific(raw, written.rstrip("0") or "0", length, dates)
    if len(s) == 18 and _FAST_RE.fullmatch(s):
        return _classify18(raw, s, dates, from_float=from_float)
    if len(s) == 15 and _ONLY_DIGITS_RE.fullmatch(s):
        birth = dates.get("19" + s[6:12])
        if birth is None:
            return (raw, None, "bad_date", s, None, None, s[:6])
        body = s[:6] + "19" + s[6:]
        full = body + calc_check_digit(body + "0")
        return (raw, full, "legacy15", s, birth, _sex(s[14]), s[:6])
    region6 = s[:6] if len(s) >= 6 and _ONLY_DIGITS_RE.fullmatch(s[:6]) else None
    birth = dates.get(s[6:14]) if len(s) in (17, 19) and _DIGITS_RE.fullmatch(s) else None
    return (raw, None, "wrong_length", s, birth, None, region6)


def _classify18(raw: str | None, s: str, dates: dict[str, date], *, from_float: bool) -> tuple:
    birth = dates.get(s[6:14])
    if calc_check_digit(s) == s[17]:
        if birth is None:
            return (raw, None, "bad_date", s, None, None, s[:6])
        return (raw, s, "valid", s, birth, _sex(s[16]), s[:6])
    if from_float or s.endswith("000"):
        # Excel keeps 15 significant digits: the first 15 (region, birth date) are still right.
        return (raw, None, "truncated_excel", s, birth, None, s[:6])
    return (raw, None, "check_failed", s, birth, None, s[:6])


def _scientific(raw: str | None, mantissa: str, length: int, dates: dict[str, date]) -> tuple:
    """An Excel float. All but the last shown digit are exact (the last one is rounded)."""
    exact = mantissa[:-1]
    region6 = exact[:6] if len(exact) >= 6 else None
    birth = None
    if length == 18 and len(exact) >= 14:
        birth = dates.get(exact[6:14])
    elif length == 15 and len(exact) >= 12:
        birth = dates.get("19" + exact[6:12])
    return (raw, None, "scientific", mantissa, birth, None, region6)


def normalize_id(raw: str | None) -> IdInfo:
    """Clean and classify one ID value.

    Examples:
        >>> normalize_id(" 43010219800101123x ").quality
        'valid'
        >>> normalize_id("4.30102E+17").quality
        'scientific'
    """
    if raw is None:
        return IdInfo(None, None, "missing", None, None, None, None)
    text = raw if isinstance(raw, str) else str(raw)
    s = _pre_clean(unicodedata.normalize("NFKC", text))
    return IdInfo(*_classify(raw, s, _DATES.get()))


ID_SCHEMA = pa.schema([
    ("raw", pa.string()), ("normalized", pa.string()), ("quality", pa.string()),
    ("digits", pa.string()), ("birth_date", pa.date32()), ("sex", pa.string()),
    ("region6", pa.string()),
])


def normalize_ids(
    values: Iterable[str | None] | pa.Array | pa.ChunkedArray, *, assume_distinct: bool = False
) -> pa.Table:
    """Normalise many ID values: distinct first, then map. One row per distinct raw value.

    Columns as IdInfo; ``raw`` is the join key back to the source. ``values`` may be any iterable
    of strings or a pyarrow string array; pass ``assume_distinct=True`` when they already are
    (e.g. from ``select distinct``) to skip the hashing. Values that are already 18 plain
    characters (the bulk) are classified with numpy (`check_chars`, the vectorised twin of
    python-stdnum's `calc_check_digit`); the rest go through `normalize_id`'s own code.
    """
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        arr = values.cast(pa.string())
    else:
        arr = pa.array((None if v is None else str(v) for v in values), type=pa.string())
    distinct = arr if assume_distinct else pc.unique(arr)
    if isinstance(distinct, pa.ChunkedArray):
        distinct = distinct.combine_chunks()
    plain = pc.fill_null(pc.match_substring_regex(distinct, r"^[0-9]{17}[0-9Xx]$"), False)
    parts = [_plain18(pc.filter(distinct, plain))]
    rest = pc.filter(distinct, pc.invert(plain)).to_pylist()
    if rest:
        dates = _DATES.get()
        rows = []
        for raw in rest:
            if raw is None:
                rows.append((None, None, "missing", None, None, None, None))
            else:
                rows.append(_classify(raw, _pre_clean(unicodedata.normalize("NFKC", raw)), dates))
        columns = list(zip(*rows, strict=True))
        parts.append(pa.table(
            [pa.array(c, type=f.type) for c, f in zip(columns, ID_SCHEMA, strict=True)],
            schema=ID_SCHEMA))
    return pa.concat_tables(parts)


# GB 11643 weights 2^(17-i) mod 11 and the check character for each weighted sum mod 11: the
# vectorised twin of `stdnum.cn.ric.calc_check_digit` (tests assert they agree on every value).
_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
_CHECK_CHARS = np.frombuffer(b"10X98765432", dtype=np.uint8)
_SEXES = pa.array(["female", "male"], pa.string())  # by parity of the 17th digit
_QUALITY18 = pa.array(["valid", "bad_date", "truncated_excel", "check_failed"], pa.string())


def check_chars(bodies: np.ndarray) -> np.ndarray:
    """Check characters (ASCII codes) for an (n, >=17) uint8 array of ASCII digit rows."""
    digits = np.ascontiguousarray(bodies[:, :17].T) - np.uint8(48)  # (17, n), one pass
    total = np.zeros(bodies.shape[0], dtype=np.int32)
    for weight, column in zip(_WEIGHTS.tolist(), digits, strict=True):
        total += column * np.int32(weight)
    return _CHECK_CHARS[total % 11]


def _fixed_width_bytes(s: pa.Array, width: int) -> np.ndarray:
    """(n, width) uint8 view of a string array whose values all have `width` bytes."""
    offsets = np.frombuffer(s.buffers()[1], dtype=np.int32)[s.offset:s.offset + len(s) + 1]
    data = np.frombuffer(s.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return data.reshape(-1, width)


def _plain18(raw: pa.Array) -> pa.Table:
    """Vectorised `_classify18` for values matching ``[0-9]{17}[0-9Xx]`` exactly."""
    s = pc.utf8_upper(raw)
    if len(s) == 0:
        return ID_SCHEMA.empty_table()
    rows = _fixed_width_bytes(s, 18)
    check_ok = check_chars(rows) == rows[:, 17]
    ymd = np.zeros(len(rows), dtype=np.int64)
    for column in np.ascontiguousarray(rows[:, 6:14].T) - np.uint8(48):
        ymd = ymd * 10 + column
    keys, days = _DATES.get_numpy()
    idx = np.minimum(np.searchsorted(keys, ymd), len(keys) - 1)
    has_birth = keys[idx] == ymd
    valid = check_ok & has_birth
    truncated = ~check_ok & (rows[:, 15:18] == ord("0")).all(axis=1)
    code = np.where(valid, 0, np.where(check_ok, 1, np.where(truncated, 2, 3))).astype(np.int32)
    birth = pa.array(days[idx], type=pa.int32(), mask=~(has_birth & ~(check_ok & ~valid)))
    valid_arr = pa.array(valid)
    sex = pc.if_else(valid_arr, _SEXES.take(pa.array(rows[:, 16] % 2)),
                     pa.scalar(None, pa.string()))
    return pa.table([
        raw, pc.if_else(valid_arr, s, pa.scalar(None, pa.string())), _QUALITY18.take(code), s,
        birth.cast(pa.date32()), sex, pc.utf8_slice_codeunits(s, 0, 6),
    ], schema=ID_SCHEMA)
