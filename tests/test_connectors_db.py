"""Extract stage against the machine's PostgreSQL and MariaDB (tables created and dropped here)."""

from __future__ import annotations

import socket
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from safetynet.connectors.config import SourceConfig, parse_source_config
from safetynet.connectors.extract import ExtractResult, extract_source
from safetynet.errors import ConfigError, SourceUnavailable
from safetynet.warehouse import connect

pytestmark = pytest.mark.db

AS_OF = date(2025, 3, 31)
PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
MY_DSN = "mysql://root:@127.0.0.1:3306/test"
PASSWORD = "Sekr3t-密码-9f"

ROWS = [  # record key, id, name, date, amount, flag, note
    ("R1", "430121198001011234", "张三", date(2020, 1, 1), "3500.50", True, "低保"),
    ("R2", "43012119800101123X", "阿卜杜·热合曼", None, "0.00", False, None),
    ("R3", None, "欧阳娜娜", date(2018, 3, 1), None, None, "特困"),
]
EXPECTED = [
    ("R1", "430121198001011234", "张三", "2020-01-01", "3500.50", "true", "低保", 1),
    ("R2", "43012119800101123X", "阿卜杜·热合曼", None, "0.00", "false", None, 2),
    ("R3", None, "欧阳娜娜", "2018-03-01", None, None, "特困", 3),
]


def free_port() -> int:
    """A local TCP port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def db_source(kind: str, query: str, **db: Any) -> SourceConfig:
    return parse_source_config({
        "name": "hrss_db", "department": "hrss", "table": "pension", "format": "database",
        "record_key": "记录编号", "columns": {"id_number": "身份证号码"},
        "location": {"database": {"kind": kind, "query": query, **db}}})


@pytest.fixture
def con(tmp_path: Path):
    c = connect(tmp_path / "warehouse.duckdb")
    yield c
    c.close()


def check(con, result: ExtractResult) -> list[tuple]:
    rows = con.execute('select * from raw."hrss_db" order by _row').fetchall()
    assert result.rows_read == len(rows) + result.rows_quarantined
    assert result.files == ["db:hrss_db"] and {r[-1] for r in rows} <= {"db:hrss_db"}
    return rows


# ----------------------------------------------------------------------------- PostgreSQL
@pytest.fixture
def pg_table():
    import psycopg

    name = f"sn_pension_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_DSN, autocommit=True) as c:
        c.execute(f'create table {name} ("记录编号" text, "身份证号码" varchar(18), "姓名" text, '
                  f'"参保日期" date, "缴费基数" numeric(12,2), "在职" boolean, "类别" text, '
                  f'"更新时间" timestamp, "人数" integer, "比例" double precision, "附加" jsonb)')
        with c.cursor() as cur:
            cur.executemany(
                f"insert into {name} values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(*r, "2024-05-06 07:08:09" if i == 0 else None, i + 1, 0.25 * i,
                  '{"县": "岳麓区"}' if i == 0 else None) for i, r in enumerate(ROWS)])
        yield name
        c.execute(f"drop table {name}")


def test_postgres_rows_as_text(con, pg_table: str) -> None:
    src = db_source("postgresql", f"select * from {pg_table}\norder by 1", dsn=PG_DSN)
    result = extract_source(con, src, Path("/nonexistent"), AS_OF, batch_rows=2)
    rows = check(con, result)
    assert result.columns == ["记录编号", "身份证号码", "姓名", "参保日期", "缴费基数", "在职", "类别",
                              "更新时间", "人数", "比例", "附加"]
    assert [r[:7] + r[11:12] for r in rows] == EXPECTED
    assert rows[0][7:11] == ("2024-05-06 07:08:09", "1", "0", '{"县":"岳麓区"}')
    assert rows[1][7:11] == (None, "2", "0.25", None)
    again = extract_source(con, src, Path("/nonexistent"), AS_OF, batch_rows=100)
    assert again.sha256 == result.sha256 and len(result.sha256) == 64


def test_postgres_dsn_from_env_and_owner_only_secrets_file(con, pg_table: str, tmp_path: Path,
                                                           monkeypatch) -> None:
    query = f'select "记录编号", "姓名" from {pg_table} order by 1'
    monkeypatch.setenv("SN_TEST_PG_DSN", PG_DSN)
    result = extract_source(con, db_source("postgresql", query, dsn_env="SN_TEST_PG_DSN"),
                            tmp_path, AS_OF)
    assert len(check(con, result)) == 3
    secret = tmp_path / "pg.dsn"
    secret.write_text(PG_DSN + "\n")
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match="600"):
        extract_source(con, db_source("postgresql", query, secrets_file=str(secret)), tmp_path,
                       AS_OF)
    secret.chmod(0o600)
    result = extract_source(con, db_source("postgresql", query, secrets_file=str(secret)),
                            tmp_path, AS_OF)
    assert check(con, result)[2][:2] == ("R3", "欧阳娜娜")
    monkeypatch.delenv("SN_TEST_PG_DSN")
    with pytest.raises(ConfigError, match="SN_TEST_PG_DSN"):
        extract_source(con, db_source("postgresql", query, dsn_env="SN_TEST_PG_DSN"), tmp_path,
                       AS_OF)


def test_postgres_unreachable_names_source_without_password(con, tmp_path: Path) -> None:
    dsn = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/test"
    with pytest.raises(SourceUnavailable) as exc:
        extract_source(con, db_source("postgresql", "select 1", dsn=dsn), tmp_path, AS_OF)
    text = str(exc.value)
    assert exc.value.source == "hrss_db" and "hrss_db" in text and "无法连接" in text
    assert PASSWORD not in text and "Sekr3t" not in text
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


def test_postgres_wrong_password_message_is_scrubbed(con, tmp_path: Path) -> None:
    dsn = f"host=127.0.0.1 port=5432 user=no_such_role_sn password={PASSWORD} dbname=test"
    with pytest.raises(SourceUnavailable) as exc:
        extract_source(con, db_source("postgresql", "select 1", dsn=dsn), tmp_path, AS_OF)
    assert PASSWORD not in str(exc.value) and "no_such_role_sn" in str(exc.value)


def test_postgres_failing_query_names_its_first_line(con, pg_table: str, tmp_path: Path) -> None:
    extract_source(con, db_source("postgresql", f"select * from {pg_table}", dsn=PG_DSN),
                   tmp_path, AS_OF)
    src = db_source("postgresql", "select * from sn_no_such_table\nwhere 1 = 1",
                    dsn=PG_DSN + f" password={PASSWORD}")
    with pytest.raises(SourceUnavailable) as exc:
        extract_source(con, src, tmp_path, AS_OF)
    text = str(exc.value)
    assert "select * from sn_no_such_table" in text and "where 1 = 1" not in text
    assert "查询失败" in text and PASSWORD not in text
    assert len(con.execute('select * from raw."hrss_db"').fetchall()) == 3  # previous kept


def test_postgres_error_text_masks_id_numbers(con, tmp_path: Path) -> None:
    src = db_source("postgresql", "select '430121198001011234'::integer as n", dsn=PG_DSN)
    with pytest.raises(SourceUnavailable) as exc:
        extract_source(con, src, tmp_path, AS_OF)
    message = str(exc.value).split(" [query:")[0]
    assert "out of range" in message and "4301**********1234" in message
    assert "430121198001011234" not in message


def test_postgres_query_runs_read_only(con, pg_table: str, tmp_path: Path) -> None:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as c:
        c.execute(f"create sequence {pg_table}_seq")
    src = db_source("postgresql", f"select nextval('{pg_table}_seq') as n", dsn=PG_DSN)
    with pytest.raises(SourceUnavailable, match="read-only"):
        extract_source(con, src, tmp_path, AS_OF)
    with psycopg.connect(PG_DSN, autocommit=True) as c:
        c.execute(f"drop sequence {pg_table}_seq")


# ----------------------------------------------------------------------------- MariaDB
@pytest.fixture
def my_table():
    import pymysql

    name = f"sn_pension_{uuid.uuid4().hex[:8]}"
    c = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test",
                        charset="utf8mb4", autocommit=True)
    try:
        with c.cursor() as cur:
            cur.execute(f"create table {name} (`记录编号` varchar(10), `身份证号码` varchar(18), "
                        f"`姓名` varchar(50), `参保日期` date, `缴费基数` decimal(12,2), "
                        f"`在职` boolean, `类别` varchar(10), `更新时间` datetime, `时长` time, "
                        f"`比例` double) character set utf8mb4")
            cur.executemany(
                f"insert into {name} values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(*r, "2024-05-06 07:08:09" if i == 0 else None, "01:30:00" if i == 0 else None,
                  0.25 * i) for i, r in enumerate(ROWS)])
        yield name
        with c.cursor() as cur:
            cur.execute(f"drop table {name}")
    finally:
        c.close()


def test_mysql_rows_as_text(con, my_table: str, tmp_path: Path) -> None:
    src = db_source("mysql", f"select * from {my_table} order by 1", dsn=MY_DSN)
    result = extract_source(con, src, tmp_path, AS_OF, batch_rows=2)
    rows = check(con, result)
    # MySQL booleans are tinyint(1): 1/0 (the contract maps 1/0 to booleans)
    expected = [(*e[:5], {"true": "1", "false": "0"}.get(e[5], e[5]), *e[6:]) for e in EXPECTED]
    assert [r[:7] + r[10:11] for r in rows] == expected
    assert rows[0][7:10] == ("2024-05-06 07:08:09", "01:30:00", "0")
    assert rows[2][9] == "0.5"
    again = extract_source(con, src, tmp_path, AS_OF)
    assert again.sha256 == result.sha256


def test_mysql_unreachable_and_failing_query(con, my_table: str, tmp_path: Path) -> None:
    dead = f"mysql://root:{PASSWORD}@127.0.0.1:{free_port()}/test"
    with pytest.raises(SourceUnavailable) as exc:
        extract_source(con, db_source("mysql", "select 1", dsn=dead), tmp_path, AS_OF)
    assert "hrss_db" in str(exc.value) and PASSWORD not in str(exc.value)
    with pytest.raises(SourceUnavailable) as exc:
        extract_source(con, db_source("mysql", "select * from sn_no_such_table\nlimit 5",
                                      dsn=MY_DSN), tmp_path, AS_OF)
    text = str(exc.value)
    assert "select * from sn_no_such_table" in text and "limit 5" not in text
    wrong = f"mysql://sn_nobody:{PASSWORD}@127.0.0.1:3306/test"
    with pytest.raises(SourceUnavailable) as exc:
        extract_source(con, db_source("mysql", "select 1", dsn=wrong), tmp_path, AS_OF)
    assert PASSWORD not in str(exc.value) and "Access denied" in str(exc.value)


def test_mysql_session_is_read_only(con, my_table: str, tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable):
        extract_source(con, db_source("mysql", f"delete from {my_table}", dsn=MY_DSN), tmp_path,
                       AS_OF)
    src = db_source("mysql", f"select count(*) as n from {my_table}", dsn=MY_DSN)
    assert check(con, extract_source(con, src, tmp_path, AS_OF))[0][0] == "3"


def test_mysql_malformed_dsn_is_config_error_without_echo(con, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        extract_source(con, db_source("mysql", "select 1", dsn=f"root:{PASSWORD}@host"),
                       tmp_path, AS_OF)
    assert PASSWORD not in str(exc.value)
