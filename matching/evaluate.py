"""Score a quarter's links against the sample-data truth; diagnose the blocking rules.

Truth (``truth/records.csv``, ``truth/links.csv`` of `safetynet.sample_data`):

- a record *should link* when it is in links.csv (a roster person's record that is not a bad row)
  and records.csv marks it ``identifiable`` (its own fields can attribute it);
- a link is *true* when its person_id is the truth's ID, else *false* (wrong person, or anyone
  for a record of someone outside the roster);
- recall = true links of records that should link / records that should link (a record sent to
  review counts as missed); precision = true links / all links; F1 their harmonic mean.

Broken down overall, per method (precision), per noise kind and per decoy kind
(``namesake``, ``near_id``: any link of a decoy record is a false link).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from safetynet.errors import SafetynetError
from safetynet.warehouse import table_exists

from .settings import MatchSettings


def _truth_dir(truth_dir: str | Path, as_of: date) -> Path:
    """Accept the quarter folder, its truth/ folder, or the sample root holding <as_of>/truth."""
    base = Path(truth_dir)
    for cand in (base, base / "truth", base / as_of.isoformat() / "truth"):
        if (cand / "records.csv").exists() and (cand / "links.csv").exists():
            return cand
    raise SafetynetError(f"找不到标准答案（truth/records.csv 与 truth/links.csv）：{base}")


def load_truth(con: duckdb.DuckDBPyConnection, truth_dir: str | Path, as_of: date) -> None:
    """Temp table ``_ev_truth``: one row per department record with the link it should get."""
    folder = _truth_dir(truth_dir, as_of)
    records, links = (str(folder / "records.csv"), str(folder / "links.csv"))
    con.execute("""
        create or replace temp table _ev_truth as
        select r.source, r.source_record_key as record_key,
               nullif(r.id_number, '') as person_id, r.noise_kind,
               nullif(r.decoy_kind, '') as decoy_kind,
               lower(r.identifiable) = 'true' as identifiable,
               l.source_record_key is not null as in_links
        from read_csv(?, all_varchar = true, header = true) r
        left join read_csv(?, all_varchar = true, header = true) l
            on l.source = r.source and l.source_record_key = r.source_record_key""",
                [records, links])


def _ratios(tp: int, fp: int, should: int, found: int) -> dict[str, Any]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = found / should if should else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 6), "recall": round(recall, 6), "f1": round(f1, 6)}


def evaluate(con: duckdb.DuckDBPyConnection, as_of: date, truth_dir: str | Path,
             *, table: str = "links.record_links") -> dict[str, Any]:
    """Precision, recall and F1 of `as_of`'s links against the truth, with breakdowns.

    Args:
        con: warehouse with ``links.record_links`` (or `table`, same columns: as_of, source,
            record_key, status, method, person_id).
        as_of: the quarter.
        truth_dir: sample folder (root, quarter folder or its truth/ folder).
        table: the links to score (the bench scores Splink's predictions with the same code).

    Returns:
        {"overall": {...}, "by_method": {...}, "by_noise_kind": {...}, "by_decoy_kind": {...}}
        with counts (true_links, false_links, should_link, found, review, missed) and ratios.
    """
    if table == "links.record_links" and not table_exists(con, "links", "record_links"):
        raise SafetynetError("仓库中没有关联结果（links.record_links）")
    load_truth(con, truth_dir, as_of)
    con.execute(f"""
        create or replace temp table _ev_joined as
        select t.*, l.status, l.method, l.person_id as linked_id,
               l.status = 'linked' and l.person_id = t.person_id as true_link,
               l.status = 'linked' and l.person_id is distinct from t.person_id as false_link,
               t.in_links and t.identifiable as should_link
        from _ev_truth t join {table} l
            on l.as_of = ? and l.source = t.source and l.record_key = t.record_key""", [as_of])
    unmatched = con.execute(f"""
        select count(*) from {table} l where l.as_of = ? and not exists (
            select 1 from _ev_truth t where t.source = l.source
            and t.record_key = l.record_key)""", [as_of]).fetchone()[0]

    def group(by: str | None, where: str = "true") -> dict[str, Any]:
        key = by or "'all'"
        rows = con.execute(f"""
            select {key} as k, count(*) as records,
                   count(*) filter (where true_link) as tp,
                   count(*) filter (where false_link) as fp,
                   count(*) filter (where should_link) as should,
                   count(*) filter (where should_link and true_link) as found,
                   count(*) filter (where should_link and status = 'review') as review,
                   count(*) filter (where should_link and not true_link) as missed
            from _ev_joined where {where} group by all order by all""").fetchall()
        out = {}
        for k, records, tp, fp, should, found, review, missed in rows:
            out[str(k)] = {"records": records, "true_links": tp, "false_links": fp,
                           "should_link": should, "found": found, "review": review,
                           "missed": missed, **_ratios(tp, fp, should, found)}
        return out

    overall = group(None).get("all", {"records": 0, **_ratios(0, 0, 0, 0)})
    result = {
        "as_of": as_of.isoformat(),
        "overall": overall,
        "by_method": group("coalesce(method, 'none')", "status = 'linked'"),
        "by_noise_kind": group("noise_kind"),
        "by_decoy_kind": group("decoy_kind", "decoy_kind is not null"),
        "records_not_in_truth": unmatched,
    }
    con.execute("drop table if exists _ev_truth; drop table if exists _ev_joined")
    return result


def blocking_report(con: duckdb.DuckDBPyConnection, as_of: date,
                    settings: MatchSettings | None = None,
                    truth_dir: str | Path | None = None) -> dict[str, Any]:
    """Pairs per blocking rule for `as_of` (re-run on the staged data), and with a truth
    folder the recall of the blocking: of the records that should link and have no exact ID,
    how many have their true person among the candidate pairs (per rule, and only by that rule).
    """
    from .blocking import candidate_pairs
    from .prepare import drop_temp, prepare

    settings = settings or MatchSettings()
    try:
        prepare(con, f"date '{as_of.isoformat()}'", settings)
        pairs = candidate_pairs(con, settings)
        records = con.execute(
            "select coalesce(sum(n) filter (where scope = 'open'), 0), coalesce(sum(n) filter "
            "(where scope = 'valid'), 0), coalesce(sum(n) filter (where scope = 'exact'), 0) "
            "from _sn_rec").fetchone()
        report: dict[str, Any] = {
            "as_of": as_of.isoformat(),
            "rules": {r.name: {"keys": list(r.keys), "include_valid_ids": r.include_valid_ids,
                               "pairs": pairs.get(r.name, 0)} for r in settings.blocking_rules},
            "distinct_pairs": pairs["_distinct_pairs"],
            "records": {"open": records[0], "valid_not_in_roster": records[1],
                        "exact_id": records[2]}}
        if truth_dir is not None:
            load_truth(con, truth_dir, as_of)
            con.execute("""
                create or replace temp table _ev_block as
                select t.person_id, rr.rid,
                       (select list(rule) from _sn_rule_pairs p
                        where p.rid = rr.rid and p.person_id = t.person_id) as rules
                from _ev_truth t
                join _sn_records rr on rr.source = t.source and rr.record_key = t.record_key
                join _sn_rec r on r.rid = rr.rid
                where t.in_links and t.identifiable and r.scope <> 'exact'""")
            total, found = con.execute(
                "select count(*), count(*) filter (where len(rules) > 0) from _ev_block"
            ).fetchone()
            report["recall"] = round(found / total, 6) if total else 1.0
            report["should_link_without_exact_id"] = total
            report["missed"] = total - found
            for rule in settings.blocking_rules:
                got, only = con.execute(
                    "select count(*) filter (where list_contains(rules, ?)), "
                    "count(*) filter (where rules = [?]) from _ev_block",
                    [rule.name, rule.name]).fetchone()
                report["rules"][rule.name].update({
                    "true_pairs": got, "recall": round(got / total, 6) if total else 1.0,
                    "only_this_rule": only})
        return report
    finally:
        drop_temp(con)
        for name in ("_ev_truth", "_ev_block"):
            con.execute(f"drop table if exists {name}")
