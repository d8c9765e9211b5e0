"""safetynet: sample_data.

Seeded generator of consecutive quarters of department extracts with ground truth, and the
source configs (``sources/*.yaml``) that describe those files. Entry point:
``safetynet.sample_data.generate.generate`` or ``python -m safetynet.sample_data``.
"""
