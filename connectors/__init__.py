"""safetynet: connectors."""
