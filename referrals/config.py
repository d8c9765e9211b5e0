"""Referral layouts as data: per department which columns, in which order, under which header.

The layout lives in `columns.yaml` beside this module; a site may pass its own file or mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from safetynet.errors import ConfigError

DEFAULT_COLUMNS = Path(__file__).with_name("columns.yaml")

#: Fields a column may show (`None` = a blank column the department fills in).
FIELDS = frozenset({
    "warning_id", "rule_id", "title", "direction", "severity", "household_id", "name",
    "id_number", "region_code", "county_code", "evidence", "link", "due_date", "subject_level",
    "rule_pack", "as_of", "lead_state",
})
ALL_KINDS = "*"
_CODE_RE = re.compile(r"^[a-z0-9_]+$")
_UNSAFE_LABEL = re.compile(r"[\\/:*?\"<>|\x00-\x1f]|^\.")


@dataclass(frozen=True)
class Column:
    """One column of a referral file: its Chinese header and the field it shows (None = blank)."""

    header: str
    field: str | None = None


@dataclass(frozen=True)
class DepartmentLayout:
    """What one receiving department gets: label, readable evidence kinds, ordered columns."""

    code: str
    label: str
    evidence_kinds: frozenset[str] | None  # None: every kind ("*")
    columns: tuple[Column, ...]

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    def may_read(self, kind: str | None) -> bool:
        """True when this department may see evidence of `kind` (unknown kinds: only "*")."""
        if self.evidence_kinds is None:
            return True
        return kind is not None and kind in self.evidence_kinds


@dataclass(frozen=True)
class ReferralLayout:
    """Every department's layout plus the Chinese labels of coded warning fields."""

    departments: Mapping[str, DepartmentLayout]
    labels: Mapping[str, Mapping[str, str]]
    source: str

    def department(self, code: str) -> DepartmentLayout:
        """The layout of `code`; a department nobody configured is a ConfigError."""
        try:
            return self.departments[code]
        except KeyError:
            raise ConfigError(
                f"预警转办到未配置的部门 '{code}'：请在 {self.source} 的 departments 下为它配置"
                f"中文名称、可读取的证据种类和列") from None

    def label(self, field: str, value: str | None) -> str:
        """Chinese label of a coded value (direction, severity ...); the code itself if unlisted."""
        if value is None:
            return ""
        return self.labels.get(field, {}).get(value, value)


def _flatten(items: Any, where: str) -> list[Any]:
    """Columns may include YAML aliases of column lists (e.g. `- *feedback`): flatten one level."""
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: columns must be a non-empty list")
    out: list[Any] = []
    for item in items:
        out.extend(item if isinstance(item, list) else [item])
    return out


def _department(code: str, spec: Any, source: str) -> DepartmentLayout:
    where = f"{source}: departments.{code}"
    if not _CODE_RE.match(code):
        raise ConfigError(f"{where}: department code must match [a-z0-9_]+")
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a mapping with label, evidence, columns")
    label = str(spec.get("label") or "").strip()
    if not label or _UNSAFE_LABEL.search(label):
        raise ConfigError(f"{where}: label must be a non-empty name usable in a file name")
    kinds = spec.get("evidence", [])
    if not isinstance(kinds, list):
        raise ConfigError(f"{where}: evidence must be a list of kinds or [\"*\"]")
    evidence_kinds = None if ALL_KINDS in kinds else frozenset(str(k) for k in kinds)
    columns: list[Column] = []
    for raw in _flatten(spec.get("columns"), where):
        if not isinstance(raw, Mapping) or not raw.get("header"):
            raise ConfigError(f"{where}: every column needs a header, got {raw!r}")
        field = raw.get("field")
        if field is not None and field not in FIELDS:
            raise ConfigError(f"{where}: unknown field '{field}' (known: {sorted(FIELDS)})")
        columns.append(Column(header=str(raw["header"]), field=field))
    headers = [c.header for c in columns]
    if len(set(headers)) != len(headers):
        raise ConfigError(f"{where}: duplicate column headers")
    return DepartmentLayout(code, label, evidence_kinds, tuple(columns))


def load_columns_config(config: str | Path | Mapping[str, Any] | None = None) -> ReferralLayout:
    """Read and check a referral layout (default: referrals/columns.yaml).

    Args:
        config: a YAML path, an already parsed mapping, or None for the packaged default.
    """
    if config is None or isinstance(config, (str, Path)):
        path = Path(config) if config is not None else DEFAULT_COLUMNS
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read referral columns config {path}: {exc}") from exc
        source = str(path)
    else:
        data, source = config, "columns_config"
    if not isinstance(data, Mapping) or not isinstance(data.get("departments"), Mapping):
        raise ConfigError(f"{source}: expected a mapping with a 'departments' section")
    departments = {str(code): _department(str(code), spec, source)
                   for code, spec in data["departments"].items()}
    labels = {str(k): {str(a): str(b) for a, b in (v or {}).items()}
              for k, v in (data.get("labels") or {}).items()}
    return ReferralLayout(departments=departments, labels=labels, source=source)
