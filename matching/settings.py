"""Matching settings as data: one dataclass, saved as JSON beside every run (as Splink's settings)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from safetynet.errors import ConfigError

NAME_LEVELS = ("exact", "nodot", "pinyin", "fuzzy")


def _default_weights() -> dict[str, dict[str, float]]:
    # log2 Bayes factors per comparison level, added to `prior_weight` (Splink's match weights).
    return {
        "id": {"exact": 20.0, "legacy15": 19.0, "one_edit": 12.0, "prefix": 1.0, "near": 1.0,
               "truncation_prefix": 1.0, "unusable": 0.0, "missing": 0.0},
        "name": {"exact": 8.0, "nodot": 7.5, "pinyin": 5.0, "fuzzy": 4.0, "different": -8.0,
                 "null": 0.0},
        "birth_date": {"exact": 6.0, "exact_from_id": 5.0, "one_edit_in_id": 2.0,
                       "different": -8.0, "null": 0.0},
        "county": {"exact": 3.0, "id_region": 2.0, "different": -1.0, "null": 0.0},
        "sex": {"agree": 0.5, "different": -6.0, "null": 0.0},
    }


@dataclass
class MatchSettings:
    """How records are linked to the roster. Every field is data; `to_json` / `from_json` round-trip.

    Attributes:
        name_fuzzy_min: rapidfuzz ratio (0..1) on dot-less name keys for the ``fuzzy`` name level.
        repair_max_edits: edits allowed when repairing a damaged ID (1 = one substitution, one
            adjacent transposition, or one insertion/deletion for 17/19 digits); 0 disables repair.
        repair_name_levels: name levels that count as agreement for ``id_repaired``.
        repair_trust_id_date: when a record has no birth_date column, its birth date is the damaged
            ID's own date part; True lets the single edit fall inside that date part (the other 17
            characters still agree), so a typo in the date digits can be repaired.
        name_dob_region_levels: name levels that count for ``name_dob_region`` (birth date and
            county always have to agree exactly there).
        name_link_max_id_edits: in ``name_dob_region``, a damaged ID more than this many edits
            from the candidate's ID says "another person" and blocks the candidate.
        reexamine_valid_000: an ID whose check character passes but that ends in ``000`` and is
            not in the roster is what Excel truncation gives 1 time in 11 (the check passes by
            chance). True lets such a record link by name + birth date + county when the first
            15 digits also agree with the candidate's ID; False keeps the strict rule "a valid
            ID links only by that ID".
        prior_weight: log2 prior odds of a match, the start of every score.
        weights: log2 Bayes factor per comparison level (``weights[comparison][level]``);
            score = 1 / (1 + 2 ** -(prior_weight + sum of weights)).
    """

    name_fuzzy_min: float = 0.85
    repair_max_edits: int = 1
    repair_name_levels: tuple[str, ...] = ("exact", "nodot", "pinyin", "fuzzy")
    repair_trust_id_date: bool = True
    name_dob_region_levels: tuple[str, ...] = ("exact", "nodot", "pinyin")
    name_link_max_id_edits: int = 2
    reexamine_valid_000: bool = True
    prior_weight: float = -10.0
    weights: dict[str, dict[str, float]] = field(default_factory=_default_weights)

    def __post_init__(self) -> None:
        self.repair_name_levels = tuple(self.repair_name_levels)
        self.name_dob_region_levels = tuple(self.name_dob_region_levels)
        if not 0 < self.name_fuzzy_min <= 1:
            raise ConfigError(f"name_fuzzy_min 必须在 (0, 1] 之间：{self.name_fuzzy_min}")
        if self.repair_max_edits not in (0, 1):
            raise ConfigError(f"repair_max_edits 只支持 0 或 1：{self.repair_max_edits}")
        for levels in (self.repair_name_levels, self.name_dob_region_levels):
            unknown = set(levels) - set(NAME_LEVELS)
            if unknown:
                raise ConfigError(f"未知的姓名比对级别：{sorted(unknown)}")
        defaults = _default_weights()
        for comparison, levels in defaults.items():
            merged = {**levels, **self.weights.get(comparison, {})}
            self.weights[comparison] = {k: float(v) for k, v in merged.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        d = asdict(self)
        d["repair_name_levels"] = list(self.repair_name_levels)
        d["name_dob_region_levels"] = list(self.name_dob_region_levels)
        return d

    def to_json(self) -> str:
        """Stable JSON (sorted keys) for meta.runs.settings."""
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
