"""Benchmark: database sources at volume: N rows from PostgreSQL and from MariaDB into DuckDB.

    .venv/bin/python bench/db_volume.py --rows 2000000

Loads a department-like table (record key, ID number, name, sex, birth date, region code, an
amount as NUMERIC, a date, a flag) into PostgreSQL (COPY) and MariaDB (LOAD DATA LOCAL INFILE,
else batched INSERTs), then times `extract_source` on each: rows/s, wall and CPU time, RSS.
The load itself is not measured. Writes bench/results/db_volume.json.
Connections: PostgreSQL 127.0.0.1:5432 user postgres db test; MariaDB 127.0.0.1:3306 root db test
(override with --pg-dsn / --mysql-dsn).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import peak_rss_gb, rss_bytes  # noqa: E402

TABLE = "sn_bench_settlements"
COLUMNS = ("setl_id", "certno", "psn_name", "gend", "brdy", "admdvs", "setl_time",
           "psn_part_amt", "major_dise_flag")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"


def rows_tsv(n: int, path: Path, seed: int = 7) -> Path:
    """n rows as tab-separated text (`\\N` for NULL), written in chunks."""
    rnd = random.Random(seed)
    start = date(1940, 1, 1)
    with open(path, "w", encoding="utf-8") as fh:
        chunk: list[str] = []
        for i in range(n):
            birth = start + timedelta(days=rnd.randrange(25_000))
            region = f"4301{rnd.randrange(1, 30):02d}"
            certno = f"{region}{birth:%Y%m%d}{rnd.randrange(1000):03d}{rnd.choice('0123456789X')}"
            name = rnd.choice(SURNAMES) + "".join(rnd.choices(GIVEN, k=rnd.choice((1, 2))))
            settle = date(2025, 7, 1) + timedelta(days=rnd.randrange(450))
            chunk.append("\t".join((
                f"JS{i:014d}", certno if rnd.random() > 0.01 else "\\N", name,
                rnd.choice("12"), birth.isoformat(), region + "001001", settle.isoformat(),
                f"{rnd.random() * 3000:.2f}", rnd.choice("0000000001"))))
            if len(chunk) == 100_000:
                fh.write("\n".join(chunk) + "\n")
                chunk = []
        if chunk:
            fh.write("\n".join(chunk) + "\n")
    return path


def load_postgres(dsn: str, tsv: Path, n: int) -> float:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"drop table if exists {TABLE}")
        con.execute(f"""create table {TABLE} (setl_id varchar primary key, certno varchar,
            psn_name varchar, gend char(1), brdy date, admdvs varchar, setl_time date,
            psn_part_amt numeric(12, 2), major_dise_flag smallint)""")
        with con.cursor() as cur, cur.copy(f"copy {TABLE} from stdin") as copy, \
                open(tsv, "rb") as fh:
            while block := fh.read(1 << 20):
                copy.write(block)
        (count,) = con.execute(f"select count(*) from {TABLE}").fetchone()
    assert count == n, count
    return time.perf_counter() - started


def load_mysql(dsn: str, tsv: Path, n: int) -> float:
    import pymysql

    from safetynet.connectors.db_reader import parse_mysql_dsn

    started = time.perf_counter()
    kwargs = parse_mysql_dsn(dsn)
    con = pymysql.connect(**kwargs, local_infile=True, autocommit=True)
    try:
        cur = con.cursor()
        cur.execute(f"drop table if exists {TABLE}")
        cur.execute(f"""create table {TABLE} (setl_id varchar(20) primary key,
            certno varchar(18), psn_name varchar(20), gend char(1), brdy date,
            admdvs varchar(12), setl_time date, psn_part_amt decimal(12, 2),
            major_dise_flag smallint) character set utf8mb4""")
        try:
            cur.execute(f"load data local infile %s into table {TABLE} character set utf8mb4 "
                        "fields terminated by '\\t' lines terminated by '\\n'", [str(tsv)])
        except pymysql.MySQLError:  # local_infile off on the server: batched inserts
            sql = f"insert into {TABLE} values ({', '.join(['%s'] * len(COLUMNS))})"
            with open(tsv, encoding="utf-8") as fh:
                batch: list[list[Any]] = []
                for line in fh:
                    batch.append([None if v == "\\N" else v for v in line.rstrip("\n").split("\t")])
                    if len(batch) == 20_000:
                        cur.executemany(sql, batch)
                        batch = []
                if batch:
                    cur.executemany(sql, batch)
        cur.execute(f"select count(*) from {TABLE}")
        (count,) = cur.fetchone()
    finally:
        con.close()
    assert count == n, count
    return time.perf_counter() - started


def time_extract(kind: str, dsn: str, n: int, work: Path) -> dict[str, Any]:
    """extract_source of the whole table into a fresh warehouse: wall, CPU, rows/s, RSS."""
    from safetynet.connectors.config import parse_source_config
    from safetynet.connectors.extract import extract_source
    from safetynet.warehouse import connect

    source = parse_source_config({
        "name": f"bench_{kind}", "department": "medical_security",
        "table": "medical_settlements", "format": "database", "record_key": "setl_id",
        "columns": {"id_number": "certno"},
        "location": {"database": {"kind": kind, "dsn": dsn,
                                  "query": f"select * from {TABLE} order by setl_id"}}})
    warehouse = work / f"{kind}.duckdb"
    warehouse.unlink(missing_ok=True)
    con = connect(warehouse)
    rss_before = rss_bytes()
    started, cpu = time.perf_counter(), time.process_time()
    result = extract_source(con, source, work, date(2026, 9, 30))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    (raw_rows,) = con.execute(f'select count(*) from raw."bench_{kind}"').fetchone()
    con.close()
    assert result.rows_read == raw_rows == n
    return {"kind": kind, "rows": n, "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu_seconds, 2), "rows_per_second": round(n / seconds),
            "rss_growth_gb": round((rss_bytes() - rss_before) / 1e9, 2),
            "peak_rss_gb": round(peak_rss_gb(), 2)}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--pg-dsn", default="host=127.0.0.1 port=5432 user=postgres dbname=test")
    ap.add_argument("--mysql-dsn", default="mysql://root:@127.0.0.1:3306/test")
    ap.add_argument("--only", choices=("postgresql", "mysql"), default=None)
    args = ap.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="sn_db_volume_") as tmp:
        work = Path(tmp)
        tsv = rows_tsv(args.rows, work / "rows.tsv")
        for kind, dsn, loader in (("postgresql", args.pg_dsn, load_postgres),
                                  ("mysql", args.mysql_dsn, load_mysql)):
            if args.only and kind != args.only:
                continue
            load_s = loader(dsn, tsv, args.rows)
            figures = time_extract(kind, dsn, args.rows, work)
            figures["load_seconds_excluded"] = round(load_s, 1)
            results.append(figures)
            print(f"{kind:<11} {figures['rows']:>10,} rows  {figures['seconds']:>7.2f} s wall  "
                  f"{figures['cpu_seconds']:>7.2f} s cpu  {figures['rows_per_second']:>9,} rows/s"
                  f"  peak RSS {figures['peak_rss_gb']:.2f} GB", flush=True)
    out = ROOT / "bench" / "results" / "db_volume.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": args.rows, "results": results,
                               "command": "bench/db_volume.py " + " ".join(
                                   sys.argv[1:] if argv is None else argv)},
                              ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
