"""The Fellegi–Sunter model: m and u per comparison level, estimated without labels.

- u (share of each level among non-matches) comes from random record x roster pairs (Splink's
  ``estimate_u_using_random_sampling``), smoothed towards the prior u.
- m (share among matches) comes from EM sessions with u fixed, as Splink trains: on the pairs
  whose IDs agree exactly (m of name, birth date, sex, region) and on the pairs agreeing on name
  and birth date (m of the ID levels); a session leaves out of its E-step the comparisons that
  define its block. EM sees each distinct pattern once with its count (a few hundred patterns
  for millions of pairs), so it runs in milliseconds.
- The prior (match probability of a random pair) comes from a last EM pass over every candidate
  pair with m and u fixed; pairs outside the candidates count as non-matches.
- The prior m counts for `MatchSettings.prior_strength` pseudo-pairs (it steadies levels the data
  rarely show); levels with ``fixed_m`` keep their prior (``id.different_valid``: EM cannot learn
  that a namesake with another valid ID is another person, since everything else agrees).

Match weight of a pair = log2(prior odds) + sum of log2(m / u) of its levels; neutral levels
(``null``, ``in_id``) weigh 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .settings import LEVELS, NEUTRAL, MatchSettings

MIN_PROBABILITY = 1e-12


def _normalise(values: dict[str, float], fixed: dict[str, float], floor: float) -> dict[str, float]:
    """Free levels scaled to share 1 - sum(fixed), each at least `floor`."""
    free = {k: max(v, floor) for k, v in values.items() if k not in fixed}
    room = max(1.0 - sum(fixed.values()), MIN_PROBABILITY)
    total = sum(free.values()) or 1.0
    out = {k: v * room / total for k, v in free.items()}
    out.update(fixed)
    return {k: out[k] for k in values}


@dataclass
class FellegiSunterModel:
    """m and u per comparison level plus the prior match probability of a random pair.

    Attributes:
        prior: probability that a random (record, roster person) pair is a match.
        m: ``m[comparison][level]``, shares among matches (non-neutral levels sum to 1).
        u: ``u[comparison][level]``, shares among non-matches.
        fixed_m: levels whose m is the prior, not estimated.
        info: how it was fitted (EM rounds, pairs, patterns, random pairs, blocking counts).
    """

    prior: float
    m: dict[str, dict[str, float]]
    u: dict[str, dict[str, float]]
    fixed_m: dict[str, list[str]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def prior_weight(self) -> float:
        """log2 of the prior odds: where every score starts."""
        p = min(max(self.prior, MIN_PROBABILITY), 1 - MIN_PROBABILITY)
        return math.log2(p / (1 - p))

    def weights(self) -> dict[str, dict[str, float]]:
        """log2(m / u) per comparison level; neutral levels 0."""
        out: dict[str, dict[str, float]] = {}
        for comparison, levels in LEVELS.items():
            out[comparison] = {}
            for level in levels:
                if level in NEUTRAL:
                    out[comparison][level] = 0.0
                else:
                    m = max(self.m[comparison][level], MIN_PROBABILITY)
                    u = max(self.u[comparison][level], MIN_PROBABILITY)
                    out[comparison][level] = round(math.log2(m / u), 4)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: prior, prior weight, and m / u / weight per level (links.model.model)."""
        weights = self.weights()
        comparisons = {
            c: {lv: ({"neutral": True, "weight": 0.0} if lv in NEUTRAL else
                     {"m": self.m[c][lv], "u": self.u[c][lv], "weight": weights[c][lv],
                      "fixed_m": lv in self.fixed_m.get(c, [])})
                for lv in levels}
            for c, levels in LEVELS.items()}
        return {"prior": self.prior, "prior_weight": round(self.prior_weight, 4),
                "comparisons": comparisons, "info": self.info}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FellegiSunterModel:
        """Inverse of `to_dict` (a stored model reused for another quarter)."""
        m: dict[str, dict[str, float]] = {}
        u: dict[str, dict[str, float]] = {}
        fixed: dict[str, list[str]] = {}
        for c, levels in LEVELS.items():
            stored = data["comparisons"][c]
            m[c] = {lv: float(stored[lv]["m"]) for lv in levels if lv not in NEUTRAL}
            u[c] = {lv: float(stored[lv]["u"]) for lv in levels if lv not in NEUTRAL}
            fixed[c] = [lv for lv in levels if lv not in NEUTRAL and stored[lv].get("fixed_m")]
        return cls(float(data["prior"]), m, u, fixed, dict(data.get("info", {})))


def estimate_u(level_counts: dict[str, dict[str, int]], settings: MatchSettings
               ) -> dict[str, dict[str, float]]:
    """u per level from the level counts of random pairs, smoothed towards the prior u.

    Args:
        level_counts: ``level_counts[comparison][level]`` over the random pairs.
        settings: priors and `u_prior_pairs` (the prior's weight in pseudo-pairs).
    """
    u: dict[str, dict[str, float]] = {}
    beta = float(settings.u_prior_pairs)
    for c, levels in LEVELS.items():
        priors = settings.priors[c]
        prior_total = sum(priors[lv]["u"] for lv in levels if lv not in NEUTRAL)
        counts = {lv: float(level_counts.get(c, {}).get(lv, 0)) for lv in levels
                  if lv not in NEUTRAL}
        n = sum(counts.values())
        u[c] = {lv: (counts[lv] + beta * priors[lv]["u"] / prior_total) / (n + beta)
                for lv in counts}
    return u


# Training sessions (Splink's recipe): each EM session sees the pairs of one block and
# estimates m for the comparisons that did not define the block; the block's own comparisons
# are left out of its E-step (within the block they agree by construction).
SESSIONS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    # pairs whose IDs agree exactly: m of name, birth date, sex and region (before the in-ID
    # agreement is made neutral; the ID is not part of this session)
    ("exact_id", ("name", "birth_date", "sex", "region"), ("name", "birth_date", "sex", "region")),
    # pairs agreeing on name and birth date: m of the ID levels
    ("name_dob", ("id", "sex", "region"), ("id",)),
)


def _em(patterns: list[tuple[tuple[str, ...], int]], comps: tuple[str, ...],
        estimate: tuple[str, ...], m: dict[str, dict[str, float]],
        u: dict[str, dict[str, float]], settings: MatchSettings,
        fixed: dict[str, dict[str, float]], prior_m: dict[str, dict[str, float]],
        lam: float | None = None, n_space: float | None = None
        ) -> tuple[dict[str, dict[str, float]], float, int, bool]:
    """One EM session over `patterns` (levels aligned with `comps`).

    Returns (m, lambda, rounds, converged). With `n_space` the lambda is the match probability
    of a random pair (pairs outside `patterns` count as non-matches), else of a pair in the block.
    """
    m = {c: dict(v) for c, v in m.items()}
    if not patterns:
        return m, lam or 0.0, 0, True
    index = {c: {lv: i for i, lv in enumerate(LEVELS[c])} for c in comps}
    codes = np.array([[index[c][levels[j]] for j, c in enumerate(comps)]
                      for levels, _ in patterns], dtype=np.int64)
    counts = np.array([n for _, n in patterns], dtype=np.float64)
    space = float(n_space) if n_space else float(counts.sum())
    lam = lam if lam is not None else 0.5 * float(counts.sum()) / space
    neutral = {c: np.array([lv in NEUTRAL for lv in LEVELS[c]]) for c in comps}
    log_u = {c: np.array([0.0 if lv in NEUTRAL else math.log(max(u[c][lv], MIN_PROBABILITY))
                          for lv in LEVELS[c]]) for c in comps}
    alpha = float(settings.prior_strength)
    rounds, converged = 0, False
    for rounds in range(1, settings.em_max_iterations + 1):  # noqa: B007 - reported
        llr = np.zeros(len(counts))
        for j, c in enumerate(comps):
            log_m = np.array([0.0 if lv in NEUTRAL else math.log(max(m[c][lv], MIN_PROBABILITY))
                              for lv in LEVELS[c]])
            llr += log_m[codes[:, j]] - log_u[c][codes[:, j]]
        lam = min(max(lam, MIN_PROBABILITY), 1 - 1e-9)
        logit = math.log(lam / (1 - lam)) + llr
        weight = counts / (1.0 + np.exp(-np.clip(logit, -700, 700)))
        delta = 0.0
        for j, c in enumerate(comps):
            if c not in estimate:
                continue
            per_level = np.bincount(codes[:, j], weights=weight, minlength=len(LEVELS[c]))
            total = float(per_level[~neutral[c]].sum())
            raw = {lv: (float(per_level[i]) + alpha * prior_m[c][lv]) / (total + alpha)
                   for i, lv in enumerate(LEVELS[c]) if lv not in NEUTRAL}
            new = _normalise(raw, fixed[c], settings.m_floor)
            delta = max(delta, max(abs(new[lv] - m[c][lv]) for lv in new))
            m[c] = new
        new_lam = float(weight.sum()) / space
        delta = max(delta, abs(new_lam - lam) / max(lam, MIN_PROBABILITY) * 1e-3)
        lam = new_lam
        if delta < settings.em_tolerance:
            converged = True
            break
    return m, lam, rounds, converged


def fit(sessions: dict[str, list[tuple[tuple[str, ...], int]]],
        patterns: list[tuple[tuple[str, ...], int]], u: dict[str, dict[str, float]],
        n_space: float, settings: MatchSettings) -> FellegiSunterModel:
    """m by EM sessions, then the prior over all candidate pairs, with u fixed.

    Args:
        sessions: per `SESSIONS` name, its block's patterns (levels in the session's order).
        patterns: (id, name, birth_date, sex, region) levels and pair count of every candidate
            pair pattern (for the prior).
        u: from `estimate_u`.
        n_space: number of all (record, roster person) pairs; pairs outside the candidate set
            count as non-matches, so the prior is the match probability of a random pair.
        settings: priors, prior strength, m floor, EM limits.
    """
    comps = tuple(LEVELS)
    fixed = {c: {lv: float(p["m"]) for lv, p in settings.priors[c].items() if p.get("fixed_m")}
             for c in comps}
    prior_m = {c: _normalise({lv: float(settings.priors[c][lv]["m"]) for lv in LEVELS[c]
                              if lv not in NEUTRAL}, fixed[c], 0.0) for c in comps}
    m = {c: dict(prior_m[c]) for c in comps}
    info: dict[str, Any] = {"sessions": {}}
    for name, used, estimate in SESSIONS:
        block = sessions.get(name, [])
        m, lam, rounds, converged = _em(block, used, estimate, m, u, settings, fixed, prior_m)
        info["sessions"][name] = {
            "pairs": int(sum(n for _, n in block)), "patterns": len(block),
            "match_share": round(lam, 6), "em_iterations": rounds, "em_converged": converged}
    # the prior: lambda only (no comparison estimated) over every candidate pair
    _, prior, rounds, converged = _em(patterns, comps, (), m, u, settings, fixed, prior_m,
                                      n_space=n_space)
    prior = min(max(prior, MIN_PROBABILITY), 0.5)
    info.update({"pairs": int(sum(n for _, n in patterns)), "patterns": len(patterns),
                 "prior_iterations": rounds, "prior_converged": converged,
                 "expected_matches": round(prior * n_space, 1), "n_space": n_space})
    return FellegiSunterModel(prior, m, u, {c: sorted(fixed[c]) for c in comps}, info)
