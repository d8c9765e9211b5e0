"""Storage of record links: ``links.record_link_rows`` + ``links.explanations``, read through the
``links.record_links`` view.

Millions of records share a few thousand distinct explanations (every exact-ID link of the same
quality and levels reads the same), so each explanation is stored once, addressed by the hash of
its text (``xkey``), and each record row carries only that key. The view joins them back: readers
see one row per record with its ``explanation`` JSON, as if it were one table.

One row per (as_of, source, record_key) of a linked quarter; contract in docs/architecture.md.
"""

from __future__ import annotations

from typing import Any

import duckdb

ROWS_DDL = """
create table if not exists links.record_link_rows (
    as_of date, source varchar, table_name varchar, record_key varchar, person_id varchar,
    status varchar, method varchar, score double, id_quality varchar, xkey uhugeint,
    person_key varchar
)"""
EXPLANATIONS_DDL = ("create table if not exists links.explanations "
                    "(xkey uhugeint, explanation json)")
VIEW_DDL = """
create or replace view links.record_links as
select r.as_of, r.source, r.table_name, r.record_key, r.person_id, r.status, r.method, r.score,
       r.id_quality, e.explanation, r.person_key
from links.record_link_rows r left join links.explanations e on e.xkey = r.xkey"""

# the content address of an explanation (the same text has the same key in every warehouse):
# md5 of the text (DuckDB's hash() is no digest: safetynet.warehouse.digest_sql)
XKEY_SQL = "md5_number(cast({col} as varchar))"


def _kind(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> str | None:
    row = con.execute("select table_type from information_schema.tables where table_schema = ? "
                      "and table_name = ?", [schema, name]).fetchone()
    return row[0] if row else None


def ensure_record_links(con: duckdb.DuckDBPyConnection) -> None:
    """Create the link tables and view; a warehouse holding the former single table
    ``links.record_links`` is converted in place (same rows, same explanations)."""
    con.execute("create schema if not exists links")
    legacy = _kind(con, "links", "record_links") == "BASE TABLE"
    con.execute(ROWS_DDL)
    con.execute(EXPLANATIONS_DDL)
    if legacy:
        con.execute("alter table links.record_links add column if not exists person_key varchar")
        con.execute("alter table links.record_links rename to record_links_legacy")
        insert_record_links(con, "select * from links.record_links_legacy")
        con.execute("drop table links.record_links_legacy")
    con.execute(VIEW_DDL)


def insert_record_links(con: duckdb.DuckDBPyConnection, select_sql: str,
                        params: Any = None) -> None:
    """Insert rows shaped like ``links.record_links`` (by name, with an ``explanation`` JSON
    column) from `select_sql`: each new explanation text once, every row with its key."""
    xkey = XKEY_SQL.format(col="explanation")
    con.execute(f"create or replace temp table _rl_in as select *, "
                f"case when explanation is not null then {xkey} end as _xkey "
                f"from ({select_sql})", params)
    try:
        con.execute("""
            insert into links.explanations
            select distinct _xkey, explanation from _rl_in
            where _xkey is not null and _xkey not in (select xkey from links.explanations)""")
        con.execute("""
            insert into links.record_link_rows by name
            select * exclude (explanation, _xkey), _xkey as xkey from _rl_in""")
    finally:
        con.execute("drop table if exists _rl_in")


def delete_record_links(con: duckdb.DuckDBPyConnection, as_of: Any) -> None:
    """Remove one quarter's link rows (`prune_explanations` once the new rows are in)."""
    con.execute("delete from links.record_link_rows where as_of = ?", [as_of])


def prune_explanations(con: duckdb.DuckDBPyConnection) -> None:
    """Drop explanations that no link row refers to."""
    con.execute("delete from links.explanations where xkey not in "
                "(select xkey from links.record_link_rows where xkey is not null)")


def copy_record_links(con: duckdb.DuckDBPyConnection, alias: str, where: str,
                      params: Any = None) -> None:
    """Copy link rows (``r``) of attached warehouse `alias` matching `where`, with their
    explanations, into this warehouse's link tables."""
    con.execute(f"""
        insert into links.explanations
        select distinct e.xkey, e.explanation from {alias}.links.explanations e
        where e.xkey in (select r.xkey from {alias}.links.record_link_rows r where {where})
          and e.xkey not in (select xkey from links.explanations)""", params)
    con.execute(f"insert into links.record_link_rows by name select r.* from "
                f"{alias}.links.record_link_rows r where {where}", params)


__all__ = ["copy_record_links", "delete_record_links", "ensure_record_links",
           "insert_record_links", "prune_explanations"]
