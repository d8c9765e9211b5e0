"""One warning rule = one YAML file (Sigma style): metadata, parameters and a DuckDB SQL condition.

The condition is a query template over `int_roster_persons` (the shared prelude) and the
`links.<table>` views. It uses DuckDB named parameters (`$as_of`, `$vehicle_types`, ...), which
the engine binds as prepared parameters: parameter values never become SQL text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from safetynet.errors import ConfigError

RULES_DIR = Path(__file__).resolve().parent / "rules"

RULE_FIELDS = (
    "title", "id", "rule_id", "status", "description", "references", "author", "date",
    "direction", "subject_level", "inputs", "parameters", "condition", "severity", "routes",
    "due", "action", "falsepositives", "level", "tests",
)
STATUSES = ("experimental", "test", "stable")
DIRECTIONS = ("exit", "exit_review", "integrity", "discovery")
SUBJECT_LEVELS = ("person", "household")
SEVERITIES = ("low", "medium", "high")
ROUTES = ("civil_affairs", "hrss", "medical_security", "disability_federation", "health",
          "housing", "education", "emergency")
INPUT_TABLES = ("roster", "standards", "deaths", "pension", "unemployment", "vehicles",
                "properties", "business_persons", "medical_settlements", "disability_certs")
ENGINE_PARAMETERS = ("as_of",)          # bound by the engine, never declared by a rule
DUE_PARAMETER = {"working_days": "working_days", "months_after": "due_months"}

_RULE_ID_RE = re.compile(r"^[A-Z][A-Z0-9_]{2,60}$")
_PARAM_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class Parameter:
    """A tunable value of a rule: default, Chinese description, optional domain."""

    name: str
    default: Any
    description: str = ""
    allowed: tuple[Any, ...] | None = None
    minimum: float | None = None

    def validate(self, value: Any, *, where: str) -> Any:
        """Check a value against the default's type and the domain; return it normalised."""
        if isinstance(self.default, list):
            if not isinstance(value, list) or not value:
                raise ConfigError(f"{where}: 参数 {self.name} 必须是非空列表，当前为 {value!r}")
            kind = type(self.default[0]) if self.default else str
            for item in value:
                if not isinstance(item, kind) or isinstance(item, bool):
                    raise ConfigError(f"{where}: 参数 {self.name} 的取值 {item!r} 类型不符")
                if self.allowed is not None and item not in self.allowed:
                    raise ConfigError(
                        f"{where}: 参数 {self.name} 的取值 {item!r} 不在允许范围 {list(self.allowed)}")
            return list(value)
        if isinstance(self.default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: 参数 {self.name} 必须是 true/false")
            return value
        if isinstance(self.default, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{where}: 参数 {self.name} 必须是数值，当前为 {value!r}")
            if isinstance(self.default, int) and not isinstance(value, int):
                raise ConfigError(f"{where}: 参数 {self.name} 必须是整数，当前为 {value!r}")
            if self.minimum is not None and value < self.minimum:
                raise ConfigError(f"{where}: 参数 {self.name} 不得小于 {self.minimum}")
            return value
        if not isinstance(value, str):
            raise ConfigError(f"{where}: 参数 {self.name} 必须是文本")
        if self.allowed is not None and value not in self.allowed:
            raise ConfigError(f"{where}: 参数 {self.name} 的取值 {value!r} 不在允许范围")
        return value


@dataclass(frozen=True)
class Due:
    """When a warning must be handled: N working days after as_of, or N months after a date."""

    kind: str                      # working_days | months_after
    amount: int                    # default number of working days / months
    basis: str | None = None       # months_after: what the rule's due_basis column holds

    @property
    def parameter(self) -> str:
        """Name of the rule parameter that overrides `amount` in a pack."""
        return DUE_PARAMETER[self.kind]


@dataclass(frozen=True)
class Rule:
    """A parsed, validated rule file."""

    title: str
    id: str
    rule_id: str
    status: str
    description: str
    references: tuple[str, ...]
    author: str
    date: str
    direction: str
    subject_level: str
    inputs: tuple[str, ...]
    parameters: dict[str, Parameter]
    condition: str
    severity: tuple[str, ...]
    routes: tuple[str, ...]
    due: Due
    action: str
    falsepositives: tuple[str, ...]
    level: str
    tests: str
    path: Path | None = None
    sha256: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def subject_column(self) -> str:
        """`person_id` for person-level rules, `household_id` for household-level ones."""
        return "person_id" if self.subject_level == "person" else "household_id"

    @property
    def defaults(self) -> dict[str, Any]:
        """Parameter defaults (the values of the default pack)."""
        return {name: p.default for name, p in self.parameters.items()}

    @property
    def cases_path(self) -> Path:
        """The regression cases file named by `tests` (relative to the rule file)."""
        base = self.path.parent if self.path else RULES_DIR
        return (base / self.tests).resolve()

    def used_parameters(self) -> set[str]:
        """Named parameters the condition uses (engine-bound ones excluded)."""
        return set(_PARAM_RE.findall(self.condition)) - set(ENGINE_PARAMETERS)

    def bind(self, values: dict[str, Any], as_of: Any) -> dict[str, Any]:
        """Prepared-statement parameters for the condition: only the names it uses."""
        used = set(_PARAM_RE.findall(self.condition))
        bound = {"as_of": as_of}
        bound.update(values)
        return {name: bound[name] for name in used}


def _text(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: 字段 {key} 必须是非空文本")
    return value.strip()


def _texts(raw: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: 字段 {key} 必须是非空文本列表")
    return tuple(value)


def _choice(value: Any, allowed: tuple[str, ...], key: str, where: str) -> str:
    if value not in allowed:
        raise ConfigError(f"{where}: 字段 {key} 的取值 {value!r} 不在 {list(allowed)} 中")
    return value


def _parameters(raw: Any, where: str) -> dict[str, Parameter]:
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: parameters 必须是映射")
    params: dict[str, Parameter] = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict) or "default" not in spec:
            raise ConfigError(f"{where}: 参数 {name} 需要 default（以及 description）")
        allowed = spec.get("allowed")
        param = Parameter(
            name=str(name), default=spec["default"], description=str(spec.get("description", "")),
            allowed=tuple(allowed) if allowed is not None else None, minimum=spec.get("min"))
        param.validate(param.default, where=f"{where} 默认值")
        params[str(name)] = param
    return params


def _due(raw: Any, where: str) -> Due:
    if isinstance(raw, dict) and set(raw) == {"working_days"}:
        return Due("working_days", int(raw["working_days"]))
    if isinstance(raw, dict) and set(raw) == {"months_after", "months"}:
        return Due("months_after", int(raw["months"]), basis=str(raw["months_after"]))
    raise ConfigError(f"{where}: due 必须是 {{working_days: N}} 或 {{months_after: 字段, months: N}}")


def parse_rule(raw: dict[str, Any], *, path: Path | None = None, text: str = "") -> Rule:
    """Validate a rule mapping and build a Rule (ConfigError naming the file on any problem)."""
    where = str(path) if path else str(raw.get("rule_id", "?"))
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: 规则文件必须是映射")
    missing = [k for k in RULE_FIELDS if k not in raw]
    unknown = [k for k in raw if k not in RULE_FIELDS]
    if missing or unknown:
        raise ConfigError(f"{where}: 缺少字段 {missing}，未知字段 {unknown}")
    rule_id = _text(raw, "rule_id", where)
    if not _RULE_ID_RE.match(rule_id):
        raise ConfigError(f"{where}: rule_id {rule_id!r} 必须是大写字母、数字和下划线")
    uid = str(raw["id"]).lower()
    if not _UUID_RE.match(uid):
        raise ConfigError(f"{where}: id 必须是 UUID")
    inputs = tuple(raw["inputs"] or ())
    for table in inputs:
        _choice(table, INPUT_TABLES, "inputs", where)
    if "roster" not in inputs:
        raise ConfigError(f"{where}: inputs 必须包含 roster")
    severity = raw["severity"]
    severity = tuple(severity if isinstance(severity, list) else [severity])
    for s in severity:
        _choice(s, SEVERITIES, "severity", where)
    routes = tuple(raw["routes"] or ())
    if not routes:
        raise ConfigError(f"{where}: routes 不能为空")
    for r in routes:
        _choice(r, ROUTES, "routes", where)
    level = _choice(raw["level"], SEVERITIES, "level", where)
    if level != max(severity, key=SEVERITIES.index):
        raise ConfigError(f"{where}: level 应为 severity 中最高的一级")
    condition = _text(raw, "condition", where).rstrip().rstrip(";").rstrip()
    if ";" in condition:
        raise ConfigError(f"{where}: condition 只能是一条 SELECT 语句")
    params = _parameters(raw["parameters"], where)
    due = _due(raw["due"], where)
    if due.parameter not in params:
        raise ConfigError(f"{where}: 期限参数 {due.parameter} 须在 parameters 中声明")
    if params[due.parameter].default != due.amount:
        raise ConfigError(f"{where}: due 与参数 {due.parameter} 的默认值不一致")
    rule = Rule(
        title=_text(raw, "title", where), id=uid, rule_id=rule_id,
        status=_choice(raw["status"], STATUSES, "status", where),
        description=_text(raw, "description", where),
        references=_texts(raw, "references", where), author=_text(raw, "author", where),
        date=str(raw["date"]), direction=_choice(raw["direction"], DIRECTIONS, "direction", where),
        subject_level=_choice(raw["subject_level"], SUBJECT_LEVELS, "subject_level", where),
        inputs=inputs, parameters=params, condition=condition, severity=severity, routes=routes,
        due=due, action=_choice(raw["action"], ("verify",), "action", where),
        falsepositives=_texts(raw, "falsepositives", where), level=level,
        tests=_text(raw, "tests", where), path=path,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), raw=raw,
    )
    undeclared = rule.used_parameters() - set(params)
    if undeclared:
        raise ConfigError(f"{where}: condition 使用了未声明的参数 {sorted(undeclared)}")
    unused = set(params) - rule.used_parameters() - {due.parameter}
    if unused:
        raise ConfigError(f"{where}: 参数 {sorted(unused)} 已声明但未使用")
    return rule


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file with the C loader when available (ConfigError naming the file)."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"{path}: 不是合法的 YAML（或含无效日期）：{exc}") from None


@lru_cache(maxsize=512)
def _load_rule_cached(path: Path, mtime_ns: int, size: int) -> Rule:
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.load(text, Loader=_YAML_LOADER)
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"{path}: 不是合法的 YAML（或含无效日期）：{exc}") from None
    return parse_rule(raw, path=path, text=text)


def load_rule(path: str | Path) -> Rule:
    """Read and validate one rule file (cached while the file is unchanged)."""
    path = Path(path).resolve()
    st = path.stat()
    return _load_rule_cached(path, st.st_mtime_ns, st.st_size)


def load_rules(folder: str | Path = RULES_DIR) -> dict[str, Rule]:
    """All rules of a folder, keyed by rule_id (duplicate rule_id or UUID is an error)."""
    rules: dict[str, Rule] = {}
    uuids: dict[str, str] = {}
    for path in sorted(Path(folder).glob("*.yml")):
        rule = load_rule(path)
        if rule.rule_id in rules:
            raise ConfigError(f"{path}: rule_id {rule.rule_id} 重复")
        if rule.id in uuids:
            raise ConfigError(f"{path}: id 与 {uuids[rule.id]} 重复")
        rules[rule.rule_id] = rule
        uuids[rule.id] = rule.rule_id
    return rules
