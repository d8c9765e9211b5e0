"""Chaos and properties (issue 6).

Chaos: every file source of the small sample has random rows dropped, duplicated and corrupted
(seeded), then the whole set is extracted and staged as a run does. Every row of every changed
file must be accounted for: read once, staged or quarantined; each corrupted row quarantined
with the reason its corruption calls for; each duplicate quarantined as a duplicate key; each
untouched row staged or quarantined exactly as in the clean load; dropped rows nowhere.

Properties (hypothesis): the ID normaliser, the name key and the working-day calendar.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn.ric import calc_check_digit

from tests.fixtures.bad_inputs.common import (
    Q3,
    all_source_names,
    copy_quarter,
    rows,
    small_sample,
    source_config,
    write_sources,
)


# ------------------------------------------------------------------ file access per format
@dataclass
class Table:
    """A source file as header + records (+ what is needed to write it back the same way)."""

    fmt: str
    header: list[str]
    records: list[list[Any]]
    above: list[list[Any]] = field(default_factory=list)  # title rows above an xlsx header
    encoding: str = "utf-8"
    newline: str = "\n"
    sheet: str = ""

    def first_row(self) -> int:
        """Row number of the first record as the connectors count it."""
        return len(self.above) + 2 if self.fmt in ("csv", "xlsx") else 1


def read_table(path: Path, cfg: dict[str, Any]) -> Table:
    fmt = cfg["format"]
    if fmt == "csv":
        raw = path.read_bytes()
        encoding = "utf-8-sig" if raw.startswith(codecs.BOM_UTF8) else "utf-8"
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            encoding, text = "gb18030", raw.decode("gb18030")
        got = list(csv.reader(io.StringIO(text, newline="")))
        return Table(fmt, got[0], got[1:], encoding=encoding,
                     newline="\r\n" if b"\r\n" in raw else "\n")
    if fmt == "jsonl":
        objs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
        header = list(dict.fromkeys(k for o in objs for k in o))
        return Table(fmt, header, [[o.get(k) for k in header] for o in objs])
    if fmt == "parquet":
        import pyarrow.parquet as pq

        t = pq.read_table(path)
        return Table(fmt, t.column_names, [list(r.values()) for r in t.to_pylist()])
    from python_calamine import CalamineWorkbook

    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(cfg["sheet"]).to_python()
    h = cfg.get("header_row", 1) - 1
    body = [list(r) for r in sheet[h + 1:] if any(v not in ("", None) for v in r)]
    return Table(fmt, list(sheet[h]), body, above=[list(r) for r in sheet[:h]],
                 sheet=cfg["sheet"])


def write_table(path: Path, t: Table) -> None:
    if t.fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf, lineterminator=t.newline).writerows([t.header, *t.records])
        data = buf.getvalue().encode(t.encoding, "surrogateescape")
        path.write_bytes(data)
    elif t.fmt == "jsonl":
        lines = []
        for r in t.records:
            if isinstance(r, str):  # a broken line, kept as text
                lines.append(r)
            else:
                lines.append(json.dumps(dict(zip(t.header, r, strict=True)), ensure_ascii=False))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif t.fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = {h: pa.array([None if r[i] is None else _text(r[i]) for r in t.records],
                            pa.string()) for i, h in enumerate(t.header)}
        pq.write_table(pa.table(cols), path)
    else:
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = t.sheet
        for r in [*t.above, t.header, *t.records]:
            ws.append(list(r))
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":  # "=..." typed into a cell as text, not a formula
                    cell.data_type = "s"
        wb.save(path)


def _text(value: Any) -> str:
    from safetynet.connectors.text import value_text

    return value_text(value) or ""


# ------------------------------------------------------------------ the chaos
@dataclass
class Expect:
    """What the chaos did to one source: rows by position in the new file."""

    rows: int = 0
    corrupted: dict[int, tuple[str | None, str]] = field(default_factory=dict)  # row -> (col, code)
    duplicates: set[int] = field(default_factory=set)
    untouched: dict[int, str] = field(default_factory=dict)  # row -> record key
    dropped: set[str] = field(default_factory=set)


def _source_column(cfg: dict[str, Any], canonical: str) -> str | None:
    v = cfg["columns"].get(canonical)
    return v if isinstance(v, str) else None


def _corruptions(cfg: dict[str, Any], t: Table) -> list[tuple[str, str | None, str, Any]]:
    """(kind, source column, expected reason code, new value) applicable to this source."""
    from safetynet.data_contracts.contract import load_contract

    contract = load_contract(cfg["table"])
    out: list[tuple[str, str | None, str, Any]] = [
        ("blank_key", cfg["record_key"], "missing_required", "")]
    name = _source_column(cfg, "name")
    if name:
        out += [("formula", name, "formula_like", '=HYPERLINK("http://evil.example","x")'),
                ("too_long", name, "field_too_long", "张" * 1200)]
    for canonical, spec in contract.columns.items():
        col = _source_column(cfg, canonical)
        if col is None:
            continue
        if spec.type == "date":
            out.append(("bad_date", col, "unparseable_date", "2025-02-30"))
        elif spec.type in ("double", "integer"):
            coded = canonical in cfg.get("values", {}) and "*" not in cfg["values"][canonical]
            out.append(("text_number", col, "unknown_code" if coded else "not_a_number", "一千"))
    if t.fmt == "csv":
        out.append(("extra_field", None, "malformed_row", None))
        if t.encoding.startswith("utf-8") and name:
            out.append(("bad_bytes", name, "encoding_error", None))
    if t.fmt == "jsonl":
        out.append(("broken_json", None, "malformed_row", None))
    return out


def chaos(rnd: random.Random, cfg: dict[str, Any], t: Table,
          fates: dict[str, tuple[str, frozenset[str]]]) -> Expect:
    """Drop, duplicate and corrupt rows of t in place; say what must become of each row."""
    key_i = t.header.index(cfg["record_key"])
    keys = Counter(str(r[key_i]) for r in t.records)
    eligible = [i for i, r in enumerate(t.records)
                if keys[str(r[key_i])] == 1 and fates.get(str(r[key_i]), ("",))[0] == "staged"]
    n = len(t.records)
    budget = max(1, n // 5)
    picked = rnd.sample(eligible, min(len(eligible), 3 * budget))
    drop, dup, corrupt = set(picked[:budget]), set(picked[budget:2 * budget]), picked[2 * budget:]
    kinds = _corruptions(cfg, t)
    plan = {i: rnd.choice(kinds) for i in corrupt}
    exp = Expect()
    new: list[Any] = []
    first = t.first_row()
    for i, rec in enumerate(t.records):
        key = str(rec[key_i])
        if i in drop:
            exp.dropped.add(key)
            continue
        row = first + len(new)
        if i in plan:
            kind, col, code, value = plan[i]
            rec = list(rec)
            if kind == "extra_field":
                rec.append("多出的一列")
            elif kind == "bad_bytes":
                rec[t.header.index(col)] = str(rec[t.header.index(col)]) + "\udcff"
            elif kind == "broken_json":
                rec = json.dumps(dict(zip(t.header, rec, strict=True)),
                                 ensure_ascii=False, default=str)[:-7]
            else:
                rec[t.header.index(col)] = value
            exp.corrupted[row] = (col, code)
        else:
            exp.untouched[row] = key
        new.append(rec)
        if i in dup:
            exp.duplicates.add(first + len(new))
            new.append(list(rec))
    t.records = new
    exp.rows = len(new)
    return exp


_BASE: dict[str, Any] = {}


def load_all(folder: Path, data: Path, configs: list[dict[str, Any]]) -> dict[str, Any]:
    """Extract + stage every source at once; per source its load and quarantine rows."""
    from safetynet.connectors.config import parse_source_config
    from safetynet.pipeline import load_sources
    from safetynet.settings import RunSettings
    from safetynet.warehouse import connect

    sources = write_sources(folder / "sources", configs)
    settings = RunSettings(as_of=Q3, sources_dir=sources, data_dir=data,
                           warehouse=folder / "w.duckdb")
    con = connect(settings.warehouse)
    try:
        loads = load_sources(con, settings, [parse_source_config(c) for c in configs])
        out: dict[str, Any] = {}
        for ld in loads:
            cfg = next(c for c in configs if c["name"] == ld.source)
            q = rows(con, "select * from meta.quarantine where source = ?", [ld.source])
            staged = rows(con, f'select _row, _record_key from staged."{cfg["table"]}" '
                               "where _source = ?", [ld.source])
            out[ld.source] = {"load": ld, "quarantine": q, "staged": staged}
    finally:
        con.close()
    return out


def fates_of(result: dict[str, Any]) -> dict[str, tuple[str, frozenset[str]]]:
    """record key -> ("staged", {}) or ("quarantined", {reason codes})."""
    out: dict[str, tuple[str, frozenset[str]]] = {
        r["_record_key"]: ("staged", frozenset()) for r in result["staged"]}
    codes: dict[str, set[str]] = {}
    for q in result["quarantine"]:
        if q["record_key"] is not None:
            codes.setdefault(q["record_key"], set()).add(q["reason_code"])
    out.update({k: ("quarantined", frozenset(v)) for k, v in codes.items()})
    return out


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    sample = small_sample(tmp_path_factory.getbasetemp())
    folder = tmp_path_factory.mktemp("chaos_baseline")
    configs = [source_config(n) for n in all_source_names()]
    result = load_all(folder, sample / Q3, configs)
    assert all(r["load"].status == "loaded" for r in result.values())
    return sample, result


@pytest.mark.parametrize("seed", [11, 22, 33])
def test_every_row_of_a_chaotic_quarter_is_accounted_for(
        seed: int, baseline: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    sample, base = baseline
    data = copy_quarter(sample, Q3, tmp_path / "data")
    rnd = random.Random(seed)
    configs = [source_config(n) for n in all_source_names()]
    expects: dict[str, Expect] = {}
    for cfg in configs:
        path = data / cfg["location"]["path"]
        t = read_table(path, cfg)
        expects[cfg["name"]] = chaos(rnd, cfg, t, fates_of(base[cfg["name"]]))
        write_table(path, t)
    result = load_all(tmp_path, data, configs)
    corrupted = 0
    for cfg in configs:
        name, exp, got = cfg["name"], expects[cfg["name"]], result[cfg["name"]]
        load = got["load"]
        assert load.status == "loaded", (name, load.error)
        # every row read once, and staged or quarantined
        assert load.rows_read == exp.rows, name
        assert load.rows_read == load.rows_staged + load.rows_quarantined, name
        q_rows = {(q["file"], q["row_number"]) for q in got["quarantine"]}
        assert load.rows_quarantined == len(q_rows) and load.rows_staged == len(got["staged"])
        staged_rows = {r["_row"] for r in got["staged"]}
        assert not staged_rows & {r for _, r in q_rows}, name
        by_row: dict[int, set[tuple[str | None, str]]] = {}
        for q in got["quarantine"]:
            by_row.setdefault(q["row_number"], set()).add((q["column_name"], q["reason_code"]))
        # corrupted rows: quarantined for what was done to them
        for row, (col, code) in exp.corrupted.items():
            assert (col, code) in by_row.get(row, set()), (name, row, col, code, by_row.get(row))
        corrupted += len(exp.corrupted)
        # duplicates: the later copy is held back as a duplicate key
        for row in exp.duplicates:
            assert (cfg["record_key"], "duplicate_record_key") in by_row.get(row, set()), (
                name, row)
        # untouched rows: exactly as in the clean load
        base_fates = fates_of(base[name])
        for row, key in exp.untouched.items():
            fate = ("staged", frozenset()) if row in staged_rows else (
                "quarantined", frozenset(c for _, c in by_row.get(row, set())))
            assert fate == base_fates.get(key, fate), (name, row, key, fate)
        # dropped rows: nowhere
        seen = {r["_record_key"] for r in got["staged"]} | {
            q["record_key"] for q in got["quarantine"]}
        assert not exp.dropped & seen, name
    assert corrupted >= 20  # the chaos did something everywhere


# ------------------------------------------------------------------ properties: IDs
digits17 = st.builds(
    lambda region, d, seq: f"{region:06d}{d:%Y%m%d}{seq:03d}",
    st.integers(110000, 659999), st.dates(dt.date(1901, 1, 1), dt.date(2020, 12, 31)),
    st.integers(0, 999))
valid_ids = digits17.map(lambda b: b + calc_check_digit(b + "0"))


@settings(max_examples=300, deadline=None)
@given(valid_ids)
def test_a_valid_id_tells_its_birth_date_sex_and_county(value: str) -> None:
    from safetynet.matching.ids import normalize_id

    info = normalize_id(value)
    assert info.quality == "valid" and info.normalized == value
    assert info.birth_date == dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    assert info.sex == ("male" if int(value[16]) % 2 else "female")
    assert info.region6 == value[:6]


@settings(max_examples=300, deadline=None)
@given(valid_ids.filter(lambda v: v[6:8] == "19"))
def test_the_legacy_15_digit_form_converts_back_to_the_same_person(value: str) -> None:
    from safetynet.matching.ids import normalize_id

    info = normalize_id(value[:6] + value[8:17])
    assert info.quality == "legacy15" and info.normalized == value


@settings(max_examples=300, deadline=None)
@given(valid_ids, st.sampled_from(["{:.5E}", "{:.14E}", "{:.10e}"]))
def test_an_excel_float_is_never_taken_for_a_valid_id(value: str, style: str) -> None:
    from safetynet.matching.ids import normalize_id

    if not value[-1].isdigit():
        return
    info = normalize_id(style.format(float(value)))
    assert info.quality == "scientific" and info.normalized is None


# ------------------------------------------------------------------ properties: names
HAN = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂阿卜杜热合曼买提艾力古丽"
han_names = st.text(alphabet=st.sampled_from(HAN), min_size=2, max_size=6)


@settings(max_examples=300, deadline=None)
@given(han_names, st.lists(st.sampled_from([" ", "\u3000", "\t", "\u00a0"]), max_size=4),
       st.randoms(use_true_random=False))
def test_name_key_ignores_any_whitespace(name: str, spaces: list[str], rnd: Any) -> None:
    from safetynet.matching.names import name_key

    chars = list(name)
    for s in spaces:
        chars.insert(rnd.randint(0, len(chars)), s)
    assert name_key("".join(chars)) == name_key(name)


HANGUL_ARAEA = "\u318d"  # NFKC turns it into U+119E before the look-alike table sees it


@settings(max_examples=300, deadline=None)
@given(han_names, han_names)
def test_every_middle_dot_look_alike_gives_one_key(first: str, last: str) -> None:
    from safetynet.matching.names import DOT, DOT_LOOKALIKES, name_key

    keys = {name_key(f"{first}{dot}{last}") for dot in DOT_LOOKALIKES if dot != HANGUL_ARAEA}
    assert keys == {f"{first}{DOT}{last}"}


def test_hangul_araea_as_middle_dot_gives_the_same_key() -> None:
    from safetynet.matching.names import name_key

    assert name_key(f"买买提{HANGUL_ARAEA}艾力") == name_key("买买提·艾力")


@settings(max_examples=200, deadline=None)
@given(han_names)
def test_traditional_and_simplified_spelling_give_one_key(name: str) -> None:
    import opencc

    from safetynet.matching.names import name_key

    assert name_key(opencc.OpenCC("s2t").convert(name)) == name_key(name)


# ------------------------------------------------------------------ properties: working days
package_days = st.dates(dt.date(2004, 1, 1), dt.date(2026, 12, 31))


@settings(max_examples=400, deadline=None)
@given(package_days)
def test_working_days_agree_with_the_official_calendar(day: dt.date) -> None:
    import chinese_calendar

    from safetynet.workdays import is_working_day

    assert is_working_day(day) == chinese_calendar.is_workday(day)


@settings(max_examples=200, deadline=None)
@given(st.dates(dt.date(2004, 1, 1), dt.date(2025, 12, 31)), st.integers(1, 60),
       st.integers(1, 60))
def test_adding_working_days_is_additive(start: dt.date, a: int, b: int) -> None:
    from safetynet.workdays import add_working_days, working_days_between

    assert add_working_days(add_working_days(start, a), b) == add_working_days(start, a + b)
    mid, end = add_working_days(start, a), add_working_days(start, a + b)
    assert working_days_between(start, end) == working_days_between(start, mid) + \
        working_days_between(mid, end) == a + b
    assert working_days_between(end, start) == -(a + b)


@settings(max_examples=100, deadline=None)
@given(st.dates(dt.date(2004, 1, 1), dt.date(2026, 6, 30)))
def test_a_rule_due_date_is_the_25th_working_day_after_as_of(as_of: dt.date) -> None:
    import chinese_calendar

    from safetynet.workdays import add_working_days

    due = add_working_days(as_of, 25)
    days = [as_of + dt.timedelta(i) for i in range(1, (due - as_of).days + 1)]
    assert sum(chinese_calendar.is_workday(d) for d in days) == 25
    assert chinese_calendar.is_workday(due)
