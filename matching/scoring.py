"""Compare, fit, score and decide: the Fellegi–Sunter part of the link step.

1. `compare`: comparison levels of a pair table (rid, person_id, rules) -> ``_sn_levels``-like
   table. The same SQL serves the candidate pairs and the random pairs that estimate u.
2. `train`: u from random pairs, m and the prior from EM over the candidate pairs' patterns.
3. `score_and_decide`: weight = prior weight + level weights; a record's posterior per candidate
   = 2^w / (1 + sum of 2^w over its candidates), so two equally good candidates (namesake twins
   in the roster) share it and go to review. Officers' decisions come first: an accepted pair
   links, a rejected pair is never proposed again and never makes a link by elimination.
"""

from __future__ import annotations

import duckdb

from safetynet.warehouse import digest_sql, table_exists

from .comparisons import (
    ID_EDITS_SQL,
    ID_INFORMATIVE,
    ID_LEVEL_SQL,
    ID_ONE_EDIT,
    NAME_LEVEL_SQL,
    REGION_LEVEL_SQL,
    birth_date_level_sql,
    compare_nodot_pairs,
    sex_level_sql,
    weight_case,
)
from .model import SESSIONS, FellegiSunterModel, estimate_u, fit
from .prepare import register
from .settings import LEVELS, NEUTRAL, MatchSettings

LEVEL_COLUMNS = {"id": "id_level", "name": "name_level", "birth_date": "dob_level",
                 "sex": "sex_level", "region": "region_level"}
WEIGHT_COLUMNS = {"id": "w_id", "name": "w_name", "birth_date": "w_dob", "sex": "w_sex",
                  "region": "w_region"}
MAX_WEIGHT = 500.0
# the key of an explanation's inputs (a record in review has its own)
EKEY_SQL = digest_sql(
    "status", "method", "quality", "scope", "reason", "id_level", "id_edits", "name_level",
    "name_similarity", "dob_level", "sex_level", "region_level", "rules", "n_candidates",
    "candidate_ids", "review", "rejected", "weight", "posterior", "held", "no_name", "no_birth",
    "case when status = 'review' then rid end")


def compare(con: duckdb.DuckDBPyConnection, pairs: str, out: str,
            settings: MatchSettings, *, exact: bool = False) -> None:
    """Levels of every pair in temp table `pairs` (rid, person_id, rules) into temp table `out`.

    ``exact=True``: every pair is a record's own valid ID (the fast path: no ID edit distances).

    Besides the five levels: ``dob_raw`` / ``sex_raw`` (the level before the in-ID agreement is
    made neutral, for training on exact-ID pairs) and ``key_agree`` (the birth date the record
    was blocked by equals the candidate's, for training the ID levels).
    """
    # the edit distance is computed once per pair (the level reads it by its alias)
    id_level = ("case when r.quality = 'legacy15' then 'legacy15' else 'exact' end" if exact
                else ID_LEVEL_SQL.replace("damerau_levenshtein(r.digits, p.person_id)", "id_edits")
                .replace("damerau_levenshtein(r.digits, p.id15)", "id_edits"))
    id_edits = "cast(null as bigint)" if exact else ID_EDITS_SQL
    con.execute(f"""
        create or replace temp table {out}_raw as
        with joined as (
            select x.rid, x.person_id, x.rules, r.n, {id_edits} as id_edits,
                   {id_level} as id_level, {NAME_LEVEL_SQL} as name_level0,
                   rn.name_key_nodot as l_nodot, p.name_key_nodot as r_nodot,
                   {REGION_LEVEL_SQL} as region_level,
                   r.rec_birth, r.id_birth, r.rec_sex, p.birth_date_eff, p.sex_eff
            from {pairs} x join _sn_rec r on r.rid = x.rid
            join _sn_persons p on p.person_id = x.person_id
            left join _sn_names rn on rn.raw = r.name_raw
        )
        select * exclude (rec_birth, id_birth, rec_sex, birth_date_eff, sex_eff),
               {birth_date_level_sql(r="j", p="j")} as dob_level,
               {sex_level_sql(r="j", p="j")} as sex_level,
               coalesce(coalesce(j.rec_birth, j.id_birth) = j.birth_date_eff, false) as key_agree
        from joined j""")
    pending = con.sql(f"""
        select distinct l_nodot, r_nodot from {out}_raw
        where name_level0 is null and l_nodot is not null and r_nodot is not null
        """).to_arrow_table()
    register(con, f"{out}_names",
             compare_nodot_pairs(pending, fuzzy_min=settings.name_fuzzy_min))
    con.execute(f"""
        create or replace temp table {out} as
        select x.* exclude (name_level0, l_nodot, r_nodot),
               coalesce(x.name_level0, n.level, 'null') as name_level,
               case when x.name_level0 in ('exact', 'nodot') then 1.0
                    when x.name_level0 is null then n.similarity end as name_similarity,
               case when x.dob_level = 'in_id' then 'exact' else x.dob_level end as dob_raw,
               case when x.sex_level = 'in_id' then 'agree' else x.sex_level end as sex_raw
        from {out}_raw x
        left join {out}_names n on n.l_nodot = x.l_nodot and n.r_nodot = x.r_nodot""")
    con.execute(f"drop table {out}_raw; drop table {out}_names")


def _level_counts(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for comparison, column in LEVEL_COLUMNS.items():
        counts[comparison] = dict(con.execute(
            f"select {column}, count(*) from {table} group by all").fetchall())
    return counts


# Exact agreement of a random pair, from the value frequencies of both sides (no sampling
# noise: two random people share a name about once in 50,000 pairs, too rare to sample well).
# (record side weighted by its identity's number of records, roster side)
_AGREEMENT_SQL = {
    ("name", "exact"): ("select n.name_key, r.n from _sn_rec r join _sn_names n "
                        "on n.raw = r.name_raw", "select name_key, 1 from _sn_persons"),
    ("birth_date", "exact"): ("select rec_birth, n from _sn_rec",
                              "select birth_date_eff, 1 from _sn_persons"),
    ("sex", "agree"): ("select rec_sex, n from _sn_rec", "select sex_eff, 1 from _sn_persons"),
    ("region", "county"): ("select rec_county, n from _sn_rec",
                           "select counties[1], 1 from _sn_persons"),
}


def _exact_agreement(con: duckdb.DuckDBPyConnection,
                     counts: dict[str, dict[str, int]]) -> None:
    """Replace the sampled count of each exact-agreement level by its expected count among
    the sample's non-neutral pairs (computed from both sides' value frequencies); the
    difference goes to the comparison's ``else``-like last level."""
    for (comparison, level), (left, right) in _AGREEMENT_SQL.items():
        share = con.execute(f"""
            with l as (select v, sum(w) as c from ({left}) t(v, w) where v is not null
                       group by v),
                 r as (select v, sum(w) as c from ({right}) t(v, w) where v is not null
                       group by v)
            select sum(l.c * r.c) / ((select sum(c) from l) * (select sum(c) from r))
            from l join r using (v)""").fetchone()[0]
        levels = counts.setdefault(comparison, {})
        n = sum(c for lv, c in levels.items() if lv not in NEUTRAL)
        if share is None or n == 0:
            continue
        last = LEVELS[comparison][-1]
        expected = float(share) * n
        levels[last] = max(levels.get(last, 0) + levels.get(level, 0) - expected, 0.0)
        levels[level] = expected
        if comparison == "name":
            _homophones(con, levels, expected)


def _homophones(con: duckdb.DuckDBPyConnection, levels: dict[str, float],
                exact: float) -> None:
    """Expected count of the ``pinyin`` level among random pairs: the exact-name count times
    how much more often two roster persons share a reading than a written name."""
    ratio = con.execute("""
        with k as (select name_key as v, count(*) as c from _sn_persons
                   where name_key is not null and pinyin is not null group by v),
             p as (select pinyin as v, count(*) as c from _sn_persons
                   where name_key is not null and pinyin is not null group by v)
        select (select sum(c * c) from p) / (select sum(c * c) from k)""").fetchone()[0]
    if ratio is None:
        return
    expected = exact * max(float(ratio) - 1.0, 0.0)
    levels["else"] = max(levels.get("else", 0) + levels.get("pinyin", 0) - expected, 0.0)
    levels["pinyin"] = expected


def _patterns(con: duckdb.DuckDBPyConnection, cols: list[str], where: str
              ) -> list[tuple[tuple[str, ...], int]]:
    return [(tuple(row[:-1]), int(row[-1])) for row in con.execute(
        f"select {', '.join(cols)}, sum(n) from _sn_levels where {where} "
        f"group by all order by all").fetchall()]


def train(con: duckdb.DuckDBPyConnection, settings: MatchSettings) -> FellegiSunterModel:
    """u from random pairs, then EM for m and the prior over the candidate pairs (``_sn_levels``)."""
    n_records = con.execute("select coalesce(sum(n), 0) from _sn_rec").fetchone()[0]
    n_persons = con.execute("select count(*) from _sn_persons").fetchone()[0]
    seed = int(settings.seed)
    # random pairs: a deterministic sample of records (not identities: a statistic per record),
    # each with a pseudo-random roster person
    con.execute(f"""
        create or replace temp table _sn_rand_pairs as
        with rs as (
            select rid, skey from _sn_records order by hash(skey, {seed}), skey, rid
            limit {int(settings.u_sample_pairs)}
        ), pn as (
            select person_id, row_number() over (order by person_id) - 1 as i from _sn_persons
        )
        select rs.rid, pn.person_id, cast(null as varchar) as rules
        from rs join pn on pn.i = hash(rs.skey, {seed} + 1) % {max(n_persons, 1)}
        join _sn_rec r on r.rid = rs.rid
        -- a random pair is a non-match, except where the record's ID is the person's own
        where r.normalized is distinct from pn.person_id""")
    compare(con, "_sn_rand_pairs", "_sn_rand", settings)
    n_random = con.execute("select count(*) from _sn_rand").fetchone()[0]
    counts = _level_counts(con, "_sn_rand")
    _exact_agreement(con, counts)
    u = estimate_u(counts, settings)
    con.execute("drop table _sn_rand; drop table _sn_rand_pairs")
    raw = {"id": "id_level", "name": "name_level", "birth_date": "dob_raw", "sex": "sex_raw",
           "region": "region_level"}
    blocks = {"exact_id": "id_level in ('exact', 'legacy15')",
              "name_dob": "name_level in ('exact', 'nodot') and key_agree"}
    sessions = {}
    for name, used, _estimate in SESSIONS:
        cols = [raw[c] if name == "exact_id" else LEVEL_COLUMNS[c] for c in used]
        sessions[name] = _patterns(con, cols, blocks[name])
    patterns = _patterns(con, [LEVEL_COLUMNS[c] for c in LEVELS], "true")
    model = fit(sessions, patterns, u, float(n_records) * float(n_persons), settings)
    model.info["random_pairs"] = int(n_random)
    model.info["records"] = int(n_records)
    model.info["persons"] = int(n_persons)
    return model


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


def _accepted_pairs(con: duckdb.DuckDBPyConnection, settings: MatchSettings) -> None:
    """An accepted pair that blocking did not propose is compared and added to the candidates."""
    con.execute("""
        create or replace temp table _sn_extra as
        select v.rid, v.person_id, 'review_accepted' as rules from _sn_rev v
        where v.decision = 'accept'
          and v.person_id in (select person_id from _sn_persons)
          and not exists (select 1 from _sn_levels l
                          where l.rid = v.rid and l.person_id = v.person_id)""")
    if con.execute("select count(*) from _sn_extra").fetchone()[0]:
        compare(con, "_sn_extra", "_sn_extra_levels", settings)
        con.execute("insert into _sn_levels by name select * from _sn_extra_levels")
        con.execute("drop table _sn_extra_levels")
    con.execute("drop table _sn_extra")


def score_and_decide(con: duckdb.DuckDBPyConnection, model: FellegiSunterModel,
                     settings: MatchSettings) -> None:
    """``_sn_scored`` (pairs with weights) and ``_sn_decision`` (one row per record with pairs)."""
    _review_decisions(con)
    _accepted_pairs(con, settings)
    weights = model.weights()
    parts = [f"{weight_case(LEVEL_COLUMNS[c], weights[c])} as {WEIGHT_COLUMNS[c]}"
             for c in LEVELS]
    total = " + ".join(WEIGHT_COLUMNS[c] for c in LEVELS)
    con.execute(f"""
        create or replace temp table _sn_scored as
        with w as (
            select l.*, {', '.join(parts)}, v.decision as review
            from _sn_levels l left join _sn_rev v on v.rid = l.rid and v.person_id = l.person_id
        )
        select *, greatest(least({model.prior_weight!r} + {total}, {MAX_WEIGHT}),
                           -{MAX_WEIGHT}) as weight
        from w""")
    con.execute("drop table _sn_levels")
    link_t, review_t = float(settings.link_threshold), float(settings.review_threshold)
    informative = "(" + ", ".join(f"'{lv}'" for lv in ID_INFORMATIVE) + ")"
    # a region disagreement holds only a link the ID does not support (people move; a record's
    # region may be where the ID was issued)
    held = " ".join(
        f"when {LEVEL_COLUMNS[c]} = '{lv}'"
        + (f" and id_level not in {informative}" if c == "region" else "")
        + f" then '{c}:{lv}'"
        for c, _, lv in (item.partition(":") for item in settings.review_levels))
    held_sql = f"case {held} end" if held else "cast(null as varchar)"
    one_edit = "(" + ", ".join(f"'{lv}'" for lv in ID_ONE_EDIT) + ")"
    # one pass over a narrow projection: weights stay within +-500, so 2^w is a finite double
    # A record whose own valid ID is a roster ID and that no officer decided has one pair: its
    # decision needs no grouping (the bulk). The rest go through the candidate statistics.
    con.execute("""
        create or replace temp table _sn_simple as
        select r.rid from _sn_rec r
        where r.scope = 'exact' and r.rid not in (select rid from _sn_rev)""")
    con.execute("""
        create or replace temp table _sn_live as
        select rid, person_id, weight, coalesce(review = 'accept', false) as accepted,
               id_level in ('exact', 'legacy15') as is_exact
        from _sn_scored where review is distinct from 'reject'
          -- another valid ID is another person: never a candidate (rule b), unless accepted
          and (id_level <> 'different_valid' or review = 'accept')
          and rid not in (select rid from _sn_simple)""")
    con.execute(f"""
        create or replace temp table _sn_decision as
        with stats as (
            select rid, count(*) as n_candidates, count(*) filter (where accepted) as n_accepted,
                   bool_or(is_exact) as has_exact, sum(pow(2.0, weight)) as odds,
                   arg_max(person_id, struct_pack(a := accepted, e := is_exact, w := weight,
                                                  p := person_id)) as best
            from _sn_live group by rid
        ), lists as (
            select l.rid,
                   list(l.person_id order by l.weight desc, l.person_id)
                       filter (where pow(2.0, l.weight) / (1.0 + s.odds) >= 0.01) as plausible,
                   list(l.person_id order by l.person_id) filter (where l.accepted)
                       as accepted_ids
            from _sn_live l join stats s on s.rid = l.rid
            where s.n_candidates > 1 group by l.rid
        )
        select b.*, {held_sql} as held, false as refused, s.n_candidates, s.n_accepted,
               s.has_exact, s.odds,
               pow(2.0, b.weight) / (1.0 + s.odds) as posterior,
               coalesce(ls.plausible, case when pow(2.0, b.weight) / (1.0 + s.odds) >= 0.01
                                           then [b.person_id] end) as plausible,
               coalesce(ls.accepted_ids, case when s.n_accepted > 0 then [b.person_id] end)
                   as accepted_ids
        from stats s join _sn_scored b on b.rid = s.rid and b.person_id = s.best
        left join lists ls on ls.rid = s.rid
        union all by name
        select b.*, {held_sql} as held, false as refused, 1 as n_candidates, 0 as n_accepted,
               true as has_exact,
               pow(2.0, b.weight) as odds,
               pow(2.0, b.weight) / (1.0 + pow(2.0, b.weight)) as posterior,
               [b.person_id] as plausible, cast(null as varchar[]) as accepted_ids
        from _sn_scored b semi join _sn_simple m on m.rid = b.rid""")
    # a record without a live candidate keeps its nearest refused pair, to explain the refusal
    con.execute("""
        insert into _sn_decision by name
        select b.*, null as held, true as refused, 0 as n_candidates, 0 as n_accepted,
               false as has_exact, pow(2.0, b.weight) as odds,
               pow(2.0, b.weight) / (1.0 + pow(2.0, b.weight)) as posterior
        from _sn_scored b
        where b.rid not in (select rid from _sn_decision)
        qualify row_number() over (partition by b.rid order by b.weight desc, b.person_id) = 1
        """)
    con.execute(f"""
        create or replace temp table _sn_outcome as
        with s as (
            select r.rid, r.scope, d.* exclude (rid), j.rejected_ids as rejected,
                   r.quality, r.name_raw is null as no_name,
                   coalesce(r.rec_birth, r.id_birth) is null as no_birth,
                   case when d.rid is null or d.refused then 'unlinked'
                        when d.n_accepted >= 2 then 'review'
                        when d.n_accepted = 1 then 'linked'
                        when d.has_exact then 'linked'
                        -- a rejection never makes a link by elimination: an officer decides
                        when j.rejected_ids is not null then
                            case when d.posterior >= {review_t!r} then 'review'
                                 else 'unlinked' end
                        -- rule b: a valid ID not in the roster is another person
                        when r.scope = 'valid' then 'unlinked'
                        when d.posterior >= {link_t!r} and d.held is null then 'linked'
                        when d.posterior >= {review_t!r} then 'review'
                        else 'unlinked' end as status
            from _sn_rec r left join _sn_decision d on d.rid = r.rid
            left join (select rid, list(distinct person_id order by person_id) as rejected_ids
                       from _sn_rev where decision = 'reject' group by rid) j on j.rid = r.rid
        )
        select *,
               case when status = 'unlinked' then 'none'
                    when id_level = 'legacy15' then 'id_legacy15'
                    when id_level = 'exact' then 'id_exact'
                    when id_level in {one_edit} then 'id_repaired'
                    else 'name_dob_region' end as method,
               case when status = 'review' and n_accepted >= 2 then accepted_ids
                    when status = 'review' then plausible[1:5] end as candidate_ids,
               case when status <> 'unlinked' then null
                    when rejected is not null then 'rejected_by_review'
                    when scope = 'valid' then 'valid_id_not_in_roster'
                    when id_level = 'different_valid' then 'another_valid_id'
                    when weight is not null then 'below_threshold'
                    else 'no_candidate' end as reason,
               -- an explanation depends only on these (weights follow from the levels): the
               -- writer builds each distinct one once; a record in review has its own
               {EKEY_SQL} as ekey
        from s""")
    con.execute("drop table _sn_decision; drop table _sn_live; drop table _sn_simple")
    # every candidate of a record in review, side by side (review queue export, explanation)
    con.execute("""
        create or replace temp table _sn_cscores as
        select o.rid,
               list(struct_pack(person_id := s.person_id,
                                posterior := round(pow(2.0, s.weight) / (1.0 + o.odds), 6),
                                weight := round(s.weight, 4), id := s.id_level,
                                name := s.name_level, birth_date := s.dob_level,
                                sex := s.sex_level, region := s.region_level)
                    order by s.weight desc, s.person_id) as candidate_scores
        from _sn_outcome o
        join _sn_scored s on s.rid = o.rid and list_contains(o.candidate_ids, s.person_id)
        where o.status = 'review' group by o.rid""")
    con.execute("drop table _sn_scored")
