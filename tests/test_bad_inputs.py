"""Bad-input battery (issue 6): broken department files, databases and configs.

Each case copies one source of the small generated sample, breaks it, and loads it exactly as
a run does (`pipeline.load_sources`: extract + stage, on a real DuckDB file). The expected
outcome is one of

- ``loaded``: the broken rows are quarantined with a reason code and a Chinese reason naming
  file, row and column; every other row is staged as in the clean load;
- ``missing`` / ``rejected``: the source as a whole, with an error naming source and file
  (and row / column where there is one).

For every case ``rows_read == rows_staged + rows_quarantined``. Cases that need the rest of a
run (rules not evaluated, required sources, the run going on) are at the end: one "battered"
quarter with several broken sources at once, and the required-source failures.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.bad_inputs.common import (
    Q2,
    Q3,
    Loaded,
    all_source_names,
    copy_quarter,
    load_one,
    small_sample,
    source_config,
    write_sources,
)

PG_DSN = "postgresql://postgres:Battery-S3cret-pw@127.0.0.1:5432/test"
PG_PASSWORD = "Battery-S3cret-pw"
MY_DEAD = "mysql://root:Battery-S3cret-pw@127.0.0.1:1/test"
# (encoding, line end) of the sample's CSV files, to rewrite them as the department would
CSV_STYLE = {"hrss_pension": ("utf-8-sig", "\r\n"), "civil_affairs_roster": ("utf-8", "\n"),
             "civil_affairs_standards": ("utf-8", "\n"),
             "civil_affairs_cremations": ("gb18030", "\n")}


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_sample(tmp_path_factory.getbasetemp())


_BASELINES: dict[str, Loaded] = {}


def baseline(sample: Path, tmp_root: Path, source: str) -> Loaded:
    """The clean load of one sample source (what every untouched row must still do)."""
    if source not in _BASELINES:
        folder = tmp_root / f"baseline_{source}"
        folder.mkdir()
        _BASELINES[source] = load_one(folder / "w.duckdb", source_config(source), sample / Q3)
        assert _BASELINES[source].status == "loaded", _BASELINES[source].error
    return _BASELINES[source]


@dataclass
class Ctx:
    """What a breaker works on: the copied data folder, the source config (a dict to change),
    the clean load of the source, and helpers to rewrite a CSV as its department writes it."""

    data: Path
    cfg: dict[str, Any]
    base: Loaded
    tmp: Path

    @property
    def file(self) -> Path:
        return self.data / self.cfg["location"]["path"]

    @property
    def clean_lines(self) -> list[int]:
        """Line numbers of rows that stage cleanly in the clean load, ascending."""
        return sorted(r["_row"] for r in self.base.staged)

    def clean(self, i: int) -> int:
        return self.clean_lines[i]

    def table(self) -> tuple[list[str], list[list[str]]]:
        enc, _ = CSV_STYLE[self.cfg["name"]]
        with open(self.file, encoding=enc, newline="") as fh:
            got = list(csv.reader(fh))
        return got[0], got[1:]

    def save(self, header: list[str], body: list[list[str]], *, encoding: str | None = None,
             newline: str | None = None, path: Path | None = None) -> None:
        enc, nl = CSV_STYLE[self.cfg["name"]]
        buf = io.StringIO()
        csv.writer(buf, lineterminator=newline or nl).writerows([header, *body])
        (path or self.file).write_bytes(buf.getvalue().encode(encoding or enc))

    def set(self, line: int, column: str, value: str) -> dict[str, int]:
        """Set one cell of the data row on `line` (header on line 1); returns {"row": line}."""
        header, body = self.table()
        body[line - 2][header.index(column)] = value
        self.save(header, body)
        return {"row": line}


Breaker = Callable[[Ctx], dict[str, Any] | None]


@dataclass(frozen=True)
class Case:
    """One broken input and its expected outcome."""

    id: str
    source: str
    breaker: Breaker
    status: str = "loaded"
    error: tuple[str, ...] = ()
    quarantine: tuple[tuple[str, str | None, str], ...] = ()  # (mark, column, reason_code)
    delta_read: int | None = 0  # rows_read - clean rows_read (None: not checked)
    check: Callable[[Loaded, Ctx, dict[str, Any]], None] | None = None
    db: bool = False


# ------------------------------------------------------------------ breakers: CSV (pension)
def truncate_mid_row(c: Ctx) -> dict[str, Any]:
    """The transfer stopped inside the last row: that row is short, the rest loads."""
    last = c.clean_lines[-1]
    lines = c.file.read_bytes().split(b"\r\n")
    kept = lines[:last - 1] + [lines[last - 1][: len(lines[last - 1]) // 2]]
    c.file.write_bytes(b"\r\n".join(kept))
    dropped = [n for n in range(last + 1, len(lines) + 1) if lines[n - 1]]
    gone_bad = len([n for n in dropped if n not in c.clean_lines])
    return {"row": last, "_delta_read": -len(dropped), "_delta_q": 1 - gone_bad}


def truncate_mid_character(c: Ctx) -> dict[str, Any]:
    """Cut inside a multi-byte character of the last row's name: an encoding error there."""
    header, body = c.table()
    last = c.clean_lines[-1]
    body = body[: last - 1]
    name_col = header.index("姓名")
    body[-1] = body[-1][: name_col + 1]
    c.save(header, body)
    data = c.file.read_bytes().rstrip(b"\r\n")
    c.file.write_bytes(data[:-1])  # last byte of the name's last character
    gone_bad = len([r for r in c.base.quarantined_rows if r > last])
    after = len(c.base.staged) + c.base.rows_quarantined - (last - 1)
    return {"row": last, "_delta_read": -after, "_delta_q": 1 - gone_bad}


def as_gbk(c: Ctx) -> None:
    header, body = c.table()
    c.save(header, body, encoding="gb18030")


def gbk_configured_utf8(c: Ctx) -> None:
    as_gbk(c)
    c.cfg["encoding"] = "utf-8"


def mixed_encoding(c: Ctx) -> dict[str, Any]:
    """Three rows pasted in from a GBK file into a UTF-8 one."""
    lines = c.file.read_bytes().split(b"\r\n")
    marks = {}
    for i, line_no in enumerate(c.clean_lines[3:6]):
        lines[line_no - 1] = lines[line_no - 1].decode("utf-8").encode("gb18030")
        marks[f"r{i}"] = line_no
    c.file.write_bytes(b"\r\n".join(lines))
    return marks


def as_utf16(c: Ctx) -> None:
    header, body = c.table()
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([header, *body])
    c.file.write_bytes(codecs.BOM_UTF16_LE + buf.getvalue().encode("utf-16-le"))


def empty_file(c: Ctx) -> None:
    c.file.write_bytes(b"")


def bom_only(c: Ctx) -> None:
    c.file.write_bytes(codecs.BOM_UTF8)


def header_only(c: Ctx) -> dict[str, Any]:
    header, _ = c.table()
    c.save(header, [])
    return {"_delta_read": -c.base.rows_read, "_delta_q": -c.base.rows_quarantined}


def title_lines(c: Ctx) -> None:
    data = c.file.read_bytes().removeprefix(codecs.BOM_UTF8)
    c.file.write_bytes(codecs.BOM_UTF8 + "基本养老保险参保信息（2026年第3季度）\r\n导出单位：人社局,,,\r\n"
                       .encode() + data)


def title_lines_configured(c: Ctx) -> dict[str, Any]:
    title_lines(c)
    c.cfg["header_row"] = 3
    return {"_shift": 2}


def rename_column(c: Ctx) -> None:
    header, body = c.table()
    header[header.index("姓名")] = "名字"
    c.save(header, body)


def drop_column(name: str) -> Breaker:
    def breaker(c: Ctx) -> None:
        header, body = c.table()
        i = header.index(name)
        c.save(header[:i] + header[i + 1:], [r[:i] + r[i + 1:] for r in body])
    return breaker


def duplicate_column(c: Ctx) -> None:
    """A second 姓名 column (e.g. 经办人姓名 pasted under the same header): the first one counts."""
    header, body = c.table()
    c.save(header + ["姓名"], [r + ["经办人"] for r in body])


def extra_columns(c: Ctx) -> None:
    header, body = c.table()
    c.save(header + ["备注", "经办机构"], [r + ["", "长沙市社保中心"] for r in body])


def reorder_columns(c: Ctx) -> None:
    header, body = c.table()
    c.save(header[::-1], [r[::-1] for r in body])


def loose_headers(c: Ctx) -> None:
    header, body = c.table()
    c.save([f"\u3000{h} " for h in header], body)


def duplicate_keys(c: Ctx) -> dict[str, Any]:
    header, body = c.table()
    a, b = c.clean(0), c.clean(1)
    n = len(body)
    c.save(header, body + [body[a - 2], body[b - 2]])
    return {"dup_a": n + 2, "dup_b": n + 3, "_delta_read": 2}


def set_cell(column: str, value: str, which: int = 0) -> Breaker:
    def breaker(c: Ctx) -> dict[str, Any]:
        return c.set(c.clean(which), column, value)
    return breaker


def identity_blank(c: Ctx) -> dict[str, Any]:
    c.set(c.clean(0), "身份证号码", "")
    return c.set(c.clean(0), "姓名", " \u3000")


def extra_delimiter(c: Ctx) -> dict[str, Any]:
    line = c.clean(2)
    lines = c.file.read_bytes().split(b"\r\n")
    lines[line - 1] += ",多出的一列".encode()
    c.file.write_bytes(b"\r\n".join(lines))
    return {"row": line}


def unclosed_quote(c: Ctx) -> dict[str, Any]:
    """An opening quote never closed, on the last row: the parser reads to the end of file."""
    last = c.clean_lines[-1]
    header, body = c.table()
    c.save(header, body[: last - 1])
    text = c.file.read_bytes()
    cut = text.rstrip(b"\r\n").rfind(b"\r\n") + 2
    line = text[cut:].decode("utf-8")
    first, rest = line.split(",", 1)
    c.file.write_bytes(text[:cut] + f'{first},"{rest}'.encode())
    gone_bad = len([r for r in c.base.quarantined_rows if r > last])
    after = len(c.base.staged) + c.base.rows_quarantined - (last - 1)
    return {"row": last, "_delta_read": -after, "_delta_q": 1 - gone_bad}


def blank_lines(c: Ctx) -> None:
    text = c.file.read_bytes()
    c.file.write_bytes(text.replace(b"\r\n", b"\r\n\r\n,,,,,,,,,\r\n", 3))


def nul_bytes(c: Ctx) -> dict[str, Any]:
    """NUL and other control bytes (a C program's export): the amount is not a number."""
    line = c.clean(4)
    return c.set(line, "缴费基数", "3000\x00\x01")


def binary_garbage(c: Ctx) -> None:
    c.file.write_bytes(bytes(range(256)) * 40)


def mac_line_ends(c: Ctx) -> None:
    c.file.write_bytes(c.file.read_bytes().replace(b"\r\n", b"\r"))


def wrong_delimiter(c: Ctx) -> None:
    header, body = c.table()
    buf = io.StringIO()
    csv.writer(buf, delimiter=";", lineterminator="\r\n").writerows([header, *body])
    c.file.write_bytes(buf.getvalue().encode("utf-8-sig"))


def glob_other_header(c: Ctx) -> None:
    header, body = c.table()
    c.cfg["location"]["path"] = "hrss/pension*.csv"
    c.save([*header[:-1], "参保时间"], body[:3], path=c.data / "hrss" / "pension_2.csv")


def office_lock_file(c: Ctx) -> None:
    c.cfg["location"]["path"] = "hrss/*.csv"
    (c.data / "hrss" / "unemployment.csv").unlink()
    (c.data / "hrss" / "~$pension.csv").write_bytes(b"\x00lock")


def missing_file(c: Ctx) -> None:
    c.file.unlink()


def path_escape(c: Ctx) -> None:
    c.cfg["location"]["path"] = "../../../../../../etc/passwd"


def absolute_path(c: Ctx) -> None:
    c.cfg["location"]["path"] = "/etc/passwd"


def symlink_escape(c: Ctx) -> None:
    outside = c.tmp / "outside.csv"
    shutil.copy(c.file, outside)
    c.file.unlink()
    c.file.symlink_to(outside)


def folder_not_file(c: Ctx) -> None:
    c.file.unlink()
    c.file.mkdir()


def ten_mb_field(c: Ctx) -> dict[str, Any]:
    return c.set(c.clean(5), "姓名", "张" * 10_000_000)


# ------------------------------------------------------------------ breakers: other sources
def roster_bom(c: Ctx) -> None:
    c.file.write_bytes(codecs.BOM_UTF8 + c.file.read_bytes())


def drop_county(c: Ctx) -> dict[str, Any]:
    header, body = c.table()
    kept = [r for r in body if r[header.index("区划代码")] != "430102"]
    c.save(header, kept)
    return {"_delta_read": len(kept) - len(body)}


XLSX_DEATHS_HEADER = ["登记编号", "姓名", "性别", "身份证件号码", "出生日期", "户籍地址区划", "死亡日期",
                      "死亡原因", "死亡地点"]


def deaths_rows(c: Ctx) -> list[list[Any]]:
    from python_calamine import CalamineWorkbook

    sheet = CalamineWorkbook.from_path(str(c.file)).get_sheet_by_name("死亡登记").to_python()
    assert sheet[2] == XLSX_DEATHS_HEADER
    return [list(r) for r in sheet[3:] if any(v not in ("", None) for v in r)]


def write_deaths(c: Ctx, body: list[list[Any]], *, sheets_before: tuple[str, ...] = (),
                 merges: tuple[str, ...] = (), number_ids: bool = False) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    first = wb.active
    for i, title in enumerate(sheets_before):
        ws = first if i == 0 else wb.create_sheet()
        ws.title = title
        ws.append(["本工作簿的填报说明"])
    ws = wb.create_sheet("死亡登记") if sheets_before else first
    ws.title = "死亡登记"
    ws.append(["居民死亡登记信息"])
    ws.merge_cells("A1:I1")
    ws.append(["填报单位：市卫生健康委员会"])
    ws.append(XLSX_DEATHS_HEADER)
    for r in body:
        r = list(r)
        if number_ids and str(r[3]).isdigit():
            r[3] = int(r[3])
        ws.append(r)
    for rng in merges:
        ws.merge_cells(rng)
    wb.save(c.file)


def xlsx_merged_cells(c: Ctx) -> dict[str, Any]:
    """Rows 4 and 5 share one merged 户籍地址区划 cell (as officers lay out families)."""
    body = deaths_rows(c)
    body[1][5] = ""
    write_deaths(c, body, merges=("F4:F5",))
    return {"_delta_q": None}


def xlsx_several_sheets(c: Ctx) -> dict[str, Any]:
    write_deaths(c, deaths_rows(c), sheets_before=("填报说明", "汇总"))
    return {"_delta_q": None}


def xlsx_first_sheet_is_not_data(c: Ctx) -> None:
    write_deaths(c, deaths_rows(c), sheets_before=("填报说明",))
    c.cfg["sheet"] = None


def xlsx_sheet_renamed(c: Ctx) -> None:
    c.cfg["sheet"] = "死亡登记表"


def xlsx_number_ids(c: Ctx) -> dict[str, Any]:
    write_deaths(c, deaths_rows(c), number_ids=True)
    return {"_delta_q": None}


def xlsx_truncated(c: Ctx) -> None:
    data = c.file.read_bytes()
    c.file.write_bytes(data[: len(data) // 2])


def xlsx_is_csv(c: Ctx) -> None:
    c.file.write_text("登记编号,姓名\nSW1,张三\n", encoding="utf-8")


def xlsx_header_row_wrong(c: Ctx) -> None:
    c.cfg["header_row"] = 1


def xlsx_impossible_date(c: Ctx) -> dict[str, Any]:
    body = deaths_rows(c)
    body[0][6] = "2026年2月30日"
    write_deaths(c, body)
    return {"row": 4, "_delta_q": None}


def parquet_truncated(c: Ctx) -> None:
    data = c.file.read_bytes()
    c.file.write_bytes(data[: len(data) // 3])


def parquet_text_amount(c: Ctx) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(c.file)
    amounts = [str(v) for v in t.column("psn_part_amt").to_pylist()]
    amounts[6] = "约一千"
    t = t.set_column(t.schema.get_field_index("psn_part_amt"), "psn_part_amt",
                     pa.array(amounts, pa.string()))
    pq.write_table(t, c.file)
    return {"row": 7, "_delta_q": None}


def jsonl_broken(c: Ctx) -> dict[str, Any]:
    with open(c.file, "ab") as fh:
        fh.write(b'{"record_id": "SC9999999999", "name": "\xe5\xbc\xa0\n[1, 2]\n')
    n = c.base.rows_read
    return {"broken": n + 1, "array": n + 2, "_delta_read": 2}


def db(kind: str, query: str, **location: Any) -> Breaker:
    def breaker(c: Ctx) -> None:
        c.cfg["location"] = {"database": {"kind": kind, "query": query, **location}}
        c.cfg["format"] = "database"
    return breaker


def secrets_file(mode: int) -> Breaker:
    def breaker(c: Ctx) -> None:
        path = c.tmp / "pg.dsn"
        path.write_text(PG_DSN, encoding="utf-8")
        os.chmod(path, mode)
        db("postgresql", "select 1 as n", secrets_file=str(path))(c)
    return breaker


# ------------------------------------------------------------------ checks beyond the table
def staged_like_baseline(loaded: Loaded, c: Ctx, marks: dict[str, Any]) -> None:
    """Same records staged with the same canonical values as the clean load."""
    def content(rs: list[dict[str, Any]]) -> list[str]:
        return sorted(repr([(k, v) for k, v in r.items() if k not in ("_row", "_file")])
                      for r in rs)
    assert content(loaded.staged) == content(c.base.staged)
    shift = marks.get("_shift", 0)
    assert {r["_row"] for r in loaded.staged} == {r["_row"] + shift for r in c.base.staged}


def first_name_column_used(loaded: Loaded, c: Ctx, marks: dict[str, Any]) -> None:
    staged_like_baseline(loaded, c, marks)
    assert "经办人" not in {r["name"] for r in loaded.staged}


def value_cut_and_masked(loaded: Loaded, c: Ctx, marks: dict[str, Any]) -> None:
    (q,) = [q for q in loaded.quarantine if q["row_number"] == marks["row"]]
    assert len(q["value"]) <= 1001 and len(q["reason"]) < 400
    assert "张张张张张" not in q["reason"]  # names are masked in reasons: 张*****


def report_is_writable(loaded: Loaded, c: Ctx, marks: dict[str, Any]) -> None:
    """The quarantine report with the control bytes opens; they show as \\x00 text."""
    from python_calamine import CalamineWorkbook

    from safetynet.data_contracts.report import write_quarantine_reports
    from safetynet.warehouse import connect

    con = connect(c.tmp / "w.duckdb")
    try:
        (path,) = write_quarantine_reports(con, date.fromisoformat(Q3), c.tmp / "reports")
    finally:
        con.close()
    cells = [str(v) for r in CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
             .to_python() for v in r]
    assert any("3000\\x00\\x01" in v for v in cells)


def merged_value_repeated(loaded: Loaded, c: Ctx, marks: dict[str, Any]) -> None:
    by_row = {r["_row"]: r for r in loaded.staged}
    assert by_row[5]["region_code"] == by_row[4]["region_code"] is not None
    assert loaded.rows_read == len(deaths_rows(c))


def all_rows_read(loaded: Loaded, c: Ctx, marks: dict[str, Any]) -> None:
    assert loaded.rows_read == len(deaths_rows(c)) == c.base.rows_read


def ids_kept_as_digits(loaded: Loaded, c: Ctx, marks: dict[str, Any]) -> None:
    all_rows_read(loaded, c, marks)
    numeric = [r["id_number"] for r in loaded.staged if r["id_number"]]
    assert numeric and all(v.isdigit() or v.endswith("X") for v in numeric)
    assert not any("E+" in v or v.endswith(".0") for v in numeric)
    # a number cell keeps its visible precision loss (the linker classifies it)
    assert any(v.endswith("00") for v in numeric)


def no_password(loaded: Loaded, c: Ctx, marks: dict[str, Any]) -> None:
    assert PG_PASSWORD not in loaded.error and "S3cret" not in loaded.error


CASES: list[Case] = [
    # --- truncated, encodings, BOM, empty
    Case("csv_truncated_mid_row", "hrss_pension", truncate_mid_row,
         quarantine=(("row", None, "malformed_row"),), delta_read=None),
    Case("csv_truncated_mid_character", "hrss_pension", truncate_mid_character,
         quarantine=(("row", None, "encoding_error"),), delta_read=None),
    Case("gbk_file_detected", "hrss_pension", as_gbk, check=staged_like_baseline),
    Case("gbk_file_configured_as_utf8", "hrss_pension", gbk_configured_utf8, "rejected",
         ("hrss/pension.csv", "row=1", "encoding")),
    Case("mixed_encoding_rows", "hrss_pension", mixed_encoding,
         quarantine=(("r0", "姓名", "encoding_error"), ("r1", "姓名", "encoding_error"),
                     ("r2", "姓名", "encoding_error"))),
    Case("utf16_with_bom", "hrss_pension", as_utf16, check=staged_like_baseline),
    Case("roster_utf8_bom_on_key_column", "civil_affairs_roster", roster_bom,
         check=staged_like_baseline),
    Case("empty_file", "hrss_pension", empty_file, "missing", ("hrss/pension.csv", "文件为空")),
    Case("bom_only_file", "hrss_pension", bom_only, "missing", ("hrss/pension.csv", "文件为空")),
    Case("binary_garbage", "hrss_pension", binary_garbage, "rejected",
         ("hrss/pension.csv", "没有找到任何已配置的列")),
    # --- header and columns
    Case("header_only", "hrss_pension", header_only, delta_read=None),
    Case("header_below_title_lines", "hrss_pension", title_lines, "rejected",
         ("hrss/pension.csv", "缺少列", "参保记录号", "表头是否在第 1 行（header_row）")),
    Case("header_row_configured_below_titles", "hrss_pension", title_lines_configured,
         delta_read=0, check=staged_like_baseline),
    Case("column_renamed", "hrss_pension", rename_column, "rejected",
         ("hrss/pension.csv", "缺少列", "「姓名」", "column=姓名")),
    Case("column_missing", "hrss_pension", drop_column("缴费状态"), "rejected",
         ("缺少列", "「缴费状态」", "column=缴费状态")),
    Case("record_key_column_missing", "hrss_pension", drop_column("参保记录号"), "rejected",
         ("缺少列", "「参保记录号」")),
    Case("column_duplicated", "hrss_pension", duplicate_column, check=first_name_column_used),
    Case("extra_columns", "hrss_pension", extra_columns, check=staged_like_baseline),
    Case("columns_reordered", "hrss_pension", reorder_columns, check=staged_like_baseline),
    Case("headers_padded_with_spaces", "hrss_pension", loose_headers,
         check=staged_like_baseline),
    Case("wrong_delimiter", "hrss_pension", wrong_delimiter, "rejected",
         ("缺少列", "分隔符")),
    Case("glob_file_with_other_header", "hrss_pension", glob_other_header, "rejected",
         ("hrss/pension_2.csv", "表头与 hrss/pension.csv 不一致", "参保时间")),
    Case("office_lock_file_ignored", "hrss_pension", office_lock_file,
         check=staged_like_baseline),
    # --- rows and values
    Case("duplicate_record_keys", "hrss_pension", duplicate_keys,
         quarantine=(("dup_a", "参保记录号", "duplicate_record_key"),
                     ("dup_b", "参保记录号", "duplicate_record_key")), delta_read=None),
    Case("impossible_date_feb_30", "hrss_pension", set_cell("参保日期", "20250230"),
         quarantine=(("row", "参保日期", "unparseable_date"),)),
    Case("impossible_dotted_date_feb_30_gbk", "civil_affairs_cremations",
         set_cell("死亡日期", "2025.02.30"),
         quarantine=(("row", "死亡日期", "unparseable_date"),)),
    Case("future_date", "hrss_pension", set_cell("参保日期", "20300101"),
         quarantine=(("row", "参保日期", "future_date"),)),
    Case("date_before_1900", "hrss_pension", set_cell("参保日期", "18991231"),
         quarantine=(("row", "参保日期", "date_out_of_range"),)),
    Case("negative_amount", "hrss_pension", set_cell("缴费基数", "-3000"),
         quarantine=(("row", "缴费基数", "out_of_range"),)),
    Case("absurd_amount", "hrss_pension", set_cell("缴费基数", "88,000,000,000元"),
         quarantine=(("row", "缴费基数", "out_of_range"),)),
    Case("text_in_numeric_field", "hrss_pension", set_cell("缴费基数", "三千元"),
         quarantine=(("row", "缴费基数", "not_a_number"),)),
    Case("infinite_number", "hrss_pension", set_cell("缴费基数", "1e999"),
         quarantine=(("row", "缴费基数", "not_a_number"),)),
    Case("field_of_10_mb", "hrss_pension", ten_mb_field,
         quarantine=(("row", "姓名", "field_too_long"),), check=value_cut_and_masked),
    Case("formula_injection_hyperlink", "hrss_pension",
         set_cell("姓名", '=HYPERLINK("http://evil.example/x","点击查看")'),
         quarantine=(("row", "姓名", "formula_like"),)),
    Case("formula_injection_dde", "hrss_pension", set_cell("姓名", "+cmd|' /C calc'!A0", 1),
         quarantine=(("row", "姓名", "formula_like"),)),
    Case("formula_injection_at", "hrss_pension", set_cell("姓名", "@SUM(1+1)*cmd|' /C calc'!A0"),
         quarantine=(("row", "姓名", "formula_like"),)),
    Case("id_as_scientific_text", "hrss_pension", set_cell("身份证号码", "4.30281E+17")),
    Case("unknown_code", "hrss_pension", set_cell("险种类型", "999"),
         quarantine=(("row", "险种类型", "unknown_code"),)),
    Case("missing_required_value", "hrss_pension", set_cell("缴费状态", ""),
         quarantine=(("row", "缴费状态", "missing_required"),)),
    Case("missing_identity", "hrss_pension", identity_blank,
         quarantine=(("row", "身份证号码、姓名", "missing_identity"),)),
    Case("missing_record_key_value", "hrss_pension", set_cell("参保记录号", " "),
         quarantine=(("row", "参保记录号", "missing_required"),)),
    Case("row_with_extra_delimiter", "hrss_pension", extra_delimiter,
         quarantine=(("row", None, "malformed_row"),)),
    Case("unclosed_quote_on_last_row", "hrss_pension", unclosed_quote,
         quarantine=(("row", None, "malformed_row"),), delta_read=None),
    Case("blank_and_delimiter_only_lines", "hrss_pension", blank_lines,
         check=lambda loaded, c, m: None, delta_read=0),
    Case("nul_bytes_in_amount", "hrss_pension", nul_bytes,
         quarantine=(("row", "缴费基数", "not_a_number"),), check=report_is_writable),
    Case("classic_mac_line_ends", "hrss_pension", mac_line_ends, check=staged_like_baseline),
    # --- roster and standards
    Case("roster_household_of_zero_members", "civil_affairs_roster",
         set_cell("家庭人口数", "0"), quarantine=(("row", "家庭人口数", "out_of_range"),)),
    Case("roster_absurd_household_size", "civil_affairs_roster",
         set_cell("家庭人口数", "300"), quarantine=(("row", "家庭人口数", "out_of_range"),)),
    Case("roster_region_code_too_short", "civil_affairs_roster",
         set_cell("居住地行政区划代码", "430102"),
         quarantine=(("row", "居住地行政区划代码", "bad_pattern"),)),
    Case("roster_unknown_category", "civil_affairs_roster", set_cell("救助类别", "五保"),
         quarantine=(("row", "救助类别", "unknown_code"),)),
    Case("standards_missing_a_county", "civil_affairs_standards", drop_county, delta_read=None),
    Case("standards_zero_amount", "civil_affairs_standards", set_cell("月保障标准", "0"),
         quarantine=(("row", "月保障标准", "out_of_range"),)),
    # --- files, paths, folders
    Case("file_missing", "hrss_pension", missing_file, "missing",
         ("hrss/pension.csv", "找不到文件")),
    Case("path_outside_data_folder", "hrss_pension", path_escape, "rejected",
         ("etc/passwd", "路径超出数据目录")),
    Case("absolute_path_outside_data_folder", "hrss_pension", absolute_path, "rejected",
         ("/etc/passwd", "路径超出数据目录")),
    Case("symlink_out_of_data_folder", "hrss_pension", symlink_escape, "rejected",
         ("hrss/pension.csv", "超出数据目录")),
    Case("folder_instead_of_file", "hrss_pension", folder_not_file, "missing",
         ("hrss/pension.csv", "不是文件")),
    # --- Excel
    Case("xlsx_merged_cells", "health_deaths", xlsx_merged_cells, delta_read=None,
         check=merged_value_repeated),
    Case("xlsx_several_sheets", "health_deaths", xlsx_several_sheets, delta_read=None,
         check=all_rows_read),
    Case("xlsx_data_not_on_first_sheet", "health_deaths", xlsx_first_sheet_is_not_data,
         "rejected", ("health/death_registrations.xlsx", "没有第 3 行")),
    Case("xlsx_sheet_renamed", "health_deaths", xlsx_sheet_renamed, "rejected",
         ("health/death_registrations.xlsx", "找不到工作表「死亡登记表」", "死亡登记")),
    Case("xlsx_number_formatted_ids", "health_deaths", xlsx_number_ids, delta_read=None,
         check=ids_kept_as_digits),
    Case("xlsx_truncated", "health_deaths", xlsx_truncated, "rejected",
         ("health/death_registrations.xlsx", "无法读取 Excel 文件")),
    Case("xlsx_that_is_a_csv", "health_deaths", xlsx_is_csv, "rejected",
         ("health/death_registrations.xlsx", "无法读取 Excel 文件")),
    Case("xlsx_header_row_not_configured", "health_deaths", xlsx_header_row_wrong, "rejected",
         ("缺少列", "登记编号", "工作表")),
    Case("xlsx_impossible_chinese_date", "health_deaths", xlsx_impossible_date,
         quarantine=(("row", "死亡日期", "unparseable_date"),), delta_read=None),
    # --- Parquet, JSON lines
    Case("parquet_truncated", "medical_security_settlements", parquet_truncated, "rejected",
         ("medical_security/settlements.parquet", "无法读取 Parquet 文件")),
    Case("parquet_text_in_amount", "medical_security_settlements", parquet_text_amount,
         quarantine=(("row", "psn_part_amt", "not_a_number"),)),
    Case("jsonl_broken_and_non_object_lines", "market_regulation_business", jsonl_broken,
         quarantine=(("broken", None, "malformed_row"), ("array", None, "malformed_row")),
         delta_read=None),
    # --- databases and credentials
    Case("db_unreachable", "hrss_pension",
         db("postgresql", "select 1", dsn="postgresql://postgres:Battery-S3cret-pw@127.0.0.1:1/test"),
         "missing", ("db:hrss_pension", "数据库无法连接"), check=no_password, delta_read=None),
    Case("db_failing_query", "hrss_pension",
         db("postgresql", "select * from no_such_table_sn_battery", dsn_env="SN_BATTERY_PG_DSN"),
         "missing", ("db:hrss_pension", "查询失败", "no_such_table_sn_battery"),
         check=no_password, db=True, delta_read=None),
    Case("db_mysql_unreachable", "hrss_pension", db("mysql", "select 1", dsn=MY_DEAD),
         "missing", ("db:hrss_pension", "数据库无法连接"), check=no_password, delta_read=None),
    Case("db_dsn_env_not_set", "hrss_pension",
         db("postgresql", "select 1", dsn_env="SN_BATTERY_UNSET_DSN"), "rejected",
         ("SN_BATTERY_UNSET_DSN", "未设置数据库连接变量")),
    Case("db_secrets_file_readable_by_others", "hrss_pension", secrets_file(0o644), "rejected",
         ("chmod 600", "密钥文件权限过宽"), check=no_password),
]


def _run_case(case: Case, sample: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch,
              ) -> tuple[Loaded, Ctx, dict[str, Any]]:
    monkeypatch.setenv("SN_BATTERY_PG_DSN", PG_DSN)
    monkeypatch.delenv("SN_BATTERY_UNSET_DSN", raising=False)
    base = baseline(sample, tmp.parent, case.source)
    data = copy_quarter(sample, Q3, tmp / "data")
    ctx = Ctx(data, source_config(case.source), base, tmp)
    marks = case.breaker(ctx) or {}
    loaded = load_one(tmp / "w.duckdb", ctx.cfg, data)
    return loaded, ctx, marks


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, sample: Path, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    if case.db:
        pytest.importorskip("psycopg")
    loaded, ctx, marks = _run_case(case, sample, tmp_path, monkeypatch)
    assert loaded.status == case.status, loaded.error
    assert loaded.rows_read == loaded.rows_staged + loaded.rows_quarantined
    if case.status != "loaded":
        for needle in (case.source, *case.error):
            assert needle in loaded.error, (needle, loaded.error)
        assert loaded.staged == [] and loaded.rows_staged == 0
    else:
        assert loaded.error == ""
        assert loaded.rows_staged == len(loaded.staged)
        assert loaded.rows_quarantined == len({(q["file"], q["row_number"])
                                               for q in loaded.quarantine})
        got = {(q["row_number"], q["column_name"], q["reason_code"]) for q in loaded.quarantine}
        want = {(marks[m], col, code) for m, col, code in case.quarantine}
        assert want <= got, sorted(got)
        rel = ctx.cfg["location"]["path"]
        for q in loaded.quarantine:
            if q["row_number"] in {r for r, _, _ in want}:
                assert q["file"] == rel and rel in q["reason"], q
                assert f"第 {q['row_number']} 行" in q["reason"] or \
                    f"第 {q['row_number']}–" in q["reason"], q["reason"]
                assert q["column_name"] is None or f"「{q['column_name']}」" in q["reason"], q
                assert q["department"] == ctx.cfg["department"]
        delta_read = marks.get("_delta_read", case.delta_read)
        if delta_read is not None:
            assert loaded.rows_read == ctx.base.rows_read + delta_read
        new_bad = len({r for r, _, _ in want})  # broken rows are picked among clean ones
        delta_q = marks.get("_delta_q", new_bad if case.delta_read is not None else None)
        if delta_q is not None:
            assert loaded.rows_quarantined == ctx.base.rows_quarantined + delta_q
    if case.check is not None:
        case.check(loaded, ctx, marks)


def test_the_battery_counts_at_least_40_cases_of_every_outcome() -> None:
    outcomes = {s: sum(c.status == s for c in CASES) for s in ("loaded", "missing", "rejected")}
    assert len(CASES) >= 40 and all(outcomes.values()), outcomes
    assert len({c.id for c in CASES}) == len(CASES)


def test_formula_value_in_the_quarantine_report_stays_text(sample: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           ) -> None:
    """The report sent back to the department quotes the value, never as a live formula."""
    from openpyxl import load_workbook

    from safetynet.data_contracts.report import write_quarantine_reports
    from safetynet.warehouse import connect

    case = next(c for c in CASES if c.id == "formula_injection_hyperlink")
    loaded, _, marks = _run_case(case, sample, tmp_path, monkeypatch)
    con = connect(tmp_path / "w.duckdb")
    try:
        (path,) = write_quarantine_reports(con, date.fromisoformat(Q3), tmp_path / "reports")
    finally:
        con.close()
    ws = load_workbook(path).active
    cells = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    hits = [c for c in cells if "HYPERLINK" in c.value]
    assert hits and all(c.data_type == "s" and not c.value.startswith("=") for c in hits)
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_schema_change_between_quarters_rejects_the_new_quarter_only(
        sample: Path, tmp_path: Path) -> None:
    """Q2 loads; in Q3 the department renamed a column: Q3 is rejected, Q2's rows stay."""
    warehouse = tmp_path / "w.duckdb"
    cfg = source_config("hrss_pension")
    q2 = load_one(warehouse, cfg, copy_quarter(sample, Q2, tmp_path / "q2"), Q2)
    assert q2.status == "loaded" and q2.rows_staged > 100
    data = copy_quarter(sample, Q3, tmp_path / "q3")
    ctx = Ctx(data, cfg, q2, tmp_path)
    header, body = ctx.table()
    header[header.index("缴费基数")] = "缴费工资"  # the new export's wording
    ctx.save(header, body)
    q3 = load_one(warehouse, cfg, data, Q3)
    assert q3.status == "rejected"
    assert "「缴费基数」" in q3.error and "hrss/pension.csv" in q3.error
    assert q3.rows_read == q3.rows_staged + q3.rows_quarantined and q3.rows_staged == 0
    from safetynet.warehouse import connect

    con = connect(warehouse)
    try:
        counts = dict(con.execute("select as_of::varchar, count(*) from staged.pension "
                                  "group by all").fetchall())
    finally:
        con.close()
    assert counts == {Q2: q2.rows_staged}


# ------------------------------------------------------------------ a whole battered quarter
BATTERED = {  # source -> (expected status, the rules that read its table)
    "health_deaths": ("missing", {"DEATH_REVIEW"}),
    "hrss_pension": ("rejected", {"PENSION_CONTRIBUTING"}),
    "public_security_vehicles": ("missing", {"VEHICLE_OWNED"}),
    "hrss_unemployment": ("missing", {"UNEMPLOYED_WORKING_AGE"}),
    "natural_resources_properties": ("rejected",
                                     {"PROPERTY_RECENT_PURCHASE", "PROPERTY_MULTIPLE"}),
}


@pytest.fixture(scope="module")
def battered(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One quarter where five sources fail in five ways and three carry bad rows; the run
    must finish, evaluate what it can and say which rules it could not evaluate."""
    from safetynet.pipeline import run_quarter
    from safetynet.settings import RunSettings

    root = tmp_path_factory.mktemp("battered")
    data = copy_quarter(sample, Q3, root / "data")
    configs = {n: source_config(n) for n in all_source_names()}
    (data / "health" / "death_registrations.xlsx").unlink()
    ctx = Ctx(data, configs["hrss_pension"], Loaded("loaded", "", 0, 0, 0, [], []), root)
    rename_column(ctx)
    configs["public_security_vehicles"]["location"] = {"database": {
        "kind": "postgresql", "query": "select 1",
        "dsn": "postgresql://postgres:Battery-S3cret-pw@127.0.0.1:1/test"}}
    configs["public_security_vehicles"]["format"] = "database"
    configs["hrss_unemployment"]["location"] = {"database": {
        "kind": "mysql", "query": "select * from no_such_table_sn_battery",
        "dsn": "mysql://root:@127.0.0.1:3306/test"}}
    configs["hrss_unemployment"]["format"] = "database"
    configs["natural_resources_properties"]["location"]["path"] = "../../../etc/hosts"
    standards = Ctx(data, configs["civil_affairs_standards"], ctx.base, root)
    drop_county(standards)
    roster = Ctx(data, configs["civil_affairs_roster"], ctx.base, root)
    header, body = roster.table()
    body[0][header.index("家庭人口数")] = "0"
    body[1][header.index("姓名")] = '=HYPERLINK("http://evil.example","x")'
    roster.save(header, body)
    with open(data / "market_regulation" / "business_persons.jsonl", "ab") as fh:
        fh.write(b"{not json\n")
    sources = write_sources(root / "sources", configs.values())
    settings = RunSettings(as_of=Q3, sources_dir=sources, data_dir=data,
                           warehouse=root / "w.duckdb", out_dir=root / "out")
    summary = run_quarter(settings)
    return {"summary": summary, "settings": settings, "root": root}


@pytest.mark.db
@pytest.mark.parametrize("source", sorted(BATTERED))
def test_battered_quarter_failed_source_makes_its_rules_not_evaluated(
        battered: dict[str, Any], source: str) -> None:
    status, rules = BATTERED[source]
    summary = battered["summary"]
    (load,) = [s for s in summary["sources"] if s["source"] == source]
    assert load["status"] == status and source in load["error"], load
    assert load["balanced"] and load["rows_staged"] == 0
    assert "S3cret" not in json.dumps(summary, ensure_ascii=False)
    rule_status = {r["rule_id"]: r for r in summary["rules"]}
    fired = {w["rule_id"] for w in summary.get("warnings", [])}
    for rule in rules:
        assert rule_status[rule]["status"] == "not_evaluated", rule_status[rule]
        assert "未评估" in rule_status[rule]["reason"]
        assert rule not in fired
    manifest = json.loads((battered["settings"].run_out_dir / "referrals" / "manifest.json")
                          .read_text(encoding="utf-8"))
    assert rules <= {r["rule_id"] for r in manifest["not_evaluated"]}
    listing = (battered["settings"].run_out_dir / "referrals" / f"清单_{Q3}.csv").read_text(
        encoding="utf-8-sig")
    for rule in rules:
        assert f"{rule}" in listing and "不代表无预警" in listing


@pytest.mark.db
def test_battered_quarter_goes_on_with_everything_else(battered: dict[str, Any]) -> None:
    summary = battered["summary"]
    loaded = {s["source"] for s in summary["sources"] if s["status"] == "loaded"}
    assert loaded == set(all_source_names()) - set(BATTERED)
    assert all(s["balanced"] for s in summary["sources"])
    rule_status = {r["rule_id"]: r["status"] for r in summary["rules"]}
    for rule in ("MAJOR_ILLNESS", "HIGH_MEDICAL_EXPENSE", "DUPLICATE_ENROLMENT",
                 "GRADUAL_EXIT_DUE", "BUSINESS_REGISTERED", "SEVERE_DISABILITY_UNCOVERED"):
        assert rule_status[rule] == "evaluated", rule
    assert summary["warnings"] and summary["referral_files"]
    quarantine = {(q["source"], q["reason_code"]) for q in summary["quarantine"]}
    assert {("civil_affairs_roster", "out_of_range"), ("civil_affairs_roster", "formula_like"),
            ("market_regulation_business", "malformed_row")} <= quarantine
    from safetynet.warehouse import connect

    con = connect(battered["settings"].warehouse, read_only=True)
    try:
        (status,) = con.execute("select status from meta.runs").fetchone()
        notes = dict(con.execute("select rule_id, reason from warnings.rule_status "
                                 "where status = 'evaluated'").fetchall())
    finally:
        con.close()
    assert status == "finished"
    # the standards table lacks county 430102: rules using the local standard say so
    assert "430102" in notes["HIGH_MEDICAL_EXPENSE"] and "缺少低保标准" in notes[
        "HIGH_MEDICAL_EXPENSE"]


@pytest.mark.parametrize("broken", ["civil_affairs_roster", "civil_affairs_standards"])
def test_missing_required_source_fails_the_run_clearly(sample: Path, tmp_path: Path,
                                                       broken: str) -> None:
    from safetynet.errors import SafetynetError
    from safetynet.pipeline import RequiredSourceMissing, run_quarter
    from safetynet.settings import RunSettings
    from safetynet.warehouse import connect

    data = copy_quarter(sample, Q3, tmp_path / "data")
    cfg = source_config(broken)
    assert cfg["required"] is True
    (data / cfg["location"]["path"]).unlink()
    sources = write_sources(tmp_path / "sources",
                            [source_config(n) for n in ("civil_affairs_roster",
                                                        "civil_affairs_standards",
                                                        "hrss_pension")])
    settings = RunSettings(as_of=Q3, sources_dir=sources, data_dir=data,
                           warehouse=tmp_path / "w.duckdb", out_dir=tmp_path / "out")
    with pytest.raises(RequiredSourceMissing) as err:
        run_quarter(settings)
    assert isinstance(err.value, SafetynetError)
    assert broken in str(err.value) and cfg["location"]["path"] in str(err.value)
    assert "必需数据源" in str(err.value)
    con = connect(settings.warehouse, read_only=True)
    try:
        assert con.execute("select status from meta.runs").fetchall() == [("failed",)]
        loads = dict(con.execute("select source, status from meta.source_loads").fetchall())
    finally:
        con.close()
    assert loads[broken] == "missing" and loads["hrss_pension"] == "loaded"
    assert not (settings.run_out_dir / "summary.json").exists()


def test_which_sample_sources_are_required_is_configuration() -> None:
    required = {n for n in all_source_names() if source_config(n).get("required", True)}
    assert required == {"civil_affairs_roster", "civil_affairs_standards"}


@pytest.mark.db
def test_database_source_loads_through_the_pipeline(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The positive control of the database cases: rows, a bad amount quarantined by row."""
    import psycopg

    table = f"sn_battery_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test",
                         autocommit=True) as pg:
        pg.execute(f"create table {table} (参保记录号 text, 身份证号码 text, 姓名 text, 性别 text, "
                   "出生日期 text, 参保地 text, 险种类型 text, 缴费状态 text, 缴费基数 numeric, "
                   "参保日期 date)")
        pg.execute(f"insert into {table} values "
                   "('YL1', '430102198005060012', '张三', '1', '19800506', '430102', '110', "
                   "'1', 3200.50, '2019-05-01'), "
                   "('YL2', '430102198005060039', '李四', '2', '19800506', '430102', '110', "
                   "'1', -5, '2019-05-01')")
    try:
        monkeypatch.setenv("SN_BATTERY_PG_DSN", PG_DSN)
        cfg = source_config("hrss_pension")
        db("postgresql", f"select * from {table} order by 1", dsn_env="SN_BATTERY_PG_DSN")(
            Ctx(tmp_path, cfg, Loaded("loaded", "", 0, 0, 0, [], []), tmp_path))
        tmp_path.joinpath("data").mkdir()
        loaded = load_one(tmp_path / "w.duckdb", cfg, tmp_path / "data")
    finally:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test",
                             autocommit=True) as pg:
            pg.execute(f"drop table {table}")
    assert (loaded.status, loaded.rows_read, loaded.rows_staged, loaded.rows_quarantined) == (
        "loaded", 2, 1, 1)
    (q,) = loaded.quarantine
    assert (q["file"], q["row_number"], q["column_name"], q["reason_code"]) == (
        "db:hrss_pension", 2, "缴费基数", "out_of_range")
    assert loaded.staged[0]["contribution_base"] == 3200.5


def test_quarantine_rows_have_stable_codes_and_chinese_reasons(sample: Path,
                                                                tmp_path: Path) -> None:
    """Every reason code the battery produced is one of errors.ReasonCode, every reason Chinese."""
    from safetynet.errors import ReasonCode

    loaded = load_one(tmp_path / "w.duckdb", source_config("hrss_pension"), sample / Q3)
    codes = {c.value for c in ReasonCode}
    for q in loaded.quarantine:
        assert q["reason_code"] in codes and "文件" in q["reason"] and "行" in q["reason"]
