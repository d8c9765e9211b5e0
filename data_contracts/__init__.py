"""safetynet: data_contracts."""
