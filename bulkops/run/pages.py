"""Whole lists read page by page: each page paid on a limiter of its own and retried as the
engine retries a read (:func:`.decide.decide`: ``Retry-After`` holds everyone, a per-second 429
cuts the rate, failures back off, a refused token or scope stops at once).

Zoom's directory lists (``bulkops.zoom.listing``) are rate label MEDIUM, a budget apart from the
call-handling LIGHT one, so the reader is given its own :class:`.ratelimit.AdaptiveLimiter`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ApiError, AuthError, RetriableApiError
from ..zoom.client import ZoomClient
from ..zoom.listing import ENDPOINTS, ListEndpoint, Page, read_page
from .decide import Stop
from .ratelimit import AdaptiveLimiter
from .reads import GaveUp, RetriedReads
from .retry import RetryPolicy

__all__ = ["ListReader", "PullStats"]


@dataclass(slots=True)
class PullStats:
    """Live counters of the lists read, for a progress display (and the benchmark)."""

    started: float = field(default_factory=time.monotonic)
    pages: int = 0
    items: int = 0
    total: int = 0  # items the lists read so far announced (total_records)
    rate_limited: int = 0
    retries: int = 0


class ListReader:
    """Reads whole lists page by page, every page paid on the MEDIUM limiter and retried as the
    engine retries a read."""

    def __init__(
        self,
        client: ZoomClient,
        limiter: AdaptiveLimiter,
        stats: PullStats,
        *,
        policy: RetryPolicy,
        rng: random.Random,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float],
    ) -> None:
        self.client, self.stats = client, stats
        self.reads = RetriedReads(limiter, stats, policy=policy, rng=rng, sleep=sleep, clock=clock)

    async def read(
        self, name: str, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        endpoint = ENDPOINTS[name]
        items: list[dict[str, Any]] = []
        token, seen = "", set[str]()
        while True:
            page = await self._page(endpoint, token, params or {})
            items += page.items
            self.stats.pages += 1
            self.stats.items += len(page.items)
            if not token and page.total_records is not None:
                self.stats.total += page.total_records
            if not page.next_page_token:
                return items
            if page.next_page_token in seen:  # a loop would never end: say so instead
                raise RetriableApiError(
                    f"Zoom's {name} list sent a page token twice; run the same command again later"
                )
            seen.add(token := page.next_page_token)

    async def _page(self, endpoint: ListEndpoint, token: str, params: Mapping[str, str]) -> Page:
        page = await self.reads.get(lambda: read_page(self.client, endpoint, token, params))
        if isinstance(page, GaveUp):
            raise _gave_up(endpoint, page.error, page.decision) from None
        return page


def _gave_up(endpoint: ListEndpoint, exc: ApiError, decision: object) -> ApiError:
    """The error a pull ends with: an auth refusal as it is (it names the scope), else what
    reading the list ran into, and that running again later is the way on."""
    if isinstance(exc, AuthError):
        return exc
    detail = decision.detail if isinstance(decision, Stop) else exc.message
    message = f"could not read Zoom's {endpoint.items} list ({endpoint.path}): {detail}"
    if isinstance(exc, RetriableApiError):
        return RetriableApiError(
            f"{message}; nothing was written: run the same command again later",
            status=exc.status,
            code=exc.code,
            tracking_id=exc.tracking_id,
        )
    return type(exc)(message, status=exc.status, code=exc.code, tracking_id=exc.tracking_id)
