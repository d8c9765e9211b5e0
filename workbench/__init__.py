"""safetynet: the data officers' web workbench."""
