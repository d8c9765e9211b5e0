"""safetynet: sample_data."""
