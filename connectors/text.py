"""Cell values and header texts as raw-layer text: one rule set for every format.

Raw tables hold VARCHAR only. Whatever typed value a reader meets (an Excel number, a Parquet
date, a database numeric) becomes the text a department officer would recognise:

- integral floats -> integer digits from the float's shortest repr (``4.30121198001011e+17`` ->
  ``430121198001011000``: an ID stored as a number keeps its visible precision loss);
  other floats -> shortest repr; NaN -> NULL
- dates -> ``YYYY-MM-DD``; datetimes -> ``YYYY-MM-DD HH:MM:SS``, or the date alone at midnight
- bools -> ``true`` / ``false``; decimals -> plain digits (no exponent)
- lists, dicts -> compact JSON text (non-ASCII kept); bytes -> UTF-8 text or ``\\xNN`` escapes
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

RESERVED_COLUMNS = ("_row", "_file")


def float_text(value: float) -> str | None:
    """Shortest text of a float; integral values without ``.0`` or exponent."""
    if math.isnan(value):
        return None
    text = repr(value)
    if math.isinf(value) or not value.is_integer():
        return text
    if "e" in text:
        return format(Decimal(text), "f")
    return text[:-2] if text.endswith(".0") else text


def _bytes_text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("utf-8", "backslashreplace")


def _duration_text(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    return f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _json_default(value: Any) -> Any:
    return value_text(value)


def value_text(value: Any) -> str | None:
    """A typed cell value as raw-layer text (None stays None)."""
    if value is None:
        return None
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return float_text(value)
    if isinstance(value, datetime):
        if value.hour == value.minute == value.second == value.microsecond == 0:
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return _duration_text(value)
    if isinstance(value, Decimal):
        if value.is_nan():
            return None
        return format(value, "f")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes_text(bytes(value))
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    if isinstance(value, bool):  # numpy bools and other bool-likes
        return "true" if value else "false"
    if isinstance(value, float):
        return float_text(float(value))
    return str(value)


def texts(values: Sequence[Any]) -> list[str | None]:
    """value_text over a column of Python values."""
    return [v if type(v) is str else value_text(v) for v in values]


_ARROW_CASTS = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view,
                pa.types.is_integer, pa.types.is_boolean, pa.types.is_date32,
                pa.types.is_decimal)


# Arrow's float -> string cast gives Python's shortest repr (integral values without ".0") for
# magnitudes in [1e-4, 1e10); elsewhere it writes exponents differently: those go through Python.
_PLAIN_FLOAT = (1e-4, 1e10)


def _float_arrow_text(array: pa.Array) -> pa.Array:
    values = pc.cast(array, pa.float64())  # float32 prints like Python's float of it
    text = pc.cast(values, pa.string())
    magnitude = pc.abs(values)
    plain = pc.or_(pc.equal(values, 0.0),
                   pc.and_(pc.greater_equal(magnitude, _PLAIN_FLOAT[0]),
                           pc.less(magnitude, _PLAIN_FLOAT[1])))
    odd = pc.invert(pc.fill_null(plain, True))  # NaN, inf, tiny and huge values
    if not pc.any(odd).as_py():
        return text
    others = pc.filter(values, odd).to_pylist()
    return pc.replace_with_mask(text, odd, pa.array([float_text(v) for v in others],
                                                    type=pa.string()))


def arrow_text(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """An Arrow column as a string array with the same text rules as value_text."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.string())
    if any(test(array.type) for test in _ARROW_CASTS):
        return pc.cast(array, pa.string())
    if pa.types.is_floating(array.type):
        return _float_arrow_text(array)
    return pa.array(texts(array.to_pylist()), type=pa.string())


def header_text(value: Any) -> str:
    """A header cell as text, trimmed (also of a stray BOM)."""
    text = value_text(value)
    return (text or "").strip().strip("\ufeff").strip()


def unique_columns(headers: Sequence[str]) -> tuple[list[str], list[str]]:
    """Make trimmed header texts usable as column names.

    Empty headers become ``_col<n>`` (1-based position), repeats get ``_2``, ``_3`` ... (DuckDB
    names are case-insensitive, so ``Name`` and ``name`` collide), and the reserved ``_row`` /
    ``_file`` are renamed. Returns (names, notes in Chinese, one per renamed column).
    """
    names: list[str] = []
    notes: list[str] = []
    taken = {r.casefold() for r in RESERVED_COLUMNS}
    for position, header in enumerate(headers, start=1):
        base = header or f"_col{position}"
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name.casefold())
        names.append(name)
        if not header:
            notes.append(f"第 {position} 列表头为空，命名为「{name}」")
        elif name != header:
            notes.append(f"第 {position} 列表头「{header}」重复或为保留名，改名为「{name}」")
    return names, notes
