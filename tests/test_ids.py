"""ID normalisation: tables of cases (Splink style) and hypothesis properties."""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn.ric import calc_check_digit

from safetynet.matching.ids import IdInfo, check_chars, normalize_id, normalize_ids


def make_id(body17: str) -> str:
    """A valid 18-character ID from its first 17 digits (check character by python-stdnum)."""
    return body17 + calc_check_digit(body17 + "0")


VALID = make_id("43010219800101123")      # 430102198001011233, male
VALID_X = make_id("11010519491231002")    # 11010519491231002X, female
LEGACY = "430102800101123"                # -> 430102198001011233

# Every noise kind a department file shows: raw_l is what arrives, expected the normalisation.
ID_CASES = [
    {"kind": "clean", "raw_l": VALID, "expected": (VALID, "valid")},
    {"kind": "legacy15", "raw_l": LEGACY, "expected": (VALID, "legacy15")},
    {"kind": "lowercase_x", "raw_l": VALID_X.lower(), "expected": (VALID_X, "valid")},
    {"kind": "fullwidth", "raw_l": "４３０１０２１９８００１０１１２３３",
     "expected": (VALID, "valid")},
    {"kind": "fullwidth_x", "raw_l": "１１０１０５１９４９１２３１００２ｘ",
     "expected": (VALID_X, "valid")},
    {"kind": "spaces_dashes", "raw_l": " 430102-1980 0101-1233 ", "expected": (VALID, "valid")},
    {"kind": "ideographic_space", "raw_l": "430102\u300019800101\u00a01233",
     "expected": (VALID, "valid")},
    {"kind": "apostrophe", "raw_l": "'430102198001011233", "expected": (VALID, "valid")},
    {"kind": "excel_text_formula", "raw_l": '="430102198001011233"',
     "expected": (VALID, "valid")},
    {"kind": "float_suffix_exact", "raw_l": "430102198001011233.0",
     "expected": (VALID, "valid")},
    {"kind": "legacy_float", "raw_l": "430102800101123.0", "expected": (VALID, "legacy15")},
    {"kind": "scientific", "raw_l": "4.30102E+17", "expected": (None, "scientific")},
    {"kind": "scientific_long", "raw_l": "4.3010219800101E17", "expected": (None, "scientific")},
    {"kind": "scientific_lower", "raw_l": "4.30102e+17", "expected": (None, "scientific")},
    {"kind": "truncated_excel", "raw_l": "430102198001011000", "expected": (None, "truncated_excel")},
    {"kind": "truncated_float", "raw_l": "430102198001011264.0",
     "expected": (None, "truncated_excel")},
    {"kind": "typo", "raw_l": "430102198001011833", "expected": (None, "check_failed")},
    {"kind": "transposition", "raw_l": "430102198001012133", "expected": (None, "check_failed")},
    {"kind": "bad_date", "raw_l": make_id("43010219801301123"), "expected": (None, "bad_date")},
    {"kind": "feb_30", "raw_l": make_id("43010219800230123"), "expected": (None, "bad_date")},
    {"kind": "before_1900", "raw_l": make_id("43010218991231123"), "expected": (None, "bad_date")},
    {"kind": "legacy_bad_date", "raw_l": "430102801301123", "expected": (None, "bad_date")},
    {"kind": "dropped_char", "raw_l": "43010219800101123", "expected": (None, "wrong_length")},
    {"kind": "extra_char", "raw_l": "4301021980010112333", "expected": (None, "wrong_length")},
    {"kind": "letter_inside", "raw_l": "43010219800101I233", "expected": (None, "wrong_length")},
    {"kind": "x_inside", "raw_l": "430102198001011X33", "expected": (None, "wrong_length")},
    {"kind": "missing_none", "raw_l": None, "expected": (None, "missing")},
    {"kind": "missing_empty", "raw_l": "", "expected": (None, "missing")},
    {"kind": "missing_blank", "raw_l": " \u3000 ", "expected": (None, "missing")},
    {"kind": "missing_word", "raw_l": "无", "expected": (None, "missing")},
    {"kind": "missing_dash", "raw_l": "-", "expected": (None, "missing")},
]


@pytest.mark.parametrize("case", ID_CASES, ids=[c["kind"] for c in ID_CASES])
def test_id_cases(case: dict) -> None:
    info = normalize_id(case["raw_l"])
    assert (info.normalized, info.quality) == case["expected"]
    assert info.raw == case["raw_l"]


def test_id_cases_batch_equals_scalar() -> None:
    raws = [c["raw_l"] for c in ID_CASES]
    table = normalize_ids(raws)
    assert table.num_rows == len(set(raws))
    for row in table.to_pylist():
        assert IdInfo(**row) == normalize_id(row["raw"])


def test_parts_of_a_valid_id() -> None:
    info = normalize_id(VALID_X.lower())
    assert info.birth_date == date(1949, 12, 31)
    assert info.sex == "female"
    assert info.region6 == "110105"
    assert normalize_id(VALID).sex == "male"


def test_legacy15_conversion_uses_stdnum_check() -> None:
    info = normalize_id(LEGACY)
    assert info.normalized == "430102198001011233"
    assert info.digits == LEGACY
    assert info.birth_date == date(1980, 1, 1)


def test_damaged_ids_keep_digits_for_repair() -> None:
    typo = normalize_id(" 4301-0219800101 1833")
    assert typo.digits == "430102198001011833"
    assert typo.birth_date == date(1980, 1, 1)  # the date part is still readable
    assert typo.region6 == "430102"
    assert normalize_id("43010219800101123").birth_date == date(1980, 1, 1)


def test_scientific_keeps_only_trustworthy_parts() -> None:
    short = normalize_id("4.30102E+17")
    assert short.digits == "430102"
    assert short.region6 is None  # the sixth digit may be rounded
    long = normalize_id("4.301021980010112E+17")
    assert long.digits == "4301021980010112"
    assert long.region6 == "430102"
    assert long.birth_date == date(1980, 1, 1)


def test_truncated_excel_keeps_region_and_birth_date() -> None:
    info = normalize_id("430102198001011000")
    assert (info.region6, info.birth_date) == ("430102", date(1980, 1, 1))


def test_region_table_is_not_a_reason_to_reject() -> None:
    # 999999 is in no region table; stdnum's is_valid would reject it. We only check GB 11643.
    assert normalize_id(make_id("99999919800101123")).quality == "valid"


def test_future_birth_date_is_bad_date() -> None:
    future = date.today().year + 2
    assert normalize_id(make_id(f"430102{future}0101123")).quality == "bad_date"


def test_batch_accepts_arrow_and_nulls() -> None:
    table = normalize_ids(pa.array([VALID, None, VALID, LEGACY]))
    assert table.num_rows == 3
    by_raw = {r["raw"]: r for r in table.to_pylist()}
    assert by_raw[None]["quality"] == "missing"
    assert by_raw[LEGACY]["normalized"] == VALID


def test_batch_one_million_distinct_in_seconds() -> None:
    ids = pa.array([make_id(f"{region}1980{m:02d}{d:02d}{s:03d}")
                    for region in ("430102", "430103", "430104")
                    for m in range(1, 13) for d in range(1, 29) for s in range(1000)])
    start = time.perf_counter()
    table = normalize_ids(ids)
    elapsed = time.perf_counter() - start
    assert table.num_rows == 1_008_000
    assert set(table.column("quality").to_pylist()) == {"valid"}
    assert elapsed < 6.0, f"{elapsed:.1f}s for 1M distinct IDs"


# --- properties ----------------------------------------------------------------------------

digits17 = st.builds(
    lambda region, y, m, d, seq: f"{region:06d}{y:04d}{m:02d}{d:02d}{seq:03d}",
    st.integers(110000, 659999), st.integers(1900, 2020), st.integers(1, 12),
    st.integers(1, 28), st.integers(0, 999))
valid_ids = digits17.map(make_id)

_FULLWIDTH = {str(i): chr(0xFF10 + i) for i in range(10)} | {"X": "Ｘ"}


@st.composite
def noisy(draw: st.DrawFn, value: str) -> str:
    """A valid ID with any mix of full-width characters, spaces, dashes and lowercase x."""
    out = []
    for ch in value:
        if draw(st.booleans()):
            ch = _FULLWIDTH[ch]
        elif ch == "X" and draw(st.booleans()):
            ch = "x"
        out.append(ch)
        out.append(draw(st.sampled_from(["", "", " ", "-", "\u3000", "－"])))
    prefix = draw(st.sampled_from(["", " ", "'", "\t"]))
    return prefix + "".join(out) + draw(st.sampled_from(["", " ", "\n"]))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=25), valid_ids,
                 valid_ids.map(lambda s: s[:6] + s[8:17])))
def test_normalising_twice_is_normalising_once(raw: str | None) -> None:
    once = normalize_id(raw)
    if once.normalized is not None:
        assert normalize_id(once.normalized).normalized == once.normalized
        assert normalize_id(once.normalized).quality == "valid"
    again = normalize_id(once.digits)
    if once.quality not in ("missing", "scientific") and once.digits is not None:
        assert again.digits == once.digits


@settings(max_examples=300, deadline=None)
@given(valid_ids.flatmap(lambda v: st.tuples(st.just(v), noisy(v))))
def test_valid_id_survives_any_noise(pair: tuple[str, str]) -> None:
    value, raw = pair
    info = normalize_id(raw)
    assert (info.normalized, info.quality) == (value, "valid")


@settings(max_examples=300, deadline=None)
@given(valid_ids, st.integers(0, 17), st.sampled_from("0123456789X"))
def test_single_substitution_is_never_valid(value: str, pos: int, ch: str) -> None:
    if value[pos] == ch:
        return
    damaged = value[:pos] + ch + value[pos + 1:]
    assert normalize_id(damaged).quality != "valid"


@settings(max_examples=300, deadline=None)
@given(valid_ids, st.integers(0, 16))
def test_adjacent_transposition_is_never_valid(value: str, pos: int) -> None:
    if value[pos] == value[pos + 1]:
        return
    damaged = value[:pos] + value[pos + 1] + value[pos] + value[pos + 2:]
    assert normalize_id(damaged).quality != "valid"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=22), valid_ids,
                          valid_ids.map(str.lower), valid_ids.map(lambda s: s[:15] + "000")),
                max_size=30))
def test_batch_path_equals_scalar_path(values: list[str | None]) -> None:
    for row in normalize_ids(values).to_pylist():
        assert IdInfo(**row) == normalize_id(row["raw"])


@settings(max_examples=200, deadline=None)
@given(st.lists(digits17, min_size=1, max_size=50))
def test_vectorised_check_characters_equal_stdnum(bodies: list[str]) -> None:
    rows = np.frombuffer("".join(bodies).encode(), dtype=np.uint8).reshape(-1, 17)
    assert bytes(check_chars(rows)).decode() == "".join(calc_check_digit(b + "0") for b in bodies)
