"""From a warning's evidence JSON to the short Chinese 预警依据 and 关联方式 cells.

The reading is tolerant, because rule packs differ. Evidence is a JSON object (or a list of
records). A *record* is one source record that made the rule fire: an object with any of
`table`, `table_name`, `source`, `record_key`; its field values are its other keys (or those
nested under `fields`/`values`/`record`/`data`), its link is `link_method`/`link_score`,
`method`/`score` or `link: {method, score}`. Records may also sit in a list under any key
(`"records": [...]`, `"vehicles": [...]`); a key naming a canonical table gives the table.
Every other scalar (or list of scalars) is a *fact* the rule computed (`age`, `household_size`).
Nested objects that are not records are read as more facts.

Each record has a kind (its canonical table) and each fact a kind (evidence.yaml); a department
sees only the kinds its layout allows, so no department reads another's data it does not need.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from safetynet.errors import ConfigError

try:  # a faster parser giving the same objects; json stays the reference (and the fallback)
    import orjson
except ImportError:  # pragma: no cover - orjson comes with prefect
    orjson = None  # type: ignore[assignment]

DEFAULT_EVIDENCE = Path(__file__).with_name("evidence.yaml")

_RECORD_MARKERS = frozenset({"table", "table_name", "source", "_source", "record_key",
                             "_record_key"})
_LINK_KEYS = frozenset({"link", "link_method", "link_score", "method", "score"})
_NESTED_FIELDS = ("fields", "values", "record", "data", "attributes")
# Record keys never shown: the person's identity (own columns) and linkage internals.
_SKIP_IN_RECORD = frozenset({"person_id", "id_number", "name", "name_key", "id_quality",
                             "explanation", "_row", "_file"})
# Top-level keys never shown as facts: identity plus what the warning row already carries.
_SKIP = _SKIP_IN_RECORD | {
    "as_of", "rule_id", "warning_key", "title", "direction", "severity", "routes", "due_date",
    "region_code", "county_code", "subject_level", "rule_pack",
}
_TABLE_ALIASES = {
    "settlements": "medical_settlements", "certs": "disability_certs",
    "certificates": "disability_certs", "businesses": "business_persons",
    "business": "business_persons", "vehicle": "vehicles", "property": "properties",
    "death": "deaths", "pensions": "pension", "unemployments": "unemployment",
    "roster_rows": "roster", "members": "roster",
}
#: Canonical tables (docs/architecture.md): a key naming one tells a record's table.
CANONICAL_TABLES = frozenset({
    "roster", "deaths", "pension", "unemployment", "vehicles", "properties", "business_persons",
    "medical_settlements", "disability_certs",
})
_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class TableTemplate:
    """How one record of a canonical table reads in Chinese."""

    label: str
    template: str
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class FactSpec:
    """Label, unit and kind of a computed fact."""

    label: str
    kind: str
    unit: str = ""
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EvidenceTemplates:
    """The parsed evidence.yaml."""

    tables: Mapping[str, TableTemplate]
    facts: Mapping[str, FactSpec]
    link_methods: Mapping[str, str]
    booleans: Mapping[str, str]
    roster_link: str = ""
    max_records: int = 5


def load_evidence_config(config: str | Path | Mapping[str, Any] | None = None) -> EvidenceTemplates:
    """Read evidence templates (default: referrals/evidence.yaml), a path or a parsed mapping."""
    if config is None or isinstance(config, (str, Path)):
        path = Path(config) if config is not None else DEFAULT_EVIDENCE
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read evidence config {path}: {exc}") from exc
        source = str(path)
    else:
        data, source = config, "evidence_config"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping")
    try:
        tables = {
            str(name): TableTemplate(
                label=str(spec["label"]), template=str(spec["template"]),
                values={str(f): {str(k): str(v) for k, v in m.items()}
                        for f, m in (spec.get("values") or {}).items()})
            for name, spec in (data.get("tables") or {}).items()
        }
        facts = {
            str(key): FactSpec(
                label=str(spec["label"]), kind=str(spec["kind"]), unit=str(spec.get("unit", "")),
                values={str(k): str(v) for k, v in (spec.get("values") or {}).items()})
            for key, spec in (data.get("facts") or {}).items()
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{source}: every table needs label and template, every fact label "
                          f"and kind ({exc})") from exc
    return EvidenceTemplates(
        tables=tables, facts=facts,
        link_methods={str(k): str(v) for k, v in (data.get("link_methods") or {}).items()},
        booleans={str(k).lower(): str(v) for k, v in (data.get("booleans") or {}).items()},
        roster_link=str(data.get("roster_link") or ""),
        max_records=int(data.get("max_records", 5)),
    )


@dataclass(frozen=True)
class EvidenceRecord:
    """One source record behind a warning."""

    kind: str | None
    source: str | None
    record_key: str | None
    fields: tuple[tuple[str, Any], ...]
    link_method: str | None = None
    link_score: float | None = None


@dataclass(frozen=True)
class Evidence:
    """A warning's evidence: the records that made it fire and the facts the rule computed."""

    records: tuple[EvidenceRecord, ...] = ()
    facts: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def parse(cls, raw: str | Mapping[str, Any] | list[Any] | None) -> Evidence:
        """Read evidence JSON (text or parsed); anything unreadable is kept as one fact."""
        if raw is None or raw == "":
            return cls()
        if isinstance(raw, str):
            try:
                raw = _loads(raw)
            except ValueError:
                return cls(facts=(("evidence", raw),))
        if raw is None:
            return cls()
        records: list[EvidenceRecord] = []
        facts: list[tuple[str, Any]] = []
        if isinstance(raw, list):
            _collect_list(raw, None, records, facts, "evidence")
        elif isinstance(raw, Mapping):
            if _RECORD_MARKERS & raw.keys():
                records.append(_record(raw, None))
            else:
                _collect(raw, records, facts)
        else:
            facts.append(("evidence", raw))
        return cls(tuple(records), tuple(facts))

    def resolve(
        self,
        source_tables: Mapping[str, str],
        link_lookup: Callable[[str, str], tuple[str | None, float | None]] | None = None,
    ) -> Evidence:
        """Fill a record's kind from its source's table and its link from the warehouse."""
        out = []
        changed = False
        for rec in self.records:
            kind = rec.kind or (source_tables.get(rec.source) if rec.source else None)
            method, score = rec.link_method, rec.link_score
            if method is None and link_lookup and rec.source and rec.record_key:
                method, score = link_lookup(rec.source, rec.record_key)
            if kind == rec.kind and method == rec.link_method and score == rec.link_score:
                out.append(rec)  # frozen: the same record serves (most records already say all)
                continue
            changed = True
            # (the constructor, not dataclasses.replace: this runs for every evidence record)
            out.append(EvidenceRecord(kind, rec.source, rec.record_key, rec.fields, method,
                                      score))
        return Evidence(tuple(out), self.facts) if changed else self

    def link_keys(self) -> list[tuple[str, str]]:
        """(source, record_key) of records whose link is not in the evidence itself."""
        return [(r.source, r.record_key) for r in self.records
                if r.link_method is None and r.source and r.record_key]


def _loads(text: str) -> Any:
    """json.loads, through orjson when it can read the text (it refuses what json accepts
    beyond the standard, e.g. NaN or huge integers: those go to json)."""
    if orjson is not None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _table_of(key: str | None) -> str | None:
    table = _TABLE_ALIASES.get(key or "", key)
    return table if table in CANONICAL_TABLES else None


def _is_scalar_list(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(v, (Mapping, list)) for v in value)


_PLAIN = frozenset({str, int, float, bool, type(None), list})


def _is_mapping(value: Any) -> bool:
    """isinstance(value, Mapping), quick for what JSON gives (the ABC check is slow)."""
    cls = type(value)
    return cls is dict or (cls not in _PLAIN and isinstance(value, Mapping))


def _collect(obj: Mapping[str, Any], records: list[EvidenceRecord],
             facts: list[tuple[str, Any]]) -> None:
    for key, value in obj.items():
        if key in _SKIP:
            continue
        if _is_mapping(value):
            if _RECORD_MARKERS & value.keys() or _table_of(key):
                records.append(_record(value, _table_of(key)))
            else:
                _collect(value, records, facts)
        elif isinstance(value, list) and not _is_scalar_list(value):
            _collect_list(value, _table_of(key), records, facts, key)
        else:
            facts.append((key, value))


def _collect_list(items: list[Any], hint: str | None, records: list[EvidenceRecord],
                  facts: list[tuple[str, Any]], key: str) -> None:
    for item in items:
        if _is_mapping(item):
            records.append(_record(item, hint))
        else:
            facts.append((key, item))


_NOT_FIELDS = _RECORD_MARKERS | _LINK_KEYS | _SKIP_IN_RECORD
_NESTED = frozenset(_NESTED_FIELDS)
_NO_LINK: Mapping[str, Any] = {}  # read only


def _record(obj: Mapping[str, Any], hint: str | None) -> EvidenceRecord:
    flat: Mapping[str, Any]
    if _NESTED.isdisjoint(obj):
        flat = obj  # only read below
    else:
        flat = {}
        for key, value in obj.items():
            if key in _NESTED and _is_mapping(value):
                flat.update(value)
            else:
                flat[key] = value
    get = flat.get
    link = get("link")
    if link is None or not _is_mapping(link):
        link = _NO_LINK
    method = get("link_method", get("method", link.get("method")))
    score = get("link_score", get("score", link.get("score")))
    table = get("table") or get("table_name") or hint
    source = get("source") or get("_source")
    key = get("record_key", get("_record_key"))
    fields = tuple([(k, v) for k, v in flat.items() if k not in _NOT_FIELDS])
    return EvidenceRecord(  # positional: this runs for every evidence record
        str(table) if table else None,
        str(source) if source else None,
        str(key) if key is not None else None,
        fields,
        str(method) if method is not None else None,
        float(score) if isinstance(score, (int, float)) else None,
    )


def format_value(value: Any, labels: Mapping[str, str] | None = None,
                 booleans: Mapping[str, str] | None = None) -> str:
    """A value as a department reads it: labelled code, plain number, ISO date, 、-joined list."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "、".join(s for s in (format_value(v, labels, booleans) for v in value) if s)
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, bool):
        key = "true" if value else "false"
        if labels and key in labels:
            return labels[key]
        return (booleans or {}).get(key, key)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.2f}"
    text = str(value)
    if labels and text in labels:
        return labels[text]
    return text


_SPACES = re.compile(r" {2,}")
# A compiled template: literal text (str), a placeholder's name (_Name) or an optional part
# (tuple of literals and names, dropped when one of its names has no value).
_Segment = str | tuple[Any, ...]


class _Name(str):
    """A placeholder's name inside a compiled template."""


@lru_cache(maxsize=256)
def _compiled(template: str) -> tuple[_Segment, ...] | None:
    """The template cut into segments once, for `_fill_compiled`; None when a brace outside
    the placeholders could make `_fill`'s second pass read the text differently."""
    def cut(text: str) -> list[str]:
        parts = _PLACEHOLDER.split(text)  # literal, name, literal, name, ..., literal
        return [_Name(x) if i % 2 else x for i, x in enumerate(parts) if x or i % 2]

    segments: list[_Segment] = []
    pos = 0
    for match in _OPTIONAL.finditer(template):
        segments += cut(template[pos:match.start()])
        segments.append(tuple(cut(match.group(1))))
        pos = match.end()
    segments += cut(template[pos:])
    literal = "".join(x for seg in segments for x in (seg if isinstance(seg, tuple) else [seg])
                      if not isinstance(x, _Name))
    return None if "{" in literal else tuple(segments)


def _fill(template: str, values: Mapping[str, str]) -> str:
    compiled = _compiled(template)
    if compiled is not None and not any("{" in v for v in values.values()):
        return _fill_compiled(compiled, values)
    return _fill_text(template, values)


def _fill_compiled(segments: tuple[_Segment, ...], values: Mapping[str, str]) -> str:
    """`_fill_text` on a compiled template (same text when no value holds a brace)."""
    get = values.get
    out: list[str] = []
    for seg in segments:
        if type(seg) is tuple:
            if all(get(x) for x in seg if type(x) is _Name):
                out += [get(x, "") if type(x) is _Name else x for x in seg]
        elif type(seg) is _Name:
            out.append(get(seg, ""))
        else:
            out.append(seg)
    text = "".join(out)
    return (_SPACES.sub(" ", text) if "  " in text else text).strip()


def _fill_text(template: str, values: Mapping[str, str]) -> str:
    """Fill `[optional {parts}]` (dropped when a value is missing) then `{placeholders}`."""
    def optional(match: re.Match[str]) -> str:
        part = match.group(1)
        names = _PLACEHOLDER.findall(part)
        if any(not values.get(n) for n in names):
            return ""
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), part)

    text = _OPTIONAL.sub(optional, template)
    text = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), text)
    return re.sub(r" {2,}", " ", text).strip()


def _record_text(rec: EvidenceRecord, templates: EvidenceTemplates) -> str:
    tpl = templates.tables.get(rec.kind or "")
    if tpl is None:
        body = "，".join(f"{k}：{format_value(v, None, templates.booleans)}"
                        for k, v in rec.fields if v not in (None, ""))
        return body or (f"记录{rec.record_key}" if rec.record_key else "")
    used = _placeholders(tpl.template)  # only the fields the template names are formatted
    values = {k: format_value(v, tpl.values.get(k), templates.booleans)
              for k, v in rec.fields if k in used}
    if any("{" in v for v in values.values()):  # a value may name another field: _fill fills it
        values = {k: format_value(v, tpl.values.get(k), templates.booleans)
                  for k, v in rec.fields}
    return _fill(tpl.template, values)


@lru_cache(maxsize=256)
def _placeholders(template: str) -> frozenset[str]:
    return frozenset(_PLACEHOLDER.findall(template))


def _fact_text(key: str, value: Any, templates: EvidenceTemplates) -> str:
    spec = templates.facts.get(key)
    if spec is None:
        return f"{key}：{format_value(value, None, templates.booleans)}"
    text = format_value(value, spec.values, templates.booleans)
    if not text:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{spec.label}{text}{spec.unit}"
    return f"{spec.label}：{text}{spec.unit}"


def render_evidence(ev: Evidence, templates: EvidenceTemplates,
                    may_read: Callable[[str | None], bool]) -> str:
    """The 预警依据 sentence a department may read: records grouped by table, then facts."""
    groups: dict[str | None, list[EvidenceRecord]] = {}
    for rec in ev.records:
        if may_read(rec.kind):
            groups.setdefault(rec.kind, []).append(rec)
    parts: list[str] = []
    for kind, recs in groups.items():
        tpl = templates.tables.get(kind or "")
        label = tpl.label if tpl else (kind or recs[0].source or "记录")
        bodies = [b for b in (_record_text(r, templates) for r in recs[:templates.max_records]) if b]
        text = f"{label}：" + "；".join(bodies)
        if len(recs) > templates.max_records:
            text += f"等共{len(recs)}条"
        parts.append(text)
    fact_parts = []
    for key, value in ev.facts:
        spec = templates.facts.get(key)
        if may_read(spec.kind if spec else None):
            text = _fact_text(key, value, templates)
            if text:
                fact_parts.append(text)
    if fact_parts:
        parts.append("，".join(fact_parts))
    return "。".join(parts)


def render_link(ev: Evidence, templates: EvidenceTemplates,
                may_read: Callable[[str | None], bool]) -> str:
    """The 关联方式 cell: how each readable record was linked to the person, with its score."""
    seen: dict[str, None] = {}
    readable = [r for r in ev.records if may_read(r.kind)]
    kinds = {r.kind for r in readable if r.kind != "roster"}
    for rec in readable:
        if rec.kind == "roster":
            text = templates.roster_link
        elif rec.link_method is None:
            continue
        else:
            text = templates.link_methods.get(rec.link_method, rec.link_method)
            if rec.link_score is not None:
                text += f"（{rec.link_score:.2f}）"
            if len(kinds) > 1:
                tpl = templates.tables.get(rec.kind or "")
                text = f"{tpl.label if tpl else rec.kind}：{text}"
        if text:
            seen.setdefault(text)
    return "；".join(seen)
