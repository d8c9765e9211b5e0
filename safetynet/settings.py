"""Run settings: everything that decides a quarter's result, saved as JSON with each run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VAR = Path("var")


def quarter_end_before(today: date) -> date:
    """The last day of the quarter that ended most recently before `today`."""
    first_month = 3 * ((today.month - 1) // 3) + 1
    return date(today.year, first_month, 1) - timedelta(days=1)


def quarter_label(as_of: date) -> str:
    """2026-09-30 -> 2026Q3."""
    return f"{as_of.year}Q{(as_of.month - 1) // 3 + 1}"


@dataclass
class RunSettings:
    """One quarterly comparison: what to read, which rules, where to write."""

    as_of: date
    sources_dir: Path
    data_dir: Path
    warehouse: Path = DEFAULT_VAR / "safetynet.duckdb"
    out_dir: Path = DEFAULT_VAR / "out"
    rule_pack: str = "default"
    allowed_roots: list[Path] = field(default_factory=list)
    holidays_dir: Path | None = None
    memory_limit: str | None = None
    threads: int | None = None
    temp_directory: Path | None = None
    match_settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.as_of, str):
            self.as_of = date.fromisoformat(self.as_of)
        for name in ("sources_dir", "data_dir", "warehouse", "out_dir"):
            # "{as_of}" in a path names the quarter's folder, e.g. /data/incoming/{as_of}
            value = str(getattr(self, name)).replace("{as_of}", self.as_of.isoformat())
            setattr(self, name, Path(value))
        self.allowed_roots = [Path(p) for p in self.allowed_roots]
        if self.holidays_dir is not None:
            self.holidays_dir = Path(self.holidays_dir)
        if self.temp_directory is not None:
            self.temp_directory = Path(self.temp_directory)

    @property
    def quarter(self) -> str:
        return quarter_label(self.as_of)

    @property
    def run_out_dir(self) -> Path:
        """Folder of this quarter's outputs: <out_dir>/<as_of>/."""
        return self.out_dir / self.as_of.isoformat()

    def to_json(self) -> str:
        def default(o: Any) -> Any:
            return str(o) if isinstance(o, (Path, date)) else o

        return json.dumps(asdict(self), default=default, ensure_ascii=False, sort_keys=True)
