"""links.record_links as rows + content-addressed explanations behind one view."""

from __future__ import annotations

import json
from datetime import date

from safetynet.matching.link_store import (
    copy_record_links,
    delete_record_links,
    ensure_record_links,
    insert_record_links,
    prune_explanations,
)
from safetynet.warehouse import connect

Q2, Q3 = date(2026, 6, 30), date(2026, 9, 30)
LEGACY_DDL = """create table links.record_links (
    as_of date, source varchar, table_name varchar, record_key varchar, person_id varchar,
    status varchar, method varchar, score double, id_quality varchar, explanation json)"""


def _rows(as_of: date, n: int) -> list[tuple]:
    exact = json.dumps({"method": "id_exact", "status": "linked"})
    other = json.dumps({"method": "none", "status": "unlinked", "reason": "no_candidate"})
    return [(as_of, "src", "vehicles", f"k{i}", f"P{i}" if i % 3 else None,
             "linked" if i % 3 else "unlinked", "id_exact" if i % 3 else "none",
             1.0 if i % 3 else 0.0, "valid", exact if i % 3 else other) for i in range(n)]


def _view(con) -> list[tuple]:
    return con.execute("select as_of, source, table_name, record_key, person_id, status, "
                       "method, score, id_quality, explanation::varchar, person_key "
                       "from links.record_links order by all").fetchall()


def test_a_legacy_table_is_converted_with_every_row_and_explanation(tmp_path) -> None:
    con = connect(tmp_path / "wh.duckdb")
    con.execute(LEGACY_DDL)
    con.executemany("insert into links.record_links values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    _rows(Q3, 30))
    before = con.execute("select *, from links.record_links order by all").fetchall()
    ensure_record_links(con)
    kinds = dict(con.execute("select table_name, table_type from information_schema.tables "
                             "where table_schema = 'links'").fetchall())
    assert kinds == {"record_links": "VIEW", "record_link_rows": "BASE TABLE",
                     "explanations": "BASE TABLE"}
    after = _view(con)
    assert [r[:9] for r in after] == [r[:9] for r in before]
    assert [json.loads(r[9]) for r in after] == [json.loads(r[9]) for r in before]
    assert {r[10] for r in after} == {None}  # person_key added
    assert con.execute("select count(*) from links.explanations").fetchone()[0] == 2
    ensure_record_links(con)  # idempotent
    assert len(_view(con)) == 30


def test_explanations_are_stored_once_and_pruned_with_their_rows(tmp_path) -> None:
    con = connect(tmp_path / "wh.duckdb")
    ensure_record_links(con)
    con.execute(LEGACY_DDL.replace("table links.record_links", "temp table incoming"))
    con.executemany("insert into incoming values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    _rows(Q2, 12) + _rows(Q3, 9))
    insert_record_links(con, "select * from incoming")
    assert con.execute("select count(*) from links.record_links").fetchone()[0] == 21
    assert con.execute("select count(*) from links.explanations").fetchone()[0] == 2
    # the same texts again add no explanation
    insert_record_links(con, "select * from incoming where as_of = ?", [Q3])
    assert con.execute("select count(*) from links.explanations").fetchone()[0] == 2
    delete_record_links(con, Q3)
    con.execute("delete from links.record_link_rows where as_of = ? and status = 'unlinked'",
                [Q2])
    prune_explanations(con)
    assert con.execute("select count(*) from links.explanations").fetchone()[0] == 1
    assert {r[0] for r in con.execute(
        "select explanation->>'method' from links.record_links").fetchall()} == {"id_exact"}


def test_copy_between_warehouses_brings_the_explanations(tmp_path) -> None:
    src = connect(tmp_path / "a.duckdb")
    ensure_record_links(src)
    src.execute(LEGACY_DDL.replace("table links.record_links", "temp table incoming"))
    src.executemany("insert into incoming values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    _rows(Q3, 6))
    insert_record_links(src, "select * from incoming")
    expected = _view(src)
    src.close()
    dst = connect(tmp_path / "b.duckdb")
    ensure_record_links(dst)
    dst.execute(f"attach '{tmp_path / 'a.duckdb'}' as a (read_only)")
    copy_record_links(dst, "a", "r.as_of = ?", [Q3])
    assert _view(dst) == expected
    assert all(r[9] is not None for r in _view(dst))
