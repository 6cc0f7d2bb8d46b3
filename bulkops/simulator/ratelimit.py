"""Zoom's account-wide budgets: a strict rolling one-second window per rate label (LIGHT for
call handling, MEDIUM for the directory's lists), plus LIGHT's optional daily cap.

The window admits a request at time ``t`` only if fewer than ``rate`` requests were admitted in
``(t - 1, t]``. Refused requests do not count. The window also remembers the most requests it
ever held at once, which is the most admitted in any one-second span, even with no limit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from .config import RetryAfter

QPS_MESSAGE = "You have reached the maximum per-second rate limit for this API. Try again later."
DAILY_MESSAGE = (
    "You have reached the maximum daily rate limit for this API. "
    "Refer to the response header for details on when you can make another request."
)


class StrictWindow:
    """Admit at most ``rate`` requests in any rolling second (``rate=None``: admit all)."""

    __slots__ = ("_admitted", "_rate", "max_in_window")

    def __init__(self, rate: float | None) -> None:
        self._rate = rate
        self._admitted: deque[float] = deque()
        self.max_in_window = 0

    @property
    def rate(self) -> float | None:
        return self._rate

    @rate.setter
    def rate(self, rate: float | None) -> None:
        self._rate = rate

    def try_admit(self, now: float) -> bool:
        admitted = self._admitted
        horizon = now - 1.0
        while admitted and admitted[0] <= horizon:
            admitted.popleft()
        if self._rate is not None and len(admitted) >= self._rate:
            return False
        admitted.append(now)
        if len(admitted) > self.max_in_window:
            self.max_in_window = len(admitted)
        return True

    def free_at(self) -> float | None:
        """When the oldest request in the window leaves it (the earliest useful retry)."""
        return self._admitted[0] + 1.0 if self._admitted else None


@dataclass(slots=True)
class DailyCounter:
    """Requests admitted per UTC day; ``limit=None`` means no daily cap (Zoom's LIGHT has none)."""

    limit: int | None
    day: str = ""
    used: int = 0

    def try_spend(self, wall: float) -> bool:
        today = datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d")
        if today != self.day:
            self.day, self.used = today, 0
        if self.limit is not None and self.used >= self.limit:
            return False
        self.used += 1
        return True


def next_utc_midnight(wall: float) -> str:
    """The daily quota's reset time as Zoom writes it: ``2026-11-28T00:00:00Z``."""
    now = datetime.fromtimestamp(wall, UTC)
    nxt = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return nxt.strftime("%Y-%m-%dT%H:%M:%SZ")


def qps_headers(
    mode: RetryAfter,
    wait_s: float,
    wall: float,
    limit: float | None,
    no_headers: bool,
    category: str = "Light",
) -> dict[str, str]:
    if no_headers:
        return {}
    headers = {"X-RateLimit-Category": category, "X-RateLimit-Type": "QPS"}
    if limit is not None:
        headers["X-RateLimit-Limit"] = str(int(limit))
        headers["X-RateLimit-Remaining"] = "0"
    if mode is RetryAfter.NONE:
        return headers
    whole = max(1, int(-(-wait_s // 1)))  # ceil, at least one second
    if mode is RetryAfter.SECONDS:
        headers["Retry-After"] = str(whole)
    else:
        at = datetime.fromtimestamp(int(wall) + whole, UTC)
        if mode is RetryAfter.HTTP_DATE:
            headers["Retry-After"] = format_datetime(at, usegmt=True)
        else:
            headers["Retry-After"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return headers


def daily_headers(wall: float, limit: int | None, no_headers: bool) -> dict[str, str]:
    if no_headers:
        return {}
    headers = {
        "X-RateLimit-Category": "Light",
        "X-RateLimit-Type": "Daily-limit",
        "Retry-After": next_utc_midnight(wall),
    }
    if limit is not None:
        headers["X-RateLimit-Limit"] = str(limit)
        headers["X-RateLimit-Remaining"] = "0"
    return headers
