"""The newest request latencies with their lowest and highest: what the limiter's window guard
(:mod:`bulkops.run.ratelimit`) sizes its margin from."""

from __future__ import annotations

import collections

__all__ = ["LATENCIES_KEPT", "LatencyWindow"]

#: The newest latencies the guard sizes itself from (~25 s at 40/s).
LATENCIES_KEPT = 1024


class LatencyWindow:
    """The newest ``size`` latencies (seconds) with their lowest and highest, kept in O(1) per
    value by two monotonic queues (no sort, no scan: the limiter asks on every grant)."""

    __slots__ = ("_count", "_highs", "_lows", "_size")

    def __init__(self, size: int = LATENCIES_KEPT) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, not {size}")
        self._size = size
        self._count = 0  # values ever added; value i leaves when value i + size arrives
        self._lows: collections.deque[tuple[int, float]] = collections.deque()
        self._highs: collections.deque[tuple[int, float]] = collections.deque()

    def add(self, latency: float) -> None:
        i = self._count
        self._count += 1
        lows, highs = self._lows, self._highs
        while lows and lows[-1][1] >= latency:
            lows.pop()
        lows.append((i, latency))
        while highs and highs[-1][1] <= latency:
            highs.pop()
        highs.append((i, latency))
        oldest = self._count - self._size
        if lows[0][0] < oldest:
            lows.popleft()
        if highs[0][0] < oldest:
            highs.popleft()

    def __len__(self) -> int:
        return min(self._count, self._size)

    @property
    def low(self) -> float:
        """The lowest kept latency: a request that arrived with no extra delay (0 when empty)."""
        return self._lows[0][1] if self._lows else 0.0

    @property
    def high(self) -> float:
        """The highest kept latency (0 when empty)."""
        return self._highs[0][1] if self._highs else 0.0
