"""safetynet: safetynet."""
