"""What the simulator saw: one entry per request, and running counts that survive trimming."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class JournalEntry:
    t: float  # the simulator's monotonic clock
    wall: float  # seconds since the epoch
    method: str
    path: str
    query: str
    status: int | None  # None: the connection was dropped without an answer
    applied: bool  # the request changed the state
    fault: str | None
    tracking_id: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Journal:
    """Entries in arrival order of their answers; ``limit`` keeps only the newest N."""

    def __init__(self, limit: int | None = None) -> None:
        self.entries: deque[JournalEntry] = deque(maxlen=limit)
        self.total = 0
        self.applied = 0
        self.by_status: Counter[str] = Counter()
        self.by_fault: Counter[str] = Counter()

    def append(self, entry: JournalEntry) -> None:
        self.entries.append(entry)
        self.total += 1
        self.applied += entry.applied
        self.by_status["dropped" if entry.status is None else str(entry.status)] += 1
        if entry.fault is not None:
            self.by_fault[entry.fault] += 1

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Any:
        return iter(self.entries)

    def stats(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "applied": self.applied,
            "by_status": dict(sorted(self.by_status.items())),
            "rate_limited": self.by_status.get("429", 0),
            "faults": dict(sorted(self.by_fault.items())),
        }
