"""safetynet: referrals (stage 5: warnings.warnings -> referral files per department x county)."""

from .writer import Manifest, ReferralFile, warning_id, write_referrals

__all__ = ["Manifest", "ReferralFile", "warning_id", "write_referrals"]
