"""When to try again: the retry budgets and backoff (Zoom's ``Retry-After`` is read by
:func:`bulkops.zoom.answers.parse_retry_after`).

The client never retries (except one token refresh); :func:`bulkops.run.decide.decide` asks
:class:`RetryPolicy` whether another attempt is allowed and how long to wait before it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a request is retried: the budgets :func:`~.decide.decide`
    spends.

    ``attempt`` counts from 1 (the first request). ``backoff`` is AWS-style "full jitter":
    a uniform draw from ``[0, min(max_delay, base_delay * 2 ** (attempt - 1))]``. A server's
    ``Retry-After`` wins over the backoff, waited for up to ``max_retry_after``; one naming a
    moment already past says nothing about how long to wait, so the backoff applies.

    Two budgets, because they mean different things: ``max_attempts`` counts failures (5xx,
    timeouts, dropped connections, answers not understood), ``max_rate_limited`` counts 429s,
    which are refusals that changed nothing and only say "slower", so a request may absorb many
    more of them.

    ``max_stall`` bounds the waiting on Zoom's rate limit for the whole run: a ``Retry-After``
    longer than it, or a wait that would take the run past ``max_stall`` seconds of nothing but
    429s since its last successful request, stops the run resumably (exit 75) with the moment
    to come back, instead of waiting for hours. A daily quota is not waited for at all.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 300.0  # as long as max_stall: a Retry-After waited is waited in full
    max_rate_limited: int = 50
    max_stall: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if not 0 <= self.base_delay <= self.max_delay:
            raise ValueError("need 0 <= base_delay <= max_delay")
        if self.max_retry_after < 0:
            raise ValueError("max_retry_after must not be negative")
        if self.max_rate_limited < 0:
            raise ValueError(f"max_rate_limited must not be negative, not {self.max_rate_limited}")
        if self.max_stall < 0:
            raise ValueError(f"max_stall must not be negative, not {self.max_stall}")

    def can_retry(self, attempt: int) -> bool:
        """Whether another attempt may follow attempt number ``attempt``."""
        return attempt < self.max_attempts

    def can_retry_rate_limited(self, rate_limited: int) -> bool:
        """Whether a request refused ``rate_limited`` times with a 429 may be sent again."""
        return rate_limited <= self.max_rate_limited

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter delay after failed attempt number ``attempt`` (1-based)."""
        exponent = min(max(attempt - 1, 0), 62)  # 2**62 * base overflows nothing; caps first
        ceiling = min(self.max_delay, self.base_delay * float(2**exponent))
        return rng.uniform(0.0, ceiling)

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """The wait before the next attempt: ``Retry-After`` (capped) if given, else backoff."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return self.backoff(attempt, rng)
