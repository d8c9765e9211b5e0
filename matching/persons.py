"""Stable person keys: the same roster person keeps one key across quarters and sources.

A key is ``P`` + the first 16 hex digits of sha256 of the first normalised ID the person was seen
with. ``links.person_ids`` (id_number -> person_key, first_seen) is append-only, so a rerun of any
quarter gives the same keys. When the roster corrects a person's ID (same household, name key and
birth date as a row of the previous quarter whose ID is gone, the first 17 digits one edit apart), the
corrected ID joins the old key. Department records carry the key of the person they link to
(`links.record_links.person_key`): a record with a damaged ID that links this quarter carries the
key of last quarter's clean record.

``links.persons`` (one row per person_key) is rebuilt from ``links.roster`` after every run:
person_key, id_number (latest), id_numbers, first_seen, last_seen, name_key, birth_date, sex,
county_code, household_id (latest).
"""

from __future__ import annotations

import hashlib
from datetime import date

import duckdb
import pyarrow as pa

PERSON_IDS_DDL = """
create table if not exists links.person_ids (
    id_number varchar, person_key varchar, first_seen date, origin varchar
)"""


def person_key_for(id_number: str) -> str:
    """``P`` + 16 hex digits of sha256 of a normalised ID."""
    return "P" + hashlib.sha256(id_number.encode("ascii")).hexdigest()[:16].upper()


def assign_keys(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    """Give every roster person of ``_sn_roster`` a key (registering new IDs) in ``_sn_keys``.

    Reads ``links.roster`` of the latest earlier quarter to carry a key over an ID correction.
    """
    con.execute(PERSON_IDS_DDL)
    new_ids = [r[0] for r in con.execute("""
        select distinct r.person_id from _sn_roster r
        where r.person_id is not null
          and r.person_id not in (select id_number from links.person_ids)
        order by 1""").fetchall()]
    rows: list[tuple[str, str, str]] = []
    if new_ids:
        carried = _carried_over(con, as_of)
        taken = {r[0] for r in con.execute(
            "select distinct person_key from links.person_ids").fetchall()}
        for id_number in new_ids:
            key = carried.get(id_number)
            origin = "id_corrected" if key else "first_seen"
            if key is None:
                key, n = person_key_for(id_number), 1
                while key in taken:  # practically never: another ID with the same 16 hex digits
                    key, n = person_key_for(f"{id_number}#{n}"), n + 1
            taken.add(key)
            rows.append((id_number, key, origin))
    if rows:
        table = pa.table({"id_number": [r[0] for r in rows], "person_key": [r[1] for r in rows],
                          "origin": [r[2] for r in rows]})
        con.register("_sn_new_keys_arrow", table)
        try:
            con.execute("insert into links.person_ids select id_number, person_key, ?, origin "
                        "from _sn_new_keys_arrow", [as_of])
        finally:
            con.unregister("_sn_new_keys_arrow")
    con.execute("""
        create or replace temp table _sn_keys as
        select id_number as person_id, any_value(person_key) as person_key
        from links.person_ids group by id_number""")


def _carried_over(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, str]:
    """New ID -> the key of the previous quarter's row it corrects (see module doc)."""
    has_roster = con.execute(
        "select count(*) from information_schema.columns where table_schema = 'links' "
        "and table_name = 'roster' and column_name = 'person_key'").fetchone()[0]
    if not has_roster:
        return {}
    rows = con.execute("""
        with prev_as_of as (
            select max(as_of) as d from links.roster where as_of < ?
        ), prev as (
            select r.person_id, r.person_key, r.household_id, r.name_key, r.birth_date_eff
            from links.roster r, prev_as_of where r.as_of = prev_as_of.d
              and r.person_key is not null
              and r.person_id not in (select person_id from _sn_roster
                                      where person_id is not null)
        ), cur as (
            select distinct person_id, household_id, name_key, birth_date_eff from _sn_roster
            where person_id is not null
              and person_id not in (select id_number from links.person_ids)
        )
        select c.person_id, any_value(p.person_key), count(distinct p.person_key)
        from cur c join prev p on p.household_id = c.household_id
            and p.name_key = c.name_key and p.birth_date_eff = c.birth_date_eff
            and damerau_levenshtein(left(p.person_id, 17), left(c.person_id, 17)) <= 1
        group by c.person_id""", [as_of]).fetchall()
    return {pid: key for pid, key, n in rows if n == 1}


def rebuild_persons(con: duckdb.DuckDBPyConnection) -> None:
    """``links.persons``: one row per person_key over the whole roster history."""
    con.execute("""
        create or replace table links.persons as
        select person_key,
               arg_max(person_id, as_of) as id_number,
               list(distinct person_id order by person_id) as id_numbers,
               min(as_of) as first_seen, max(as_of) as last_seen,
               arg_max(name_key, as_of) as name_key,
               arg_max(birth_date_eff, as_of) as birth_date,
               arg_max(sex_eff, as_of) as sex,
               arg_max(county_code, as_of) as county_code,
               arg_max(household_id, as_of) as household_id
        from links.roster where person_key is not null
        group by person_key""")
