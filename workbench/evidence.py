"""Read a warning's evidence JSON and a link explanation for display, masked for the viewer.

Rule packs shape evidence differently, so the reading is tolerant: any object carrying a
`record_key` (or `_record_key`) is a source record; a list under a key naming a table gives its
records that table; every other scalar is a fact the rule computed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from safetynet.log import redact
from safetynet.privacy import mask_name
from safetynet.workbench.labels import TABLES, field_label, value_label

_RECORD_KEYS = ("record_key", "_record_key")
_LINK_KEYS = frozenset({"link", "link_method", "link_score", "method", "score"})
_META_KEYS = frozenset({"table", "table_name", "source", "_source", "record_key",
                        "_record_key", "_row", "_file"})
# Keys holding a person's name (an entity_name is a company's: not masked).
_NAME_KEY = re.compile(r"^(name|name_key|name_[lr]|person_name|candidate_name|roster_name)$")


@dataclass
class EvidenceRecord:
    """One source record that made the rule fire."""

    table: str | None
    source: str | None
    record_key: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    link_method: str | None = None
    link_score: float | None = None

    @property
    def table_label(self) -> str:
        return TABLES.get(self.table or "", self.table or self.source or "记录")


@dataclass
class Evidence:
    """Records and computed facts of one warning."""

    records: list[EvidenceRecord] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)


def load_json(value: Any) -> Any:
    """A JSON column value as Python (DuckDB returns JSON as text)."""
    if value is None or isinstance(value, (dict, list)):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def mask_tree(obj: Any, full: bool, key: str = "") -> Any:
    """Copy of a JSON tree with ID numbers and names masked unless `full`."""
    if full:
        return obj
    if isinstance(obj, dict):
        return {k: mask_tree(v, full, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [mask_tree(v, full, key) for v in obj]
    if isinstance(obj, str):
        if _NAME_KEY.search(key):
            return mask_name(obj)
        return redact(obj)
    return obj


def _record(obj: dict[str, Any], hint: str | None) -> EvidenceRecord:
    link = obj.get("link") if isinstance(obj.get("link"), dict) else {}
    method = obj.get("link_method") or obj.get("method") or link.get("method")
    score = obj.get("link_score", obj.get("score", link.get("score")))
    values: dict[str, Any] = {}
    for nested in ("fields", "values", "record", "data"):
        if isinstance(obj.get(nested), dict):
            values.update(obj[nested])
    values.update({k: v for k, v in obj.items()
                   if k not in _META_KEYS and k not in _LINK_KEYS
                   and k not in ("fields", "values", "record", "data")})
    table = obj.get("table") or obj.get("table_name") or hint
    rec = EvidenceRecord(table=table, source=obj.get("source") or obj.get("_source"),
                         record_key=str(obj.get("record_key") or obj.get("_record_key")),
                         link_method=method,
                         link_score=float(score) if isinstance(score, (int, float)) else None)
    rec.fields = [(field_label(k), value_label(k, v)) for k, v in values.items()
                  if not isinstance(v, (dict, list)) and v not in (None, "")]
    return rec


def _walk(obj: Any, hint: str | None, ev: Evidence, prefix: str = "") -> None:
    if isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict):
                _walk(item, hint, ev, prefix)
        scalars = [str(v) for v in obj if not isinstance(v, (dict, list))]
        if scalars:
            ev.facts.append((field_label(prefix) if prefix else "", "、".join(scalars)))
        return
    if not isinstance(obj, dict):
        return
    if any(obj.get(k) not in (None, "") for k in _RECORD_KEYS):
        ev.records.append(_record(obj, hint))
        return
    for key, value in obj.items():
        if isinstance(value, (dict, list)):
            table = key if key in TABLES else hint
            _walk(value, table, ev, key)
        elif value not in (None, ""):
            ev.facts.append((field_label(key), value_label(key, value)))


def read_evidence(raw: Any, *, full: bool) -> Evidence:
    """Parse evidence JSON into records and facts, masking identity unless `full`."""
    ev = Evidence()
    _walk(mask_tree(load_json(raw), full), None, ev)
    return ev


def summary_text(ev: Evidence, limit: int = 5) -> str:
    """One-line Chinese summary of the evidence (for the XLSX export)."""
    parts = ["；".join(f"{k}：{v}" for k, v in ev.facts if k)] if ev.facts else []
    for rec in ev.records[:limit]:
        parts.append(rec.table_label + "：" + "，".join(f"{k}{v}" for k, v in rec.fields))
    if len(ev.records) > limit:
        parts.append(f"等共{len(ev.records)}条")
    return "；".join(p for p in parts if p)
