"""Name keys and the name comparison levels: tables of (name_l, name_r, expected)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safetynet.matching.comparisons import compare_name_keys
from safetynet.matching.names import (
    DOT_LOOKALIKES,
    name_key,
    name_key_nodot,
    name_keys,
    pinyin_key,
)

KEY_CASES = [
    {"kind": "plain", "raw_l": "张三", "expected": "张三"},
    {"kind": "traditional", "raw_l": "劉德華", "expected": "刘德华"},
    {"kind": "traditional_mixed", "raw_l": "張 偉", "expected": "张伟"},
    {"kind": "name_spaces", "raw_l": " 王\u3000小 明 ", "expected": "王小明"},
    {"kind": "fullwidth_latin", "raw_l": "ＺＨＡＮＧ　Ｓａｎ", "expected": "zhangsan"},
    {"kind": "middle_dot", "raw_l": "阿卜杜·热合曼", "expected": "阿卜杜·热合曼"},
    {"kind": "bullet", "raw_l": "阿卜杜•热合曼", "expected": "阿卜杜·热合曼"},
    {"kind": "katakana_dot", "raw_l": "阿卜杜・热合曼", "expected": "阿卜杜·热合曼"},
    {"kind": "halfwidth_katakana_dot", "raw_l": "阿卜杜･热合曼", "expected": "阿卜杜·热合曼"},
    {"kind": "period", "raw_l": "阿卜杜.热合曼", "expected": "阿卜杜·热合曼"},
    {"kind": "fullwidth_period", "raw_l": "阿卜杜．热合曼", "expected": "阿卜杜·热合曼"},
    {"kind": "hyphen", "raw_l": "阿卜杜-热合曼", "expected": "阿卜杜·热合曼"},
    {"kind": "small_full_stop", "raw_l": "阿卜杜﹒热合曼", "expected": "阿卜杜·热合曼"},
    {"kind": "ideographic_full_stop", "raw_l": "阿卜杜。热合曼", "expected": "阿卜杜·热合曼"},
    {"kind": "hyphenation_point", "raw_l": "阿卜杜‧热合曼", "expected": "阿卜杜·热合曼"},
    {"kind": "dot_with_spaces", "raw_l": "阿卜杜 · 热合曼", "expected": "阿卜杜·热合曼"},
    {"kind": "doubled_and_edge_dots", "raw_l": "·阿卜杜··热合曼·", "expected": "阿卜杜·热合曼"},
    {"kind": "traditional_minority", "raw_l": "買買提·艾力", "expected": "买买提·艾力"},
    {"kind": "empty", "raw_l": "", "expected": None},
    {"kind": "blank", "raw_l": " \u3000", "expected": None},
    {"kind": "none", "raw_l": None, "expected": None},
]


@pytest.mark.parametrize("case", KEY_CASES, ids=[c["kind"] for c in KEY_CASES])
def test_name_key_cases(case: dict) -> None:
    assert name_key(case["raw_l"]) == case["expected"]


def test_nodot_key_joins_dotless_minority_names() -> None:
    assert name_key_nodot("阿卜杜•热合曼") == name_key_nodot("阿卜杜热合曼") == "阿卜杜热合曼"
    assert name_key("阿卜杜热合曼") != name_key("阿卜杜·热合曼")


SURNAME_CASES = [
    {"raw_l": "单田芳", "expected": "shantianfang"},
    {"raw_l": "曾国藩", "expected": "zengguofan"},
    {"raw_l": "解缙", "expected": "xiejin"},
    {"raw_l": "仇英", "expected": "qiuying"},
    {"raw_l": "朴正熙", "expected": "piaozhengxi"},
    {"raw_l": "查良镛", "expected": "zhaliangyong"},
    {"raw_l": "区志强", "expected": "ouzhiqiang"},
    {"raw_l": "覃海", "expected": "qinhai"},
    {"raw_l": "尉迟恭", "expected": "yuchigong"},
    {"raw_l": "万俟卨", "expected": "moqixie"},
    {"raw_l": "长孙无忌", "expected": "zhangsunwuji"},
    {"raw_l": "歐陽修", "expected": "ouyangxiu"},
    {"raw_l": "阿卜杜·热合曼", "expected": pinyin_key("阿卜杜热合曼")},
]


@pytest.mark.parametrize("case", SURNAME_CASES, ids=[c["raw_l"] for c in SURNAME_CASES])
def test_pinyin_surname_readings(case: dict) -> None:
    assert pinyin_key(case["raw_l"]) == case["expected"]


# NameComparison levels: null -> exact -> nodot -> pinyin -> fuzzy -> else
NAME_LEVEL_CASES = [
    {"kind": "exact", "name_l": "张三", "name_r": "张三", "expected": "exact"},
    {"kind": "traditional", "name_l": "劉德華", "name_r": "刘德华", "expected": "exact"},
    {"kind": "name_spaces", "name_l": "王 小明", "name_r": "王小明", "expected": "exact"},
    {"kind": "middle_dot_lookalike", "name_l": "阿卜杜．热合曼", "name_r": "阿卜杜·热合曼",
     "expected": "exact"},
    {"kind": "no_dot_minority", "name_l": "阿卜杜热合曼", "name_r": "阿卜杜·热合曼",
     "expected": "nodot"},
    {"kind": "homophone", "name_l": "张伟", "name_r": "张炜", "expected": "pinyin"},
    {"kind": "homophone_surname", "name_l": "章三", "name_r": "张三", "expected": "pinyin"},
    {"kind": "surname_reading", "name_l": "单田芳", "name_r": "善田芳", "expected": "pinyin"},
    {"kind": "compound_surname", "name_l": "尉迟恭", "name_r": "鱼迟恭", "expected": "pinyin"},
    {"kind": "long_name_typo", "name_l": "阿卜杜热合曼买买提", "name_r": "阿布杜热合曼买买提",
     "expected": "fuzzy"},
    {"kind": "different", "name_l": "张三", "name_r": "李四", "expected": "else"},
    {"kind": "one_char_differs", "name_l": "张三丰", "name_r": "张三风", "expected": "pinyin"},
    {"kind": "short_typo_not_fuzzy", "name_l": "张三丰", "name_r": "张三峰", "expected": "pinyin"},
    {"kind": "short_different", "name_l": "张三丰", "name_r": "张三宝", "expected": "else"},
    {"kind": "null_left", "name_l": None, "name_r": "张三", "expected": "null"},
    {"kind": "blank_right", "name_l": "张三", "name_r": "  ", "expected": "null"},
]


@pytest.mark.parametrize("case", NAME_LEVEL_CASES, ids=[c["kind"] for c in NAME_LEVEL_CASES])
def test_name_comparison_levels(case: dict) -> None:
    level, similarity = compare_name_keys(name_key(case["name_l"]), name_key(case["name_r"]))
    assert level == case["expected"]
    if level in ("exact", "nodot"):
        assert similarity == 1.0
    elif level != "null":
        assert 0.0 <= similarity < 1.0


def test_fuzzy_threshold_is_a_setting() -> None:
    l_key, r_key = name_key("阿卜杜热合曼买买提"), name_key("阿布杜热合曼买买提")
    assert compare_name_keys(l_key, r_key, fuzzy_min=0.95)[0] == "else"


def test_keys_never_rewrite_the_input() -> None:
    raw = "劉 德華"
    table = name_keys([raw])
    assert table.column("raw").to_pylist() == [raw]
    assert table.column("name_key").to_pylist() == ["刘德华"]


def test_batch_without_pinyin() -> None:
    table = name_keys(["張三", None, "張三", ""], with_pinyin=False)
    assert table.num_rows == 3
    assert set(table.column("pinyin_key").to_pylist()) == {None}


names = st.text(
    alphabet=st.sampled_from(list("张三李四王伟劉德華阿卜杜热合曼買提艾力 \u3000\t") + list(DOT_LOOKALIKES)),
    max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), names), max_size=25))
def test_batch_equals_scalar(values: list[str | None]) -> None:
    for row in name_keys(values).to_pylist():
        assert row["name_key"] == name_key(row["raw"])
        assert row["name_key_nodot"] == name_key_nodot(row["raw"])
        assert row["pinyin_key"] == pinyin_key(row["raw"])


@settings(max_examples=300, deadline=None)
@given(names)
def test_name_key_is_idempotent(value: str) -> None:
    key = name_key(value)
    assert name_key(key) == key
    if key:
        assert name_key_nodot(key) == name_key_nodot(value)


def test_surname_reading_survives_homophones_and_traditional_forms() -> None:
    from safetynet.matching.names import name_key_nodot, surname_reading

    assert surname_reading(name_key_nodot("張三")) == surname_reading(name_key_nodot("张三"))
    assert surname_reading("章三") == surname_reading("张三") == "zhang"
    assert surname_reading("欧阳修") == "ouyang"
    assert surname_reading("曾国藩") == "zeng"  # the surname reading, not ceng
    assert surname_reading("汪五") == surname_reading("王五") == "wang"
    assert surname_reading("李四") != surname_reading("王五")
    assert surname_reading("") == ""
