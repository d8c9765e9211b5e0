"""SQL builder of the stage model: raw."<source>" -> typed rows + per-column failures.

The query is written as dbt models are: an import CTE, named CTEs (`renamed`, `mapped`, `typed`,
`checked`), then `select * from final`. Each output row is one raw row with its typed canonical
columns and `_failures`, a list of {column_name, column_label, value, shown, reason_code, hint}.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from safetynet.data_contracts.contract import ColumnSpec, Contract
from safetynet.errors import REASON_LABELS_ZH, ReasonCode
from safetynet.warehouse import quote_ident

MAX_TEXT = 1000
VALUE_CUT = 200
SHOWN_CUT = 50
MIN_DATE = date(1900, 1, 1)
FUTURE_DAYS = 366
ISO_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f",
               "%Y-%m-%dT%H:%M:%S.%f")
TRUE_WORDS = ("是", "y", "yes", "1", "true", "t", "有")
FALSE_WORDS = ("否", "n", "no", "0", "false", "f", "无")
# Whitespace trimmed from every cell: ASCII, NBSP, ideographic space, BOM, zero-width space.
_WS = " \t\r\n\u00a0\u3000\ufeff\u200b"
_FORMULA_RE = r"^[=+\-@][A-Za-z(]"
# Number cleaning: full-width digits -> ASCII, then drop separators, spaces, a leading ¥ and a
# trailing 元 (the cell is already trimmed, so `元$` is the last character of the value).
_FULLWIDTH = ("０１２３４５６７８９．－＋", "0123456789.-+")
_NUM_JUNK = r"[\s,，\x{00A0}\x{3000}]|^[¥￥]|元$"


@dataclass(frozen=True)
class ColumnPlan:
    """How one canonical column is fed: a SQL text expression over the raw table (or NULL)."""

    spec: ColumnSpec
    text_sql: str | None  # VARCHAR expression over raw columns; None = column not mapped
    column_name: str  # source column name when there is one, else the canonical name
    values: dict[str, Any] | None = None
    accepted_source_values: tuple[str, ...] = ()


def as_date(value: date | str) -> date:
    """An as_of given as date, datetime or ISO text, as a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def lit(value: Any) -> str:
    """A SQL literal for a Python scalar (strings single-quoted, None as NULL)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def canonical_text(value: Any) -> str | None:
    """A values-map target as canonical text (YAML booleans -> 'true'/'false')."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# Cells that start or end with a character of _WS (rare): only those pay for the multi-character
# trim, which costs ~10x a plain comparison on millions of cells. The edge test looks at the
# first and last character only (a regex anchored at the end scans the whole cell: 25% slower).


def _clean(expr: str) -> str:
    text = f"CAST({expr} AS VARCHAR)"
    ws = lit(_WS)
    return (f"CASE WHEN contains({ws}, left({text}, 1)) OR contains({ws}, right({text}, 1)) "
            f"THEN nullif(trim({text}, {ws}), '') ELSE nullif({text}, '') END")


def _map_sql(txt: str, values: dict[str, Any] | None) -> str:
    if not values:
        return txt
    default = values.get("*", "__keep__")
    whens = " ".join(f"WHEN {txt} = {lit(k.strip(_WS))} THEN {lit(canonical_text(v))}"
                     for k, v in values.items() if k != "*")
    other = txt if default == "__keep__" else lit(canonical_text(default))
    return f"CASE WHEN {txt} IS NULL THEN NULL {whens} ELSE {other} END"


def _number_sql(val: str) -> str:
    # a plain number parses directly; only the rest pays for the cleaning regex (coalesce is lazy)
    cleaned = (f"regexp_replace(translate({val}, {lit(_FULLWIDTH[0])}, {lit(_FULLWIDTH[1])}), "
               f"{lit(_NUM_JUNK)}, '', 'g')")
    return f"coalesce(try_cast({val} AS DOUBLE), try_cast({cleaned} AS DOUBLE))"


def _typed_sql(spec: ColumnSpec, val: str, date_formats: Sequence[str]) -> str:
    if spec.type == "varchar":
        return val
    if spec.type == "date":
        fmts = ", ".join(lit(f) for f in dict.fromkeys([*date_formats, *ISO_FORMATS]))
        return f"CAST(try_strptime({val}, [{fmts}]) AS DATE)"
    if spec.type == "double":
        num = _number_sql(val)
        return f"CASE WHEN isfinite({num}) THEN {num} END"
    if spec.type == "integer":
        num = _number_sql(val)
        return (f"CASE WHEN isfinite({num}) AND {num} = trunc({num}) "
                f"AND abs({num}) < 2147483648 THEN CAST({num} AS INTEGER) END")
    if spec.type == "boolean":
        low = f"lower({val})"
        return (f"CASE WHEN {low} IN ({', '.join(lit(w) for w in TRUE_WORDS)}) THEN TRUE "
                f"WHEN {low} IN ({', '.join(lit(w) for w in FALSE_WORDS)}) THEN FALSE END")
    raise ValueError(spec.type)


_PARSE_FAIL = {"date": ReasonCode.UNPARSEABLE_DATE, "double": ReasonCode.NOT_A_NUMBER,
               "integer": ReasonCode.NOT_A_NUMBER, "boolean": ReasonCode.UNKNOWN_CODE}


def _fmt_num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _fail_sql(plan: ColumnPlan, txt: str, val: str, typed: str, as_of: date) -> str:
    """First failing check of one column, in a fixed order, as a reason code (NULL = passes)."""
    spec = plan.spec
    whens = [
        f"WHEN length({txt}) > {MAX_TEXT} THEN '{ReasonCode.FIELD_TOO_LONG}'",
        f"WHEN left({txt}, 1) IN ('=', '+', '-', '@') "
        f"AND regexp_matches({txt}, {lit(_FORMULA_RE)}) THEN '{ReasonCode.FORMULA_LIKE}'",
        f"WHEN {val} IS NULL THEN "
        + (f"'{ReasonCode.MISSING_REQUIRED}'" if spec.required else "NULL"),
    ]
    if spec.type in ("integer", "double") and plan.values and "*" not in plan.values:
        # a numeric column sent as codes (一级 -> 1): an unlisted non-number is an unknown code
        keys = ", ".join(lit(k.strip(_WS)) for k in plan.values)
        whens.append(f"WHEN {typed} IS NULL AND {_number_sql(txt)} IS NULL "
                     f"AND {txt} NOT IN ({keys}) "
                     f"THEN '{ReasonCode.UNKNOWN_CODE}'")
    if spec.type != "varchar":
        whens.append(f"WHEN {typed} IS NULL THEN '{_PARSE_FAIL[spec.type]}'")
    if spec.type == "date":
        whens.append(f"WHEN {typed} < {lit(MIN_DATE)} THEN '{ReasonCode.DATE_OUT_OF_RANGE}'")
        if not spec.allow_future:
            limit = as_of + timedelta(days=FUTURE_DAYS)
            whens.append(f"WHEN {typed} > {lit(limit)} THEN '{ReasonCode.FUTURE_DATE}'")
    if spec.allowed:
        allowed = ", ".join(lit(a) for a in spec.allowed)
        whens.append(f"WHEN {typed} NOT IN ({allowed}) THEN '{ReasonCode.UNKNOWN_CODE}'")
    bounds = []
    if spec.min is not None:
        bounds.append(f"{typed} {'<=' if spec.min_exclusive else '<'} {spec.min!r}")
    if spec.max is not None:
        bounds.append(f"{typed} {'>=' if spec.max_exclusive else '>'} {spec.max!r}")
    if bounds:
        whens.append(f"WHEN {' OR '.join(bounds)} THEN '{ReasonCode.OUT_OF_RANGE}'")
    if spec.pattern:
        whens.append(f"WHEN NOT regexp_matches({typed}, {lit(spec.pattern)}) "
                     f"THEN '{ReasonCode.BAD_PATTERN}'")
    return "CASE " + " ".join(whens) + " END"


def _format_examples(date_formats: Sequence[str]) -> str:
    """The accepted date formats as examples (31 March 2025), ISO first."""
    sample = date(2025, 3, 31)
    out: list[str] = []
    for fmt in ("%Y-%m-%d", *date_formats):
        try:
            text = sample.strftime(fmt)
        except ValueError:
            continue
        if text not in out:
            out.append(text)
    return "、".join(out[:6])


def _hint_sql(plan: ColumnPlan, fail: str, as_of: date, date_formats: Sequence[str]) -> str:
    """A short Chinese hint per reason (what would have been accepted)."""
    spec = plan.spec
    hints: dict[str, str] = {}
    if plan.accepted_source_values:
        shown = "、".join(plan.accepted_source_values[:12])
        more = " 等" if len(plan.accepted_source_values) > 12 else ""
        hints[ReasonCode.UNKNOWN_CODE] = f"可接受的取值：{shown}{more}"
    elif spec.type == "boolean":
        hints[ReasonCode.UNKNOWN_CODE] = "可接受的取值：是/否、Y/N、1/0、true/false、有/无"
    elif spec.allowed:
        hints[ReasonCode.UNKNOWN_CODE] = "可接受的取值：" + "、".join(spec.allowed)
    if spec.min is not None or spec.max is not None:
        parts = []
        if spec.min is not None:
            parts.append(f"{'>' if spec.min_exclusive else '≥'} {_fmt_num(spec.min)}")
        if spec.max is not None:
            parts.append(f"{'<' if spec.max_exclusive else '≤'} {_fmt_num(spec.max)}")
        hints[ReasonCode.OUT_OF_RANGE] = "应 " + " 且 ".join(parts)
    if spec.type == "date":
        limit = as_of + timedelta(days=FUTURE_DAYS)
        hints[ReasonCode.FUTURE_DATE] = f"晚于 {limit.isoformat()}"
        hints[ReasonCode.UNPARSEABLE_DATE] = "可识别的格式如 " + _format_examples(date_formats)
    if spec.type in ("double", "integer"):
        hints[ReasonCode.NOT_A_NUMBER] = "应为整数" if spec.type == "integer" else "应为数字"
    if spec.pattern:
        hints[ReasonCode.BAD_PATTERN] = (f"应为{spec.pattern_label}" if spec.pattern_label
                                         else f"应符合 {spec.pattern}")
    if spec.type == "varchar":
        hints[ReasonCode.FIELD_TOO_LONG] = f"超过 {MAX_TEXT} 个字符"
    if not hints:
        return "NULL"
    return "CASE " + " ".join(f"WHEN {fail} = '{k}' THEN {lit(v)}" for k, v in hints.items()) + " END"


def _shown_sql(name: str, txt: str) -> str:
    """The value as quoted in the Chinese reason: ID numbers and names masked, long text cut."""
    if name == "id_number":  # (a value too long to be an ID is cut like any other)
        return (f"CASE WHEN length({txt}) <= 8 THEN repeat('*', length({txt})) "
                f"WHEN length({txt}) > {SHOWN_CUT} THEN left({txt}, 4) || "
                f"repeat('*', {SHOWN_CUT - 4}) || '…' ELSE "
                f"left({txt}, 4) || repeat('*', length({txt}) - 8) || right({txt}, 4) END")
    if name == "name":
        return (f"left({txt}, 1) || repeat('*', least(greatest(1, length({txt}) - 1), "
                f"{SHOWN_CUT - 1})) || CASE WHEN length({txt}) > {SHOWN_CUT} THEN '…' "
                f"ELSE '' END")
    return (f"CASE WHEN length({txt}) > {SHOWN_CUT} THEN left({txt}, {SHOWN_CUT}) || '…' "
            f"ELSE {txt} END")


def _failure_struct(column_name: str, label: str, value: str, shown: str, code: str,
                    hint: str) -> str:
    return (f"{{'column_name': {lit(column_name)}, 'column_label': {lit(label)}, "
            f"'value': CAST({value} AS VARCHAR), 'shown': CAST({shown} AS VARCHAR), "
            f"'reason_code': CAST({code} AS VARCHAR), 'hint': CAST({hint} AS VARCHAR)}}")


def reason_label_sql(code: str) -> str:
    """CASE expression: reason code -> Chinese label."""
    whens = " ".join(f"WHEN '{k}' THEN {lit(v)}" for k, v in REASON_LABELS_ZH.items())
    return f"CASE {code} {whens} ELSE {code} END"


def repeated_keys_sql(raw_table: str, record_key_sql: str) -> str:
    """How many record-key hashes occur more than once (0: no key repeats; a hash collision
    only sends the source down the exact duplicate check)."""
    return (f"select count(*) from (select hash({_clean(record_key_sql)}) as h "
            f"from {raw_table} group by h having count(*) > 1)")


def build_stage_sql(
    contract: Contract,
    plans: Sequence[ColumnPlan],
    *,
    raw_table: str,
    record_key_sql: str,
    record_key_column: str,
    date_formats: Sequence[str],
    as_of: date,
    repeated_keys: bool = True,
) -> str:
    """The stage model of one source: one output row per raw row, typed columns + `_failures`.

    ``repeated_keys=False`` (the caller found no record key twice) leaves out the duplicate-key
    join; every row is then its key's first.
    """
    q = quote_ident
    renamed, mapped, typed, checked, failures = [], [], [], [], []
    for p in plans:
        n = p.spec.name
        raw, txt, val = q(f"raw__{n}"), q(f"txt__{n}"), q(f"val__{n}")
        expr = p.text_sql if p.text_sql is not None else "NULL"
        renamed.append(f"CAST({expr} AS VARCHAR) AS {raw}")
        renamed.append(f"{_clean(expr)} AS {txt}")
        mapped.append(f"{_map_sql(txt, p.values)} AS {val}")
        typed.append(f"{_typed_sql(p.spec, val, date_formats)} AS {q(n)}")
        fail = q(f"fail__{n}")
        checked.append(f"{_fail_sql(p, txt, val, q(n), as_of)} AS {fail}")
        label = p.column_name if p.column_name != n else p.spec.label
        failures.append(_failure_struct(p.column_name, label, f"left({raw}, {VALUE_CUT})",
                                        _shown_sql(n, txt), fail,
                                        _hint_sql(p, fail, as_of, date_formats)))
    by_name = {p.spec.name: p for p in plans}
    if contract.identity:
        ident = [by_name[c] for c in ("id_number", "name") if by_name[c].text_sql is not None]
        cond = " AND ".join(f"{q('val__' + p.spec.name)} IS NULL" for p in ident)
        checked.append(f"CASE WHEN {cond} THEN '{ReasonCode.MISSING_IDENTITY}' END "
                       f"AS fail__identity")
        names = "、".join(p.column_name for p in ident)
        labels = "、".join(p.column_name if p.column_name != p.spec.name else p.spec.label
                          for p in ident)
        failures.append(_failure_struct(names, labels, "NULL", "NULL", "fail__identity",
                                        lit("身份证号码和姓名至少填写一项")))
    key_fail = (
        f"CASE WHEN _record_key IS NULL THEN '{ReasonCode.MISSING_REQUIRED}' "
        f"WHEN length(_record_key) > {MAX_TEXT} THEN '{ReasonCode.FIELD_TOO_LONG}' "
        f"WHEN left(_record_key, 1) IN ('=', '+', '-', '@') "
        f"AND regexp_matches(_record_key, {lit(_FORMULA_RE)}) THEN '{ReasonCode.FORMULA_LIKE}' "
        f"WHEN _key_seq > 1 THEN '{ReasonCode.DUPLICATE_RECORD_KEY}' END"
    )
    checked.append(f"{key_fail} AS fail__record_key")
    failures.append(_failure_struct(
        record_key_column, record_key_column, f"left(raw__record_key, {VALUE_CUT})",
        _shown_sql("_record_key", "_record_key"), "fail__record_key",
        "CASE WHEN fail__record_key = 'duplicate_record_key' "
        "THEN '同一记录编号已在前面出现，保留首次出现的行' END"))

    # clean rows (nearly all) skip building the failure list: NULL means no failure
    fail_names = [re.search(r"AS (\"?fail__[^\"\s]+\"?)\s*$", c).group(1) for c in checked]
    any_fail = " OR ".join(f"{n} IS NOT NULL" for n in fail_names) or "false"

    def cols(items: list[str]) -> str:
        return "".join(f",\n        {i}" for i in items)

    # without repeated keys the model is projections only: DuckDB keeps the raw table's row
    # order (the file order), so the caller need not sort
    key_join = ("from renamed left join repeated_keys as k on k._record_key = renamed._record_key"
                if repeated_keys else "from renamed")
    key_seq = ("""CASE WHEN k._first_pos IS NULL THEN 1
             WHEN k._first_pos = {'f': renamed._file, 'r': renamed._row} THEN 1
             ELSE 2 END""" if repeated_keys else "1")
    return f"""
with source as not materialized (
    select * from {raw_table}
),
renamed as not materialized (
    select _file, CAST(_row AS BIGINT) AS _row,
        CAST({record_key_sql} AS VARCHAR) AS raw__record_key,
        {_clean(record_key_sql)} AS _record_key{cols(renamed)}
    from source
),
repeated_keys as (
    -- record keys seen more than once, with their first position (file, row): a narrow
    -- aggregate instead of a window that would carry every column through a sort. It reads
    -- the raw table itself: a second reference to `renamed` would make DuckDB materialise
    -- every renamed column of every row
    select _record_key, min({{'f': _file, 'r': _row}}) AS _first_pos
    from (select _file, CAST(_row AS BIGINT) AS _row, {_clean(record_key_sql)} AS _record_key
          from {raw_table})
    where _record_key IS NOT NULL
    group by _record_key
    having count(*) > 1
),
mapped as (
    select renamed.*,
        {key_seq} AS _key_seq{cols(mapped)}
    {key_join}
),
typed as (
    select *{cols(typed)}
    from mapped
),
checked as (
    select *{cols(checked)}
    from typed
),
final as (
    select _file, _row, _record_key{cols([q(p.spec.name) for p in plans])},
        CASE WHEN {any_fail} THEN list_filter([{", ".join(failures)}],
            lambda f: f.reason_code IS NOT NULL) END AS _failures
    from checked
)
select * from final
"""
