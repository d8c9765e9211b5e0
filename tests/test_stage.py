"""Stage step on a real DuckDB file: raw."<source>" -> staged.<table> + meta.quarantine."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from python_calamine import CalamineWorkbook

from safetynet.connectors.config import SourceConfig, parse_source_config
from safetynet.data_contracts import (
    quarantine_summary,
    stage_source,
    validate_staged,
    write_quarantine_reports,
)
from safetynet.data_contracts.report import REPORT_HEADERS
from safetynet.data_contracts.stage import STAGE_REASON_CODES, ensure_staged_tables, stage_sql
from safetynet.errors import ConfigError, SafetynetError
from safetynet.outputs import sha256_file
from safetynet.warehouse import connect, quote_ident

AS_OF = date(2025, 3, 31)
PENSION_FILE = "hrss/pension.csv"
HEADER = ["记录编号", "身份证号码", "姓名", "性别", "险种类型", "缴费状态", "缴费基数", "参保日期",
          "行政区划", "备注"]
LONG_NAME = "张" * 1001
# (记录编号, 身份证号码, 姓名, 性别, 险种类型, 缴费状态, 缴费基数, 参保日期, 行政区划, 备注)
PENSION_ROWS: list[tuple[Any, ...]] = [
    ("P001", "430102198005060012", "张三", "男", "110", "1", "3,200元", "20190501", "430102", "x"),
    ("P002", "430102198005060039", "李四", "女", "170", "4", " 4 500.50 ", "2020-01-01 00:00:00",
     "430102001001", None),
    ("P003", "430102198005060047", "王五", "男", "110", "1", "三千", "20190501", None, None),
    ("P004", "430102198005060055", "赵六", "男", "999", "1", "3000", None, None, None),
    ("P005", "430102198005060063", "钱七", "男", "110", "1", "3000", "20251340", None, None),
    ("P006", "430102198005060071", "孙八", "男", "110", "1", "3000", "20270101", None, None),
    ("P007", "430102198005060098", "周九", "男", "110", "1", "3000", "18991231", None, None),
    ("P008", "430102198005060101", "吴十", "男", "110", "1", "-100", None, None, None),
    ("P009", "430102198005060128", "郑一", "男", "110", "1", "3000", None, "43A102", None),
    ("P010", "430102198005060136", '=HYPERLINK("http://x")', "男", "110", "1", None, None,
     None, None),
    ("P011", "430102198005060144", LONG_NAME, "男", "110", "1", None, None, None, None),
    ("P012", None, "  ", "男", "110", "1", None, None, None, None),
    ("P013", "430102198005060152", "冯二", "男", "110", "", None, None, None, None),
    ("P001", "430102198005060160", "陈三", "女", "110", "1", None, None, None, None),
    ("", "430102198005060179", "褚四", "女", "110", "1", None, None, None, None),
    ("P016", "430102198005060187", "卫五", "女", "xyz", "1", "abc", "坏日期", None, None),
]
EXPECTED_FAILURES = {  # row number -> [(column_name, reason_code)]
    4: [("缴费基数", "not_a_number")],
    5: [("险种类型", "unknown_code")],
    6: [("参保日期", "unparseable_date")],
    7: [("参保日期", "future_date")],
    8: [("参保日期", "date_out_of_range")],
    9: [("缴费基数", "out_of_range")],
    10: [("行政区划", "bad_pattern")],
    11: [("姓名", "formula_like")],
    12: [("姓名", "field_too_long")],
    13: [("身份证号码、姓名", "missing_identity")],
    14: [("缴费状态", "missing_required")],
    15: [("记录编号", "duplicate_record_key")],
    16: [("记录编号", "missing_required")],
    17: [("险种类型", "unknown_code"), ("缴费基数", "not_a_number"), ("参保日期", "unparseable_date")],
}


def make_raw(con, name: str, header: list[str], rows: list[tuple[Any, ...]],
             file: str = PENSION_FILE, first_row: int = 2) -> None:
    """A raw table as the connectors write it: source columns VARCHAR plus _row and _file."""
    cols = ", ".join(f"{quote_ident(h)} VARCHAR" for h in header)
    con.execute(f"create or replace table raw.{quote_ident(name)} "
                f"({cols}, _row BIGINT, _file VARCHAR)")
    marks = ", ".join("?" for _ in range(len(header) + 2))
    if rows:
        con.executemany(f"insert into raw.{quote_ident(name)} values ({marks})",
                        [[*r, first_row + i, file] for i, r in enumerate(rows)])


def pension_config(**overrides: Any) -> SourceConfig:
    raw: dict[str, Any] = {
        "name": "hrss_pension", "title": "企业职工养老保险参保信息", "department": "hrss",
        "table": "pension", "location": {"path": "hrss/pension*.csv"}, "format": "csv",
        "record_key": "记录编号",
        "columns": {"id_number": "身份证号码", "name": "姓名", "sex": "性别",
                    "insurance_type": "险种类型", "status": "缴费状态",
                    "contribution_base": "缴费基数", "contribution_start": "参保日期",
                    "region_code": "行政区划"},
        "values": {"insurance_type": {"110": "enterprise_employee", "120": "public_institution",
                                      "170": "urban_rural_resident"},
                   "status": {"1": "contributing", "2": "suspended", "3": "terminated",
                              "4": "receiving"},
                   "sex": {"男": "male", "女": "female"}},
        "date_formats": ["%Y%m%d", "%Y年%m月%d日"],
    }
    raw.update(overrides)
    return parse_source_config(raw)


@pytest.fixture()
def con(tmp_path: Path):
    con = connect(tmp_path / "warehouse.duckdb")
    yield con
    con.close()


@pytest.fixture()
def staged_pension(con):
    make_raw(con, "hrss_pension", HEADER, PENSION_ROWS)
    return stage_source(con, pension_config(), AS_OF)


def quarantine(con, source: str = "hrss_pension") -> list[tuple]:
    return con.execute(
        "select row_number, column_name, reason_code, value, reason, record_key, department, "
        "file from meta.quarantine where as_of = ? and source = ? "
        "order by row_number, column_name", [AS_OF, source]).fetchall()


def test_every_row_is_staged_or_quarantined(con, staged_pension) -> None:
    r = staged_pension
    assert (r.source, r.table) == ("hrss_pension", "pension")
    assert r.rows_read == len(PENSION_ROWS) == 16
    assert r.rows_staged == 2
    assert r.rows_quarantined == len(EXPECTED_FAILURES) == 14
    assert r.rows_read == r.rows_staged + r.rows_quarantined
    assert r.quarantine_entries == sum(len(v) for v in EXPECTED_FAILURES.values())
    distinct = con.execute("select count(distinct row_number) from meta.quarantine "
                           "where source = 'hrss_pension'").fetchone()[0]
    assert distinct == r.rows_quarantined
    assert r.unmapped_source_columns == ("备注",)
    assert r.unmapped_canonical_columns == ("birth_date",)


def test_each_failure_has_its_reason_code_on_the_source_column(con, staged_pension) -> None:
    got: dict[int, list[tuple[str, str]]] = {}
    for row, column, code, *_ in quarantine(con):
        got.setdefault(row, []).append((column, code))
    assert {k: sorted(v) for k, v in got.items()} == {
        k: sorted(v) for k, v in EXPECTED_FAILURES.items()}
    produced = {code for v in got.values() for _, code in v}
    assert produced == set(STAGE_REASON_CODES)


def test_quarantine_rows_carry_file_row_value_and_chinese_reason(con, staged_pension) -> None:
    rows = {(r[0], r[1]): r for r in quarantine(con)}
    _, _, _, value, reason, key, dept, file = rows[(4, "缴费基数")]
    assert (value, key, dept, file) == ("三千", "P003", "hrss", PENSION_FILE)
    assert reason == '文件 hrss/pension.csv 第 4 行 列「缴费基数」：数值字段含非数字内容（"三千"，应为数字）'
    assert rows[(15, "记录编号")][3] == "P001"
    assert "记录编号重复" in rows[(15, "记录编号")][4]
    assert rows[(16, "记录编号")][5] is None
    assert rows[(12, "姓名")][3] == LONG_NAME[:200]  # value cut to 200 characters
    assert rows[(7, "参保日期")][4].endswith('（"20270101"，晚于 2026-04-01）')
    assert "应为6至12位数字" in rows[(10, "行政区划")][4]
    # the hint lists the formats this source is read with
    assert "20250331、2025年03月31日" in rows[(6, "参保日期")][4]
    for row, *_rest, reason, _k, _d, _f in quarantine(con):
        assert reason.startswith(f"文件 {PENSION_FILE} 第 {row} 行 列「")


def test_names_and_ids_are_masked_in_reasons_but_kept_as_values(con, staged_pension) -> None:
    rows = {(r[0], r[1]): r for r in quarantine(con)}
    value, reason = rows[(11, "姓名")][3:5]
    assert value == '=HYPERLINK("http://x")'
    assert "HYPERLINK" not in reason and '（"=*' in reason
    assert LONG_NAME[:10] not in rows[(12, "姓名")][4]


def test_staged_rows_are_typed_mapped_and_trimmed(con, staged_pension) -> None:
    rows = con.execute(
        "select _record_key, _row, _file, _source, as_of, id_number, name, sex, insurance_type, "
        "status, contribution_base, contribution_start, region_code, birth_date "
        "from staged.pension order by _row").fetchall()
    assert rows == [
        ("P001", 2, PENSION_FILE, "hrss_pension", AS_OF, "430102198005060012", "张三", "male",
         "enterprise_employee", "contributing", 3200.0, date(2019, 5, 1), "430102", None),
        ("P002", 3, PENSION_FILE, "hrss_pension", AS_OF, "430102198005060039", "李四", "female",
         "urban_rural_resident", "receiving", 4500.5, date(2020, 1, 1), "430102001001", None),
    ]
    types = dict(con.execute("select column_name, data_type from information_schema.columns "
                             "where table_schema = 'staged' and table_name = 'pension'").fetchall())
    assert types["contribution_base"] == "DOUBLE" and types["contribution_start"] == "DATE"
    assert types["_row"] == "BIGINT" and types["as_of"] == "DATE"


def test_rerun_is_idempotent_and_keeps_extract_quarantine(con, staged_pension) -> None:
    con.execute("insert into meta.quarantine values (?, 'hrss_pension', 'hrss', ?, 99, NULL, "
                "NULL, 'a,b,c', 'malformed_row', '文件 hrss/pension.csv 第 99 行：列数不符')",
                [AS_OF, PENSION_FILE])
    before = quarantine(con)
    staged_before = con.execute("select * from staged.pension order by _row").fetchall()
    again = stage_source(con, pension_config(), AS_OF)
    assert again == staged_pension
    assert quarantine(con) == before
    assert con.execute("select * from staged.pension order by _row").fetchall() == staged_before
    codes = [r[0] for r in con.execute("select reason_code from meta.quarantine "
                                       "where reason_code = 'malformed_row'").fetchall()]
    assert codes == ["malformed_row"]


def test_other_as_of_and_other_sources_are_left_alone(con, staged_pension) -> None:
    make_raw(con, "hrss_pension_county2", HEADER, PENSION_ROWS[:2], file="hrss/pension_2.csv")
    other = stage_source(con, pension_config(name="hrss_pension_county2"), AS_OF)
    earlier = stage_source(con, pension_config(), date(2024, 12, 31))
    assert other.rows_staged == 2 and earlier.rows_staged == 2
    counts = con.execute("select _source, as_of, count(*) from staged.pension "
                         "group by all order by all").fetchall()
    assert counts == [("hrss_pension", date(2024, 12, 31), 2), ("hrss_pension", AS_OF, 2),
                      ("hrss_pension_county2", AS_OF, 2)]
    stage_source(con, pension_config(), AS_OF)
    assert con.execute("select count(*) from staged.pension").fetchone()[0] == 6


def test_first_occurrence_of_a_duplicate_key_stays_across_files(con) -> None:
    make_raw(con, "hrss_pension", HEADER, [PENSION_ROWS[0]], file="hrss/pension_a.csv")
    con.execute("insert into raw.hrss_pension select * replace ("
                "'hrss/pension_b.csv' as _file, 2 as _row, '李四' as 姓名) from raw.hrss_pension")
    result = stage_source(con, pension_config(), AS_OF)
    assert (result.rows_staged, result.rows_quarantined) == (1, 1)
    assert con.execute("select _file, name from staged.pension").fetchall() == [
        ("hrss/pension_a.csv", "张三")]
    assert [r[2] for r in quarantine(con)] == ["duplicate_record_key"]


def test_a_renamed_column_rejects_the_source_naming_it(con) -> None:
    header = [h if h != "缴费基数" else "缴费基数(元)" for h in HEADER]
    make_raw(con, "hrss_pension", header, PENSION_ROWS[:3])
    with pytest.raises(SafetynetError) as info:
        stage_source(con, pension_config(), AS_OF)
    message = str(info.value)
    for part in ("hrss_pension", PENSION_FILE, "缴费基数", "contribution_base", "缺少列", "lacks"):
        assert part in message
    assert info.value.column == "缴费基数" and info.value.source == "hrss_pension"


def test_a_missing_record_key_column_rejects_the_source(con) -> None:
    make_raw(con, "hrss_pension", HEADER[1:], [r[1:] for r in PENSION_ROWS[:2]])
    with pytest.raises(SafetynetError, match="记录编号"):
        stage_source(con, pension_config(), AS_OF)


@pytest.mark.parametrize(
    "overrides, needle",
    [
        ({"table": "pensions"}, "pensions"),
        ({"columns": {"id_number": "身份证号码", "insurance_type": "险种类型", "status": "缴费状态",
                      "salary": "缴费基数"}}, "salary"),
        ({"columns": {"id_number": "身份证号码", "insurance_type": "险种类型"}}, "status"),
        ({"columns": {"sex": "性别", "insurance_type": "险种类型", "status": "缴费状态"}},
         "neither id_number nor name"),
        ({"values": {"status": {"1": "paying"}}}, "paying"),
        ({"values": {"salary": {"x": "1"}}}, "salary"),
        ({"date_formats": ["%Y-%Q"]}, "%Y-%Q"),
    ],
    ids=["unknown_table", "unknown_column", "required_unmapped", "no_identity", "bad_value_map",
         "value_map_unknown_column", "bad_date_format"],
)
def test_config_errors_reject_the_source(con, overrides: dict, needle: str) -> None:
    make_raw(con, "hrss_pension", HEADER, PENSION_ROWS[:2])
    with pytest.raises(ConfigError) as info:
        stage_source(con, pension_config(**overrides), AS_OF)
    assert needle in str(info.value) and "hrss_pension" in str(info.value)


def test_an_expression_over_a_missing_column_names_the_canonical_target(con) -> None:
    make_raw(con, "hrss_pension", HEADER, PENSION_ROWS[:2])
    raw_cols = {"id_number": "身份证号码", "name": "姓名", "insurance_type": "险种类型",
                "status": "缴费状态", "birth_date": {"expr": 'substr("出生年月日", 1, 8)'}}
    cfg = pension_config(columns=raw_cols)
    with pytest.raises(SafetynetError) as info:
        stage_source(con, cfg, AS_OF)
    assert "birth_date" in str(info.value) and "出生年月日" in str(info.value)


def test_an_expression_failing_at_run_time_rejects_without_leaking_values(con) -> None:
    make_raw(con, "hrss_pension", HEADER, PENSION_ROWS[:3])
    cfg = pension_config(columns={"id_number": "身份证号码", "name": "姓名", "status": "缴费状态",
                                  "insurance_type": "险种类型",
                                  "contribution_base": {"expr": 'CAST("身份证号码" AS INTEGER)'}})
    with pytest.raises(SafetynetError) as info:
        stage_source(con, cfg, AS_OF)
    assert "hrss_pension" in str(info.value)
    assert "430102198005060012" not in str(info.value)
    assert con.execute("select count(*) from meta.quarantine").fetchone()[0] == 0


def test_a_rejected_rerun_removes_that_sources_earlier_rows(con, staged_pension) -> None:
    make_raw(con, "hrss_pension", HEADER[:-4], [r[:-4] for r in PENSION_ROWS])
    with pytest.raises(SafetynetError):
        stage_source(con, pension_config(), AS_OF)
    assert con.execute("select count(*) from staged.pension").fetchone()[0] == 0
    assert quarantine(con) == []


def test_missing_raw_table_rejects_the_source(con) -> None:
    with pytest.raises(SafetynetError, match="raw"):
        stage_source(con, pension_config(), AS_OF)


def test_expr_const_and_loose_headers(con) -> None:
    header = ["编号", "证件号码 ", "姓", "名", "类型", "状态", "出生"]
    rows = [("A1", "430102198005060012", "张", "三", "110", "1", "1980年05月06日"),
            ("A2", "430102198005060039", "=", "A1", "110", "1", "1980-05-06"),
            ("A3", "430102198005060047", "王", "五", "110", "1", "1980/05/06")]
    make_raw(con, "county_pension", header, rows, file="county/pension.xlsx")
    cfg = pension_config(
        name="county_pension", record_key="编号",
        columns={"id_number": "证件号码", "name": {"expr": '"姓" || "名"'},
                 "region_code": {"const": 430102}, "insurance_type": "类型",
                 "status": "状态", "birth_date": "出生"})
    result = stage_source(con, cfg, AS_OF)
    assert (result.rows_read, result.rows_staged, result.rows_quarantined) == (3, 1, 2)
    assert set(result.unmapped_source_columns) == set()
    assert con.execute("select name, region_code, birth_date from staged.pension").fetchall() == [
        ("张三", "430102", date(1980, 5, 6))]
    got = [(r[0], r[1], r[2]) for r in quarantine(con, "county_pension")]
    # an expression column is reported under its canonical name and Chinese label
    assert got == [(3, "name", "formula_like"), (4, "出生", "unparseable_date")]
    assert "列「姓名」" in quarantine(con, "county_pension")[0][4]
    assert "try_strptime" in stage_sql(con, cfg, AS_OF)


def test_values_default_and_map_to_null(con) -> None:
    header = ["编号", "姓名", "类型", "状态"]
    rows = [("B1", "张三", "110", "正常"), ("B2", "李四", "999", "正常"), ("B3", "王五", "110", "未知")]
    make_raw(con, "p2", header, rows, file="p2.csv")
    cfg = pension_config(
        name="p2", record_key="编号",
        columns={"name": "姓名", "insurance_type": "类型", "status": "状态"},
        values={"insurance_type": {"110": "enterprise_employee", "*": "other"},
                "status": {"正常": "contributing", "未知": None}})
    result = stage_source(con, cfg, AS_OF)
    assert (result.rows_staged, result.rows_quarantined) == (2, 1)
    assert con.execute("select _record_key, insurance_type from staged.pension order by 1"
                       ).fetchall() == [("B1", "enterprise_employee"), ("B2", "other")]
    q = quarantine(con, "p2")
    assert [(r[1], r[2], r[3]) for r in q] == [("状态", "missing_required", "未知")]


def test_empty_raw_table_stages_nothing(con) -> None:
    make_raw(con, "hrss_pension", HEADER, [])
    result = stage_source(con, pension_config(), AS_OF)
    assert (result.rows_read, result.rows_staged, result.rows_quarantined) == (0, 0, 0)


def test_gx_suite_passes_after_staging_and_fails_on_broken_rows(con, staged_pension) -> None:
    ok = validate_staged(con, "pension", AS_OF)
    assert ok.success and ok.row_count == 2 and not ok.failed
    assert len(ok.expectations) > 20
    kinds = {e["expectation"] for e in ok.expectations}
    assert {"expect_column_values_to_not_be_null", "expect_column_values_to_be_in_set",
            "expect_column_values_to_be_between", "expect_column_values_to_match_regex",
            "expect_compound_columns_to_be_unique"} <= kinds
    con.execute(
        "insert into staged.pension (id_number, name, insurance_type, status, contribution_base, "
        "contribution_start, region_code, as_of, _source, _record_key, _row, _file) values "
        "(NULL, NULL, 'pirate', 'contributing', -1, DATE '1850-01-01', '43A1', ?, "
        "'hrss_pension', 'P001', 99, 'x'), "
        "('430102198005060012', '王五', 'other', NULL, 1, NULL, NULL, ?, 'hrss_pension', 'P099', "
        "100, 'x')", [AS_OF, AS_OF])
    bad = validate_staged(con, "pension", AS_OF)
    assert not bad.success and bad.row_count == 4
    failed = {(e["reason_code"], json.dumps(e["column"], ensure_ascii=False)) for e in bad.failed}
    assert failed == {
        ("unknown_code", '"insurance_type"'), ("missing_required", '"status"'),
        ("out_of_range", '"contribution_base"'), ("date_out_of_range", '"contribution_start"'),
        ("bad_pattern", '"region_code"'), ("missing_identity", '"_has_identity"'),
        ("duplicate_record_key", '["_source", "_record_key"]'),
    }
    unique = next(e for e in bad.failed if e["reason_code"] == "duplicate_record_key")
    assert unique["unexpected_count"] == 2 and all(
        "*" in s["_record_key"] for s in unique["sample"])  # record keys masked
    json.loads(bad.to_json())
    other_day = validate_staged(con, "pension", date(2024, 12, 31))
    assert other_day.success and other_day.row_count == 0


def test_quarantine_report_per_department(con, staged_pension, tmp_path: Path) -> None:
    make_raw(con, "ca_deaths", ["编号", "姓名", "死亡日期"],
             [("D1", "赵六", "2025-01-05"), ("D2", "钱七", "2025-01-06")], file="ca/deaths.csv")
    deaths = parse_source_config({
        "name": "ca_deaths", "department": "civil_affairs", "table": "deaths", "format": "csv",
        "location": {"path": "ca/deaths.csv"}, "record_key": "编号",
        "columns": {"name": "姓名", "death_date": "死亡日期"}})
    assert stage_source(con, deaths, AS_OF).rows_quarantined == 0
    out = tmp_path / "reports"
    paths = write_quarantine_reports(con, AS_OF, out)
    assert paths == [out / "hrss_数据质量问题_2025-03-31.xlsx"]
    sheet = CalamineWorkbook.from_path(str(paths[0])).get_sheet_by_index(0).to_python()
    assert tuple(sheet[0]) == REPORT_HEADERS
    body = sheet[1:]
    assert len(body) == sum(len(v) for v in EXPECTED_FAILURES.values())
    assert [int(r[2]) for r in body] == sorted(int(r[2]) for r in body)
    first = body[0]
    assert (first[0], first[1], int(first[2]), first[3], first[4], first[5]) == (
        "hrss_pension", PENSION_FILE, 4, "P003", "缴费基数", "三千")
    assert first[6] == "数值字段含非数字内容" and first[7].startswith("文件 hrss/pension.csv 第 4 行")
    formula = next(r for r in body if r[3] == "P010")
    assert formula[5] == "'=HYPERLINK(\"http://x\")"  # neutralised by write_xlsx
    digest = sha256_file(paths[0])
    assert write_quarantine_reports(con, AS_OF, out) == paths
    assert sha256_file(paths[0]) == digest  # byte-reproducible
    # once the department's rows are fixed, no file and the stale one is gone
    make_raw(con, "hrss_pension", HEADER, PENSION_ROWS[:2])
    stage_source(con, pension_config(), AS_OF)
    assert write_quarantine_reports(con, AS_OF, out) == []
    assert not list(out.glob("*.xlsx"))


def test_quarantine_summary_counts_rows_and_entries(con, staged_pension) -> None:
    summary = quarantine_summary(con, AS_OF)
    by_code = {s["reason_code"]: s for s in summary}
    assert set(by_code) == set(STAGE_REASON_CODES)
    assert by_code["not_a_number"]["entries"] == 2 and by_code["not_a_number"]["rows"] == 2
    assert by_code["unknown_code"]["entries"] == 2
    assert by_code["missing_required"]["rows"] == 2
    assert all(s["source"] == "hrss_pension" and s["department"] == "hrss" for s in summary)
    assert by_code["bad_pattern"]["reason_label"] == "格式不符合约定"
    assert sum(s["entries"] for s in summary) == staged_pension.quarantine_entries


def test_ensure_staged_tables_creates_every_contract_table(con) -> None:
    ensure_staged_tables(con)
    tables = {r[0] for r in con.execute("select table_name from information_schema.tables "
                                        "where table_schema = 'staged'").fetchall()}
    assert {"roster", "standards", "pension", "disability_certs"} <= tables
    assert len(tables) == 10


@pytest.mark.parametrize("raw, expected", [
    ("张三", "张三"), (" 张三", "张三"), ("张三\u3000", "张三"), ("\u00a0张三\u200b", "张三"),
    ("\ufeff430102", "430102"), ("张 三", "张 三"), ("", None), (" \t\u3000", None),
    ("\u3000", None), ("x", "x"), (None, None), ("a\nb", "a\nb"), ("\r\n", None),
])
def test_cell_cleaning_trims_only_the_edges(raw, expected) -> None:
    from safetynet.data_contracts.stage_sql import _clean

    con = duckdb.connect()
    assert con.execute(f"select {_clean('$v')}", {"v": raw}).fetchone()[0] == expected


@pytest.mark.parametrize("duplicate", [False, True])
def test_staged_rows_keep_the_file_order_over_many_row_groups(tmp_path: Path,
                                                             duplicate: bool) -> None:
    """Without repeated keys the insert is not sorted: DuckDB must keep the raw order."""
    con = connect(tmp_path / "w.duckdb", threads=2)
    n = 400_000  # a few row groups of 122,880 rows, over two files
    cols = ", ".join(f"{quote_ident(h)} VARCHAR" for h in HEADER)
    con.execute(f"create table raw.hrss_pension ({cols}, _row BIGINT, _file VARCHAR)")
    key = "case when i = 7 then 'K3' else 'K' || i end" if duplicate else "'K' || i"
    values = {"记录编号": key, "身份证号码": "'43010219700101' || lpad((i % 9999)::varchar, 4, '0')",
              "姓名": "'张三'", "性别": "'男'", "险种类型": "'110'", "缴费状态": "'1'",
              "缴费基数": "(i % 5000)::varchar", "参保日期": "'20200101'",
              "行政区划": "'430102'"}
    select = ", ".join(values.get(h, "null") for h in HEADER)
    con.execute(f"insert into raw.hrss_pension select {select}, "
                f"(i % 200000) + 2, case when i < 200000 then 'a.csv' else 'b.csv' end "
                f"from range({n}) t(i)")
    stage_source(con, pension_config(), AS_OF)
    unordered = con.execute("""
        select count(*) from (
            select _file, _row, lag(_file) over (order by rowid) as pf,
                   lag(_row) over (order by rowid) as pr
            from staged.pension)
        where pf is not null and (_file < pf or (_file = pf and _row <= pr))""").fetchone()[0]
    assert unordered == 0
    assert con.execute("select count(*) from staged.pension").fetchone()[0] == n - duplicate
