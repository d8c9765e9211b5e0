"""Short warning ids (预警编号) as printed in referral files, and their way back to warning keys.

The id is the referral writer's `W` + first 12 hex characters of sha256(warning_key)
(`safetynet.referrals.warning_id`); it is the same in every quarter for the same warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import duckdb

from safetynet.referrals.writer import warning_id
from safetynet.warehouse import table_exists

from .schema import WARNING_ID_SQL

__all__ = ["normalise_warning_id", "resolve_warning_ids", "warning_id"]

_ID_RE = re.compile(r"^W[0-9a-f]{12}$")


def normalise_warning_id(value: object) -> str | None:
    """A cell as a warning id (trimmed, `W` upper, hex lower), or None when it is not one."""
    if value is None:
        return None
    text = str(value).strip().lstrip("'").strip()
    if not text:
        return None
    text = text[0].upper() + text[1:].lower()
    return text if _ID_RE.match(text) else None


def resolve_warning_ids(con: duckdb.DuckDBPyConnection, ids: Iterable[str]) -> dict[str, str]:
    """Map warning ids to warning keys known to the lifecycle or to warnings.warnings."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    sources = [f"select warning_key from {t}" for t in ("warnings.lifecycle", "warnings.warnings")
               if table_exists(con, *t.split("."))]
    if not sources:
        return {}
    union = " union ".join(sources)
    rows = con.execute(
        f"select {WARNING_ID_SQL.format(key='warning_key')} as wid, warning_key "
        f"from ({union}) where wid in (select unnest(?::varchar[]))", [wanted]).fetchall()
    return {wid: key for wid, key in rows}
