"""safetynet: referrals."""
