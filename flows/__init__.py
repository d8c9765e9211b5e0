"""safetynet: flows."""
