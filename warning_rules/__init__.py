"""safetynet: warning_rules."""
