"""What a lane's attempts and outcomes are counted into, shared by every lane of a run.

Each attempt is counted in the run's stats and queued to the checkpoint's timeline; clean HTTP
latencies feed the EWMA the engine sizes its concurrency by and the limiter's window guard; a
finished operation is recorded and counted, and its failure (or success) goes to the breaker.
It also watches the run as a whole for a stall: the time since the first 429 that followed the
last successful request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..errors import ApiError, RateLimitedError, RetriableApiError
from ..model import OpStatus, Outcome
from ..state.checkpoint import Attempt, Checkpoint
from ..state.schema import OpRecord
from .breaker import Breaker, failure_kind
from .ports import Pacer, RunControl
from .stats import RunStats, StopReason

__all__ = ["Bookkeeper"]

# Under the lane's name, as before the split: log filters and JSON logs key on it.
log = logging.getLogger("bulkops.run.lane")


class Bookkeeper:
    """Counts one run's attempts and outcomes; ``latency`` (an EWMA of clean HTTP latencies, in
    seconds) is what the engine sizes its concurrency by."""

    def __init__(
        self,
        control: RunControl,
        checkpoint: Checkpoint,
        pacer: Pacer,
        stats: RunStats,
        breaker: Breaker,
        *,
        clock: Callable[[], float],
        wall: Callable[[], float],
        latency: float,  # seconds per request to assume until some are measured
    ) -> None:
        self.control = control
        self.cp = checkpoint
        self.pacer = pacer
        self.stats = stats
        self.breaker = breaker
        self.clock = clock
        self.wall = wall
        self.latency = latency
        self._limited_since: float | None = None  # clock of the first 429 since a success

    def stalled(self) -> float:
        """Seconds since the first 429 that followed the last success (0: not rate limited)."""
        since = self._limited_since
        return 0.0 if since is None else max(0.0, self.clock() - since)

    def succeeded(self) -> None:
        """A request was answered 2xx: the run is making progress, whatever 429s came before."""
        self._limited_since = None
        self.pacer.on_success()

    def note_failure(self, exc: ApiError, seq: int | None, method: str, started: float) -> None:
        """Count one failed attempt; a read's failures are lookups, like its successes."""
        if isinstance(exc, RateLimitedError):
            self.stats.rate_limited += 1
            kind = "rate_limited"
            if self._limited_since is None and not exc.daily:
                self._limited_since = self.clock()
        elif method == "GET":
            kind = "lookup"
        elif isinstance(exc, RetriableApiError):
            self.stats.retries += 1  # also when the budget is spent: it was retriable
            kind = "retry"
        else:
            kind = "error"
        self.note_request(kind, seq, method, exc.status, started)

    def note_request(
        self,
        kind: str,
        seq: int | None,
        method: str,
        status: int | None,
        started: float,
        latency: float | None = None,
    ) -> None:
        """Count one attempt. ``latency`` is the HTTP exchange alone when the client measured it;
        otherwise the time since ``started``, which includes the wait for the limiter."""
        if latency is None:
            latency = self.clock() - started
        else:
            # Only clean HTTP latencies size the concurrency: limiter waits would feed back.
            self.latency = 0.9 * self.latency + 0.1 * latency
            self.pacer.observe_latency(latency)  # and the limiter's window guard
        self.stats.requests += 1
        attempt = Attempt(self.wall(), seq, method, status, kind, latency * 1000)
        self.cp.queue_attempt(attempt)

    async def finish(
        self,
        lo: OpRecord,
        outcome: Outcome,
        *,
        error: ApiError | None = None,
        count_breaker: bool = True,
    ) -> None:
        await self.cp.record_outcome(lo.op.seq, outcome)
        status = outcome.status
        self.stats.count(status)
        failed = status is OpStatus.FAILED
        if failed:
            log.info(
                "op %s (row %s, %s) failed: %s",
                lo.op.op_id,
                lo.op.row,
                lo.op.extension_id,
                outcome.message,
            )
        # Failures group by kind (Zoom's status and code, or the transport failure); failures
        # found without a request (an id that cannot be resolved) by their message.
        key = failure_kind(error) if error else (outcome.message or "")
        if count_breaker and self.breaker.record(failed, key):
            self.control.request_stop(StopReason.BREAKER, self.breaker.reason)
