"""Blocking: named rules (data in `MatchSettings.blocking_rules`) propose candidate pairs.

Each rule is an equi-join of the record's blocking keys with the roster person's. A pair keeps the
names of every rule that proposed it (shown in its explanation); `pairs_per_rule` is kept in the
quarter's model JSON for diagnostics.

Keys (record side / roster side):

- ``id_head12`` / ``id_tail5``: first 12 / last 5 characters of a damaged 17-19 digit ID / of the
  roster ID (together complete for one edit).
- ``id_prefix15``: first 15 digits of an ID that Excel truncated (ends in ``000``).
- ``name``: dot-less name key. ``pinyin``: its toneless reading. ``surname``: the reading of
  its surname (traditional forms and homophones keep it).
- ``birth_date``: the record's birth date, else the one in its ID / the roster birth date.
- ``county``: the record's county, else its ID's; re-coded counties map to today's code.
- ``prefecture``: first 4 digits of ``county``.
"""

from __future__ import annotations

import duckdb

from .settings import MatchSettings

RECORD_KEYS_SQL = """
create or replace temp table _sn_bk_rec as
select r.rid, r.scope,
       case when r.id_kind = 'edit' then left(r.digits, 12) end as id_head12,
       case when r.id_kind = 'edit' then right(r.digits, 5) end as id_tail5,
       case when r.tail000 then left(r.digits, 15) end as id_prefix15,
       n.name_key_nodot as name, py.pinyin, py.surname,
       coalesce(r.rec_birth, r.id_birth) as birth_date,
       coalesce(r.rec_county_recoded, rc.new, r.id_region6) as county,
       left(coalesce(r.rec_county_recoded, rc.new, r.id_region6), 4) as prefecture
from _sn_rec r
left join _sn_names n on n.raw = r.name_raw
left join _sn_pinyin py on py.nodot = n.name_key_nodot
left join _sn_recodes rc on rc.old = r.id_region6
where r.scope <> 'exact'"""

PERSON_KEYS_SQL = """
create or replace temp table _sn_bk_per as
select p.person_id, left(p.person_id, 12) as id_head12, right(p.person_id, 5) as id_tail5,
       left(p.person_id, 15) as id_prefix15, p.name_key_nodot as name, p.pinyin, p.surname,
       p.birth_date_eff as birth_date, c.county, left(c.county, 4) as prefecture
from _sn_persons p
left join (select person_id, unnest(counties_recoded) as county from _sn_persons) c
    using (person_id)"""


def rule_sql(name: str, keys: tuple[str, ...], include_valid_ids: bool) -> str:
    """Candidate pairs of one rule (keys are validated names, never user text in SQL)."""
    on = " and ".join(f"f.{k} = p.{k}" for k in keys)
    scope = "" if include_valid_ids else "and f.scope = 'open'"
    return (f"select distinct f.rid, p.person_id, '{name}' as rule "
            f"from _sn_bk_rec f join _sn_bk_per p on {on} where true {scope}")


def candidate_pairs(con: duckdb.DuckDBPyConnection, settings: MatchSettings) -> dict[str, int]:
    """Create ``_sn_cand(rid, person_id, rules)`` (rules: comma-separated names); return the number of pairs per rule.

    Needs the linker's ``_sn_rec``, ``_sn_names``, ``_sn_pinyin``, ``_sn_recodes`` and
    ``_sn_persons`` temp tables.
    """
    con.execute(RECORD_KEYS_SQL)
    con.execute(PERSON_KEYS_SQL)
    rules = settings.blocking_rules
    if not rules:
        con.execute("create or replace temp table _sn_rule_pairs "
                    "(rid bigint, person_id varchar, rule varchar)")
    else:
        union = " union all ".join(rule_sql(r.name, r.keys, r.include_valid_ids) for r in rules)
        con.execute(f"create or replace temp table _sn_rule_pairs as {union}")
    con.execute("""
        create or replace temp table _sn_cand as
        select rid, person_id, string_agg(rule, ',' order by rule) as rules
        from _sn_rule_pairs group by rid, person_id""")
    counts = dict(con.execute(
        "select rule, count(*) from _sn_rule_pairs group by rule").fetchall())
    out = {r.name: int(counts.get(r.name, 0)) for r in rules}
    out["_distinct_pairs"] = int(con.execute("select count(*) from _sn_cand").fetchone()[0])
    return out
