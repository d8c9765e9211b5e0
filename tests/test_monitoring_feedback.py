"""Department feedback round trips on real referral files (the referral writer's CSV and XLSX),
bad files, record_disposition rules, and the yield statistics that follow from the answers."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook
from python_calamine import CalamineWorkbook

from safetynet.monitoring.feedback import (
    FeedbackError,
    FeedbackReason,
    intake_feedback_file,
    read_feedback_file,
    record_disposition,
)
from safetynet.monitoring.yield_stats import yield_by_direction, yield_stats
from safetynet.outputs import write_csv, write_xlsx
from safetynet.referrals import warning_id
from tests.fixtures.monitoring.builders import (
    Q2,
    UNEMPLOYED,
    VEHICLE,
    county_of,
    household_of,
    open_warehouse,
    person_id,
    referral_quarter,
    snapshot,
)

FEEDBACK_TABLES = ("warnings.feedback", "warnings.lifecycle", "warnings.audit",
                   "links.review_decisions", "warnings.feedback_rejects")


@pytest.fixture()
def quarter(tmp_path):
    """One evaluated quarter, its lifecycle, and its referral files written by the real writer."""
    con = open_warehouse(tmp_path / "wh.duckdb")
    out = tmp_path / "referrals"
    manifest = referral_quarter(con, out)
    yield con, out, manifest, tmp_path
    con.close()


def _file(out: Path, manifest, department: str, county: str, fmt: str) -> Path:
    f = next(f for f in manifest.files
             if (f.department, f.county_code, f.format) == (department, county, fmt))
    return out / f.path


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    return rows[0], rows[1:]


def _fill(headers: list[str], row: list[str], result: str, day: str, officer: str,
          note: str = "") -> list[str]:
    row = list(row)
    for header, value in (("核查结果", result), ("核查日期", day), ("核查人", officer),
                          ("备注", note)):
        row[headers.index(header)] = value
    return row


def _key(rule: str, i: int) -> str:
    subject = household_of(i) if rule == "PROPERTY_MULTIPLE" else person_id(i)
    return f"{rule}:{subject}"


def test_round_trip_csv_and_xlsx_then_reimport_is_noop(quarter):
    con, out, manifest, tmp = quarter
    # civil affairs of county 430102 answers in the CSV it received
    src = _file(out, manifest, "civil_affairs", "430102", "csv")
    headers, rows = _read_csv(src)
    by_id = {r[0]: r for r in rows}
    answers = {_key("VEHICLE_OWNED", 0): ("属实", "confirmed"),
               _key("VEHICLE_OWNED", 1): ("不属实", "not_confirmed"),
               _key("VEHICLE_OWNED", 2): ("非本人", "wrong_person"),
               _key("PROPERTY_MULTIPLE", 0): ("已调整救助", "assistance_adjusted")}
    filled = [_fill(headers, r, "", "", "") for r in rows]
    for key, (label, _code) in answers.items():
        i = [r[0] for r in rows].index(warning_id(key))
        filled[i] = _fill(headers, by_id[warning_id(key)], label, "2026-10-15", "陈科员",
                          "入户核查" if label == "不属实" else "")
    returned = tmp / "back" / src.name
    write_csv(returned, headers, filled)
    res = intake_feedback_file(con, returned, actor="county_430102")
    assert (res.applied, res.already_recorded, len(res.errors)) == (4, 0, 0)
    assert res.unanswered == len(rows) - 4 and res.report_path is None

    # hrss answers in the XLSX it received (read back with calamine, like any department tool)
    xsrc = _file(out, manifest, "hrss", "430102", "xlsx")
    cells = CalamineWorkbook.from_path(str(xsrc)).get_sheet_by_index(0).to_python()
    xheaders, xrows = [str(c) for c in cells[0]], [[str(c) for c in r] for r in cells[1:]]
    assert len(xrows) == len(UNEMPLOYED)
    xfilled = [_fill(xheaders, r, "已纳入救助" if n == 0 else "属实", "2026/10/20", "刘专员")
               for n, r in enumerate(xrows)]
    xreturned = tmp / "back" / xsrc.name
    write_xlsx(xreturned, xheaders, xfilled)
    xres = intake_feedback_file(con, xreturned, actor="hrss_430102")
    assert (xres.applied, len(xres.errors)) == (len(UNEMPLOYED), 0)

    fb = con.execute("select warning_key, result, result_date, officer, channel, source_file, "
                     "row_number, actor, as_of from warnings.feedback").fetchall()
    assert len(fb) == 4 + len(UNEMPLOYED)
    for key, (_label, code) in answers.items():
        row = next(r for r in fb if r[0] == key)
        line = [r[0] for r in rows].index(warning_id(key)) + 2  # header is line 1
        assert row[1:] == (code, date(2026, 10, 15), "陈科员", "file", src.name, line,
                           "county_430102", Q2)
    statuses = dict(con.execute("select warning_key, status || ':' || coalesce(last_result, '') "
                                "from warnings.lifecycle").fetchall())
    for key, (_label, code) in answers.items():
        assert statuses[key] == f"closed:{code}"
    assert statuses[_key("VEHICLE_OWNED", 9)] == "open:"
    audit = con.execute("select warning_key, from_status, to_status, actor, channel "
                        "from warnings.audit where channel = 'file'").fetchall()
    assert sorted(audit) == sorted([(k, "open", "closed", "county_430102", "file")
                                    for k in answers] +
                                   [(_key("UNEMPLOYED_WORKING_AGE", i), "open", "closed",
                                     "hrss_430102", "file") for i in UNEMPLOYED])
    # "wrong person" feeds the linkage review decisions
    assert con.execute("select source, record_key, person_id, decision, decided_by, origin "
                       "from links.review_decisions").fetchall() == [
        ("ps_vehicles", f"vehicles-{person_id(2)}", person_id(2), "reject", "陈科员",
         "feedback_wrong_person")]

    before = snapshot(con, FEEDBACK_TABLES)
    again = intake_feedback_file(con, returned, actor="county_430102")
    xagain = intake_feedback_file(con, xreturned, actor="hrss_430102")
    assert (again.applied, again.already_recorded) == (0, 4)
    assert (xagain.applied, xagain.already_recorded) == (0, len(UNEMPLOYED))
    assert snapshot(con, FEEDBACK_TABLES) == before

    # yield: raised -> verified -> confirmed -> adjusted / enrolled, per rule and county
    stats = {(r.rule_id, r.county_code): r for r in yield_stats(con, Q2)}
    veh = stats[("VEHICLE_OWNED", "430102")]
    assert veh.raised == sum(county_of(i) == "430102" for i in VEHICLE)
    assert (veh.verified, veh.confirmed, veh.not_confirmed, veh.wrong_person) == (3, 1, 1, 1)
    prop = stats[("PROPERTY_MULTIPLE", "430102")]
    assert (prop.raised, prop.verified, prop.confirmed, prop.adjusted) == (1, 1, 1, 1)
    une = stats[("UNEMPLOYED_WORKING_AGE", "430102")]
    assert (une.raised, une.verified, une.confirmed, une.enrolled) == (3, 3, 3, 1)
    assert sum(r.raised for r in stats.values()) == con.execute(
        "select count(*) from warnings.warnings").fetchone()[0]
    side = {r.county_code: r for r in yield_by_direction(con, Q2)}["430102"]
    assert (side.discovery_raised, side.discovery_confirmed, side.discovery_enrolled) == (3, 3, 1)
    assert (side.exit_raised, side.exit_verified, side.exit_confirmed, side.exit_adjusted) == \
        (veh.raised + 1, 4, 2, 1)


def test_bad_rows_are_rejected_with_reasons_and_good_rows_applied(quarter):
    con, out, manifest, tmp = quarter
    src = _file(out, manifest, "civil_affairs", "430103", "csv")
    headers, rows = _read_csv(src)
    k3, k4, k5 = (_key("VEHICLE_OWNED", i) for i in (3, 4, 5))
    record_disposition(con, k5, "not_confirmed", date(2026, 10, 2), "周科员", actor="web_user")
    base = next(r for r in rows if r[0] == warning_id(k4))
    good = _fill(headers, next(r for r in rows if r[0] == warning_id(k3)), "属实", "2026-10-15",
                 "陈科员")
    ghost = _fill(headers, base, "属实", "2026-10-15", "陈科员")
    ghost[0] = "W000000000000"
    bad = [
        good,                                                               # line 2: applied
        ghost,                                                              # 3 unknown id
        _fill(headers, base, "确认", "2026-10-15", "陈科员"),                # 4 bad value
        _fill(headers, base, "属实", "2026-13-45", "陈科员"),                # 5 bad date
        _fill(headers, base, "属实", "2999-01-01", "陈科员"),                # 6 future date
        _fill(headers, base, "属实", "2026-10-15", ""),                     # 7 no officer
        _fill(headers, base, "不属实", "2026-10-16", "陈科员"),              # 8 \ conflicting
        _fill(headers, base, "属实", "2026-10-16", "陈科员"),                # 9 / answers
        _fill(headers, base, "", "", ""),                                   # 10 unanswered
        _fill(headers, next(r for r in rows if r[0] == warning_id(k5)), "属实", "2026-10-15",
              "陈科员"),                                                     # 11 answered before
        _fill(headers, base, "属实", "2026-10-15", "陈科员"),                # 12 malformed id
    ]
    bad[-1][0] = "abc"
    returned = tmp / "back" / src.name
    write_csv(returned, headers, bad)
    res = intake_feedback_file(con, returned, actor="county_430103")
    assert res.applied == 1 and res.unanswered == 1
    got = sorted((e.row_number, e.column, e.code) for e in res.errors)
    assert got == [(3, "预警编号", "unknown_warning"), (4, "核查结果", "bad_value"),
                   (5, "核查日期", "bad_date"), (6, "核查日期", "bad_date"),
                   (7, "核查人", "missing_value"), (8, "预警编号", "duplicate_answer"),
                   (9, "预警编号", "duplicate_answer"), (11, "核查结果", "already_answered"),
                   (12, "预警编号", "unknown_warning")]
    for e in res.errors:
        assert src.name in e.message and f"第{e.row_number}行" in e.message
        assert f"row {e.row_number}" in e.message
    assert con.execute("select result from warnings.feedback where warning_key = ?",
                       [k3]).fetchall() == [("confirmed",)]
    assert con.execute("select status, last_result from warnings.lifecycle where warning_key = ?",
                       [k4]).fetchone() == ("open", None)
    stored = con.execute("select row_number, column_name, reason_code, actor from "
                         "warnings.feedback_rejects order by row_number, column_name").fetchall()
    assert [(r, c, code) for r, c, code, _a in stored] == got
    assert {a for *_x, a in stored} == {"county_430103"}
    # the error report goes back to the department: same rows, same reasons
    assert res.report_path and res.report_path.is_file()
    report = CalamineWorkbook.from_path(str(res.report_path)).get_sheet_by_index(0).to_python()
    assert report[0][:3] == ["文件", "行号", "列"]
    assert sorted((int(r[1]), r[2], r[5]) for r in report[1:]) == got
    # importing the same file again adds nothing
    before = snapshot(con, FEEDBACK_TABLES)
    again = intake_feedback_file(con, returned, actor="county_430103")
    assert (again.applied, again.already_recorded, len(again.errors)) == (0, 1, len(got))
    assert snapshot(con, FEEDBACK_TABLES) == before


def test_missing_column_and_unreadable_files_apply_nothing(quarter):
    con, out, manifest, tmp = quarter
    src = _file(out, manifest, "civil_affairs", "430102", "csv")
    headers, rows = _read_csv(src)
    filled = [_fill(headers, r, "属实", "2026-10-15", "陈科员") for r in rows]
    # 1. the result column was deleted by the department
    cut = headers.index("核查结果")
    no_result = tmp / "back" / "无核查结果列.csv"
    write_csv(no_result, headers[:cut] + headers[cut + 1:], [r[:cut] + r[cut + 1:] for r in filled])
    res = intake_feedback_file(con, no_result, actor="x")
    assert [(e.row_number, e.code, e.column) for e in res.errors] == [
        (None, "missing_column", "核查结果")]
    assert "核查结果" in res.errors[0].message and no_result.name in res.errors[0].message
    # 2. mojibake: UTF-8 text decoded as cp1252 and saved again; no header can be found
    good = tmp / "back" / "good.csv"
    write_csv(good, headers, filled)
    text = good.read_bytes().decode("utf-8-sig")
    mangled = tmp / "back" / "乱码.csv"
    mangled.write_bytes(text.encode("utf-8").decode("cp1252", errors="replace").encode("utf-8"))
    res2 = intake_feedback_file(con, mangled, actor="x")
    assert [(e.row_number, e.code) for e in res2.errors] == [(None, "missing_column")]
    with pytest.raises(FeedbackError) as exc:
        read_feedback_file(mangled)
    assert exc.value.code == FeedbackReason.MISSING_COLUMN and "乱码.csv" in str(exc.value)
    # 3. not a spreadsheet at all
    fake = tmp / "back" / "fake.xlsx"
    fake.write_bytes(b"this is not a zip file")
    res3 = intake_feedback_file(con, fake, actor="x")
    assert [e.code for e in res3.errors] == ["malformed_file"]
    assert con.execute("select count(*) from warnings.feedback").fetchone()[0] == 0
    assert con.execute("select count(*) from warnings.feedback_rejects where row_number is null "
                       ).fetchone()[0] == 3


def test_gbk_csv_and_excel_edited_xlsx_are_read(quarter):
    con, out, manifest, tmp = quarter
    src = _file(out, manifest, "civil_affairs", "430104", "csv")
    headers, rows = _read_csv(src)
    filled = [_fill(headers, r, "不属实", "2026年10月18日", "欧阳·娜仁", "经核查已过户")
              for r in rows]
    gbk = tmp / "back" / src.name
    gbk.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([headers, *filled])
    gbk.write_bytes(buf.getvalue().encode("gbk"))
    res = intake_feedback_file(con, gbk, actor="x")
    assert (res.applied, len(res.errors)) == (len(rows), 0)
    officers = {r[0] for r in con.execute("select officer from warnings.feedback").fetchall()}
    assert officers == {"欧阳·娜仁"}

    # an XLSX saved by Excel: a title row above the header and real date cells
    msrc = _file(out, manifest, "medical_security", "430103", "csv")
    mheaders, mrows = _read_csv(msrc)
    wb = Workbook()
    ws = wb.active
    ws.append(["医保局核查结果反馈"])
    ws.append(mheaders)
    for r in mrows:
        ws.append(_fill(mheaders, r, "属实", "", "孙科员"))
        ws.cell(row=ws.max_row, column=mheaders.index("核查日期") + 1).value = date(2026, 10, 21)
    xlsx = tmp / "back" / msrc.with_suffix(".xlsx").name
    wb.save(xlsx)
    xres = intake_feedback_file(con, xlsx, actor="y")
    assert (xres.applied, len(xres.errors)) == (len(mrows), 0)
    rows_seen = con.execute("select row_number, result_date from warnings.feedback "
                            "where source_file = ? order by 1", [xlsx.name]).fetchall()
    assert rows_seen == [(3 + n, date(2026, 10, 21)) for n in range(len(mrows))]


def test_record_disposition_validates_and_is_idempotent(quarter):
    con, _out, _manifest, _tmp = quarter
    key = _key("VEHICLE_OWNED", 6)
    cases = [
        (("NOPE:1", "confirmed", date(2026, 10, 1), "甲"), FeedbackReason.UNKNOWN_WARNING),
        ((key, "maybe", date(2026, 10, 1), "甲"), FeedbackReason.BAD_VALUE),
        ((key, "confirmed", date(2999, 1, 1), "甲"), FeedbackReason.BAD_DATE),
        ((key, "confirmed", date(2026, 1, 1), "甲"), FeedbackReason.BAD_DATE),
        ((key, "confirmed", date(2026, 10, 1), " "), FeedbackReason.MISSING_VALUE),
    ]
    for args, code in cases:
        with pytest.raises(FeedbackError) as exc:
            record_disposition(con, *args, actor="web_user")
        assert exc.value.code == code and isinstance(exc.value, ValueError)
    with pytest.raises(FeedbackError) as exc:
        record_disposition(con, key, "confirmed", date(2026, 10, 1), "甲", actor="u",
                           as_of=date(2026, 3, 31))
    assert exc.value.code == FeedbackReason.BAD_AS_OF
    assert con.execute("select count(*) from warnings.feedback").fetchone()[0] == 0

    record_disposition(con, key, "confirmed", date(2026, 10, 1), "甲", actor="u")
    before = snapshot(con, FEEDBACK_TABLES)
    record_disposition(con, key, "confirmed", date(2026, 10, 2), "乙", actor="u")  # same: no-op
    assert snapshot(con, FEEDBACK_TABLES) == before
    with pytest.raises(FeedbackError) as exc:
        record_disposition(con, key, "not_confirmed", date(2026, 10, 2), "乙", actor="u")
    assert exc.value.code == FeedbackReason.ALREADY_ANSWERED and "属实" in str(exc.value)
    assert snapshot(con, FEEDBACK_TABLES) == before
