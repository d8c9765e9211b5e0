"""Per-source configuration: where a department extract is and how it maps to a canonical table.

A new county layout, encoding or file type is a new YAML file, never a code change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from safetynet.errors import ConfigError

FORMATS = ("csv", "xlsx", "parquet", "jsonl", "database")
DB_KINDS = ("postgresql", "mysql")
DEFAULT_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y.%m.%d")
_NAME_RE = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True)
class ColumnSource:
    """Where a canonical column comes from: a source column, a SQL expression or a constant."""

    column: str | None = None
    expr: str | None = None
    const: Any = None

    @classmethod
    def parse(cls, value: Any, *, source: str, target: str) -> ColumnSource:
        if isinstance(value, str):
            return cls(column=value)
        if isinstance(value, dict) and len(value) == 1:
            (kind, v), = value.items()
            if kind == "column":
                return cls(column=str(v))
            if kind == "expr":
                return cls(expr=str(v))
            if kind == "const":
                return cls(const=v)
        raise ConfigError(
            f"column mapping for '{target}' must be a source column name, {{expr: ...}} or "
            f"{{const: ...}}, got {value!r}", source=source, column=target)


@dataclass(frozen=True)
class DatabaseLocation:
    """A database source: a PostgreSQL or MySQL/MariaDB query."""

    kind: str
    query: str
    dsn: str | None = None
    dsn_env: str | None = None
    secrets_file: str | None = None


@dataclass(frozen=True)
class SourceConfig:
    """One department extract, as declared in its YAML file."""

    name: str
    title: str
    department: str
    table: str
    format: str
    record_key: str
    columns: dict[str, ColumnSource]
    path: str | None = None
    database: DatabaseLocation | None = None
    encoding: str = "auto"
    delimiter: str = ","
    sheet: str | int | None = None
    header_row: int = 1
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    date_formats: tuple[str, ...] = DEFAULT_DATE_FORMATS
    required: bool = True
    config_path: Path | None = None

    @property
    def is_database(self) -> bool:
        return self.database is not None


def _require(raw: dict[str, Any], key: str, source: str) -> Any:
    if key not in raw or raw[key] in (None, ""):
        raise ConfigError(f"source config lacks '{key}'", source=source)
    return raw[key]


def parse_source_config(raw: dict[str, Any], *, config_path: Path | None = None) -> SourceConfig:
    """Validate a config mapping and build a SourceConfig (clear ConfigError on any problem)."""
    label = str(raw.get("name") or (config_path.name if config_path else "?"))
    if not isinstance(raw, dict):
        raise ConfigError("source config must be a mapping", source=label)
    name = str(_require(raw, "name", label))
    if not _NAME_RE.match(name):
        raise ConfigError(f"source name '{name}' must match [a-z0-9_]+", source=label)
    fmt = str(_require(raw, "format", name)).lower()
    if fmt not in FORMATS:
        raise ConfigError(f"format '{fmt}' is not one of {FORMATS}", source=name)
    location = _require(raw, "location", name)
    if not isinstance(location, dict):
        raise ConfigError("location must be a mapping with path or database", source=name)
    path = location.get("path")
    database = None
    if "database" in location:
        db = location["database"] or {}
        kind = str(db.get("kind", "")).lower()
        if kind not in DB_KINDS:
            raise ConfigError(f"database kind '{kind}' is not one of {DB_KINDS}", source=name)
        if not db.get("query"):
            raise ConfigError("database source lacks a query", source=name)
        if not (db.get("dsn") or db.get("dsn_env") or db.get("secrets_file")):
            raise ConfigError("database source needs dsn_env, secrets_file or dsn", source=name)
        database = DatabaseLocation(kind=kind, query=str(db["query"]), dsn=db.get("dsn"),
                                    dsn_env=db.get("dsn_env"), secrets_file=db.get("secrets_file"))
        fmt = "database"
    elif not path:
        raise ConfigError("location needs a path or a database", source=name)
    if fmt == "database" and database is None:
        raise ConfigError("format database needs location.database", source=name)
    columns_raw = _require(raw, "columns", name)
    if not isinstance(columns_raw, dict):
        raise ConfigError("columns must map canonical names to source columns", source=name)
    columns = {str(k): ColumnSource.parse(v, source=name, target=str(k))
               for k, v in columns_raw.items()}
    values = raw.get("values") or {}
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise ConfigError("values must map canonical columns to {source value: value}", source=name)
    values = {str(col): {str(k): v for k, v in mapping.items()} for col, mapping in values.items()}
    header_row = int(raw.get("header_row", 1))
    if header_row < 1:
        raise ConfigError("header_row is 1-based and must be >= 1", source=name)
    date_formats = tuple(raw.get("date_formats") or DEFAULT_DATE_FORMATS)
    return SourceConfig(
        name=name,
        title=str(raw.get("title") or name),
        department=str(_require(raw, "department", name)),
        table=str(_require(raw, "table", name)),
        format=fmt,
        record_key=str(_require(raw, "record_key", name)),
        columns=columns,
        path=str(path) if path else None,
        database=database,
        encoding=str(raw.get("encoding", "auto")),
        delimiter=str(raw.get("delimiter", ",")),
        sheet=raw.get("sheet"),
        header_row=header_row,
        values=values,
        date_formats=date_formats,
        required=bool(raw.get("required", True)),
        config_path=config_path,
    )


def load_source_config(path: str | Path) -> SourceConfig:
    """Read one source YAML file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read source config: {exc}", file=str(path)) from exc
    if not isinstance(raw, dict):
        raise ConfigError("source config must be a YAML mapping", file=str(path))
    return parse_source_config(raw, config_path=path)


def load_source_configs(folder: str | Path) -> list[SourceConfig]:
    """Read every *.yaml / *.yml in a folder, sorted by name; names must be unique."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"source config folder not found: {folder}")
    configs = [load_source_config(p) for p in sorted(folder.glob("*.y*ml"))]
    seen: set[str] = set()
    for c in configs:
        if c.name in seen:
            raise ConfigError(f"duplicate source name '{c.name}'", file=str(c.config_path))
        seen.add(c.name)
    if not configs:
        raise ConfigError(f"no source configs (*.yaml) in {folder}")
    return configs
