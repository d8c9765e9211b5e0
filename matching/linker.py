"""The link step: staged department records -> roster persons, every decision explained.

a. Exact ID (fast path): a valid (or converted legacy) ID that is a roster ID links to that person
   (``id_exact`` / ``id_legacy15``).
b. A valid ID that is not in the roster is another person and never links (near-ID neighbours and
   namesakes). Its pairs by name + birth date are still scored, so the explanation shows why.
   One exception, `MatchSettings.reexamine_valid_000`: an ID ending in ``000`` is what Excel
   truncation leaves, and 1 in 11 of those pass the check by chance: it is compared by its first
   15 digits instead.
c. Every other record (damaged, Excel-mangled or missing ID) gets candidate pairs from the named
   blocking rules and a Fellegi–Sunter score: m / u per comparison level estimated from this
   quarter's data (u from random pairs, m by EM), prior -> level weights -> total. The posterior
   of a candidate is normalised over all of the record's candidates: at least
   ``link_threshold`` links (``id_repaired`` when the ID is one edit from the candidate's, else
   ``name_dob_region``), at least ``review_threshold`` goes to the review queue, below stays
   unlinked.

Officers' decisions (``links.review_decisions``) come first: an accepted pair links, a rejected
pair is never proposed again and never makes a link by elimination.

Writes ``links.record_links`` (one row per staged record; explanation JSON with every level and
weight; stored as ``links.record_link_rows`` + ``links.explanations``, see `link_store`), ``links.roster`` (+ ``person_key``), ``links.persons``, ``links.person_ids``,
``links.model`` (as_of, settings, fitted model) and the ``links.<table>`` and
``links.review_candidates`` views (docs/architecture.md).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import duckdb

from safetynet.warehouse import create_table_like, quote_ident, table_exists, transaction

from .blocking import candidate_pairs
from .link_store import (
    XKEY_SQL,
    delete_record_links,
    ensure_record_links,
    prune_explanations,
)
from .model import FellegiSunterModel
from .persons import assign_keys, rebuild_persons
from .prepare import columns, drop_temp, prepare
from .scoring import compare, score_and_decide, train
from .settings import MatchSettings

log = logging.getLogger(__name__)

METHODS = ("id_exact", "id_legacy15", "id_repaired", "name_dob_region", "none")

MODEL_DDL = "create table if not exists links.model (as_of date, settings json, model json)"

VIEW_SQL = (
    "select s.*, r.person_id, r.method as link_method, r.score as link_score, r.person_key "
    "from staged.{table} s join links.record_link_rows r on r.as_of = s.as_of "
    "and r.source = s._source and r.record_key = s._record_key and r.table_name = '{name}' "
    "where r.status = 'linked'"
)

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
    """What `link` did for one as_of: per source, the roster's identity quality, the model."""

    as_of: date
    sources: dict[str, SourceLinkSummary]
    roster_rows: int
    roster_persons: int
    roster_id_quality: dict[str, int]
    roster_unusable: int
    settings: MatchSettings
    seconds: float = 0.0
    tables: list[str] = field(default_factory=list)
    pairs_per_rule: dict[str, int] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (settings included, so the run records how it linked)."""
        d = asdict(self)
        d["as_of"] = self.as_of.isoformat()
        d["settings"] = self.settings.to_dict()
        return d

    def to_json(self) -> str:
        """`to_dict` as JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)


def link(
    con: duckdb.DuckDBPyConnection, as_of: date, settings: MatchSettings | None = None
) -> LinkSummary:
    """Link every staged department record of `as_of` to the roster and explain each decision.

    Args:
        con: warehouse connection (`safetynet.warehouse.connect`).
        as_of: the comparison date; that date's rows in ``links.*`` are replaced (idempotent).
        settings: matching settings; defaults to `MatchSettings()`. With ``settings.model`` set
            the stored model is used as is, else one is fitted on this quarter's data.

    Returns:
        LinkSummary with counts per source, roster ID quality, pairs per blocking rule, the
        model and the settings used.

    Example:
        >>> summary = link(con, date(2025, 3, 31))          # doctest: +SKIP
        >>> summary.sources["mps_deaths"].linked            # doctest: +SKIP
        {'id_exact': 812, 'id_repaired': 3, 'name_dob_region': 11}
    """
    settings = settings or MatchSettings()
    started = time.perf_counter()
    day = f"date '{as_of.isoformat()}'"
    marks: dict[str, float] = {}

    def mark(label: str) -> None:
        marks[label] = round(time.perf_counter() - started - sum(marks.values()), 3)

    try:
        tables = prepare(con, day, settings)
        mark("prepare")
        pairs_per_rule = candidate_pairs(con, settings)
        con.execute("""
            create or replace temp table _sn_exact_pairs as
            select rid, normalized as person_id, 'id_exact' as rules
            from _sn_rec where scope = 'exact'""")
        mark("blocking")
        compare(con, "_sn_exact_pairs", "_sn_levels", settings, exact=True)
        compare(con, "_sn_cand", "_sn_levels_fs", settings)
        con.execute("insert into _sn_levels by name select * from _sn_levels_fs")
        for name in ("_sn_levels_fs", "_sn_exact_pairs", "_sn_cand", "_sn_rule_pairs",
                     "_sn_bk_rec", "_sn_bk_per", "_sn_ids", "_sn_roster_ids"):
            con.execute(f"drop table if exists {name}")
        mark("compare")
        if settings.model:
            model = FellegiSunterModel.from_dict(settings.model)
            model.info = {**model.info, "reused": True}
        else:
            model = train(con, settings)
        model.info["pairs_per_rule"] = pairs_per_rule
        mark("train")
        score_and_decide(con, model, settings)
        mark("decide")
        with transaction(con):
            assign_keys(con, as_of)
            _write(con, as_of, day, settings, tables, model)
        mark("write")
        summary = _summary(con, as_of, settings, tables)
    finally:
        drop_temp(con)
    summary.seconds = round(time.perf_counter() - started, 3)
    summary.pairs_per_rule = pairs_per_rule
    summary.model = {**model.to_dict(), "seconds": marks}
    log.info("link %s: %d sources, roster %d rows (%d unusable IDs) in %.1fs %s", as_of,
             len(summary.sources), summary.roster_rows, summary.roster_unusable,
             summary.seconds, marks)
    return summary


# --- outputs -----------------------------------------------------------------------------------

_WEIGHTS_JSON = ("json_object('prior', {prior}, 'id', w_id, 'name', w_name, "
                 "'birth_date', w_dob, 'sex', w_sex, 'region', w_region, 'total', weight)")


# Every column an explanation reads (`_sn_outcome.ekey` hashes the same facts).
_EXPLANATION_INPUTS = (
    "o.status", "o.method", "o.quality", "o.scope", "o.reason", "o.id_level", "o.id_edits",
    "o.name_level", "o.name_similarity", "o.dob_level", "o.sex_level", "o.region_level",
    "o.rules", "o.n_candidates", "o.candidate_ids", "c.candidate_scores", "o.review",
    "o.rejected", "o.w_id", "o.w_name", "o.w_dob", "o.w_sex", "o.w_region", "o.weight",
    "o.posterior", "o.held", "o.no_name", "o.no_birth")


def _explanation_sql(prior: float) -> str:
    weights = _WEIGHTS_JSON.format(prior=repr(prior))
    levels = ("'id', json_object('quality', quality, 'agreement', id_level, 'edits', id_edits), "
              "'name', json_object('level', name_level, 'similarity', name_similarity), "
              "'birth_date', dob_level, 'sex', sex_level, 'region', region_level")
    not_in_roster = {
        q: json.dumps({"method": "none", "status": "unlinked",
                       "id": {"quality": q, "agreement": "not_in_roster"}, "candidates": 0,
                       "reason": "valid_id_not_in_roster"}, separators=(",", ":"))
        for q in ("valid", "legacy15")}
    return f"""
case when status = 'unlinked' and weight is null and reason = 'valid_id_not_in_roster'
          and quality = 'valid' then '{not_in_roster["valid"]}'::json
     when status = 'unlinked' and weight is null and reason = 'valid_id_not_in_roster'
          then '{not_in_roster["legacy15"]}'::json
     when status = 'unlinked' and weight is null then json_object(
         'method', 'none', 'status', 'unlinked',
         'id', json_object('quality', quality, 'agreement',
               case when quality = 'missing' then 'missing' else 'unusable' end),
         'reason', case when reason = 'rejected_by_review' then reason
                        when no_name and quality = 'missing' then 'no_identity'
                        when no_name then 'no_name'
                        when no_birth then 'no_birth_date'
                        else 'no_candidate' end,
         'candidates', 0, 'rejected_by_review', rejected)
     when status = 'unlinked' then json_object(
         'method', 'none', 'status', 'unlinked',
         'id', json_object('quality', quality, 'agreement',
               case when scope = 'valid' then 'not_in_roster' else id_level end),
         'reason', reason, 'candidates', n_candidates, 'rejected_by_review', rejected,
         'nearest_refused', json_object({levels}, 'match_weights', {weights},
                                        'posterior', round(posterior, 6)))
     else json_object(
         'method', method, 'status', status, {levels},
         'blocking_rules', string_split(rules, ','), 'candidates', n_candidates,
         'candidate_person_ids', candidate_ids, 'candidate_scores', candidate_scores,
         'review_decision', review, 'rejected_by_review', rejected,
         'held_for_review', case when status = 'review' then held end,
         'match_weights', {weights},
         'match_probability', round(1.0 / (1.0 + pow(2.0, -weight)), 6),
         'posterior', round(posterior, 6))
end"""


def _write(con: duckdb.DuckDBPyConnection, as_of: date, day: str, settings: MatchSettings,
           tables: dict[str, list[str]], model: FellegiSunterModel) -> None:
    ensure_record_links(con)
    delete_record_links(con, as_of)
    # An explanation depends only on a record's levels, weights and decision: build each
    # distinct one once (a few thousand for millions of exact-ID links), store it once
    # (links.explanations, by the hash of its text) and give each record row its key.
    inputs = ", ".join(_EXPLANATION_INPUTS)
    con.execute(f"""
        create or replace temp table _sn_expl as
        select ekey, explanation, {XKEY_SQL.format(col="explanation")} as xkey
        from (select ekey, {_explanation_sql(model.prior_weight)} as explanation
              from (select distinct on (o.ekey) o.ekey, {inputs}
                    from _sn_outcome o left join _sn_cscores c on c.rid = o.rid))""")
    con.execute("""
        insert into links.explanations
        select distinct xkey, explanation from _sn_expl
        where xkey not in (select xkey from links.explanations)""")
    # the decision per identity first, then one row per record (a join on rid alone)
    con.execute("""
        create or replace temp table _sn_out_rows as
        select o.rid, case when o.status = 'linked' then o.person_id end as person_id,
               o.status, o.method,
               case when o.status = 'unlinked' then 0.0 else round(o.posterior, 6) end as score,
               o.quality as id_quality, e.xkey,
               case when o.status = 'linked' then k.person_key end as person_key
        from _sn_outcome o join _sn_expl e on e.ekey = o.ekey
        left join _sn_keys k on k.person_id = o.person_id""")
    con.execute(f"""
        insert into links.record_link_rows by name
        select {day} as as_of, rr.source, t.table_name, rr.record_key, o.* exclude (rid)
        from _sn_records rr join _sn_out_rows o on o.rid = rr.rid
        join _sn_tables t on t.ti = rr.ti""")
    prune_explanations(con)
    _write_roster(con, as_of)
    rebuild_persons(con)
    con.execute(MODEL_DDL)
    con.execute("delete from links.model where as_of = ?", [as_of])
    con.execute("insert into links.model values (?, ?, ?)",
                [as_of, settings.to_json(), json.dumps(model.to_dict(), sort_keys=True)])
    for name in tables:
        con.execute(f"create or replace view links.{quote_ident(name)} as "
                    + VIEW_SQL.format(table=quote_ident(name), name=name.replace("'", "''")))
    con.execute(REVIEW_CANDIDATES_SQL)


def _write_roster(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    out = ("select r.* exclude (_sn_name_raw, name_key_nodot), k.person_key "
           "from _sn_roster r left join _sn_keys k on k.person_id = r.person_id")
    if not table_exists(con, "links", "roster"):
        create_table_like(con, "links.roster", out)
    existing = set(columns(con, "links", "roster"))
    for column, sql_type, *_ in con.execute(f"describe {out}").fetchall():
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


__all__ = ["LinkSummary", "MatchSettings", "REVIEW_CANDIDATES_SQL", "SourceLinkSummary", "link",
           "compare"]
