"""Rule packs: which rules a region runs, with which parameter values.

`packs/default.yaml` lists every rule with its defaults; a regional pack `extends: default` and
overrides only what its notice changes. Every override is checked against the rule files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from safetynet.errors import ConfigError

from .rule import RULES_DIR, Rule, load_rules, read_yaml

PACKS_DIR = Path(__file__).resolve().parent / "packs"
_PACK_FIELDS = {"name", "version", "title", "description", "extends", "rules"}
_RULE_ENTRY_FIELDS = {"enabled", "parameters"}


@dataclass(frozen=True)
class RuleConfig:
    """A rule as configured by a pack: enabled flag and the resolved parameter values."""

    rule: Rule
    enabled: bool
    parameters: dict[str, Any]

    @property
    def due_amount(self) -> int:
        """Working days or months of the due date, after pack overrides."""
        return int(self.parameters[self.rule.due.parameter])


@dataclass(frozen=True)
class RulePack:
    """A resolved pack (its `extends` chain applied). `label` = name@version, `hash` = content."""

    name: str
    version: str
    title: str
    rules: dict[str, RuleConfig]
    chain: tuple[str, ...] = ()
    path: Path | None = None

    @property
    def label(self) -> str:
        """`name@version`, as stored in warnings.rule_pack and meta.runs."""
        return f"{self.name}@{self.version}"

    @property
    def hash(self) -> str:
        """sha256 over the resolved parameters and every rule file's content."""
        payload = {
            "name": self.name, "version": self.version,
            "rules": {rid: {"enabled": rc.enabled, "parameters": rc.parameters,
                            "rule_sha256": rc.rule.sha256}
                      for rid, rc in sorted(self.rules.items())},
        }
        data = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(data.encode("utf-8")).hexdigest()

    def enabled_rules(self) -> list[RuleConfig]:
        """Enabled rules, in rule_id order."""
        return [rc for _, rc in sorted(self.rules.items()) if rc.enabled]

    def only(self, *rule_ids: str) -> RulePack:
        """The same pack with only the given rules enabled (regression cases run one rule)."""
        unknown = set(rule_ids) - set(self.rules)
        if unknown:
            raise ConfigError(f"规则包 {self.label} 中没有规则 {sorted(unknown)}")
        rules = {rid: replace(rc, enabled=rid in rule_ids) for rid, rc in self.rules.items()}
        return replace(self, rules=rules)


def _read_pack(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"规则包文件不存在：{path}")
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"规则包 {path} 必须是映射")
    unknown = set(raw) - _PACK_FIELDS
    if unknown:
        raise ConfigError(f"规则包 {path} 含未知字段 {sorted(unknown)}")
    for key in ("name", "version"):
        if not raw.get(key):
            raise ConfigError(f"规则包 {path} 缺少 {key}")
    if not isinstance(raw.get("rules") or {}, dict):
        raise ConfigError(f"规则包 {path} 的 rules 必须是以 rule_id 为键的映射")
    return raw


def _resolve_path(ref: str | Path, base: Path | None) -> Path:
    ref_path = Path(ref)
    if ref_path.suffix in (".yaml", ".yml") or ref_path.exists():
        if not ref_path.is_absolute() and base is not None and (base / ref_path).exists():
            return base / ref_path
        return ref_path
    for folder in ([base] if base else []) + [PACKS_DIR]:
        for suffix in (".yaml", ".yml"):
            candidate = folder / f"{ref}{suffix}"
            if candidate.exists():
                return candidate
    raise ConfigError(f"找不到规则包 {ref!s}（已查找 {base or ''} 与 {PACKS_DIR}）")


def load_pack(path_or_name: str | Path, *, rules_dir: str | Path = RULES_DIR) -> RulePack:
    """Load a pack by file path or by name (`default`, `example_region`), resolving `extends`.

    Raises ConfigError when a pack names a rule or a parameter that does not exist, or a value
    outside the parameter's type or domain.
    """
    rules = load_rules(rules_dir)
    path = _resolve_path(path_or_name, None)
    chain: list[tuple[Path, dict[str, Any]]] = []
    seen: set[Path] = set()
    while True:
        resolved = path.resolve()
        if resolved in seen:
            raise ConfigError(f"规则包 extends 形成循环：{resolved}")
        seen.add(resolved)
        raw = _read_pack(path)
        chain.append((path, raw))
        if not raw.get("extends"):
            break
        path = _resolve_path(str(raw["extends"]), path.parent)

    enabled: dict[str, bool] = {}
    values: dict[str, dict[str, Any]] = {}
    for pack_path, raw in reversed(chain):          # base first, then each override
        for rule_id, entry in (raw.get("rules") or {}).items():
            where = f"规则包 {pack_path.name} 的 {rule_id}"
            if rule_id not in rules:
                raise ConfigError(f"{where}：规则不存在（可用：{sorted(rules)}）")
            entry = entry or {}
            if not isinstance(entry, dict) or set(entry) - _RULE_ENTRY_FIELDS:
                raise ConfigError(f"{where}：只能设置 enabled 和 parameters")
            if "enabled" in entry:
                if not isinstance(entry["enabled"], bool):
                    raise ConfigError(f"{where}：enabled 必须是 true/false")
                enabled[rule_id] = entry["enabled"]
            else:
                enabled.setdefault(rule_id, True)
            params = entry.get("parameters") or {}
            if not isinstance(params, dict):
                raise ConfigError(f"{where}：parameters 必须是映射")
            rule = rules[rule_id]
            for name, value in params.items():
                if name not in rule.parameters:
                    raise ConfigError(
                        f"{where}：参数 {name} 不存在（可用：{sorted(rule.parameters)}）")
                values.setdefault(rule_id, {})[name] = rule.parameters[name].validate(
                    value, where=where)

    top_path, top = chain[0]
    configs = {
        rule_id: RuleConfig(rule=rule, enabled=enabled.get(rule_id, False),
                            parameters={**rule.defaults, **values.get(rule_id, {})})
        for rule_id, rule in rules.items()
    }
    return RulePack(name=str(top["name"]), version=str(top["version"]),
                    title=str(top.get("title") or top["name"]), rules=configs,
                    chain=tuple(str(raw["name"]) for _, raw in chain), path=top_path)
