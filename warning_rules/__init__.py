"""safetynet: warning_rules — stage 4, links.* -> warnings.warnings.

One YAML per rule (`rules/`), packs per region (`packs/`), regression cases per rule (`cases/`).
"""

from .engine import EvaluationSummary, RuleOutcome, evaluate
from .packs import RulePack, load_pack
from .rule import Rule, load_rules

__all__ = ["EvaluationSummary", "Rule", "RuleOutcome", "RulePack", "evaluate", "load_pack",
           "load_rules"]
