"""Why a record linked (or did not): the waterfall prior -> each comparison -> total.

`explain_record` and `explain_person` read ``links.record_links`` (the explanation JSON written by
the linker), the staged record and the roster; the CLI (`matching/cli.py`) renders them, masking
ID numbers and names unless asked not to.
"""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

import duckdb

from safetynet.errors import SafetynetError
from safetynet.warehouse import table_exists

WATERFALL = ("prior", "id", "name", "birth_date", "sex", "region")
LEVEL_KEYS = {"id": ("id", "agreement"), "name": ("name", "level"), "birth_date": ("birth_date",),
              "sex": ("sex",), "region": ("region",)}


def _level(expl: dict[str, Any], comparison: str) -> str | None:
    path = LEVEL_KEYS.get(comparison)
    value: Any = expl
    for key in path or ():
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


def waterfall(explanation: dict[str, Any]) -> list[dict[str, Any]]:
    """Steps prior -> id -> name -> birth_date -> sex -> region -> total, each with its level,
    weight (log2 Bayes factor) and the running total; empty when nothing was scored."""
    source = explanation
    if "match_weights" not in source and isinstance(explanation.get("nearest_refused"), dict):
        source = explanation["nearest_refused"]
    weights = source.get("match_weights")
    if not isinstance(weights, dict):
        return []
    steps, running = [], 0.0
    for comparison in WATERFALL:
        w = float(weights.get(comparison) or 0.0)
        running += w
        steps.append({"comparison": comparison, "level": _level(source, comparison),
                      "weight": round(w, 4), "cumulative": round(running, 4)})
    total = float(weights.get("total", running))
    probability = 1.0 / (1.0 + math.pow(2.0, -max(min(total, 500.0), -500.0)))
    steps.append({"comparison": "total", "level": None, "weight": round(total, 4),
                  "cumulative": round(total, 4), "match_probability": round(probability, 6),
                  "posterior": source.get("posterior")})
    return steps


def _latest(con: duckdb.DuckDBPyConnection, where: str, args: list[Any]) -> date | None:
    return con.execute(f"select max(as_of) from links.record_links where {where}",
                       args).fetchone()[0]


def explain_record(con: duckdb.DuckDBPyConnection, source: str, record_key: str,
                   as_of: date | None = None) -> dict[str, Any]:
    """The link decision of one department record, its identity and its candidate's."""
    if not table_exists(con, "links", "record_links"):
        raise SafetynetError("仓库中没有关联结果（links.record_links）")
    as_of = as_of or _latest(con, "source = ? and record_key = ?", [source, record_key])
    row = con.execute(
        "select as_of, source, table_name, record_key, person_id, person_key, status, method, "
        "score, id_quality, explanation from links.record_links where as_of = ? and source = ? "
        "and record_key = ?", [as_of, source, record_key]).fetchone()
    if row is None:
        raise SafetynetError(f"找不到记录：{source} / {record_key}")
    keys = ("as_of", "source", "table_name", "record_key", "person_id", "person_key", "status",
            "method", "score", "id_quality", "explanation")
    out = dict(zip(keys, row, strict=True))
    out["explanation"] = json.loads(out["explanation"]) if out["explanation"] else {}
    out["waterfall"] = waterfall(out["explanation"])
    out["record"] = _staged_identity(con, out["table_name"], source, record_key, out["as_of"])
    out["person"] = _roster_identity(con, out["person_id"], out["as_of"])
    return out


def explain_person(con: duckdb.DuckDBPyConnection, person_id: str,
                   as_of: date | None = None) -> dict[str, Any]:
    """A roster person (by normalised ID or person key) and every record linked to them."""
    if not table_exists(con, "links", "record_links"):
        raise SafetynetError("仓库中没有关联结果（links.record_links）")
    pid = person_id.strip().upper()
    if pid.startswith("P") and table_exists(con, "links", "persons"):
        found = con.execute("select id_number from links.persons where person_key = ?",
                            [pid]).fetchone()
        if found:
            pid = found[0]
    as_of = as_of or _latest(con, "person_id = ?", [pid])
    if as_of is None:
        raise SafetynetError("没有任何记录关联到该人员")
    rows = con.execute(
        "select source, table_name, record_key, method, score, explanation from "
        "links.record_links where as_of = ? and person_id = ? and status = 'linked' "
        "order by source, record_key", [as_of, pid]).fetchall()
    records = []
    for source, table, key, method, score, explanation in rows:
        expl = json.loads(explanation) if explanation else {}
        records.append({"source": source, "table_name": table, "record_key": key,
                        "method": method, "score": score, "waterfall": waterfall(expl)})
    return {"as_of": as_of, "person_id": pid, "person": _roster_identity(con, pid, as_of),
            "records": records}


def _staged_identity(con: duckdb.DuckDBPyConnection, table: str | None, source: str,
                     record_key: str, as_of: date) -> dict[str, Any]:
    if not table or not table.replace("_", "").isalnum() or not table_exists(con, "staged",
                                                                             table):
        return {}
    have = {r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = 'staged' "
        "and table_name = ?", [table]).fetchall()}
    wanted = [c for c in ("id_number", "name", "sex", "birth_date", "region_code", "_file",
                          "_row") if c in have]
    if not wanted:
        return {}
    row = con.execute(f"select {', '.join(wanted)} from staged.{table} where as_of = ? and "
                      "_source = ? and _record_key = ?", [as_of, source, record_key]).fetchone()
    return dict(zip(wanted, row, strict=True)) if row else {}


def _roster_identity(con: duckdb.DuckDBPyConnection, person_id: str | None,
                     as_of: date) -> dict[str, Any]:
    if not person_id or not table_exists(con, "links", "roster"):
        return {}
    cur = con.execute("select * from links.roster where as_of = ? and person_id = ? "
                      "order by household_id limit 1", [as_of, person_id])
    row = cur.fetchone()
    if row is None:
        return {}
    cols = [d[0] for d in cur.description]
    wanted = ("person_key", "person_id", "name", "sex_eff", "birth_date_eff", "region_code",
              "household_id", "category", "status")
    full = dict(zip(cols, row, strict=True))
    return {k: full.get(k) for k in wanted if k in full}
