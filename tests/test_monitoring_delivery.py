"""Delivery of referral files to drop folders and to departments' PostgreSQL / MariaDB tables:
delivery records, idempotent re-delivery, changed files, failures, lifecycle status."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from pathlib import Path

import pytest

from safetynet.errors import ConfigError
from safetynet.monitoring.delivery import deliver, load_delivery_config
from safetynet.monitoring.feedback import record_disposition
from safetynet.monitoring.lifecycle import update_lifecycle
from safetynet.referrals import warning_id, write_referrals
from tests.fixtures.monitoring.builders import (
    Q2,
    open_warehouse,
    person_id,
    referral_quarter,
    snapshot,
)

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
MY_DSN = "mysql://root:@127.0.0.1:3306/test"
STATE = ("referrals.deliveries", "referrals.delivery_items", "warnings.lifecycle",
         "warnings.audit")


@pytest.fixture()
def quarter(tmp_path):
    con = open_warehouse(tmp_path / "wh.duckdb")
    out = tmp_path / "referrals"
    manifest = referral_quarter(con, out)
    yield con, out, manifest, tmp_path
    con.close()


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))


def _drop_config(tmp: Path) -> dict:
    return {"destinations": {
        "civil_affairs": {"drop_folder": str(tmp / "drop" / "{department}" / "{county_code}"),
                          "formats": ["xlsx"]},
        "*": {"drop_folder": str(tmp / "drop" / "other" / "{prefecture_code}" / "{department}"
                                 / "{as_of}")},
    }}


def test_drop_folders_record_and_never_send_twice(quarter):
    con, out, manifest, tmp = quarter
    report = deliver(con, Q2, out, _drop_config(tmp), actor="scheduler")
    expected = [f for f in manifest.files if f.department != "civil_affairs" or f.format == "xlsx"]
    assert report.count("delivered") == len(expected) and report.count("failed") == 0
    for f in expected:
        if f.department == "civil_affairs":
            target = tmp / "drop" / "civil_affairs" / f.county_code / Path(f.path).name
        else:
            target = (tmp / "drop" / "other" / f.county_code[:4] / f.department / "2026-06-30"
                      / Path(f.path).name)
        assert target.read_bytes() == (out / f.path).read_bytes()
    rows = con.execute("select department, county_code, format, path, sha256, status, rows "
                       "from referrals.deliveries order by all").fetchall()
    assert rows == sorted((f.department, f.county_code, f.format, f.path, f.sha256, "delivered",
                           f.rows) for f in expected)
    # every referred warning is now in verification, with one audit row each
    ids = {r["预警编号"] for f in manifest.files if f.format == "csv"
           for r in _csv_rows(out / f.path)}
    items = con.execute("select distinct warning_id from referrals.delivery_items").fetchall()
    assert {i for (i,) in items} == ids
    assert con.execute("select distinct status from warnings.lifecycle").fetchall() == [
        ("in_verification",)]
    audit = con.execute("select from_status, to_status, actor, count(distinct warning_key) "
                        "from warnings.audit where channel = 'delivery' group by all").fetchall()
    assert audit == [("open", "in_verification", "scheduler", len(ids))]

    # a rerun delivers nothing: no new records, files untouched
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp / "drop").rglob("*") if p.is_file()}
    before = snapshot(con, STATE)
    again = deliver(con, Q2, out, _drop_config(tmp), actor="scheduler")
    assert again.count("unchanged") == len(expected) and again.count("delivered") == 0
    assert snapshot(con, STATE) == before
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes

    # one county's file changes: only that file is delivered again, as a new version
    con.execute("update warnings.warnings set title = '名下有机动车（更正）' "
                "where rule_id = 'VEHICLE_OWNED' and county_code = '430103'")
    changed = write_referrals(con, Q2, out)
    third = deliver(con, Q2, out, _drop_config(tmp), actor="scheduler")
    assert [(r.department, r.county_code, r.format) for r in third.records
            if r.status == "delivered"] == [("civil_affairs", "430103", "xlsx")]
    new = next(f for f in changed.files
               if (f.department, f.county_code, f.format) == ("civil_affairs", "430103", "xlsx"))
    assert (tmp / "drop" / "civil_affairs" / "430103" / Path(new.path).name).read_bytes() == \
        (out / new.path).read_bytes()
    # an answered warning stays closed whatever is delivered afterwards
    key = f"VEHICLE_OWNED:{person_id(3)}"
    record_disposition(con, key, "confirmed", date(2026, 10, 9), "陈科员", actor="t")
    update_lifecycle(con, Q2)
    assert con.execute("select status from warnings.lifecycle where warning_key = ?",
                       [key]).fetchone() == ("closed",)


def test_missing_destination_and_changed_file(quarter):
    con, out, manifest, tmp = quarter
    only_civil = {"destinations": {"civil_affairs": {"drop_folder": str(tmp / "d")}}}
    with pytest.raises(ConfigError) as exc:
        deliver(con, Q2, out, only_civil)
    assert "hrss" in str(exc.value) and "medical_security" in str(exc.value)
    assert con.execute("select count(*) from referrals.deliveries").fetchone()[0] == 0
    assert not (tmp / "d").exists()
    with pytest.raises(ConfigError):
        load_delivery_config({"destinations": {"hrss": {"drop_folder": "/x/{county}"}}})
    with pytest.raises(ConfigError):
        load_delivery_config({"destinations": {"hrss": {"database": {
            "kind": "oracle", "dsn": "x", "table": "t"}}}})

    # a referral file changed after it was written is not delivered (recorded as failed)
    tampered = next(f for f in manifest.files if f.department == "hrss" and f.format == "csv")
    (out / tampered.path).write_bytes((out / tampered.path).read_bytes() + b"x")
    report = deliver(con, Q2, out, _drop_config(tmp))
    failed = [r for r in report.records if r.status == "failed"]
    assert [(r.department, r.format) for r in failed] == [("hrss", "csv")]
    assert "sha256" in failed[0].error
    assert report.count("delivered") == len(report.records) - 1
    assert con.execute("select status, error <> '' from referrals.deliveries where department = "
                       "'hrss' and format = 'csv'").fetchall() == [("failed", True)]


def _fetch(kind: str, dsn: str, sql: str, params: list | None = None) -> list[tuple]:
    if kind == "postgresql":
        import psycopg

        with psycopg.connect(dsn) as conn:
            cur = conn.execute(sql, params or [])
            return [tuple(r) for r in cur.fetchall()] if cur.description else []
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="",
                           database="test", charset="utf8mb4", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params or [])
            return [tuple(r) for r in cur.fetchall()]
    finally:
        conn.close()


@pytest.mark.db
@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_database_destination_upserts_rows_and_keeps_answers(quarter, kind, monkeypatch):
    con, out, manifest, tmp = quarter
    table = f"sn_mon_{uuid.uuid4().hex[:10]}"
    q = '"' if kind == "postgresql" else "`"
    dsn = PG_DSN if kind == "postgresql" else MY_DSN
    monkeypatch.setenv("SN_TEST_DEPT_DSN", dsn)
    config = {"destinations": {
        "civil_affairs": {"database": {"kind": "postgresql" if kind == "postgresql" else "mariadb",
                                       "dsn_env": "SN_TEST_DEPT_DSN", "table": table}},
        "*": {"drop_folder": str(tmp / "drop" / "{department}")},
    }}
    try:
        report = deliver(con, Q2, out, config)
        db_records = [r for r in report.records if r.department == "civil_affairs"]
        assert {(r.status, r.format) for r in db_records} == {("delivered", "csv")}
        assert all(r.destination == f"{kind}:SN_TEST_DEPT_DSN/{table}" for r in db_records)
        files = {f.county_code: out / f.path for f in manifest.files
                 if f.department == "civil_affairs" and f.format == "csv"}
        expected = {(r["预警编号"], county, r["预警事项"], r["身份证号"] or None)  # empty -> NULL
                    for county, path in files.items() for r in _csv_rows(path)}
        got = _fetch(kind, dsn, f"select warning_id, county_code, {q}预警事项{q}, {q}身份证号{q} "
                                f"from {table}")
        assert set(got) == expected and len(got) == len(expected)
        stamp = _fetch(kind, dsn, f"select warning_id, delivered_at, file_sha256 from {table}")

        # rerun: nothing sent
        again = deliver(con, Q2, out, config)
        assert {r.status for r in again.records} == {"unchanged"}
        assert sorted(_fetch(kind, dsn, f"select warning_id, delivered_at, file_sha256 "
                                        f"from {table}")) == sorted(stamp)

        # the department answers two rows in its own table
        gone_answered = warning_id(f"VEHICLE_OWNED:{person_id(0)}")
        stays_answered = warning_id(f"VEHICLE_OWNED:{person_id(1)}")
        gone_blank = warning_id(f"VEHICLE_OWNED:{person_id(2)}")
        for wid in (gone_answered, stays_answered):
            _fetch(kind, dsn, f"update {table} set {q}核查结果{q} = '属实' where warning_id = %s",
                   [wid])
        # the quarter is rerun with corrections: two warnings gone, one retitled
        con.execute("delete from warnings.warnings where warning_key in (?, ?)",
                    [f"VEHICLE_OWNED:{person_id(0)}", f"VEHICLE_OWNED:{person_id(2)}"])
        con.execute("update warnings.warnings set title = '名下有机动车（更正）' where warning_key = ?",
                    [f"VEHICLE_OWNED:{person_id(1)}"])
        write_referrals(con, Q2, out)
        third = deliver(con, Q2, out, config)
        assert [(r.county_code, r.status) for r in third.records
                if r.department == "civil_affairs" and r.status != "unchanged"] == [
            ("430102", "delivered")]
        rows = {r[0]: r[1:] for r in _fetch(
            kind, dsn, f"select warning_id, {q}预警事项{q}, {q}核查结果{q} from {table} "
                       "where county_code = '430102'")}
        assert gone_blank not in rows                        # withdrawn, unanswered: removed
        assert rows[gone_answered][1] == "属实"               # withdrawn but answered: kept
        assert rows[stays_answered] == ("名下有机动车（更正）", "属实")  # updated, answer kept
    finally:
        _fetch(kind, dsn, f"drop table if exists {table}")


@pytest.mark.db
def test_unreachable_database_is_recorded_and_others_still_delivered(quarter):
    con, out, _manifest, tmp = quarter
    config = {"destinations": {
        "hrss": {"database": {"kind": "postgresql", "table": "x",
                              "dsn": "postgresql://postgres@127.0.0.1:1/test"}},
        "*": {"drop_folder": str(tmp / "drop" / "{department}" / "{county_code}")},
    }}
    report = deliver(con, Q2, out, config)
    failed = [r for r in report.records if r.status == "failed"]
    assert [(r.department, r.destination) for r in failed] == [("hrss", "postgresql:dsn/x")]
    assert "无法连接" in failed[0].error
    assert report.count("delivered") == len(report.records) - 1
    # hrss warnings were not pushed: still open
    assert con.execute("select distinct status from warnings.lifecycle where rule_id = "
                       "'UNEMPLOYED_WORKING_AGE'").fetchall() == [("open",)]
