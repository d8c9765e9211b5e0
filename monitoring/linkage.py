"""From a warning's evidence to the link decisions behind it, and `reject` review decisions.

A "wrong person" answer means a department record was linked to the wrong roster person. The
records are read from the evidence JSON (any shape `safetynet.referrals.evidence.Evidence`
reads); the person each record was linked to comes from `links.record_links` of the quarter the
warning fired, else from the warning's own person.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import duckdb

from safetynet.referrals.evidence import Evidence
from safetynet.warehouse import table_exists

Link = tuple[str, str, str]  # (source, record_key, person_id)


def evidence_links(con: duckdb.DuckDBPyConnection, as_of: date, evidence: Any,
                   person_id: str | None) -> list[Link]:
    """(source, record_key, person_id) of every department record in the evidence (roster rows
    excluded), resolved through links.record_links of `as_of`."""
    ev = Evidence.parse(evidence)
    has_links = table_exists(con, "links", "record_links")
    out: dict[Link, None] = {}
    for rec in ev.records:
        if rec.kind == "roster" or not rec.record_key:
            continue
        source, linked = rec.source, None
        if has_links:
            if source:
                rows = con.execute(
                    "select source, person_id from links.record_links where as_of = ? and "
                    "source = ? and record_key = ? and person_id is not null",
                    [as_of, source, rec.record_key]).fetchall()
            elif rec.kind:
                rows = con.execute(
                    "select source, person_id from links.record_links where as_of = ? and "
                    "table_name = ? and record_key = ? and person_id is not null",
                    [as_of, rec.kind, rec.record_key]).fetchall()
            else:
                rows = []
            if len(rows) == 1:
                source, linked = rows[0]
        pid = linked or person_id
        if source and pid:
            out[(str(source), str(rec.record_key), str(pid))] = None
    return list(out)


def rejected_links(con: duckdb.DuckDBPyConnection, links: list[Link]) -> set[Link]:
    """The subset of `links` that carries a `reject` review decision."""
    if not links or not table_exists(con, "links", "review_decisions"):
        return set()
    sources, keys, persons = (list(x) for x in zip(*links, strict=True))
    rows = con.execute(
        "select d.source, d.record_key, d.person_id from links.review_decisions d "
        "join (select unnest(?::varchar[]) as source, unnest(?::varchar[]) as record_key, "
        "unnest(?::varchar[]) as person_id) k using (source, record_key, person_id) "
        "where d.decision = 'reject'", [sources, keys, persons]).fetchall()
    return {(s, k, p) for s, k, p in rows}


def record_rejects(con: duckdb.DuckDBPyConnection, links: list[Link], *, decided_by: str,
                   decided_at: datetime, reason: str,
                   origin: str = "feedback_wrong_person") -> list[dict[str, Any]]:
    """Upsert a `reject` decision per link; returns the decisions it replaced (for the audit)."""
    replaced: list[dict[str, Any]] = []
    for source, record_key, person_id in links:
        before = con.execute(
            "select decision, decided_by, origin from links.review_decisions where source = ? "
            "and record_key = ? and person_id = ?", [source, record_key, person_id]).fetchall()
        replaced += [{"source": source, "record_key": record_key, "decision": d,
                      "decided_by": b, "origin": o} for d, b, o in before]
        con.execute("delete from links.review_decisions where source = ? and record_key = ? "
                    "and person_id = ?", [source, record_key, person_id])
        con.execute(
            "insert into links.review_decisions (source, record_key, person_id, decision, "
            "decided_by, decided_at, reason, origin) values (?, ?, ?, 'reject', ?, ?, ?, ?)",
            [source, record_key, person_id, decided_by, decided_at, reason, origin])
    return replaced
