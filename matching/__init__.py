"""safetynet.matching: step 3, link staged department records to roster persons.

    from safetynet.matching import link, MatchSettings
    summary = link(con, date(2025, 3, 31), MatchSettings())

Exact IDs link directly; every other record is scored by a Fellegi–Sunter model fitted on the
quarter's own data (EM) over candidate pairs from named blocking rules, and linked, sent to review
or left unlinked by thresholds. ID and name normalisation (`normalize_id`, `normalize_ids`,
`name_key`, `name_keys`, `pinyin_key`) are comparison helpers: a stored ID or name is never
rewritten.
"""

from .ids import IdInfo, normalize_id, normalize_ids
from .linker import LinkSummary, SourceLinkSummary, link
from .model import FellegiSunterModel
from .names import name_key, name_key_nodot, name_keys, pinyin_key
from .settings import BlockingRule, MatchSettings

__all__ = [
    "BlockingRule", "FellegiSunterModel", "IdInfo", "LinkSummary", "MatchSettings",
    "SourceLinkSummary", "link", "name_key", "name_key_nodot", "name_keys", "normalize_id",
    "normalize_ids", "pinyin_key",
]
