"""Every write of the workbench: the access log, dispositions and review-queue decisions."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import duckdb

RESULTS = ("confirmed", "not_confirmed", "wrong_person", "assistance_adjusted", "enrolled")
DECISIONS = ("accept", "reject")


def log_access(con: duckdb.DuckDBPyConnection, username: str, action: str, obj: str = "",
               detail: dict[str, Any] | None = None) -> None:
    """Append one entry to meta.access_log (who viewed, exported or changed what)."""
    con.execute("insert into meta.access_log (ts, username, action, object, detail) "
                "values (?, ?, ?, ?, ?)",
                [datetime.now(), username, action, obj,
                 json.dumps(detail or {}, ensure_ascii=False, default=str)])


def record_disposition(con: duckdb.DuckDBPyConnection, warning_key: str, result: str,
                       result_date: date, officer: str, note: str = "", *, channel: str = "web",
                       actor: str, as_of: date | None = None) -> None:
    """Record a verification result: the one documented way, monitoring.feedback.

    Raises `FeedbackError` (a ValueError with a Chinese message) when the monitoring module
    refuses it (unknown warning, future date, another result already recorded this cycle).
    """
    from safetynet.monitoring.feedback import record_disposition as record

    record(con, warning_key, result, result_date, officer, note, channel=channel, actor=actor,
           as_of=as_of)


def record_review_decision(con: duckdb.DuckDBPyConnection, source: str, record_key: str,
                           person_id: str | None, decision: str, decided_by: str,
                           reason: str = "") -> None:
    """Accept or reject an uncertain link from the review queue (links.review_decisions).

    One decision per (source, record_key, person_id): a new one replaces the old, as
    monitoring's `record_rejects` does; the linker applies it at the next run.
    """
    from safetynet.monitoring.schema import ensure_tables

    if decision not in DECISIONS:
        raise ValueError(f"未知的决定：{decision}")
    ensure_tables(con)
    con.execute("delete from links.review_decisions where source = ? and record_key = ? "
                "and person_id is not distinct from ?", [source, record_key, person_id])
    con.execute("insert into links.review_decisions (source, record_key, person_id, decision, "
                "decided_by, decided_at, reason, origin) values (?, ?, ?, ?, ?, ?, ?, "
                "'review_queue')",
                [source, record_key, person_id, decision, decided_by, datetime.now(), reason])
