"""safetynet: matching."""
