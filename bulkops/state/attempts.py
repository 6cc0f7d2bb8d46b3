"""What the attempts log holds, counted: the values the state's readers hand the reports.

``attempts`` gets a row per request. summary.json wants its counts by kind, its span and the
latencies' range; report.html its requests per second. ``TALLY`` counts them all in one scan,
grouped by whole second and kind (so it returns at most seconds × kinds rows, however many
requests there were), and ``tally`` sums those groups up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["TALLY", "AttemptSpan", "AttemptTally", "BarCount", "LatencyStats", "tally"]


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """What the percentile pass over the attempts' latencies needs to know before it starts."""

    n: int  # latencies recorded
    top: float  # the largest
    n_positive: int
    positive_range: tuple[float, float] | None  # the lowest and highest positive; None if none


@dataclass(frozen=True, slots=True)
class AttemptSpan:
    first_at: float | None  # wall-clock seconds of the first request logged
    last_at: float | None
    count: int


@dataclass(frozen=True, slots=True)
class BarCount:
    """How many attempts of one ``kind`` fall in one bar of the throughput timeline."""

    bar: int
    kind: str
    count: int


@dataclass(frozen=True, slots=True)
class AttemptTally:
    """What summary.json and report.html count in the attempts log, from one pass over it."""

    kinds: dict[str, int]  # attempts per kind
    span: AttemptSpan
    latency: LatencyStats | None  # None before any latency is recorded
    seconds: tuple[BarCount, ...]  # attempts per whole second (``bar``: epoch second) and kind


# One scan, grouped by second and kind: at most that many rows, whatever the requests. MIN and
# MAX of the groups' MINs and MAXs are the table's; CAST truncates, so the seconds' order is the
# times'.
TALLY = (
    "SELECT CAST(at AS INTEGER) AS second, kind, COUNT(*), MIN(at), MAX(at), COUNT(latency_ms), "
    "MAX(latency_ms), COUNT(CASE WHEN latency_ms > 0 THEN 1 END), "
    "MIN(CASE WHEN latency_ms > 0 THEN latency_ms END) FROM attempts GROUP BY second, kind"
)


def tally(rows: list[tuple[Any, ...]]) -> AttemptTally:
    """The tally of the rows ``TALLY`` selects."""
    kinds: dict[str, int] = {}
    seconds = []
    first: float | None = None
    last: float | None = None
    count = n = n_positive = 0
    top: float | None = None
    lowest: float | None = None
    for second, kind, k, low, high, k_latency, k_top, k_positive, k_lowest in rows:
        kinds[str(kind)] = kinds.get(str(kind), 0) + int(k)
        seconds.append(BarCount(int(second), str(kind), int(k)))
        first = low if first is None else min(first, low)
        last = high if last is None else max(last, high)
        count += int(k)
        n += int(k_latency)
        n_positive += int(k_positive)
        if k_top is not None:
            top = k_top if top is None else max(top, k_top)
        if k_lowest is not None:
            lowest = k_lowest if lowest is None else min(lowest, k_lowest)
    latency = None
    if n and top is not None:
        positives = (lowest, top) if n_positive and lowest is not None else None
        latency = LatencyStats(n, float(top), n_positive, positives)
    by_kind = dict(sorted(kinds.items()))  # as SQLite's GROUP BY kind ordered them
    return AttemptTally(by_kind, AttemptSpan(first, last, count), latency, tuple(seconds))
