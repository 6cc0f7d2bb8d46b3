"""One GET outside the engine's lanes, sent again until :func:`.decide.decide` says no more.

A directory page (``run.pages``), a sync's read of an extension (``run.sync``) and an export's
read (``bulkops.export``) are retried as the engine retries a read: ``Retry-After`` holds
everyone, a per-second 429 cuts the rate, failures back off within the policy's budget, 429s
that last past ``max_stall`` stop, and a refused token or scope stops at once. What to do when
the answer is no is each caller's: the reader hands back :class:`GaveUp`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ..errors import ApiError, RateLimitedError
from .decide import Decision, History, Retry, decide
from .retry import RetryPolicy

__all__ = ["GaveUp", "Pacing", "RetriedReads", "RetryCounts"]

T = TypeVar("T")


class Pacing(Protocol):
    """What a retried read steers on the limiter it pays."""

    def on_success(self) -> None: ...
    def on_rate_limited(self) -> None: ...
    def pause_for(self, seconds: float) -> None: ...


class RetryCounts(Protocol):
    rate_limited: int
    retries: int


@dataclass(slots=True)
class _Counts:
    rate_limited: int = 0
    retries: int = 0


@dataclass(frozen=True, slots=True)
class GaveUp:
    """The read was not sent again: the last error, what ``decide`` said, and how many of the
    tries failed other than by a 429."""

    error: ApiError
    decision: Decision
    failures: int


class RetriedReads:
    """Sends GETs until they are answered or ``decide`` says to give up; counts into ``counts``."""

    def __init__(
        self,
        pacing: Pacing,
        counts: RetryCounts | None = None,
        *,
        policy: RetryPolicy,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pacing, self.counts, self.policy = pacing, counts or _Counts(), policy
        self.rng, self.sleep, self.clock = rng or random.Random(), sleep, clock
        self._limited_since: float | None = None  # the 429s in a row, shared by every read

    async def get(self, send: Callable[[], Awaitable[T]]) -> T | GaveUp:
        """``send()``'s answer, or :class:`GaveUp`. ``send`` raises ApiError for a bad answer."""
        history = History()
        while True:
            try:
                answer = await send()
            except ApiError as exc:
                history = history.after(exc, "GET")
                if isinstance(exc, RateLimitedError):
                    self.counts.rate_limited += 1
                    if self._limited_since is None:
                        self._limited_since = self.clock()
                since = self._limited_since
                stalled = 0.0 if since is None else max(0.0, self.clock() - since)
                decision = decide(exc, "GET", history, self.policy, self.rng, stalled=stalled)
                if not isinstance(decision, Retry):
                    return GaveUp(exc, decision, history.failures)
                self.counts.retries += 1
                if decision.slow_down:
                    self.pacing.on_rate_limited()
                if decision.hold_everyone:
                    self.pacing.pause_for(decision.after)
                await self.sleep(decision.after)
                continue
            self._limited_since = None
            self.pacing.on_success()
            return answer
