"""Extract stage on real files: CSV, XLSX, Parquet, JSON lines, paths, quarantine, invariants.

Every test writes the department file it reads, runs extract_source into a DuckDB file and
checks raw."<source>", meta.quarantine and the invariant rows_read = raw rows + quarantined.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook

from safetynet.connectors.config import SourceConfig, parse_source_config
from safetynet.connectors.encoding import detect_encoding
from safetynet.connectors.extract import ExtractResult, extract_source
from safetynet.connectors.text import arrow_text, float_text, unique_columns, value_text
from safetynet.errors import ConfigError, SafetynetError, SourceUnavailable
from safetynet.warehouse import connect

AS_OF = date(2025, 3, 31)
HEADER = ["记录编号", "身份证号码", "姓名", "险种类型", "参保状态", "缴费基数", "参保日期"]
ROWS = [
    ["R001", "430121198001011234", "张三", "110", "1", "3500.00", "2020-01-01"],
    ["R002", "43012119800101123X", "阿卜杜·热合曼", "120", "1", "4,200元", "20190315"],
    ["R003", "430121800101123", "欧阳娜娜", "170", "2", "", "2018年3月1日"],
]


@pytest.fixture
def con(tmp_path: Path):
    c = connect(tmp_path / "warehouse.duckdb")
    yield c
    c.close()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "hrss").mkdir(parents=True)
    return root


def source(path: str = "hrss/pension.csv", fmt: str = "csv", **extra: Any) -> SourceConfig:
    raw = {"name": "hrss_pension", "title": "企业职工养老保险参保信息", "department": "hrss",
           "table": "pension", "format": fmt, "record_key": "记录编号",
           "location": {"path": path}, "columns": {"id_number": "身份证号码", "name": "姓名"}}
    raw.update(extra)
    return parse_source_config(raw)


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(newline.join(lines).encode(encoding) + newline.encode(encoding))
    return path


def _field(value: str, sep: str) -> str:
    if sep in value or '"' in value or "\n" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_lines(rows: list[list[str]] = ROWS, header: list[str] = HEADER, sep: str = ",") -> list[str]:
    """Header and rows as CSV lines, quoting as Excel does."""
    return [sep.join(_field(v, sep) for v in r) for r in [header, *rows]]


def raw_rows(con, name: str = "hrss_pension") -> list[tuple]:
    return con.execute(f'select * from raw."{name}" order by _file, _row').fetchall()


def quarantine(con, name: str = "hrss_pension") -> list[dict[str, Any]]:
    cur = con.execute("select * from meta.quarantine where source = ? order by file, row_number",
                      [name])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def check_invariant(con, result: ExtractResult) -> None:
    """rows_read = rows in raw + distinct quarantined rows; quarantine matches the result."""
    loaded = con.execute(f'select count(*) from raw."{result.source}"').fetchone()[0]
    q = con.execute("select count(distinct (file, row_number)) from meta.quarantine "
                    "where source = ? and as_of = ?", [result.source, AS_OF]).fetchone()[0]
    assert result.rows_read == loaded + result.rows_quarantined
    assert q == result.rows_quarantined
    raw_cols = [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = 'raw' "
        "and table_name = ? order by ordinal_position", [result.source]).fetchall()]
    assert raw_cols == [*result.columns, "_row", "_file"]


def run(con, data: Path, src: SourceConfig, **kw: Any) -> ExtractResult:
    result = extract_source(con, src, data, AS_OF, **kw)
    check_invariant(con, result)
    return result


# ----------------------------------------------------------------------------- CSV basics
def test_csv_utf8_reads_all_columns_as_text_with_physical_rows(con, data: Path) -> None:
    lines = csv_lines()
    lines[0] = " 记录编号 ," + ",".join(HEADER[1:])  # padded header text is trimmed
    f = write_csv(data / "hrss" / "pension.csv", lines)
    result = run(con, data, source())
    assert result.columns == HEADER
    assert result.files == ["hrss/pension.csv"]
    assert result.sha256 == hashlib.sha256(f.read_bytes()).hexdigest()
    assert (result.rows_read, result.rows_quarantined) == (3, 0)
    rows = raw_rows(con)
    assert [r[-2:] for r in rows] == [(2, "hrss/pension.csv"), (3, "hrss/pension.csv"),
                                      (4, "hrss/pension.csv")]
    assert rows[1][:7] == tuple(ROWS[1])  # text as sent: 4,200元, 20190315, middle dot kept
    assert rows[2][5] is None  # an empty field is NULL
    types = con.execute("select data_type from information_schema.columns where "
                        "table_name = 'hrss_pension' order by ordinal_position").fetchall()
    assert [t[0] for t in types] == ["VARCHAR"] * 7 + ["BIGINT", "VARCHAR"]


def test_csv_utf8_bom_and_crlf(con, data: Path) -> None:
    f = data / "hrss" / "pension.csv"
    f.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(csv_lines()).encode() + b"\r\n")
    result = run(con, data, source())
    assert result.columns[0] == "记录编号"
    assert raw_rows(con)[0][:7] == tuple(ROWS[0])  # no stray \r in the last column
    assert "BOM" in result.notes[0]


@pytest.mark.parametrize("label", ["gbk", "gb2312"])
def test_csv_gbk_is_detected_and_read_as_gb18030(con, data: Path, label: str) -> None:
    rows = [[f"R{i:03d}", f"43012119800101{i:04d}", name, "110", "1", "3000", "2020-01-01"]
            for i, name in enumerate(["张三", "王·小明", "李四", "赵六六"])]
    write_csv(data / "hrss" / "pension.csv", csv_lines(rows), encoding="gb18030")
    result = run(con, data, source())
    assert [r[2] for r in raw_rows(con)] == ["张三", "王·小明", "李四", "赵六六"]
    assert any("gb18030" in n for n in result.notes)
    # A configured gbk/gb2312 is read as gb18030 too: the middle dot survives.
    run(con, data, source(encoding=label))
    assert raw_rows(con)[1][2] == "王·小明"


def test_short_gbk_sample_misread_by_charset_normalizer_still_gb18030(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_bytes("id,name\n1,王·小明\n2,李四\n".encode("gb18030"))
    with open(f, "rb") as fh:
        enc = detect_encoding(fh)
    assert enc.codec == "gb18030"


def test_detection_paths(tmp_path: Path) -> None:
    long_gbk = "".join(f"{i},张三丰,湖南省长沙市岳麓区麓山南路{i}号,低保对象\n" for i in range(300))
    utf8_rows = [f"{i},李四,长沙市开福区{i}号\n".encode() for i in range(20)]
    utf8_rows[7] = "7,钱九,长沙市\n".encode("gbk")  # one pasted GBK row
    cases = {"gbk.csv": (long_gbk.encode("gb18030"), "gb18030", "charset-normalizer"),
             "mixed.csv": (b"".join(utf8_rows), "utf-8", "1 sample lines"),
             "ascii.csv": (b"a,b\n1,2\n", "utf-8", "auto:utf-8"),
             "u16.csv": (long_gbk.encode("utf-16"), "utf-16-le", "BOM")}
    for name, (payload, codec, how) in cases.items():
        (tmp_path / name).write_bytes(payload)
        with open(tmp_path / name, "rb") as fh:
            enc = detect_encoding(fh)
        assert (name, enc.codec) == (name, codec) and how in enc.how


def test_unknown_configured_encoding_is_config_error(con, data: Path) -> None:
    write_csv(data / "hrss" / "pension.csv", csv_lines())
    with pytest.raises(ConfigError) as exc:
        extract_source(con, source(encoding="klingon-8"), data, AS_OF)
    assert exc.value.source == "hrss_pension"


def test_header_that_does_not_decode_is_rejected(con, data: Path) -> None:
    (data / "hrss" / "pension.csv").write_bytes("记录编号,姓名\nR1,张三\n".encode("gbk"))
    with pytest.raises(SafetynetError, match="表头无法按 utf-8 解码"):
        extract_source(con, source(encoding="utf-8"), data, AS_OF)


def test_configured_gbk_reads_characters_outside_gbk(con, data: Path) -> None:
    rows = [["R001", "430121198001011234", "王䶮", "110", "1", "3000", "2020-01-01"]]  # 4-byte
    write_csv(data / "hrss" / "pension.csv", csv_lines(rows), encoding="gb18030")
    run(con, data, source(encoding="GBK"))
    assert raw_rows(con)[0][2] == "王䶮"


def test_csv_classic_mac_line_ends(con, data: Path) -> None:
    write_csv(data / "hrss" / "pension.csv", csv_lines(), encoding="gb18030", newline="\r")
    result = run(con, data, source())
    assert result.rows_read == 3 and [r[-2] for r in raw_rows(con)] == [2, 3, 4]
    assert raw_rows(con)[1][2] == "阿卜杜·热合曼"


def test_csv_utf16_with_bom_tab_delimited(con, data: Path) -> None:
    f = data / "hrss" / "pension.txt"
    f.write_bytes("\r\n".join(csv_lines(sep="\t")).encode("utf-16") + "\r\n".encode("utf-16-le"))
    result = run(con, data, source("hrss/pension.txt", delimiter="\t"))
    assert result.columns == HEADER
    assert [r[:7] for r in raw_rows(con)] == [tuple(v or None for v in r) for r in ROWS]
    assert "utf-16-le" in result.notes[0]


def test_mixed_encoding_row_is_quarantined_rest_loads(con, data: Path) -> None:
    good = csv_lines()
    bad = "R009,430121198001019999,钱九,110,1,3000,2020-01-01".encode("gbk")
    f = data / "hrss" / "pension.csv"
    f.write_bytes("\n".join(good[:3]).encode() + b"\n" + bad + b"\n" + good[3].encode() + b"\n")
    result = run(con, data, source())
    assert (result.rows_read, result.rows_quarantined) == (4, 1)
    assert [r[0] for r in raw_rows(con)] == ["R001", "R002", "R003"]
    [q] = quarantine(con)
    assert q["reason_code"] == "encoding_error" and q["row_number"] == 4
    assert q["column_name"] == "姓名" and q["file"] == "hrss/pension.csv"
    assert q["reason"].startswith("文件 hrss/pension.csv 第 4 行 列「姓名」：")
    assert "\\x" in q["value"] and q["department"] == "hrss" and q["as_of"] == AS_OF


def test_gbk_file_with_an_invalid_byte(con, data: Path) -> None:
    lines = [ln.encode("gb18030") for ln in csv_lines()]
    lines[2] = lines[2].replace("阿卜杜".encode("gb18030"), b"\xff\xfe")
    lines.append("R004,430121198001014444,孙小美,110,1,3000,2020-01-01".encode("gb18030"))
    (data / "hrss" / "pension.csv").write_bytes(b"\r\n".join(lines) + b"\r\n")
    result = run(con, data, source(encoding="gbk"))
    assert (result.rows_read, result.rows_quarantined) == (4, 1)
    assert [q["reason_code"] for q in quarantine(con)] == ["encoding_error"]
    assert [r[2] for r in raw_rows(con)] == ["张三", "欧阳娜娜", "孙小美"]


def test_malformed_rows_truncated_and_extra_delimiters(con, data: Path) -> None:
    lines = csv_lines()
    lines.insert(2, "R010,430121198001010000,多列,110,1,3000,2020-01-01,extra,more")
    path = data / "hrss" / "pension.csv"
    path.write_bytes(("\n".join(lines) + "\nR011,43012119800101,截断").encode())  # no newline
    result = run(con, data, source())
    assert (result.rows_read, result.rows_quarantined) == (5, 2)
    q = quarantine(con)
    assert [(x["row_number"], x["reason_code"]) for x in q] == [(3, "malformed_row"),
                                                                (6, "malformed_row")]
    assert q[0]["reason"] == "文件 hrss/pension.csv 第 3 行：列数为 9，表头为 7 列"
    assert q[1]["reason"] == "文件 hrss/pension.csv 第 6 行：列数为 3，表头为 7 列"
    assert q[1]["value"] == "R011,43012119800101,截断"
    assert [r[-2] for r in raw_rows(con)] == [2, 4, 5]


def test_blank_lines_skipped_not_counted_and_rows_stay_physical(con, data: Path) -> None:
    lines = csv_lines()
    lines[2:2] = ["", ",,,,,,", "   "]  # blank, delimiters only, spaces (1 field: malformed)
    write_csv(data / "hrss" / "pension.csv", [*lines, "", ""])
    result = run(con, data, source())
    assert result.rows_read == 4 and result.rows_quarantined == 1
    assert [r[-2] for r in raw_rows(con)] == [2, 6, 7]
    assert quarantine(con)[0]["row_number"] == 5


def test_quoted_newlines_and_delimiters_keep_line_numbers(con, data: Path) -> None:
    lines = [",".join(HEADER),
             'R001,430121198001011234,"张\n三",110,1,"3,500.00",2020-01-01',
             'R002,430121198001011235,"李""四""",110,1,3000,2020-01-01']
    write_csv(data / "hrss" / "pension.csv", lines)
    run(con, data, source())
    rows = raw_rows(con)
    assert [(r[2], r[5], r[-2]) for r in rows] == [("张\n三", "3,500.00", 2), ('李"四"', "3000", 4)]


def test_unclosed_quote_is_one_malformed_record_naming_its_lines(con, data: Path) -> None:
    lines = csv_lines()
    lines[2] = 'R002,430121198001011235,"李四,110,1,3000,2020-01-01'
    write_csv(data / "hrss" / "pension.csv", lines)
    result = run(con, data, source())
    assert result.rows_read == 2 and result.rows_quarantined == 1
    [q] = quarantine(con)
    assert q["reason"].startswith("文件 hrss/pension.csv 第 3–4 行：列数为")


def test_csv_parser_error_is_one_malformed_row_and_reading_goes_on(con, data: Path) -> None:
    import csv

    import safetynet.connectors.csv_reader  # noqa: F401  (raises the limit once, on import)

    rows = [list(r) for r in ROWS]
    rows[1][6] = "很长" * 60
    write_csv(data / "hrss" / "pension.csv", csv_lines(rows))
    limit = csv.field_size_limit(100)
    try:
        result = run(con, data, source())
    finally:
        csv.field_size_limit(limit)
    assert (result.rows_read, result.rows_quarantined) == (3, 1)
    [q] = quarantine(con)
    assert q["row_number"] == 3 and "无法按 CSV 格式解析" in q["reason"]
    assert [r[0] for r in raw_rows(con)] == ["R001", "R003"]


def test_header_row_skips_title_lines_and_custom_delimiter(con, data: Path) -> None:
    lines = ["长沙市岳麓区企业职工养老保险参保信息", "制表单位：人社局;制表日期：2025-04-02", "",
             *csv_lines(sep=";")]
    write_csv(data / "hrss" / "pension.csv", lines, encoding="gb18030")
    result = run(con, data, source(header_row=4, delimiter=";"))
    assert result.columns == HEADER
    assert [r[-2] for r in raw_rows(con)] == [5, 6, 7]
    assert raw_rows(con)[1][5] == "4,200元"


def test_duplicate_empty_and_reserved_headers_are_renamed_and_reported(con, data: Path) -> None:
    write_csv(data / "hrss" / "pension.csv", ["记录编号,姓名,,姓名,_row,Name,name",
                                              "R1,张三,x,张叁,9,a,b"])
    result = run(con, data, source())
    assert result.columns == ["记录编号", "姓名", "_col3", "姓名_2", "_row_2", "Name", "name_2"]
    assert raw_rows(con)[0] == ("R1", "张三", "x", "张叁", "9", "a", "b", 2, "hrss/pension.csv")
    assert any("第 3 列表头为空" in n for n in result.notes)
    assert sum("改名" in n for n in result.notes) == 3


def test_unique_columns_are_stable() -> None:
    names, notes = unique_columns(["a", "a", "a_2", "", "_FILE"])
    assert names == ["a", "a_2", "a_2_2", "_col4", "_FILE_2"]
    assert len(notes) == 4


# ----------------------------------------------------------------------------- paths
def test_glob_concatenates_sorted_files_and_hashes_their_hashes(con, data: Path) -> None:
    f2 = write_csv(data / "hrss" / "pension_2.csv", csv_lines(ROWS[2:]))
    f1 = write_csv(data / "hrss" / "pension_1.csv", csv_lines(ROWS[:2]), encoding="gb18030")
    (data / "hrss" / "~$pension_3.csv").write_bytes(b"lock")  # an Office lock file: ignored
    result = run(con, data, source("hrss/pension_*.csv"))
    assert result.files == ["hrss/pension_1.csv", "hrss/pension_2.csv"]
    digests = [hashlib.sha256(f.read_bytes()).hexdigest() for f in (f1, f2)]
    assert result.sha256 == hashlib.sha256("\n".join(digests).encode()).hexdigest()
    assert [(r[0], r[-2], r[-1]) for r in raw_rows(con)] == [
        ("R001", 2, "hrss/pension_1.csv"), ("R002", 3, "hrss/pension_1.csv"),
        ("R003", 2, "hrss/pension_2.csv")]


def test_glob_file_with_other_header_is_rejected_and_previous_raw_kept(con, data: Path) -> None:
    write_csv(data / "hrss" / "pension_1.csv", csv_lines())
    run(con, data, source("hrss/pension_*.csv"))
    write_csv(data / "hrss" / "pension_2.csv", csv_lines(header=[*HEADER[:2], "名字", *HEADER[3:]]))
    with pytest.raises(SafetynetError) as exc:
        extract_source(con, source("hrss/pension_*.csv"), data, AS_OF)
    assert "hrss/pension_2.csv" in str(exc.value) and "名字" in str(exc.value)
    assert exc.value.source == "hrss_pension"
    assert len(raw_rows(con)) == 3  # the failed run rolled back


@pytest.mark.parametrize("path", ["../outside.csv", "hrss/../../outside.csv", "/etc/*.conf"])
def test_path_outside_data_root_is_config_error(con, data: Path, path: str) -> None:
    write_csv(data.parent / "outside.csv", csv_lines())
    with pytest.raises(ConfigError):
        extract_source(con, source(path), data, AS_OF)


def test_symlink_out_of_data_root_needs_allowed_root(con, data: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    write_csv(shared / "pension.csv", csv_lines())
    os.symlink(shared / "pension.csv", data / "hrss" / "pension.csv")
    with pytest.raises(ConfigError) as exc:
        extract_source(con, source(), data, AS_OF)
    assert exc.value.file == "hrss/pension.csv"
    result = run(con, data, source(), allowed_roots=[shared])
    assert result.rows_read == 3 and raw_rows(con)[0][-1] == "hrss/pension.csv"


def test_missing_file_and_no_glob_match_are_source_unavailable(con, data: Path) -> None:
    with pytest.raises(SourceUnavailable) as exc:
        extract_source(con, source("hrss/pension.csv"), data, AS_OF)
    assert exc.value.source == "hrss_pension" and "hrss/pension.csv" in str(exc.value)
    with pytest.raises(SourceUnavailable) as exc:
        extract_source(con, source("hrss/pension_*.csv"), data, AS_OF)
    assert "hrss/pension_*.csv" in str(exc.value)


def test_empty_file_is_unavailable_header_only_is_zero_rows(con, data: Path) -> None:
    (data / "hrss" / "pension.csv").write_bytes(b"")
    with pytest.raises(SourceUnavailable, match="文件为空"):
        extract_source(con, source(), data, AS_OF)
    write_csv(data / "hrss" / "pension.csv", [",".join(HEADER)])
    result = run(con, data, source())
    assert (result.rows_read, result.rows_quarantined, result.columns) == (0, 0, HEADER)


def test_bom_only_file_is_empty(con, data: Path) -> None:
    (data / "hrss" / "pension.csv").write_bytes(b"\xef\xbb\xbf")
    with pytest.raises(SourceUnavailable, match="文件为空"):
        extract_source(con, source(), data, AS_OF)


def test_header_row_past_end_of_file(con, data: Path) -> None:
    write_csv(data / "hrss" / "pension.csv", ["标题"])
    with pytest.raises(SafetynetError, match="找不到表头"):
        extract_source(con, source(header_row=3), data, AS_OF)


# ----------------------------------------------------------------------------- reruns
def test_rerun_is_idempotent_and_other_quarters_stay(con, data: Path) -> None:
    lines = csv_lines()
    lines.append("R9,bad")
    write_csv(data / "hrss" / "pension.csv", lines)
    extract_source(con, source(), data, date(2024, 12, 31))
    first = run(con, data, source())
    second = run(con, data, source())
    assert first == second
    counts = con.execute("select as_of, count(*) from meta.quarantine group by as_of "
                         "order by as_of").fetchall()
    assert counts == [(date(2024, 12, 31), 1), (AS_OF, 1)]
    assert len(raw_rows(con)) == 3


def test_inside_a_callers_transaction_the_caller_decides(con, data: Path) -> None:
    write_csv(data / "hrss" / "pension.csv", csv_lines())
    con.execute("begin transaction")
    assert extract_source(con, source(), data, AS_OF).rows_read == 3
    con.execute("rollback")
    assert not con.execute("select count(*) from information_schema.tables "
                           "where table_schema = 'raw'").fetchone()[0]


def test_small_batches_give_the_same_table(con, data: Path) -> None:
    rows = [[f"R{i:04d}", f"4301211980{i:08d}", f"名{i}", "110", "1", str(i), "2020-01-01"]
            for i in range(250)]
    lines = csv_lines(rows)
    lines.insert(100, "bad,row")
    write_csv(data / "hrss" / "pension.csv", lines)
    result = run(con, data, source(), batch_rows=7)
    small = raw_rows(con)
    run(con, data, source(), batch_rows=100_000)
    assert small == raw_rows(con) and result.rows_read == 251 and result.rows_quarantined == 1


def test_chunk_boundaries_do_not_split_lines(tmp_path: Path) -> None:
    from safetynet.connectors.encoding import DecodedLines

    text = "".join(f"{i},张三{i},{'x' * (i % 17)}\n" for i in range(3000))
    for codec in ("utf-8", "gb18030", "utf-16-le"):
        f = tmp_path / f"t.{codec}"
        f.write_bytes(text.encode(codec))
        with open(f, "rb") as fh:
            enc = detect_encoding(fh, codec)
            lines = list(DecodedLines(fh, enc, chunk_bytes=1001))
        assert "".join(lines) == text and len(lines) == 3000


# ----------------------------------------------------------------------------- XLSX
def _workbook(path: Path) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "说明"
    ws["A1"] = "本表为示例"
    ws = wb.create_sheet("参保信息")
    ws["A1"] = "长沙市企业职工养老保险参保信息"
    ws.merge_cells("A1:H1")
    ws["A2"] = "制表日期：2025年4月2日"
    ws.append(["记录编号", "身份证号码", "姓名", "参保日期", "变更时间", "缴费基数", "在职", None])
    ws.append(["R001", 430121198001011234, "张三", date(2020, 1, 1),
               datetime(2024, 5, 6, 7, 8, 9), 3500.0, True, None])
    ws.append(["R002", "43012119800101123X", "李四", datetime(2019, 3, 15), None, 4200.5, False,
               "备注"])
    ws.append(["R003", 430121800101123, None, "2018-03-01", None, 0.1, None, None])
    ws.append([None] * 8)
    ws.append(["", None])
    ws.cell(row=12, column=12).value = None  # styled-but-empty trailing cells
    wb.save(path)
    return path


def test_xlsx_sheet_by_name_header_row_and_cell_text(con, data: Path) -> None:
    f = _workbook(data / "hrss" / "pension.xlsx")
    src = source("hrss/pension.xlsx", "xlsx", sheet="参保信息", header_row=3)
    result = run(con, data, src)
    assert result.columns == ["记录编号", "身份证号码", "姓名", "参保日期", "变更时间", "缴费基数",
                              "在职", "_col8"]
    assert result.sha256 == hashlib.sha256(f.read_bytes()).hexdigest()
    rows = raw_rows(con)
    assert rows == [
        ("R001", "430121198001011300", "张三", "2020-01-01", "2024-05-06 07:08:09", "3500",
         "true", None, 4, "hrss/pension.xlsx"),
        ("R002", "43012119800101123X", "李四", "2019-03-15", None, "4200.5", "false", "备注", 5,
         "hrss/pension.xlsx"),
        ("R003", "430121800101123", None, "2018-03-01", None, "0.1", None, None, 6,
         "hrss/pension.xlsx"),
    ]
    assert result.rows_read == 3  # trailing empty rows ignored


def test_xlsx_sheet_by_index_and_unused_trailing_column_dropped(con, data: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(["记录编号", "姓名", None, None])
    ws.append(["R1", "张三"])
    ws["D1"].value = None
    ws["F9"] = ""
    wb.create_sheet("其他")
    wb.save(data / "hrss" / "p.xlsx")
    result = run(con, data, source("hrss/p.xlsx", "xlsx", sheet=0))
    assert result.columns == ["记录编号", "姓名"] and raw_rows(con)[0][:3] == ("R1", "张三", 2)


def test_xlsx_cells_merged_down_fill_every_row(con, data: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws["B2"] = "低保家庭成员花名册"
    ws.merge_cells("B2:E2")
    ws.append([None, "户编号", "姓名", "与户主关系", "备注"])
    ws.append([None, "HH001", "张三", "户主", "同住"])
    ws.append([None, None, "李四", "配偶", None])
    ws.append([None, None, "张小三", "子女", None])
    ws.append([None, "HH002", "王五", "户主", None])
    ws.merge_cells("B4:B6")
    ws.merge_cells("E4:E5")
    wb.save(data / "hrss" / "roster.xlsx")
    result = run(con, data, source("hrss/roster.xlsx", "xlsx", header_row=3))
    assert result.columns == ["户编号", "姓名", "与户主关系", "备注"]
    assert [r[:4] + r[-2:-1] for r in raw_rows(con)] == [
        ("HH001", "张三", "户主", "同住", 4), ("HH001", "李四", "配偶", "同住", 5),
        ("HH001", "张小三", "子女", None, 6), ("HH002", "王五", "户主", None, 7)]


def test_xlsx_unknown_sheet_names_what_exists(con, data: Path) -> None:
    _workbook(data / "hrss" / "pension.xlsx")
    with pytest.raises(SafetynetError) as exc:
        extract_source(con, source("hrss/pension.xlsx", "xlsx", sheet="Sheet9"), data, AS_OF)
    assert "参保信息" in str(exc.value) and exc.value.file == "hrss/pension.xlsx"


def test_xlsx_not_a_workbook(con, data: Path) -> None:
    (data / "hrss" / "pension.xlsx").write_bytes(b"this is not a zip")
    with pytest.raises(SafetynetError, match="无法读取 Excel"):
        extract_source(con, source("hrss/pension.xlsx", "xlsx"), data, AS_OF)


# ----------------------------------------------------------------------------- Parquet
def test_parquet_every_type_as_text_over_several_batches(con, data: Path) -> None:
    n = 25
    table = pa.table({
        "记录编号": pa.array([f"R{i}" for i in range(n)]),
        "整数": pa.array([i if i % 5 else None for i in range(n)], pa.int64()),
        "小数": pa.array([i + 0.25 if i % 2 else float(i) for i in range(n)], pa.float64()),
        "日期": pa.array([date(2020, 1, 1 + i) for i in range(n)], pa.date32()),
        "时间": pa.array([datetime(2020, 1, 1, 0, 0) if i % 2 else datetime(2020, 1, 1, 8, 30)
                          for i in range(n)], pa.timestamp("us")),
        "金额": pa.array([Decimal("12.50")] * n, pa.decimal128(10, 2)),
        "是否": pa.array([i % 2 == 0 for i in range(n)]),
        "类别": pa.array(["低保", "特困"] * 12 + ["低保"]).dictionary_encode(),
        "列表": pa.array([[1, 2]] * n),
        "结构": pa.array([{"a": "甲", "b": 1}] * n),
        "空": pa.nulls(n),
    })
    pq.write_table(table, data / "hrss" / "p.parquet", row_group_size=10)
    result = run(con, data, source("hrss/p.parquet", "parquet"), batch_rows=4)
    assert result.rows_read == n
    rows = raw_rows(con)
    assert rows[0][:11] == ("R0", None, "0", "2020-01-01", "2020-01-01 08:30:00", "12.50", "true",
                            "低保", "[1,2]", '{"a":"甲","b":1}', None)
    assert rows[1][:8] == ("R1", "1", "1.25", "2020-01-02", "2020-01-01", "12.50", "false", "特困")
    assert [r[-2] for r in rows] == list(range(1, n + 1))


def test_parquet_nullable_ints_written_by_pandas_keep_no_dot_zero(con, data: Path) -> None:
    import pandas as pd

    df = pd.DataFrame({"记录编号": ["a", "b"], "人数": pd.array([3, None], dtype="Int64"),
                       "身份证": [4.30121198001011e17, float("nan")]})
    df.to_parquet(data / "hrss" / "p.parquet")
    run(con, data, source("hrss/p.parquet", "parquet"))
    assert [r[:3] for r in raw_rows(con)] == [("a", "3", "430121198001011000"), ("b", None, None)]


def test_parquet_corrupt_file(con, data: Path) -> None:
    (data / "hrss" / "p.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(SafetynetError, match="Parquet"):
        extract_source(con, source("hrss/p.parquet", "parquet"), data, AS_OF)


# ----------------------------------------------------------------------------- JSON lines
def test_jsonl_objects_nested_values_and_bad_lines(con, data: Path) -> None:
    lines = [
        json.dumps({"记录编号": "R1", "姓名": "张三", "缴费基数": 3500.0, "险种": ["110", "120"],
                    "地址": {"县": "岳麓区"}, "在职": True}, ensure_ascii=False),
        "",
        '{"记录编号": "R2", "姓名": "李四", "缴费基数": null',
        "[1, 2, 3]",
        json.dumps({"记录编号": "R3", "姓名": "王五", "备注": "新增列"}, ensure_ascii=False),
    ]
    write_csv(data / "hrss" / "p.jsonl", lines)
    result = run(con, data, source("hrss/p.jsonl", "jsonl"))
    assert result.columns == ["记录编号", "姓名", "缴费基数", "险种", "地址", "在职", "备注"]
    assert raw_rows(con) == [
        ("R1", "张三", "3500", '["110","120"]', '{"县":"岳麓区"}', "true", None, 1, "hrss/p.jsonl"),
        ("R3", "王五", None, None, None, None, "新增列", 4, "hrss/p.jsonl"),
    ]
    q = quarantine(con)
    assert [(x["row_number"], x["reason_code"]) for x in q] == [(2, "malformed_row"),
                                                                (3, "malformed_row")]
    assert q[0]["reason"] == "文件 hrss/p.jsonl 第 3 行（第 2 条记录）：无法解析为 JSON"
    assert q[1]["reason"] == "文件 hrss/p.jsonl 第 4 行（第 3 条记录）：不是 JSON 对象"
    assert result.rows_read == 4


def test_jsonl_undecodable_line(con, data: Path) -> None:
    f = data / "hrss" / "p.jsonl"
    f.write_bytes('{"记录编号": "R1"}\n'.encode() + '{"记录编号": "坏"}\n'.encode("gbk")
                  + b'{"\xe8\xae\xb0\xe5\xbd\x95\xe7\xbc\x96\xe5\x8f\xb7": "R3"}\n')
    result = run(con, data, source("hrss/p.jsonl", "jsonl", encoding="utf-8"))
    assert [r[0] for r in raw_rows(con)] == ["R1", "R3"] and result.rows_quarantined == 1
    assert quarantine(con)[0]["reason_code"] == "encoding_error"


# ----------------------------------------------------------------------------- value text
VALUES = [None, "文本", "", True, False, 0, -17, 2**62, 1.0, -3.0, 0.1, 2.5e-7, 1e22,
          4.30121198001011e17, float("nan"), date(2024, 2, 29), datetime(2024, 2, 29, 13, 5, 1),
          datetime(2024, 2, 29), Decimal("1234.50"), Decimal("-0.001"), [1, "二", None],
          {"k": date(2020, 1, 2)}, b"\xe4\xb8\xad", time(8, 30)]


def test_value_text_rules() -> None:
    got = [value_text(v) for v in VALUES]
    assert got == [None, "文本", "", "true", "false", "0", "-17", str(2**62), "1", "-3", "0.1",
                   "2.5e-07", "10000000000000000000000", "430121198001011000", None, "2024-02-29",
                   "2024-02-29 13:05:01", "2024-02-29", "1234.50", "-0.001", '[1,"二",null]',
                   '{"k":"2020-01-02"}', "中", "08:30:00"]
    assert float_text(float("inf")) == "inf"


@pytest.mark.parametrize("values", [
    [1, None, -5], [True, None], [0.5, 2.0, None, 1e-7], [date(2020, 1, 1), None],
    [Decimal("1.50"), None], ["a", None, "张"], [datetime(2020, 1, 1, 1, 2, 3), None],
    [[1, 2], None], [{"a": 1}, None]])
def test_arrow_text_agrees_with_value_text(values: list[Any]) -> None:
    assert arrow_text(pa.array(values)).to_pylist() == [value_text(v) for v in values]


# ----------------------------------------------------------------------------- throughput
BENCH = r"""
import csv, random, resource, sys, time
from datetime import date
from pathlib import Path
from safetynet.connectors.config import parse_source_config
from safetynet.connectors.extract import extract_source
from safetynet.warehouse import connect
root, n = Path(sys.argv[1]), int(sys.argv[2])
(root / "data").mkdir()
rnd = random.Random(7)
with open(root / "data" / "big.csv", "w", encoding="utf-8", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["记录编号", "身份证号码", "姓名", "性别", "出生日期", "地址", "险种类型",
                "缴费基数", "状态", "备注"])
    names = ["张三", "李四", "阿卜杜·热合曼", "欧阳娜娜"]
    for i in range(n):
        w.writerow([f"R{i:08d}", f"43012119{rnd.randint(50, 99)}0101{i % 10000:04d}",
                    rnd.choice(names), "男", "19800101", f"湖南省长沙市岳麓区{i}号", "110",
                    f"{rnd.randint(1000, 9000)}.50", "1", "备注,含逗号"])
src = parse_source_config({"name": "big", "department": "hrss", "table": "pension",
    "format": "csv", "record_key": "记录编号", "location": {"path": "big.csv"},
    "columns": {"id_number": "身份证号码"}})
con = connect(root / "w.duckdb")
size = (root / "data" / "big.csv").stat().st_size
t, cpu = time.perf_counter(), time.process_time()
r = extract_source(con, src, root / "data", date(2025, 3, 31))
dt, cpu = time.perf_counter() - t, time.process_time() - cpu
assert r.rows_read == n and r.rows_quarantined == 0
print(f"{n} rows ({size / 2**20:.0f} MiB) in {dt:.2f} s = {n / dt:,.0f} rows/s "
      f"(process CPU {cpu:.2f} s), "
      f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
"""


@pytest.mark.slow
def test_throughput_one_million_rows(tmp_path: Path) -> None:
    """1M x 10 CSV into a DuckDB file, in a fresh process so peak RSS is this extract's."""
    n = int(os.environ.get("SAFETYNET_BENCH_ROWS", "1000000"))
    out = subprocess.run([sys.executable, "-c", BENCH, str(tmp_path), str(n)],
                         capture_output=True, text=True, timeout=600, check=True)
    print(out.stdout)
    cpu = float(out.stdout.split("process CPU ")[1].split(" s")[0])
    rss = float(out.stdout.split("peak RSS ")[1].split(" MiB")[0])
    # CPU time, not wall time: the shared 2-core machine is often busy with other test runs.
    assert n / cpu > 80_000 and rss < 1500
