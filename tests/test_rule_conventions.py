"""Conventions every rule file follows (Sigma's test_rules.py, for our rule files)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from stdnum.cn import ric

from safetynet.warning_rules.packs import PACKS_DIR, load_pack
from safetynet.warning_rules.regression import CASES_DIR, load_cases
from safetynet.warning_rules.rule import (
    ENGINE_PARAMETERS,
    RULE_FIELDS,
    RULES_DIR,
    SEVERITIES,
    load_rule,
    load_rules,
)

RULE_FILES = sorted(RULES_DIR.glob("*"))
SPEC_RULE_IDS = {
    "DEATH_REVIEW", "VEHICLE_OWNED", "PROPERTY_RECENT_PURCHASE", "PROPERTY_MULTIPLE",
    "BUSINESS_REGISTERED", "PENSION_CONTRIBUTING", "GRADUAL_EXIT_DUE", "DUPLICATE_ENROLMENT",
    "SEVERE_DISABILITY_UNCOVERED", "HIGH_MEDICAL_EXPENSE", "MAJOR_ILLNESS",
    "UNEMPLOYED_WORKING_AGE",
}
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _raw(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_the_twelve_rules_of_the_spec_exist() -> None:
    assert set(load_rules()) == SPEC_RULE_IDS


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_file_name_is_rule_id_lowercase(path: Path) -> None:
    assert path.suffix == ".yml"
    assert re.fullmatch(r"[a-z0-9_]{6,60}\.yml", path.name)
    assert path.name == _raw(path)["rule_id"].lower() + ".yml"


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_title_first_and_field_order(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("title: ")
    assert _CJK.search(first), "title is Chinese"
    assert tuple(_raw(path)) == RULE_FIELDS


def test_uuids_are_unique() -> None:
    ids = [_raw(p)["id"] for p in RULE_FILES]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", i) for i in ids)


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rule_content(path: Path) -> None:
    rule = load_rule(path)                       # full validation (types, choices, due, params)
    assert rule.action == "verify"
    assert rule.level == max(rule.severity, key=SEVERITIES.index)
    assert any("shared/spec/warning-rules.md" in r for r in rule.references)
    assert any("通知" in r for r in rule.references), "cites the kind of notice"
    assert all(_CJK.search(fp) for fp in rule.falsepositives)
    assert _CJK.search(rule.description)
    # SQL template shape: named CTEs, then select * from final; as_of always filtered.
    assert rule.condition.lstrip().lower().startswith("with ")
    assert rule.condition.rstrip().lower().endswith("select * from final")
    for table in set(rule.inputs) - {"roster", "standards"}:
        body = rule.condition.split(f"links.{table}", 1)
        assert len(body) == 2, f"{rule.rule_id} reads links.{table}"
        assert "as_of = $as_of" in body[1][:200], f"{rule.rule_id} filters links.{table} by as_of"
    assert "links.roster" not in rule.condition, "rules read the shared prelude"
    assert "int_roster_persons" in rule.condition


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_every_parameter_used_is_declared_and_every_declared_one_used(path: Path) -> None:
    rule = load_rule(path)
    used = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", rule.condition))
    assert used - set(ENGINE_PARAMETERS) <= set(rule.parameters)
    assert set(rule.parameters) == (used - set(ENGINE_PARAMETERS)) | {rule.due.parameter}
    assert rule.parameters[rule.due.parameter].default == rule.due.amount
    assert all(p.description and _CJK.search(p.description) for p in rule.parameters.values())
    # No parameter is spliced into the SQL text: no Python format fields in the template.
    assert not re.search(r"\{[a-z_]+\}", rule.condition.replace("{'", "").replace("{ '", ""))


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_every_rule_has_regression_cases(path: Path) -> None:
    rule = load_rule(path)
    assert rule.cases_path == (CASES_DIR / path.name).resolve()
    cases = load_cases(rule.cases_path)
    assert {c.rule_id for c in cases} == {rule.rule_id}
    kinds = {c.kind for c in cases}
    assert kinds == {"must_fire", "must_not_fire"}
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names are unique"


def test_no_orphan_case_files() -> None:
    assert {p.name for p in CASES_DIR.glob("*.yml")} == {p.name for p in RULE_FILES}


def test_case_id_numbers_are_well_formed() -> None:
    """Case data uses real-format IDs (GB 11643 check character) so it reads like the real thing."""
    for path in sorted(CASES_DIR.glob("*.yml")):
        for case in load_cases(path):
            for row in case.roster + [r for rows in case.tables.values() for r in rows]:
                number = str(row.get("id_number", "")).upper()
                if len(number) == 18 and row.get("person_id", number) is not None:
                    assert ric.calc_check_digit(number[:17]) == number[17], (case.label, number)


def test_default_pack_lists_every_rule_with_its_defaults() -> None:
    raw = _raw(PACKS_DIR / "default.yaml")
    rules = load_rules()
    assert set(raw["rules"]) == set(rules)
    for rule_id, entry in raw["rules"].items():
        assert entry["enabled"] is True
        assert entry["parameters"] == rules[rule_id].defaults, rule_id
    pack = load_pack("default")
    assert len(pack.enabled_rules()) == 12
    assert pack.label == f"default@{raw['version']}"


def test_example_region_overrides_only_what_the_spec_illustrates() -> None:
    raw = _raw(PACKS_DIR / "example_region.yaml")
    assert raw["extends"] == "default"
    assert raw["rules"] == {
        "VEHICLE_OWNED": {"parameters": {"vehicle_types": ["passenger_car", "truck", "tricycle"]}},
        "PROPERTY_RECENT_PURCHASE": {"parameters": {"months": 24}},
    }
