"""Inputs of the link step as temp tables: records, normalised IDs and names, roster persons.

- ``_sn_records``: every staged department record of the as_of (source, key, its identity rid).
- ``_sn_idents``: one row per distinct identity (ID, name, sex, birth date, region as written)
  with ``n``, its number of records: a person's many records are linked once.
- ``_sn_rec``: per identity ("record" below) the ID quality, what the ID can be compared by (``id_kind``), the
  record's own birth date / sex / county, and its ``scope``: ``exact`` (valid ID of a roster
  person), ``valid`` (valid ID of someone not in the roster: rule b, never linked by name) or
  ``open`` (damaged or missing ID, or an Excel-truncated look-alike re-examined).
- ``_sn_roster`` / ``_sn_persons``: roster rows with normalised identity; one row per person.
- ``_sn_names`` (name keys of every name), ``_sn_pinyin`` (readings where blocking needs them),
  ``_sn_recodes`` (county re-coding table).

IDs and names are normalised once per distinct value in Python and joined back in DuckDB.
"""

from __future__ import annotations

import logging

import duckdb
import pyarrow as pa

from safetynet.errors import SafetynetError
from safetynet.warehouse import digest_sql, quote_ident, table_exists

from .ids import normalize_ids
from .names import name_keys, pinyin_from_key, surname_reading
from .settings import MatchSettings

log = logging.getLogger(__name__)

EXCLUDED_TABLES = frozenset({"roster", "standards"})
USABLE = "('valid', 'legacy15')"


def columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """Column names of schema.table in order."""
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and "
        "table_name = ? order by ordinal_position", [schema, table]).fetchall()
    return [r[0] for r in rows]


def department_tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """staged tables other than roster/standards that carry the staging key columns."""
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = 'staged' "
        "and table_type = 'BASE TABLE' order by table_name").fetchall()
    tables = {}
    for (name,) in rows:
        if name in EXCLUDED_TABLES:
            continue
        cols = columns(con, "staged", name)
        if {"as_of", "_source", "_record_key"} <= set(cols):
            tables[name] = cols
        else:
            log.warning("staged.%s lacks as_of/_source/_record_key: not linked", name)
    return tables


def _col(cols: list[str], name: str, sql_type: str, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    if name in cols:
        return f"try_cast({prefix}{quote_ident(name)} as {sql_type})"
    return f"cast(null as {sql_type})"


def register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """Arrow table -> temp table `name`."""
    con.register(f"{name}_arrow", table)
    try:
        con.execute(f"create or replace temp table {name} as select * from {name}_arrow")
    finally:
        con.unregister(f"{name}_arrow")


def prepare(con: duckdb.DuckDBPyConnection, day: str, settings: MatchSettings
            ) -> dict[str, list[str]]:
    """Build every input temp table for `day` (a SQL date literal); returns the linked tables."""
    if not table_exists(con, "staged", "roster"):
        raise SafetynetError("缺少低保等救助对象花名册（staged.roster），无法进行比对")
    if not con.execute(f"select count(*) from staged.roster where as_of = {day}").fetchone()[0]:
        raise SafetynetError(f"花名册（staged.roster）没有 {day[6:16]} 的数据，无法进行比对")
    tables = department_tables(con)
    _stage_records(con, day, tables)
    _normalise_ids(con, day)
    _stage_roster(con, day)
    _normalise_names(con)
    _recodes(con, settings)
    _persons(con)
    _records(con, settings)
    _pinyin(con, settings)
    return tables


_IDENTITY = ("id_raw", "name_raw", "sex", "birth_date", "region_code")


def _stage_records(con: duckdb.DuckDBPyConnection, day: str,
                   tables: dict[str, list[str]]) -> None:
    """``_sn_records`` (one row per record) and ``_sn_idents`` (one row per distinct identity).

    Records with the same identity fields (a person's many medical settlements) are linked
    once: ``rid`` numbers identities, ``n`` counts their records (the model's statistics
    weigh by it). A record an officer decided on keeps an identity of its own.
    """
    sources = [(i, name) for i, name in enumerate(tables)]
    register(con, "_sn_tables", pa.table(
        {"ti": [i for i, _ in sources], "table_name": [n for _, n in sources]},
        schema=pa.schema([("ti", pa.int32()), ("table_name", pa.string())])))
    decided = ("select distinct source, record_key from links.review_decisions "
               "where decision in ('accept', 'reject')"
               if table_exists(con, "links", "review_decisions") else
               "select null::varchar as source, null::varchar as record_key where false")
    selects = [
        f"select {i} as ti, cast(_source as varchar) as source, "
        f"cast(_record_key as varchar) as record_key, "
        # skey: a stable pseudo-random key (rowid changes when a quarter is restaged)
        f"hash('{name.replace(chr(39), chr(39) * 2)}', _source, {_col(cols, '_file', 'varchar')}, "
        f"{_col(cols, '_row', 'bigint')}, _record_key) as skey, "
        f"{_col(cols, 'id_number', 'varchar')} as id_raw, "
        f"{_col(cols, 'name', 'varchar')} as name_raw, "
        f"{_col(cols, 'sex', 'varchar')} as sex, {_col(cols, 'birth_date', 'date')} as birth_date, "
        f"{_col(cols, 'region_code', 'varchar')} as region_code "
        f"from staged.{quote_ident(name)} where as_of = {day}"
        for i, (name, cols) in enumerate(tables.items())
    ] or ["select null::int as ti, null::varchar as source, null::varchar as record_key, "
          "null::ubigint as skey, null::varchar as id_raw, null::varchar as name_raw, "
          "null::varchar as sex, null::date as birth_date, null::varchar as region_code "
          "where false"]
    union = " union all ".join(selects)
    same = " and ".join(f"(min({c}) is not distinct from max({c}) and count({c}) in (0, count(*)))"
                        for c in _IDENTITY)
    own = "case when d.record_key is not null then r.skey end"
    # rid: 63 bits of DuckDB's fast hash of the identity. That hash is no digest (near-identical
    # IDs collide: safetynet.warehouse.digest_sql), so a group holding two identities (`same`
    # false) is detected and its records are keyed by an md5 digest instead.
    key = f"(hash({', '.join(_IDENTITY)}, {own}) >> 1)::bigint"
    rekeyed = 0
    for salt in range(3):
        rows = f"""
            select r.*, {key} as rid
            from ({union}) r left join ({decided}) d
                on d.source = r.source and d.record_key = r.record_key"""
        con.execute(f"""
            create or replace temp table _sn_idents as
            select rid, count(*) as n, min(skey) as skey,
                   {', '.join(f'min({c}) as {c}' for c in _IDENTITY)}, {same} as same
            from ({rows}) group by rid""")
        collided = [r[0] for r in con.execute(
            "select rid from _sn_idents where not same order by rid").fetchall()]
        if not collided:
            break
        rekeyed += len(collided)
        digest = digest_sql(*_IDENTITY, own, str(salt), lower64=True)
        key = (f"case when {key} in ({', '.join(map(str, collided))}) "
               f"then ({digest} >> 1)::bigint else {key} end")
    else:
        raise SafetynetError("identity hashing did not separate the records")
    con.execute("alter table _sn_idents drop column same")
    if rekeyed:
        log.info("identities: %d hash groups held more than one identity; re-keyed by md5",
                 rekeyed)
    # the staged tables are read a second time rather than holding every record's identity
    con.execute(f"""
        create or replace temp table _sn_records as
        select rid, ti, source, record_key, skey from ({rows})""")


def _normalise_ids(con: duckdb.DuckDBPyConnection, day: str) -> None:
    roster_cols = columns(con, "staged", "roster")
    distinct = con.sql(
        "select distinct id_raw from (select id_raw from _sn_idents union all select "
        f"{_col(roster_cols, 'id_number', 'varchar')} from staged.roster where as_of = {day}) "
        "where id_raw is not null").to_arrow_table()
    register(con, "_sn_ids", normalize_ids(distinct.column("id_raw"), assume_distinct=True))


def _stage_roster(con: duckdb.DuckDBPyConnection, day: str) -> None:
    cols = columns(con, "staged", "roster")
    sex = _col(cols, "sex", "varchar", "r")
    birth = _col(cols, "birth_date", "date", "r")
    con.execute(f"""
        create or replace temp table _sn_roster_ids as
        select r.*, i.normalized as person_id, coalesce(i.quality, 'missing') as id_quality,
               coalesce({birth}, case when i.quality in {USABLE} then i.birth_date end)
                   as birth_date_eff,
               coalesce(case when {sex} in ('male', 'female') then {sex} end,
                        case when i.quality in {USABLE} then i.sex end) as sex_eff,
               left({_col(cols, 'region_code', 'varchar', 'r')}, 6) as county_code,
               {_col(cols, 'name', 'varchar', 'r')} as _sn_name_raw
        from staged.roster r
        left join _sn_ids i on i.raw = {_col(cols, 'id_number', 'varchar', 'r')}
        where r.as_of = {day}""")


def _normalise_names(con: duckdb.DuckDBPyConnection) -> None:
    """Name keys of every roster and record name (t2s, NFKC: about 1 s per million names)."""
    distinct = con.sql("""
        select distinct name_raw from (
            select _sn_name_raw as name_raw from _sn_roster_ids
            union all select name_raw from _sn_idents
        ) where name_raw is not null""").to_arrow_table()
    keys = name_keys(distinct.column("name_raw"), with_pinyin=False, assume_distinct=True)
    register(con, "_sn_names", keys.drop_columns(["pinyin_key"]))
    con.execute("""
        create or replace temp table _sn_roster as
        select r.*, n.name_key, n.name_key_nodot
        from _sn_roster_ids r left join _sn_names n on n.raw = r._sn_name_raw""")


def _recodes(con: duckdb.DuckDBPyConnection, settings: MatchSettings) -> None:
    table = pa.table({"old": list(settings.region_recodes),
                      "new": list(settings.region_recodes.values())},
                     schema=pa.schema([("old", pa.string()), ("new", pa.string())]))
    register(con, "_sn_recodes", table)


def _persons(con: duckdb.DuckDBPyConnection) -> None:
    """One row per roster person (a person enrolled twice keeps every county)."""
    con.execute("""
        create or replace temp table _sn_persons as
        with rows as (
            select r.person_id, r.name_key, r.name_key_nodot, r.birth_date_eff, r.sex_eff,
                   case when regexp_full_match(r.county_code, '[0-9]{6}') then r.county_code end
                       as county_code
            from _sn_roster r where r.person_id is not null
        )
        select person_id,
               left(person_id, 6) || substr(person_id, 9, 9) as id15,
               min(name_key) as name_key, min(name_key_nodot) as name_key_nodot,
               min(birth_date_eff) as birth_date_eff, min(sex_eff) as sex_eff,
               list(distinct county_code order by county_code)
                   filter (where county_code is not null) as counties,
               list(distinct coalesce(c.new, county_code) order by coalesce(c.new, county_code))
                   filter (where county_code is not null) as counties_recoded,
               list(distinct left(county_code, 4) order by left(county_code, 4))
                   filter (where county_code is not null) as prefectures
        from rows left join _sn_recodes c on c.old = rows.county_code
        group by person_id""")


def _records(con: duckdb.DuckDBPyConnection, settings: MatchSettings) -> None:
    reexamine = "true" if settings.reexamine_valid_000 else "false"
    con.execute(f"""
        create or replace temp table _sn_rec as
        with base as (
            select r.rid, r.n, r.skey, r.name_raw, coalesce(i.quality, 'missing') as quality, i.normalized,
                   i.digits, i.birth_date as id_birth, i.region6 as id_region6,
                   case when r.sex in ('male', 'female') then r.sex end as rec_sex,
                   r.birth_date as rec_birth,
                   case when regexp_full_match(trim(r.region_code), '[0-9]{{6,12}}')
                        then left(trim(r.region_code), 6) end as rec_county,
                   i.normalized in (select person_id from _sn_persons) as in_roster
            from _sn_idents r left join _sn_ids i on i.raw = r.id_raw
        ), kinds as (
            select *,
                   case when quality = 'missing' then 'missing'
                        when quality in {USABLE} and in_roster then 'usable'
                        when quality = 'valid' and {reexamine} and normalized like '%000'
                            then 'valid000'
                        when quality in {USABLE} then 'usable'
                        when quality in ('check_failed', 'bad_date', 'wrong_length',
                                         'truncated_excel')
                             and length(digits) between 17 and 19 then 'edit'
                        when quality = 'bad_date' and length(digits) = 15 then 'edit15'
                        when quality = 'scientific' then 'scientific'
                        else 'damaged' end as id_kind
            from base
        )
        select k.rid, k.n, k.skey, k.name_raw, k.quality, k.normalized,
               case when k.id_kind = 'valid000' then k.normalized else k.digits end as digits,
               k.id_kind,
               k.id_kind = 'valid000' or (k.id_kind = 'edit' and length(k.digits) = 18
                                          and k.digits like '%000') as tail000,
               case when k.id_kind = 'scientific' and length(k.digits) > 1
                    then left(k.digits, least(length(k.digits) - 1, 17)) end as prefix,
               k.id_birth, k.id_region6, k.rec_sex, k.rec_birth, k.rec_county,
               coalesce(c.new, k.rec_county) as rec_county_recoded,
               case when k.id_kind = 'usable' and k.in_roster then 'exact'
                    when k.id_kind = 'usable' then 'valid'
                    else 'open' end as scope
        from kinds k left join _sn_recodes c on c.old = k.rec_county""")


def _pinyin(con: duckdb.DuckDBPyConnection, settings: MatchSettings) -> None:
    """Readings of the name keys that pinyin blocking needs (roster persons and open records)."""
    rules = [r for r in settings.blocking_rules if {"pinyin", "surname"} & set(r.keys)]
    scopes = "('open', 'valid')" if any(r.include_valid_ids for r in rules) else "('open')"
    keys: list[str] = []
    if rules:
        keys = [r[0] for r in con.execute(f"""
            select distinct k from (
                select name_key_nodot as k from _sn_persons
                union all
                select n.name_key_nodot from _sn_rec r join _sn_names n on n.raw = r.name_raw
                where r.scope in {scopes}
            ) where k is not null""").fetchall()]
    table = pa.table({"nodot": keys, "pinyin": [pinyin_from_key(k) or None for k in keys],
                      "surname": [surname_reading(k) or None for k in keys]},
                     schema=pa.schema([("nodot", pa.string()), ("pinyin", pa.string()),
                                       ("surname", pa.string())]))
    register(con, "_sn_pinyin", table)
    con.execute("""
        create or replace temp table _sn_persons as
        select p.*, py.pinyin, py.surname from _sn_persons p
        left join _sn_pinyin py on py.nodot = p.name_key_nodot""")


def drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    """Drop every ``_sn_*`` temp table of the link step."""
    for (name,) in con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = 'temp' and table_name like '\\_sn\\_%' escape '\\'").fetchall():
        con.execute(f"drop table if exists temp.{quote_ident(name)}")
