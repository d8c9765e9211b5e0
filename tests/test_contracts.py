"""Contract YAMLs: conventions, agreement with docs/architecture.md, and their unit_tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from safetynet.data_contracts.contract import (
    CONTRACT_DIR,
    IDENTITY_COLUMNS,
    TYPES,
    list_tables,
    load_contract,
    parse_contract,
)
from safetynet.data_contracts.contract_tests import run_unit_test, run_unit_tests
from safetynet.data_contracts.stage import STAGE_REASON_CODES
from safetynet.errors import ConfigError
from safetynet.warehouse import connect

ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
EXPECTED_TABLES = {"roster", "standards", "deaths", "pension", "unemployment", "vehicles",
                   "properties", "business_persons", "medical_settlements", "disability_certs"}
CJK = re.compile(r"[\u4e00-\u9fff]")


def _architecture_tables() -> dict[str, dict[str, dict]]:
    """Parse the 'Canonical tables' table of the architecture doc into column facts."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## Canonical tables", 1)[1].split("\n## ", 1)[0]
    tables: dict[str, dict[str, dict]] = {}
    for line in section.splitlines():
        m = re.match(r"^\| (\w+) \| (.+) \|$", line)
        if not m or m.group(1) == "table":
            continue
        cols: dict[str, dict] = {}
        for part in m.group(2).split(";"):
            part = part.strip()
            name = part.split()[0]
            if name == "identity":
                continue
            allowed = re.match(r"^\w+ \(`([^`]+)`\)", part)
            types = re.findall(r"\b(DATE|DOUBLE|INTEGER|BOOLEAN)\b", part)
            fact: dict = {
                "required": bool(re.search(r"\breq$", part)),
                # roster lists identity columns bare: their types are the identity ones
                "type": types[0].lower() if types else (
                    "date" if name == "birth_date" else "varchar"),
                "allowed": [a.strip() for a in allowed.group(1).split(",")] if allowed else None,
            }
            if rng := re.search(r"\b(\d+)\.\.(\d+)\b", part):
                fact.update(min=float(rng.group(1)), max=float(rng.group(2)))
            elif low := re.search(r"(>=?)(\d+)", part):
                fact.update(min=float(low.group(2)), min_exclusive=low.group(1) == ">")
            cols[name] = fact
        tables[m.group(1)] = cols
    return tables


def test_every_canonical_table_has_one_contract_file() -> None:
    assert set(list_tables()) == EXPECTED_TABLES
    assert {p.stem for p in CONTRACT_DIR.glob("*.y*ml")} == EXPECTED_TABLES


@pytest.mark.parametrize("path", sorted(CONTRACT_DIR.glob("*.yml")), ids=lambda p: p.stem)
def test_contract_file_follows_conventions(path: Path) -> None:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert raw["table"] == path.stem
    assert "one row per" in raw["description"]
    assert CJK.search(raw["label"])
    assert raw["unique"] == ["_source", "_record_key"]
    assert raw["unit_tests"], "every contract carries unit_tests"
    for test in raw["unit_tests"]:
        assert test["name"] and test["given"] and "expect" in test
    for name, col in raw["columns"].items():
        assert col["type"] in TYPES, name
        assert CJK.search(col["label"]), f"{name} needs a Chinese label"
        if "allowed" in col:
            assert isinstance(col["allowed"], list) and col["allowed"], name
            assert len(set(col["allowed"])) == len(col["allowed"]), name
        if "pattern" in col:
            assert col["pattern"].startswith("^") and col["pattern"].endswith("$"), name
    contract = load_contract(path.stem)
    assert list(contract.columns) == list(raw["columns"])


def test_department_contracts_share_the_identity_columns() -> None:
    identity_tables = [t for t in list_tables() if load_contract(t).identity]
    assert set(identity_tables) == EXPECTED_TABLES - {"roster", "standards"}
    first = load_contract(identity_tables[0])
    reference = {c: first.columns[c] for c in IDENTITY_COLUMNS}
    for table in identity_tables:
        contract = load_contract(table)
        assert list(contract.columns)[:5] == list(IDENTITY_COLUMNS), table
        assert {c: contract.columns[c] for c in IDENTITY_COLUMNS} == reference, table
        assert not any(contract.columns[c].required for c in IDENTITY_COLUMNS), table


def test_contracts_match_the_architecture_reference() -> None:
    doc = _architecture_tables()
    assert set(doc) == EXPECTED_TABLES
    for table, cols in doc.items():
        contract = load_contract(table)
        own = [c for c in contract.columns if not (contract.identity and c in IDENTITY_COLUMNS)]
        assert own == list(cols), table
        for name, fact in cols.items():
            spec = contract.columns[name]
            assert spec.required == fact["required"], f"{table}.{name} required"
            assert spec.type == fact["type"], f"{table}.{name} type"
            if fact["allowed"] is not None:
                assert list(spec.allowed or ()) == fact["allowed"], f"{table}.{name} allowed"
            if "min" in fact:
                assert spec.min == fact["min"], f"{table}.{name} min"
                assert spec.min_exclusive == fact.get("min_exclusive", False)
            if "max" in fact:
                assert spec.max == fact["max"], f"{table}.{name} max"
    assert load_contract("roster").columns["region_code"].pattern == "^[0-9]{12}$"
    assert load_contract("standards").columns["county_code"].pattern == "^[0-9]{6}$"
    assert load_contract("pension").columns["region_code"].pattern == "^[0-9]{6,12}$"
    assert load_contract("pension").columns["sex"].allowed == ("male", "female")
    assert load_contract("roster").columns["urban_rural"].allowed == ("urban", "rural")


@pytest.mark.parametrize(
    "mutation, message",
    [
        (lambda c: c["columns"]["status"].update(allowed=[]), "non-empty"),
        (lambda c: c["columns"]["status"].update(colour="red"), "unknown keys"),
        (lambda c: c["columns"]["status"].update(type="text"), "type"),
        (lambda c: c["columns"]["region_code"].update(pattern="[0-9]{6}"), "anchored"),
        (lambda c: c["columns"].pop("name"), "identity columns"),
        (lambda c: c["columns"]["contribution_base"].update(min="zero"), "number"),
        (lambda c: c["columns"]["status"].update(label=None), "label"),
    ],
)
def test_loader_rejects_broken_contracts(mutation, message: str) -> None:
    path = CONTRACT_DIR / "pension.yml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    mutation(raw)
    with pytest.raises(ConfigError, match=message):
        parse_contract(raw, path)


def test_unknown_table_has_no_contract() -> None:
    with pytest.raises(ConfigError, match="no contract"):
        load_contract("pets")


UNIT_TESTS = [(t, i, test) for t in list_tables()
              for i, test in enumerate(load_contract(t).unit_tests)]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    con = connect(tmp_path_factory.mktemp("ut") / "warehouse.duckdb")
    yield con
    con.close()


@pytest.mark.parametrize("table, index, test", UNIT_TESTS,
                         ids=[f"{t}:{test['name']}" for t, _, test in UNIT_TESTS])
def test_contract_unit_test(warehouse, table: str, index: int, test: dict) -> None:
    outcome = run_unit_test(warehouse, load_contract(table), index, test)
    assert outcome.passed, "\n".join(outcome.problems)


def test_unit_tests_exercise_every_row_level_reason_code() -> None:
    codes = {q["reason_code"] for t in list_tables() for test in load_contract(t).unit_tests
             for q in (test["expect"].get("quarantined") or [])}
    # field_too_long needs a 1001-character cell: covered in tests/test_stage.py instead
    assert codes == set(STAGE_REASON_CODES) - {"field_too_long"}


def test_a_wrong_expectation_makes_a_unit_test_fail() -> None:
    contract = load_contract("standards")
    test = yaml.safe_load(yaml.safe_dump(contract.unit_tests[0], allow_unicode=True))
    test["expect"]["staged"][0]["monthly_standard"] = 1049.0
    test["expect"]["quarantined"].pop()
    outcome = run_unit_test(connect(), contract, 0, test)
    assert not outcome.passed
    assert any("monthly_standard" in p for p in outcome.problems)
    assert any("quarantined" in p for p in outcome.problems)


def test_run_unit_tests_runs_them_all_on_one_warehouse() -> None:
    outcomes = run_unit_tests(["deaths", "pension"])
    assert [o.table for o in outcomes] == ["deaths", "pension"]
    assert all(o.passed for o in outcomes)
