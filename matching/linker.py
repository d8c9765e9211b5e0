"""The link step: staged department records -> roster persons, every decision explained.

Cascade (each step only for records a previous step did not decide):

a. ``id_exact`` / ``id_legacy15``: the record's valid (or converted legacy) ID is a roster ID.
b. A valid ID that is not in the roster is never linked to anyone (near-ID and namesake decoys).
   One exception, `MatchSettings.reexamine_valid_000`: an ID ending in ``000`` is what Excel
   truncation leaves, and 1 in 11 of those pass the check by chance; such a record may still
   link by d when its first 15 digits agree with the candidate's ID.
c. ``id_repaired``: a damaged ID (check_failed, bad_date, truncated_excel, 17-19 digits) is one
   substitution / adjacent transposition / insertion / deletion from exactly one roster ID whose
   name (key, dot-less key, pinyin or fuzzy) and birth date agree; sex must not disagree.
   Candidates come from shared one-deletion variants (complete for one edit) in DuckDB.
d. ``name_dob_region``: unusable or missing ID: name + birth date + county name exactly one roster
   person (sex must not disagree; a damaged ID must not contradict the candidate's ID);
   several -> ``review`` (never guessed); none -> ``unlinked``.

Every record gets a score (0..1, from Splink-style match weights in `MatchSettings.weights`)
and an explanation JSON with one level per comparison (id, name, birth_date, county, sex).

Reads ``staged.roster`` and every other ``staged.<table>`` except ``standards``; writes
``links.roster``, ``links.record_links`` and the ``links.<table>`` views (docs/architecture.md).
IDs and names are normalised once per distinct value in Python and joined back in DuckDB.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa

from safetynet.errors import SafetynetError
from safetynet.warehouse import quote_ident, table_exists, transaction

from .comparisons import compare_nodot_pairs, weight_case
from .ids import normalize_ids
from .names import name_keys
from .settings import MatchSettings

log = logging.getLogger(__name__)

EXCLUDED_TABLES = frozenset({"roster", "standards"})
METHODS = ("id_exact", "id_legacy15", "id_repaired", "name_dob_region", "none")
_USABLE = "('valid', 'legacy15')"
_DAMAGED = "('check_failed', 'bad_date', 'wrong_length')"
# A typo in a real ID that ends in 000 looks like Excel truncation: repair tries those too.
_REPAIRABLE = "('check_failed', 'bad_date', 'wrong_length', 'truncated_excel')"

RECORD_LINKS_DDL = """
create table if not exists links.record_links (
    as_of date, source varchar, table_name varchar, record_key varchar, person_id varchar,
    status varchar, method varchar, score double, id_quality varchar, explanation json
)"""

VIEW_SQL = (
    "select s.*, r.person_id, r.method as link_method, r.score as link_score "
    "from staged.{table} s join links.record_links r on r.as_of = s.as_of "
    "and r.source = s._source and r.record_key = s._record_key and r.table_name = '{name}' "
    "where r.status = 'linked'"
)


@dataclass
class SourceLinkSummary:
    """Link counts of one source (one department extract) for one as_of."""

    source: str
    table_name: str
    records: int
    linked: dict[str, int]
    review: int
    unlinked: int
    id_quality: dict[str, int]


@dataclass
class LinkSummary:
    """What `link` did for one as_of: per source, plus the roster's own identity quality."""

    as_of: date
    sources: dict[str, SourceLinkSummary]
    roster_rows: int
    roster_persons: int
    roster_id_quality: dict[str, int]
    roster_unusable: int
    settings: MatchSettings
    seconds: float = 0.0
    tables: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (settings included, so the run records how it linked)."""
        d = asdict(self)
        d["as_of"] = self.as_of.isoformat()
        d["settings"] = self.settings.to_dict()
        return d

    def to_json(self) -> str:
        """`to_dict` as JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)


# One row per (uncertain record, candidate roster person): what the review queue shows.
REVIEW_CANDIDATES_SQL = """
create or replace view links.review_candidates as
select rl.as_of, rl.source, rl.table_name, rl.record_key, c.person_id, rl.method, rl.score,
       rl.id_quality, rl.explanation
from links.record_links as rl,
     unnest(cast(json_extract(rl.explanation, '$.candidate_person_ids') as varchar[]))
         as c(person_id)
where rl.status = 'review'
"""


def link(
    con: duckdb.DuckDBPyConnection, as_of: date, settings: MatchSettings | None = None
) -> LinkSummary:
    """Link every staged department record of `as_of` to the roster and explain each decision.

    Args:
        con: warehouse connection (`safetynet.warehouse.connect`).
        as_of: the comparison date; that date's rows in ``links.*`` are replaced (idempotent).
        settings: matching settings; defaults to `MatchSettings()`.

    Returns:
        LinkSummary with counts per source, roster ID quality and the settings used.

    Example:
        >>> summary = link(con, date(2025, 3, 31))          # doctest: +SKIP
        >>> summary.sources["mps_deaths"].linked            # doctest: +SKIP
        {'id_exact': 812, 'id_repaired': 3, 'name_dob_region': 11}
    """
    settings = settings or MatchSettings()
    started = time.perf_counter()
    if not table_exists(con, "staged", "roster"):
        raise SafetynetError("缺少低保等救助对象花名册（staged.roster），无法进行比对")
    tables = _department_tables(con)
    day = f"date '{as_of.isoformat()}'"
    if not con.execute(f"select count(*) from staged.roster where as_of = {day}").fetchone()[0]:
        raise SafetynetError(f"花名册（staged.roster）没有 {as_of.isoformat()} 的数据，无法进行比对")
    try:
        _stage_records(con, day, tables)
        _normalise_ids(con, day)
        _stage_roster(con, day)
        _normalise_names(con)
        _pairs(con, settings)
        _resolve_names(con, settings)
        _decide(con, settings)
        with transaction(con):
            _write(con, as_of, day, settings, tables)
        summary = _summary(con, as_of, settings, tables)
    finally:
        _drop_temp(con)
    summary.seconds = round(time.perf_counter() - started, 3)
    log.info("link %s: %d sources, roster %d rows (%d unusable IDs) in %.1fs", as_of,
             len(summary.sources), summary.roster_rows, summary.roster_unusable, summary.seconds)
    return summary


# --- inputs ------------------------------------------------------------------------------------

def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and "
        "table_name = ? order by ordinal_position", [schema, table]).fetchall()
    return [r[0] for r in rows]


def _department_tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """staged tables other than roster/standards that carry the staging key columns."""
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = 'staged' "
        "and table_type = 'BASE TABLE' order by table_name").fetchall()
    tables = {}
    for (name,) in rows:
        if name in EXCLUDED_TABLES:
            continue
        cols = _columns(con, "staged", name)
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


def _stage_records(con: duckdb.DuckDBPyConnection, day: str,
                   tables: dict[str, list[str]]) -> None:
    # rid: table number in the high bits, DuckDB's rowid below (no global row_number needed)
    selects = [
        f"select cast({i << 40} as bigint) + rowid as rid, "
        f"'{name.replace(chr(39), chr(39) * 2)}' as table_name, "
        f"cast(_source as varchar) as source, "
        f"cast(_record_key as varchar) as record_key, "
        f"{_col(cols, 'id_number', 'varchar')} as id_raw, "
        f"{_col(cols, 'name', 'varchar')} as name_raw, "
        f"{_col(cols, 'sex', 'varchar')} as sex, {_col(cols, 'birth_date', 'date')} as birth_date, "
        f"{_col(cols, 'region_code', 'varchar')} as region_code "
        f"from staged.{quote_ident(name)} where as_of = {day}"
        for i, (name, cols) in enumerate(tables.items())
    ] or ["select null::bigint as rid, null::varchar as table_name, null::varchar as source, "
          "null::varchar as record_key, null::varchar as id_raw, null::varchar as name_raw, "
          "null::varchar as sex, null::date as birth_date, null::varchar as region_code "
          "where false"]
    con.execute(f"create or replace temp table _sn_records as {' union all '.join(selects)}")


def _register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    con.register(f"{name}_arrow", table)
    try:
        con.execute(f"create or replace temp table {name} as select * from {name}_arrow")
    finally:
        con.unregister(f"{name}_arrow")


def _normalise_ids(con: duckdb.DuckDBPyConnection, day: str) -> None:
    roster_cols = _columns(con, "staged", "roster")
    distinct = con.sql(
        "select distinct id_raw from (select id_raw from _sn_records union all select "
        f"{_col(roster_cols, 'id_number', 'varchar')} from staged.roster where as_of = {day}) "
        "where id_raw is not null").to_arrow_table()
    _register(con, "_sn_ids", normalize_ids(distinct.column("id_raw"), assume_distinct=True))
    con.execute(f"""
        create or replace temp table _sn_rec as
        select r.rid, r.name_raw, coalesce(i.quality, 'missing') as quality, i.normalized,
               case when i.quality <> 'valid' or i.normalized like '%000'
                    then i.digits end as digits,
               case when r.sex in ('male', 'female') then r.sex end as sex,
               r.birth_date as rec_birth,
               coalesce(i.quality = 'valid' and i.normalized like '%000', false) as tail000,
               case when coalesce(i.quality, 'missing') not in {_USABLE} or tail000
                    then i.birth_date end as id_birth,
               case when regexp_full_match(trim(r.region_code), '[0-9]{{6,12}}')
                    then left(trim(r.region_code), 6) end as rec_county,
               case when coalesce(i.quality, 'missing') not in {_USABLE} or tail000
                    then i.region6 end as id_region6
        from _sn_records r left join _sn_ids i on i.raw = r.id_raw""")


def _stage_roster(con: duckdb.DuckDBPyConnection, day: str) -> None:
    cols = _columns(con, "staged", "roster")
    sex = _col(cols, "sex", "varchar", "r")
    birth = _col(cols, "birth_date", "date", "r")
    con.execute(f"""
        create or replace temp table _sn_roster_ids as
        select r.*, i.normalized as person_id, coalesce(i.quality, 'missing') as id_quality,
               coalesce({birth}, case when i.quality in {_USABLE} then i.birth_date end)
                   as birth_date_eff,
               coalesce(case when {sex} in ('male', 'female') then {sex} end,
                        case when i.quality in {_USABLE} then i.sex end) as sex_eff,
               left({_col(cols, 'region_code', 'varchar', 'r')}, 6) as county_code,
               {_col(cols, 'name', 'varchar', 'r')} as _sn_name_raw
        from staged.roster r
        left join _sn_ids i on i.raw = {_col(cols, 'id_number', 'varchar', 'r')}
        where r.as_of = {day}""")


def _normalise_names(con: duckdb.DuckDBPyConnection) -> None:
    """Name keys for the roster and for the records that can meet a roster person."""
    distinct = con.sql(f"""
        select distinct name_raw from (
            select _sn_name_raw as name_raw from _sn_roster_ids
            union all
            select name_raw from _sn_rec
            where quality not in {_USABLE}
               or normalized in (select person_id from _sn_roster_ids)
        ) where name_raw is not null""").to_arrow_table()
    keys = name_keys(distinct.column("name_raw"), with_pinyin=False, assume_distinct=True)
    _register(con, "_sn_names", keys.drop_columns(["pinyin_key"]))
    con.execute("""
        create or replace temp table _sn_roster as
        select r.*, n.name_key, n.name_key_nodot
        from _sn_roster_ids r left join _sn_names n on n.raw = r._sn_name_raw""")
    con.execute("""
        create or replace temp table _sn_persons as
        select distinct person_id, name_key, name_key_nodot, birth_date_eff, sex_eff, county_code
        from _sn_roster where person_id is not null""")


# --- candidate pairs ---------------------------------------------------------------------------

_COMPARE = """
    rn.name_key as l_key, rn.name_key_nodot as l_nodot, p.name_key as r_key,
    p.name_key_nodot as r_nodot,
    case when r.rec_county is not null then
             case when p.county_code is null then 'null'
                  when r.rec_county = p.county_code then 'exact' else 'different' end
         when r.id_region6 is not null then
             case when r.id_region6 = p.county_code or r.id_region6 = left(p.person_id, 6)
                  then 'id_region' else 'different' end
         else 'null' end as county_level,
    case when r.sex is null or p.sex_eff is null then 'null'
         when r.sex = p.sex_eff then 'agree' else 'different' end as sex_level"""


def _pairs(con: duckdb.DuckDBPyConnection, settings: MatchSettings) -> None:
    """All candidate (record, roster person) pairs of steps a, c and d with their levels."""
    # a. exact ID (valid or converted legacy)
    con.execute(f"""
        create or replace temp table _sn_pairs as
        select r.rid, 'a' as step, p.person_id,
               case when r.quality = 'legacy15' then 'legacy15' else 'exact' end as id_level,
               cast(null as integer) as id_edits,
               case when r.rec_birth is null or p.birth_date_eff is null then 'null'
                    when r.rec_birth = p.birth_date_eff then 'exact' else 'different' end
                   as dob_level,
               {_COMPARE}
        from (select * replace (cast(null as varchar) as id_region6) from _sn_rec) r
        join _sn_persons p on p.person_id = r.normalized
        left join _sn_names rn on rn.raw = r.name_raw
        where r.quality in {_USABLE}""")
    # c. repair: roster IDs one edit away. Blocking is complete for one edit: a substitution,
    # adjacent transposition, insertion or deletion leaves either the first 12 characters
    # (region + birth year and month) or the last 5 (day digit, order code, check) intact.
    con.execute(f"""
        create or replace temp table _sn_damaged as
        select rid, digits from _sn_rec
        where quality in {_REPAIRABLE} and length(digits) between 17 and 19""")
    n_damaged = con.execute("select count(*) from _sn_damaged").fetchone()[0]
    if settings.repair_max_edits and n_damaged:
        con.execute("""
            create or replace temp table _sn_pid as
            select distinct person_id from _sn_persons;
            create or replace temp table _sn_repair as
            with candidates as (
                select d.rid, d.digits, p.person_id
                from _sn_damaged d join _sn_pid p on left(p.person_id, 12) = left(d.digits, 12)
                union
                select d.rid, d.digits, p.person_id
                from _sn_damaged d join _sn_pid p on right(p.person_id, 5) = right(d.digits, 5)
            )
            select rid, person_id, damerau_levenshtein(digits, person_id) as edits
            from candidates where damerau_levenshtein(digits, person_id) = 1""")
        con.execute(f"""
            insert into _sn_pairs by name
            select r.rid, 'c' as step, p.person_id, 'one_edit' as id_level, c.edits as id_edits,
                   case when r.rec_birth is not null then
                            case when p.birth_date_eff is null then 'null'
                                 when r.rec_birth = p.birth_date_eff then 'exact'
                                 else 'different' end
                        when p.birth_date_eff is null then 'null'
                        when r.id_birth = p.birth_date_eff then 'exact_from_id'
                        else 'one_edit_in_id' end as dob_level,
                   {_COMPARE}
            from _sn_repair c join _sn_rec r using (rid)
            join _sn_persons p on p.person_id = c.person_id
            left join _sn_names rn on rn.raw = r.name_raw""")
    # d. name + birth date + county, for every record without a usable ID
    max_edits = int(settings.name_link_max_id_edits)
    reexamine = "true" if settings.reexamine_valid_000 else "false"
    con.execute(f"""
        insert into _sn_pairs by name
        with d as (
            select r.*, coalesce(r.rec_birth, r.id_birth) as birth_key,
                   case when r.rec_birth is not null then 'exact' else 'exact_from_id' end
                       as dob_level,
                   case when r.quality = 'scientific' and length(r.digits) > 1
                            then left(r.digits, least(length(r.digits) - 1, 17))
                        when r.quality = 'truncated_excel' then left(r.digits, 14)
                        when r.tail000 then left(r.digits, 15) end as prefix
            from _sn_rec r
            where (r.quality not in {_USABLE} or ({reexamine} and r.tail000
                   and r.normalized not in (select person_id from _sn_persons)))
              and r.name_raw is not null
              and coalesce(r.rec_birth, r.id_birth) is not null
              and coalesce(r.rec_county, r.id_region6) is not null
        ), blocked as (
            select d.rid, p.person_id from d join _sn_persons p
                on p.birth_date_eff = d.birth_key and p.county_code = d.rec_county
            union
            select d.rid, p.person_id from d join _sn_persons p
                on p.birth_date_eff = d.birth_key and p.county_code = d.id_region6
            where d.rec_county is null
            union
            select d.rid, p.person_id from d join _sn_persons p
                on p.birth_date_eff = d.birth_key and left(p.person_id, 6) = d.id_region6
            where d.rec_county is null
        )
        select r.rid, 'd' as step, p.person_id,
               case when r.quality = 'missing' then 'missing'
                    when r.prefix is not null then
                        case when not (starts_with(p.person_id, r.prefix)
                                or starts_with(left(p.person_id, 6) || substr(p.person_id, 9, 9),
                                               r.prefix)) then 'prefix_different'
                             when r.tail000 then 'truncation_prefix'
                             else 'prefix' end
                    when r.quality in {_DAMAGED} and length(r.digits) between 17 and 19 then
                        case when damerau_levenshtein(r.digits, p.person_id) <= {max_edits}
                             then 'near' else 'different' end
                    else 'unusable' end as id_level,
               case when r.quality in {_DAMAGED} and length(r.digits) between 17 and 19
                    then damerau_levenshtein(r.digits, p.person_id) end as id_edits,
               r.dob_level,
               {_COMPARE}
        from blocked b join d r on r.rid = b.rid
        join _sn_persons p on p.person_id = b.person_id
            and p.birth_date_eff = r.birth_key
        left join _sn_names rn on rn.raw = r.name_raw""")


def _resolve_names(con: duckdb.DuckDBPyConnection, settings: MatchSettings) -> None:
    """Pinyin / fuzzy levels, in Python, for the distinct pairs whose keys differ."""
    pending = con.sql("""
        select distinct l_nodot, r_nodot from _sn_pairs
        where l_nodot is not null and r_nodot is not null
          and l_key <> r_key and l_nodot <> r_nodot""").to_arrow_table()
    _register(con, "_sn_name_cmp", compare_nodot_pairs(pending, fuzzy_min=settings.name_fuzzy_min))


# --- decisions ---------------------------------------------------------------------------------

def _in(levels: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{lv}'" for lv in levels) + ")" if levels else "('')"


def _review_decisions(con: duckdb.DuckDBPyConnection) -> None:
    """_sn_rev(rid, person_id, decision) from links.review_decisions (reject wins a conflict)."""
    if table_exists(con, "links", "review_decisions"):
        con.execute("""
            create or replace temp table _sn_rev as
            select r.rid, d.person_id,
                   case when bool_or(d.decision = 'reject') then 'reject' else 'accept' end
                       as decision
            from links.review_decisions d
            join _sn_records r on r.source = d.source and r.record_key = d.record_key
            where d.person_id is not null and d.decision in ('accept', 'reject')
            group by r.rid, d.person_id""")
    else:
        con.execute("create or replace temp table _sn_rev (rid bigint, person_id varchar, "
                    "decision varchar)")


def _decide(con: duckdb.DuckDBPyConnection, settings: MatchSettings) -> None:
    w = settings.weights
    repair_dob = ("exact", "exact_from_id") + (
        ("one_edit_in_id",) if settings.repair_trust_id_date else ())
    con.execute(f"""
        create or replace temp table _sn_scored as
        with levels as (
            select p.*,
                   case when p.l_nodot is null or p.r_nodot is null then 'null'
                        when p.l_key = p.r_key then 'exact'
                        when p.l_nodot = p.r_nodot then 'nodot'
                        else n.level end as name_level,
                   case when p.l_nodot is null or p.r_nodot is null then null
                        when p.l_key = p.r_key or p.l_nodot = p.r_nodot then 1.0
                        else n.similarity end as name_similarity
            from _sn_pairs p
            left join _sn_name_cmp n on n.l_nodot = p.l_nodot and n.r_nodot = p.r_nodot
        )
        , weighted as (
        select *,
               {weight_case('id_level', w['id'], -20.0)} as w_id,
               {weight_case('name_level', w['name'])} as w_name,
               {weight_case('dob_level', w['birth_date'])} as w_dob,
               {weight_case('county_level', w['county'])} as w_county,
               {weight_case('sex_level', w['sex'])} as w_sex,
               case step
                   when 'a' then true
                   when 'c' then name_level in {_in(settings.repair_name_levels)}
                             and dob_level in {_in(repair_dob)} and sex_level <> 'different'
                   else name_level in {_in(settings.name_dob_region_levels)}
                        and sex_level <> 'different'
                        and id_level not in ('different', 'prefix_different')
               end as agree
        from levels)
        select *, {float(settings.prior_weight)!r} + w_id + w_name + w_dob + w_county + w_sex
                  as weight
        from weighted""")
    _review_decisions(con)
    # Officers' decisions (links.review_decisions): a rejected pair never counts; an accepted pair
    # is a candidate in a tier of its own that comes first. Then a / c before d.
    con.execute("""
        create or replace temp table _sn_usable as
        select s.*, v.decision as review,
               case when v.decision = 'accept' then 0 when s.step = 'd' then 2 else 1 end as tier
        from _sn_scored s left join _sn_rev v on v.rid = s.rid and v.person_id = s.person_id
        where (s.agree and v.decision is distinct from 'reject') or v.decision = 'accept'""")
    con.execute("""
        create or replace temp table _sn_rejected as
        select s.rid, list(distinct s.person_id order by s.person_id) as rejected_ids
        from _sn_scored s join _sn_rev v on v.rid = s.rid and v.person_id = s.person_id
        where v.decision = 'reject' group by s.rid""")
    con.execute("""
        create or replace temp table _sn_decision as
        with tiers as (
            select rid, min(tier) as tier from _sn_usable group by rid
        ), first_tier as (
            select u.rowid as row_id, u.rid, u.person_id, u.step, u.weight
            from _sn_usable u join tiers t on t.rid = u.rid and t.tier = u.tier
        ), counted as (
            select rid, count(distinct person_id) as candidates,
                   case when bool_or(step <> 'a')
                        then list(distinct person_id order by person_id) end as candidate_ids,
                   arg_max(row_id, {'weight': weight, 'person_id': person_id}) as row_id
            from first_tier group by rid
        )
        select c.candidates, c.candidate_ids, u.*
        from _sn_usable u join counted c on c.row_id = u.rowid""")
    # For a record left unlinked: the closest candidate that was refused, levels only (no ID or
    # name of that other person), so an officer sees which comparison failed.
    con.execute("""
        create or replace temp table _sn_nearest as
        select rid, json_object('id', id_level, 'name', name_level, 'birth_date', dob_level,
                                'county', county_level, 'sex', sex_level) as nearest
        from _sn_scored
        where rid not in (select rid from _sn_decision)
        qualify row_number() over (partition by rid order by weight desc, person_id) = 1""")


# --- outputs -----------------------------------------------------------------------------------

def _write(con: duckdb.DuckDBPyConnection, as_of: date, day: str, settings: MatchSettings,
           tables: dict[str, list[str]]) -> None:
    con.execute(RECORD_LINKS_DDL)
    con.execute("delete from links.record_links where as_of = ?", [as_of])
    prior = float(settings.prior_weight)
    # The bulk (a valid ID of someone not in the roster) gets a constant explanation: nothing
    # else was compared, by rule b. It is built once, not per row.
    not_in_roster = {
        q: json.dumps({"method": "none", "status": "unlinked",
                       "id": {"quality": q, "agreement": "not_in_roster"}, "candidates": 0,
                       "reason": "valid_id_not_in_roster"}, separators=(",", ":"))
        for q in ("valid", "legacy15")}
    con.execute(f"""
        insert into links.record_links
        with joined as (
            select rr.source, rr.table_name, rr.record_key, r.*, d.* exclude (rid), n.nearest,
                   case when d.rid is null then 'unlinked'
                        when d.candidates > 1 then 'review'
                        -- a rejection never makes a link by elimination: an officer decides
                        when d.review is null and j.rejected_ids is not null then 'review'
                        else 'linked' end as status,
                   j.rejected_ids,
                   case when d.rid is null then 'none'
                        when d.step = 'a' and d.id_level = 'legacy15' then 'id_legacy15'
                        when d.step = 'a' then 'id_exact'
                        when d.step = 'c' then 'id_repaired'
                        else 'name_dob_region' end as method
            from _sn_records rr join _sn_rec r on r.rid = rr.rid
            left join _sn_decision d on d.rid = r.rid
            left join _sn_nearest n on n.rid = r.rid
            left join _sn_rejected j on j.rid = r.rid
        )
        select {day}, source, table_name, record_key,
               case when status = 'linked' then person_id end,
               status, method,
               case when status = 'unlinked' then 0.0
                    else round(1.0 / (1.0 + pow(2.0, -weight)), 6) end,
               quality,
               case when status = 'unlinked' and quality = 'valid' and nearest is null
                        then '{not_in_roster["valid"]}'::json
                    when status = 'unlinked' and quality = 'legacy15' and nearest is null
                        then '{not_in_roster["legacy15"]}'::json
                    when status = 'unlinked' then json_object(
                   'method', method, 'status', status,
                   'id', json_object('quality', quality, 'agreement',
                         case when rejected_ids is not null then 'rejected_by_review'
                              when quality in {_USABLE} then 'not_in_roster'
                              when quality = 'missing' then 'missing' else 'unusable' end),
                   'name', json_object('level',
                         case when name_raw is null then 'null' else 'no_candidate' end),
                   'birth_date', case when coalesce(rec_birth, id_birth) is null then 'null'
                                      else 'no_candidate' end,
                   'county', case when coalesce(rec_county, id_region6) is null then 'null'
                                  else 'no_candidate' end,
                   'candidates', 0,
                   'nearest_refused', nearest,
                   'rejected_by_review', rejected_ids,
                   'reason', case when rejected_ids is not null then 'rejected_by_review'
                                  when quality in {_USABLE} then 'valid_id_not_in_roster'
                                  when name_raw is null then 'no_name'
                                  when coalesce(rec_birth, id_birth) is null then 'no_birth_date'
                                  when coalesce(rec_county, id_region6) is null then 'no_county'
                                  when nearest is not null then 'candidates_refused'
                                  else 'no_candidate' end)
               else json_object(
                   'method', method, 'status', status,
                   'id', json_object('quality', quality, 'agreement', id_level,
                                     'edits', id_edits),
                   'name', json_object('level', name_level, 'similarity', name_similarity),
                   'birth_date', dob_level, 'county', county_level, 'sex', sex_level,
                   'candidates', candidates,
                   'candidate_person_ids', case when status = 'review' then candidate_ids end,
                   'review_decision', review, 'rejected_by_review', rejected_ids,
                   'match_weights', json_object('prior', {prior!r}, 'id', w_id, 'name', w_name,
                                                'birth_date', w_dob, 'county', w_county,
                                                'sex', w_sex, 'total', weight))
               end
        from joined""")
    _write_roster(con, as_of)
    for name in tables:
        con.execute(f"create or replace view links.{quote_ident(name)} as "
                    + VIEW_SQL.format(table=quote_ident(name), name=name.replace("'", "''")))
    con.execute(REVIEW_CANDIDATES_SQL)


def _write_roster(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    out = "select * exclude (_sn_name_raw, name_key_nodot) from _sn_roster"
    if not table_exists(con, "links", "roster"):
        con.execute(f"create table links.roster as {out} where false")
    existing = set(_columns(con, "links", "roster"))
    types = con.execute(f"describe {out}").fetchall()
    for column, sql_type, *_ in types:
        if column not in existing:
            con.execute(f"alter table links.roster add column {quote_ident(column)} {sql_type}")
    con.execute("delete from links.roster where as_of = ?", [as_of])
    con.execute(f"insert into links.roster by name {out}")


def _summary(con: duckdb.DuckDBPyConnection, as_of: date, settings: MatchSettings,
             tables: dict[str, list[str]]) -> LinkSummary:
    sources: dict[str, SourceLinkSummary] = {}
    rows = con.execute("""
        select source, any_value(table_name), count(*),
               count(*) filter (where status = 'review'),
               count(*) filter (where status = 'unlinked')
        from links.record_links where as_of = ? group by source order by source""",
                       [as_of]).fetchall()
    for source, table_name, records, review, unlinked in rows:
        sources[source] = SourceLinkSummary(source, table_name, records, {}, review, unlinked, {})
    for source, method, n in con.execute("""
            select source, method, count(*) from links.record_links
            where as_of = ? and status = 'linked' group by all order by all""",
                                         [as_of]).fetchall():
        sources[source].linked[method] = n
    for source, quality, n in con.execute("""
            select source, id_quality, count(*) from links.record_links
            where as_of = ? group by all order by all""", [as_of]).fetchall():
        sources[source].id_quality[quality] = n
    roster_rows, persons = con.execute(
        "select count(*), count(distinct person_id) from links.roster where as_of = ?",
        [as_of]).fetchone()
    quality = dict(con.execute(
        "select id_quality, count(*) from links.roster where as_of = ? group by all order by all",
        [as_of]).fetchall())
    unusable = sum(n for q, n in quality.items() if q not in ("valid", "legacy15"))
    return LinkSummary(as_of, sources, roster_rows, persons, quality, unusable, settings,
                       tables=sorted(tables))


def _drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    for (name,) in con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = 'temp' and table_name like '\\_sn\\_%' escape '\\'").fetchall():
        con.execute(f"drop table if exists temp.{quote_ident(name)}")
