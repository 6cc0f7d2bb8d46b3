"""What a run reports about itself: live counters, stop reasons and the final result, as facts.

Which exit code a result means is the CLI's business (:mod:`bulkops.exit_codes`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..model import OpStatus

_IMPORTED_AT = time.time()


def process_started_at() -> float:
    """When this process started, in epoch seconds, so that Python's start-up, the imports and
    planning count in a run's whole-process time.

    Linux says, to a clock tick (``/proc/self/stat``, on the boot clock); elsewhere this is when
    this module was imported, which misses only the interpreter's own start.
    """
    try:
        stat = Path("/proc/self/stat").read_text(encoding="ascii")
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the name may hold spaces
        ago = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return _IMPORTED_AT
    started = time.time() - ago
    return started if ago >= 0 and started <= _IMPORTED_AT else _IMPORTED_AT


class StopReason(StrEnum):
    SIGNAL = "signal"
    MAX_RUNTIME = "max_runtime"
    DAILY_LIMIT = "daily_limit"
    RATE_LIMITED = "rate_limited"  # a Retry-After too long, or only 429s for too long
    BREAKER = "breaker"
    AUTH = "auth"


@dataclass(slots=True)
class RunStats:
    """Live counters of one run; the progress display reads them, the summary keeps them."""

    total: int = 0
    already_final: int = 0  # finished by earlier runs
    finished: dict[OpStatus, int] = field(default_factory=dict)
    requests: int = 0
    writes: int = 0
    lookups: int = 0
    rate_limited: int = 0
    retries: int = 0
    reconciliations: int = 0
    started: float = 0.0  # monotonic
    ended: float | None = None
    # The process that ran it: whole-process figures count from its start (epoch seconds).
    process_started_at: float | None = None
    pid: int | None = None

    def count(self, status: OpStatus) -> None:
        self.finished[status] = self.finished.get(status, 0) + 1

    @property
    def done(self) -> int:
        return sum(self.finished.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "already_final": self.already_final,
            "finished": {k.value: v for k, v in self.finished.items()},
            "requests": self.requests,
            "writes": self.writes,
            "lookups": self.lookups,
            "rate_limited": self.rate_limited,
            "retries": self.retries,
            "reconciliations": self.reconciliations,
            "process_started_at": self.process_started_at,
            "pid": self.pid,
        }


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a run ended: why it stopped (None when it ran to the end), and where every operation
    of the job stands, including those finished by earlier runs."""

    stop_reason: StopReason | None
    stop_detail: str | None
    resume_at: datetime | None  # when a rate-limit stop may be resumed (a daily reset, …)
    counts: dict[OpStatus, int]
    stats: RunStats
    duration: float  # seconds
    dry_run: bool = False  # then "skipped" means "not sent", not "could not be done"
