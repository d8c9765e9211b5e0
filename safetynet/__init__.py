"""safetynet: the quarterly cross-department comparison behind a low-income population database.

A warning is a lead for a person to verify, never a decision.

    from safetynet import RunSettings, run_quarter
    summary = run_quarter(RunSettings(as_of="2026-09-30", sources_dir="sample_data/sources",
                                      data_dir="var/sample/2026-09-30"))
"""

from __future__ import annotations

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
# Telemetry off and Prefect's home inside the checkout, before prefect or GX is ever imported.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_HOME", str(_ROOT / "var" / "prefect"))

__all__ = ["RunSettings", "run_quarter", "run_summary", "connect"]


def __getattr__(name: str):  # lazy: keep `import safetynet` cheap
    if name == "RunSettings":
        from safetynet.settings import RunSettings

        return RunSettings
    if name in ("run_quarter", "run_summary"):
        from safetynet import pipeline

        return getattr(pipeline, name)
    if name == "connect":
        from safetynet.warehouse import connect

        return connect
    raise AttributeError(name)
