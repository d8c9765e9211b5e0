"""Measuring helpers shared by the benchmarks: wall and CPU time per stage, peak RSS per stage.

CPU time is the whole process (DuckDB's threads included): on a shared machine the wall time
moves with other jobs, the CPU time much less. Peak RSS per stage comes from a sampler thread
reading /proc/self/statm; the whole-run peak is the kernel's ru_maxrss (children included when
asked).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * _PAGE


def peak_rss_gb(children: bool = False) -> float:
    """Peak RSS of this process (or of its finished children) in GB (ru_maxrss is KiB)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss * 1024 / 1e9


@dataclass
class StageFigure:
    """One stage: wall and CPU seconds, its peak RSS and rows handled."""

    stage: str
    seconds: float
    cpu_seconds: float
    peak_rss_gb: float
    rows: int | None = None

    @property
    def rows_per_second(self) -> float | None:
        return round(self.rows / self.seconds) if self.rows and self.seconds else None


@dataclass
class StageClock:
    """Marks stage boundaries; `mark(label)` closes the running stage and opens the next.

    Example:
        >>> clock = StageClock()
        >>> clock.mark("extract"); ...; clock.mark("link"); ...; figures = clock.stop()
    """

    interval_s: float = 0.05
    figures: list[StageFigure] = field(default_factory=list)
    _label: str | None = None
    _t: float = 0.0
    _cpu: float = 0.0
    _peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._peak = max(self._peak, rss_bytes())

    def mark(self, label: str | None) -> None:
        """Close the current stage (if any) and start `label` (None: start nothing)."""
        now, cpu = time.perf_counter(), time.process_time()
        if self._thread is None:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        if self._label is not None:
            self._peak = max(self._peak, rss_bytes())
            self.figures.append(StageFigure(self._label, round(now - self._t, 2),
                                            round(cpu - self._cpu, 2),
                                            round(self._peak / 1e9, 2)))
        self._label, self._t, self._cpu, self._peak = label, now, cpu, rss_bytes()

    def stop(self) -> list[StageFigure]:
        """Close the last stage and stop sampling."""
        self.mark(None)
        self._stop.set()
        return self.figures


def figures_dict(figures: list[StageFigure]) -> list[dict[str, Any]]:
    """Stage figures as JSON-ready dicts (rows per second included)."""
    return [{**asdict(f), "rows_per_second": f.rows_per_second} for f in figures]


def print_figures(figures: list[StageFigure]) -> None:
    """A table of the stage figures on stdout."""
    print(f"  {'stage':<22}{'wall s':>9}{'cpu s':>9}{'peak GB':>9}{'rows':>12}{'rows/s':>11}")
    for f in figures:
        rps = f"{f.rows_per_second:,}" if f.rows_per_second else ""
        rows = f"{f.rows:,}" if f.rows else ""
        print(f"  {f.stage:<22}{f.seconds:>9.2f}{f.cpu_seconds:>9.2f}{f.peak_rss_gb:>9.2f}"
              f"{rows:>12}{rps:>11}")
