"""safetynet: monitoring across quarters (lifecycle, feedback, deadlines, chain, yield, back-test)."""
