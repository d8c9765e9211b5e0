"""Matching settings as data: one dataclass, saved as JSON beside every quarter (as Splink's settings).

Everything that decides a link is here: the blocking rules that propose candidate pairs, the prior
m / u probabilities of every comparison level (EM starts from them and falls back on them where the
data say little), the thresholds, and the county re-coding table.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from safetynet.errors import ConfigError

# Comparison -> its levels in order (Splink style: the first level that applies wins). "null" and
# "in_id" are neutral (weight 0): nothing to compare, or the agreement is already inside the ID.
LEVELS: dict[str, tuple[str, ...]] = {
    "id": ("null", "exact", "legacy15", "different_valid", "one_substitution", "transposition",
           "one_indel", "prefix15", "two_edits", "damaged", "damaged_different"),
    "name": ("null", "exact", "nodot", "pinyin", "fuzzy", "else"),
    "birth_date": ("null", "in_id", "exact", "one_digit", "month_day_swapped", "else"),
    "sex": ("null", "in_id", "agree", "different"),
    "region": ("null", "county", "legacy_recode", "prefecture", "else"),
}
NEUTRAL = frozenset({"null", "in_id"})
COMPARISONS = tuple(LEVELS)
NAME_LEVELS = ("exact", "nodot", "pinyin", "fuzzy")
# Blocking keys: each exists on the record side and the roster side (blocking.py has the SQL).
BLOCKING_KEYS = ("id_head12", "id_tail5", "id_prefix15", "name", "pinyin", "surname",
                 "birth_date", "county", "prefecture")


def _default_priors() -> dict[str, dict[str, dict[str, float]]]:
    """Prior m (share among matches) and u (share among non-matches) per non-neutral level.

    EM re-estimates m; random pairs re-estimate u. A level with ``fixed_m`` keeps its prior m:
    a valid ID that differs from the candidate's is another person (EM cannot learn that:
    namesakes agree on everything else, so EM would call them matches).
    """
    return {
        "id": {
            "exact": {"m": 0.93, "u": 1e-8}, "legacy15": {"m": 0.01, "u": 1e-9},
            "different_valid": {"m": 1e-12, "u": 0.9, "fixed_m": 1.0},
            "one_substitution": {"m": 0.01, "u": 1e-7}, "transposition": {"m": 0.005, "u": 1e-8},
            "one_indel": {"m": 0.002, "u": 1e-8}, "prefix15": {"m": 0.005, "u": 1e-6},
            "two_edits": {"m": 0.001, "u": 1e-6}, "damaged": {"m": 0.01, "u": 0.02},
            "damaged_different": {"m": 0.001, "u": 0.08},
        },
        "name": {"exact": {"m": 0.93, "u": 1e-4}, "nodot": {"m": 0.01, "u": 1e-6},
                 "pinyin": {"m": 0.03, "u": 2e-4}, "fuzzy": {"m": 0.01, "u": 1e-3},
                 "else": {"m": 0.002, "u": 0.9987}},
        "birth_date": {"exact": {"m": 0.98, "u": 4e-5}, "one_digit": {"m": 0.01, "u": 5e-4},
                       "month_day_swapped": {"m": 0.005, "u": 1e-5},
                       "else": {"m": 0.005, "u": 0.99945}},
        "sex": {"agree": {"m": 0.995, "u": 0.5}, "different": {"m": 0.005, "u": 0.5}},
        "region": {"county": {"m": 0.85, "u": 0.1}, "legacy_recode": {"m": 0.01, "u": 1e-3},
                   "prefecture": {"m": 0.07, "u": 0.2}, "else": {"m": 0.07, "u": 0.699}},
    }


# Counties re-coded since IDs were issued (old code -> current code). Examples from Hunan; a site
# adds its own (an ID keeps the code of the county that issued it, whatever became of it).
DEFAULT_REGION_RECODES: dict[str, str] = {
    "430122": "430112",  # 望城县 -> 长沙市望城区 (2011)
    "430124": "430182",  # 宁乡县 -> 宁乡市 (2017)
    "430221": "430212",  # 株洲县 -> 株洲市渌口区 (2018)
    "432901": "431102",  # 县级永州市 -> 芝山区, 今零陵区 (1995)
}


@dataclass(frozen=True)
class BlockingRule:
    """A named rule proposing candidate pairs: records and roster persons equal on every key.

    Attributes:
        name: shown in diagnostics and in each pair's explanation.
        keys: blocking keys (`BLOCKING_KEYS`), all of which must be non-null on both sides.
        include_valid_ids: also apply the rule to records whose valid ID is not in the roster
            (their pairs are scored, so a namesake is seen and refused; rule b still holds).
    """

    name: str
    keys: tuple[str, ...]
    include_valid_ids: bool = False


DEFAULT_BLOCKING_RULES: tuple[BlockingRule, ...] = (
    # complete for one edit: a substitution, transposition, insertion or deletion leaves the
    # first 12 characters (region + birth year and month) or the last 5 intact. With the
    # surname's reading: a 12-digit head alone is shared by hundreds of roster persons in a
    # county of 100,000 (pairs grow with the square of the roster); a repair needs the name
    # to agree anyway, and a surname typo is still met by dob_county.
    BlockingRule("id_head12_surname", ("id_head12", "surname")),
    BlockingRule("id_tail5_surname", ("id_tail5", "surname")),
    BlockingRule("id_prefix15", ("id_prefix15",)),
    BlockingRule("name_dob", ("name", "birth_date"), include_valid_ids=True),
    BlockingRule("pinyin_dob_prefecture", ("pinyin", "birth_date", "prefecture")),
    BlockingRule("dob_county", ("birth_date", "county")),
    BlockingRule("name_county", ("name", "county")),
)


@dataclass
class MatchSettings:
    """How records are linked to the roster. Every field is data; `to_json` / `from_json` round-trip.

    Attributes:
        link_threshold: a record links automatically when its best candidate's posterior match
            probability (normalised over its candidates and "nobody") is at least this.
        review_threshold: at least this (and below `link_threshold`) sends the record to the
            review queue; below it the record stays unlinked.
        blocking_rules: named rules proposing candidate pairs for every record that is not a
            clean exact-ID match.
        name_fuzzy_min: rapidfuzz ratio (0..1) on dot-less name keys for the ``fuzzy`` level.
        review_levels: ``comparison:level`` pairs that hold a would-be automatic link for review
            (a contradiction an officer should see, however strong the rest); ``region:*``
            only for links the ID does not support (name + birth date links).
        reexamine_valid_000: an ID that passes its check but ends in ``000`` and is not in the
            roster is what Excel truncation gives 1 time in 11; True compares it by its first 15
            digits (``prefix15``), False treats it as another person's valid ID.
        region_recodes: old county code -> current code (``legacy_recode`` level, blocking).
        priors: prior m / u per comparison level (see `_default_priors`); merged over defaults.
        prior_strength: how many pseudo-pairs the prior m counts for in EM (small: the data rule).
        m_floor: the smallest m kept after EM (a level never seen among matches is rare, not
            impossible).
        em_max_iterations, em_tolerance: EM stops at this many rounds or when no m moves more.
        u_sample_pairs: random record x roster pairs used to estimate u.
        u_prior_pairs: pseudo-pairs of the prior u (levels random pairs never show keep it).
        seed: random sampling seed (same data, same model).
        model: a fitted model (`links.model.model` JSON of an earlier quarter) used as is instead
            of estimating one; None estimates one per quarter.
    """

    link_threshold: float = 0.99
    review_threshold: float = 0.3
    blocking_rules: tuple[BlockingRule, ...] = DEFAULT_BLOCKING_RULES
    name_fuzzy_min: float = 0.85
    review_levels: tuple[str, ...] = (
        "sex:different", "birth_date:else", "birth_date:one_digit",
        "birth_date:month_day_swapped", "region:prefecture", "region:else",
        "id:damaged_different")
    reexamine_valid_000: bool = True
    region_recodes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_REGION_RECODES))
    priors: dict[str, dict[str, dict[str, float]]] = field(default_factory=_default_priors)
    prior_strength: float = 20.0
    m_floor: float = 1e-4
    em_max_iterations: int = 100
    em_tolerance: float = 1e-6
    u_sample_pairs: int = 50_000
    u_prior_pairs: float = 1000.0
    seed: int = 20260930
    model: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.blocking_rules = tuple(
            r if isinstance(r, BlockingRule) else BlockingRule(
                r["name"], tuple(r["keys"]), bool(r.get("include_valid_ids", False)))
            for r in self.blocking_rules)
        for r in self.blocking_rules:
            unknown = set(r.keys) - set(BLOCKING_KEYS)
            if unknown or not r.keys:
                raise ConfigError(f"分块规则 {r.name} 的键无效：{sorted(unknown) or '空'}")
        self.review_levels = tuple(self.review_levels)
        for item in self.review_levels:
            comparison, _, level = item.partition(":")
            if level not in LEVELS.get(comparison, ()):
                raise ConfigError(f"review_levels 中的比对级别无效：{item}")
        names = [r.name for r in self.blocking_rules]
        if len(set(names)) != len(names):
            raise ConfigError(f"分块规则重名：{names}")
        if not 0 < self.review_threshold <= self.link_threshold <= 1:
            raise ConfigError("阈值须满足 0 < review_threshold <= link_threshold <= 1："
                              f"{self.review_threshold}, {self.link_threshold}")
        if not 0 < self.name_fuzzy_min <= 1:
            raise ConfigError(f"name_fuzzy_min 必须在 (0, 1] 之间：{self.name_fuzzy_min}")
        for old, new in self.region_recodes.items():
            if not (str(old).isdigit() and str(new).isdigit() and len(old) == len(new) == 6):
                raise ConfigError(f"区划代码对照须为 6 位数字：{old} -> {new}")
        defaults = _default_priors()
        for comparison, levels in self.priors.items():
            if comparison not in LEVELS:
                raise ConfigError(f"未知的比对项：{comparison}")
            unknown = set(levels) - set(LEVELS[comparison]) - NEUTRAL
            if unknown:
                raise ConfigError(f"{comparison} 没有这些比对级别：{sorted(unknown)}")
        self.priors = {c: {lv: {**p, **self.priors.get(c, {}).get(lv, {})}
                           for lv, p in levels.items()} for c, levels in defaults.items()}
        if self.u_sample_pairs < 1000:
            raise ConfigError(f"u_sample_pairs 太小：{self.u_sample_pairs}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        d = asdict(self)
        d["blocking_rules"] = [{"name": r.name, "keys": list(r.keys),
                                "include_valid_ids": r.include_valid_ids}
                               for r in self.blocking_rules]
        return d

    def to_json(self) -> str:
        """Stable JSON (sorted keys) for links.model and meta.runs."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | dict[str, Any]) -> MatchSettings:
        """Inverse of `to_json`; unknown keys are a ConfigError (a typo must not be ignored)."""
        data = json.loads(text) if isinstance(text, str) else dict(text)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"未知的匹配参数：{sorted(unknown)}")
        return cls(**data)
