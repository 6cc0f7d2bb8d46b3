"""The engine: apply a checkpointed plan to Zoom, fast, once, and resumably.

Operations are grouped into lanes, one per extension: a lane's writes go one at a time in plan
order (Zoom refuses simultaneous updates to one extension) while lanes run in parallel. The
producer takes a concurrency slot before it starts a lane, so a million-operation job holds a
bounded number of tasks. Every request pays the shared limiter inside the client.

Exactly-once effects rest on three rules:
- the intent of every write is durable before the write is sent;
- a write whose outcome is unknown (timeout, dropped connection, 5xx, a crash) is never re-sent
  blindly when it is a POST: the extension is read and the item matched by its natural key;
- an extension is read before its first write, so a rerun finds what is already in place.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..errors import (
    ApiError,
    AuthError,
    FatalApiError,
    RateLimitedError,
    RetriableApiError,
)
from ..model import Action, OpStatus, Outcome
from ..state.checkpoint import Attempt, Checkpoint, LaneOp
from ..zoom import routes as rq
from ..zoom.view import ExtensionView
from .breaker import Breaker
from .retry import RetryPolicy
from .stats import (
    EXIT_AUTH,
    EXIT_FAILURES,
    EXIT_OK,
    EXIT_RESUMABLE,
    RunResult,
    RunStats,
    StopReason,
)

log = logging.getLogger(__name__)


class ApiResponse(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def json(self) -> Any: ...
    @property
    def tracking_id(self) -> str | None: ...
    @property
    def latency(self) -> float: ...  # seconds, the HTTP exchange alone


class Api(Protocol):
    """What the engine needs from a Zoom client; each call is one attempt that paid the limiter."""

    async def get_settings(self, extension_id: str) -> ApiResponse: ...

    async def send(
        self,
        method: str,
        extension_id: str,
        setting_type: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> ApiResponse: ...


class Pacer(Protocol):
    """The adaptive limiter as the engine steers it (AIMD and pauses)."""

    @property
    def current_rate(self) -> float: ...
    def on_rate_limited(self) -> None: ...
    def on_success(self) -> None: ...
    def pause_for(self, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class EngineOptions:
    concurrency: int | None = None  # None: sized from the rate and the observed latency
    max_concurrency: int = 256
    precheck: bool = True  # read each extension before its first write (idempotent reruns)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_rate_limited: int = 50  # 429s one operation may absorb before it fails
    grace_period: float = 10.0  # seconds in-flight requests get after a stop
    max_runtime: float | None = None
    dry_run: bool = False
    breaker_first_n: int = 20
    breaker_window: int = 100
    breaker_ratio: float = 0.5


def _error_outcome(status: OpStatus, error: ApiError, message: str | None = None) -> Outcome:
    """The outcome of an operation that ends on ``error``; ``message`` replaces Zoom's."""
    return Outcome(
        status,
        http_status=error.status,
        zoom_code=error.code,
        message=message or error.message,
        tracking_id=error.tracking_id,
    )


def _collect(
    task: asyncio.Task[None], tasks: set[asyncio.Task[None]], errors: list[BaseException]
) -> None:
    """Done-callback of a lane: forget the task, keep an unexpected error for run() to raise."""
    tasks.discard(task)
    if not task.cancelled() and (exc := task.exception()) is not None:
        errors.append(exc)


class _Lane:
    """One extension's operations and what the engine knows of it while it runs them."""

    __slots__ = ("extension_id", "missing", "ops", "view")

    def __init__(self, extension_id: str, ops: list[LaneOp]) -> None:
        self.extension_id = extension_id
        self.ops = ops
        self.view: ExtensionView | None = None
        self.missing: str | None = None  # Zoom said the extension does not exist


class Engine:
    def __init__(
        self,
        checkpoint: Checkpoint,
        api: Api,
        pacer: Pacer,
        options: EngineOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.cp = checkpoint
        self.api = api
        self.pacer = pacer
        self.opts = options or EngineOptions()
        self.clock = clock
        self.wall = wall
        self.rng = rng or random.Random()
        self.stats = RunStats()
        self.breaker = Breaker(
            self.opts.breaker_first_n, self.opts.breaker_window, self.opts.breaker_ratio
        )
        self.stats.started = clock()
        counts = checkpoint.counts()
        self.stats.total = sum(counts.values())
        self.stats.already_final = sum(n for s, n in counts.items() if s.final)
        self._stop: asyncio.Event | None = None
        self._slot_freed: asyncio.Event | None = None
        self._active = 0
        self._latency = 0.25  # seconds, an EWMA of request latency, sizes the concurrency
        self.stop_reason: StopReason | None = None
        self.stop_detail: str | None = None
        self.resume_at: datetime | None = None

    # -- control -------------------------------------------------------------------------

    def request_stop(self, reason: StopReason, detail: str | None = None) -> None:
        """Stop taking work; lanes finish the request they are in. Safe to call repeatedly."""
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stop_detail = detail
            log.warning("stopping: %s%s", reason.value, f" ({detail})" if detail else "")
        if self._stop is not None:
            self._stop.set()
        if self._slot_freed is not None:
            self._slot_freed.set()

    @property
    def stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    # -- the run -------------------------------------------------------------------------

    async def run(self) -> RunResult:
        self._stop = asyncio.Event()
        self._slot_freed = asyncio.Event()
        if self.stop_reason is not None:  # asked to stop before the loop started
            self._stop.set()
        self.stats.started = self.clock()
        loop = asyncio.get_running_loop()
        timer = None
        if self.opts.max_runtime is not None:
            timer = loop.call_later(
                self.opts.max_runtime, self.request_stop, StopReason.MAX_RUNTIME, None
            )
        await self.cp.start()
        tasks: set[asyncio.Task[None]] = set()
        errors: list[BaseException] = []
        try:
            for extension_id in self.cp.open_lanes():
                await self._acquire_slot()
                if self.stopping:
                    break
                self._active += 1
                task = asyncio.create_task(self._lane(extension_id))
                tasks.add(task)
                task.add_done_callback(lambda t: _collect(t, tasks, errors))
            await self._drain(tasks)
        finally:
            if timer is not None:
                timer.cancel()
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self.stats.ended = self.clock()
            if self.stop_reason is not None:
                await self.cp.mark_not_run()
            await self.cp.flush()
            result = self._result()
            await self.cp.record_run(
                self.wall() - result.duration, result.exit_code, self.stats.as_dict()
            )
            await self.cp.stop_writer()
        if errors:
            raise errors[0]
        return result

    async def _acquire_slot(self) -> None:
        assert self._slot_freed is not None
        while self._active >= self._target_concurrency() and not self.stopping:
            self._slot_freed.clear()
            await self._slot_freed.wait()

    def _target_concurrency(self) -> int:
        if self.opts.concurrency is not None:
            return self.opts.concurrency
        # Little's law: lanes in flight = rate × time per request, with headroom for lookups.
        wanted = math.ceil(self.pacer.current_rate * self._latency * 1.5) + 2
        return max(2, min(self.opts.max_concurrency, wanted))

    async def _drain(self, tasks: set[asyncio.Task[None]]) -> None:
        """Wait for running lanes; after a stop, give them the grace period, then cancel."""
        assert self._stop is not None
        stop_wait = asyncio.create_task(self._stop.wait())
        try:
            while tasks:
                if self.stopping:
                    _, pending = await asyncio.wait(set(tasks), timeout=self.opts.grace_period)
                    for task in pending:
                        log.warning("cancelling a request still running after the grace period")
                        task.cancel()
                    break
                await asyncio.wait({*tasks, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()

    async def _lane(self, extension_id: str) -> None:
        try:
            await self._run_lane(extension_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("internal error on extension %s", extension_id)
            self.request_stop(StopReason.BREAKER, f"internal error: {exc!r}")
            raise
        finally:
            self._active -= 1
            assert self._slot_freed is not None
            self._slot_freed.set()

    async def _run_lane(self, extension_id: str) -> None:
        lane = _Lane(extension_id, [lo for lo in self.cp.lane(extension_id) if not lo.status.final])
        if not lane.ops:
            return
        if self._needs_view(lane) and not await self._read(lane, first=True):
            return
        for lo in lane.ops:
            if self.stopping:
                return
            if lane.missing is not None:
                await self._finish(
                    lo,
                    Outcome(OpStatus.SKIPPED, message=f"skipped: {lane.missing}"),
                    count_breaker=False,
                )
                continue
            await self._run_op(lane, lo)

    def _needs_view(self, lane: _Lane) -> bool:
        if self.opts.precheck or self.opts.dry_run:
            return True
        return any(
            # An op tried before may have taken effect: only a read can tell.
            lo.op.needs_lookup or lo.op.action is not Action.ADD or lo.attempts > 0
            for lo in lane.ops
        )

    async def _read(self, lane: _Lane, *, first: bool, seq: int | None = None) -> bool:
        """GET the extension into ``lane.view``; False when the lane cannot go on now."""
        tries = 0
        limited = 0
        while not self.stopping:
            started = self.clock()
            try:
                resp = await self.api.get_settings(lane.extension_id)
            except RateLimitedError as exc:
                limited += 1
                if not await self._on_rate_limited(exc, limited):
                    return False
                continue
            except AuthError as exc:
                self.request_stop(StopReason.AUTH, str(exc))
                return False
            except RetriableApiError as exc:
                tries += 1
                self._note_request("lookup", None, "GET", exc.status, started)
                if tries >= self.opts.retry.max_attempts:
                    await self._fail_lane(lane, exc, "could not read the extension's settings", seq)
                    return False
                await self._pause(self.opts.retry.backoff(tries, self.rng))
                continue
            except FatalApiError as exc:
                self._note_request("lookup", None, "GET", exc.status, started)
                await self._fail_lane(lane, exc, None, seq)
                return False
            self._note_request(
                "lookup" if first else "reconcile", seq, "GET", resp.status, started, resp.latency
            )
            self.stats.lookups += 1
            self.pacer.on_success()
            body = resp.json if isinstance(resp.json, dict) else {}
            lane.view = ExtensionView.parse(body)
            if first:
                await self.cp.record_snapshot(lane.extension_id, body)
            return True
        return False

    async def _fail_lane(
        self, lane: _Lane, exc: ApiError, prefix: str | None, seq: int | None
    ) -> None:
        """Fail the lane from operation ``seq`` on (all of it when None): it cannot go on."""
        message = f"{prefix}: {exc.message}" if prefix else exc.message
        first = True
        for lo in lane.ops:
            if seq is not None and lo.op.seq < seq:
                continue  # finished before the read that failed
            status = OpStatus.FAILED if first else OpStatus.SKIPPED
            outcome = _error_outcome(status, exc, message if first else f"skipped: {message}")
            await self._finish(lo, outcome, count_breaker=first, error=exc)
            first = False

    async def _run_op(self, lane: _Lane, lo: LaneOp) -> None:
        op = lo.op
        res = rq.resolve(op, lane.view)
        # Sent before (by a run that died, or stopped after an ambiguous answer): an item found
        # in place or gone is this job's doing, so it is `succeeded` (and undo reverses it).
        resumed = lo.status is OpStatus.IN_FLIGHT or lo.attempts > 0
        if resumed:
            self.stats.reconciliations += 1
        if res.problem is not None:
            await self._finish(lo, Outcome(OpStatus.FAILED, message=res.problem))
            return
        if res.present or res.absent:
            status = OpStatus.ALREADY_PRESENT if res.present else OpStatus.ALREADY_ABSENT
            if resumed:
                status = OpStatus.SUCCEEDED
            created = (res.forwarding_id or res.holiday_id) if res.present else None
            outcome = Outcome(
                status,
                created_id=created if resumed else None,
                target_id=created,
                reconciled=resumed,
            )
            await self._finish(lo, outcome)
            return
        request = rq.build(op, res)
        if self.opts.dry_run:
            message = f"dry run: would {request.method} {request.setting_type}"
            await self._finish(lo, Outcome(OpStatus.SKIPPED, message=message))
            return
        await self._send(lane, lo, res, request)

    async def _send(self, lane: _Lane, lo: LaneOp, res: rq.Resolution, request: rq.Request) -> None:
        op = lo.op
        tries = 0
        limited = 0
        ambiguous = False
        target = res.forwarding_id or res.holiday_id
        while True:
            if self.stopping:
                await self.cp.record_outcome(op.seq, Outcome(OpStatus.PENDING))
                return
            await self.cp.record_intent(op.seq, at=self.wall(), target_id=target)
            started = self.clock()
            try:
                resp = await self.api.send(
                    request.method,
                    request.extension_id,
                    request.setting_type,
                    body=request.body,
                    params=request.params,
                )
            except RateLimitedError as exc:
                # A 429 is a refusal: nothing was applied, the operation is pending again.
                self._note_request("rate_limited", op.seq, request.method, 429, started)
                await self.cp.record_outcome(op.seq, Outcome(OpStatus.PENDING))
                limited += 1
                if limited > self.opts.max_rate_limited:
                    message = "rate limited too often: " + exc.message
                    outcome = _error_outcome(OpStatus.FAILED, exc, message)
                    await self._finish(lo, outcome, error=exc)
                    return
                if not await self._on_rate_limited(exc, limited):
                    return
                continue
            except AuthError as exc:
                self._note_request("error", op.seq, request.method, exc.status, started)
                await self.cp.record_outcome(
                    op.seq, Outcome(OpStatus.PENDING, exc.status, exc.code, exc.message)
                )
                self.request_stop(StopReason.AUTH, exc.message)
                return
            except RetriableApiError as exc:
                tries += 1
                self.stats.retries += 1
                self._note_request("retry", op.seq, request.method, exc.status, started)
                applied_maybe = exc.sent and exc.status != 409
                if applied_maybe and op.action is Action.ADD:
                    found = await self._reconcile(lane, lo)
                    if found is None:  # could not read: the outcome stays unknown (in_flight)
                        return
                    if found.present:
                        # The fresh read already shows the item: the lane's view is current.
                        created = found.forwarding_id or found.holiday_id
                        outcome = Outcome(
                            OpStatus.SUCCEEDED,
                            created_id=created,
                            target_id=created,
                            reconciled=True,
                        )
                        await self._finish(lo, outcome)
                        return
                    ambiguous = True  # read and found absent: sending again is safe
                elif applied_maybe and op.action is Action.DELETE:
                    ambiguous = True
                if tries >= self.opts.retry.max_attempts:
                    message = f"gave up after {tries} attempts: {exc.message}"
                    await self._finish(lo, _error_outcome(OpStatus.FAILED, exc, message), error=exc)
                    return
                await self.cp.record_outcome(
                    op.seq, Outcome(OpStatus.PENDING, exc.status, exc.code, exc.message)
                )
                await self._pause(self.opts.retry.backoff(tries, self.rng))
                continue
            except FatalApiError as exc:
                self._note_request("error", op.seq, request.method, exc.status, started)
                if (
                    op.action is Action.DELETE
                    and exc.status == 404
                    and not exc.message.startswith("Extension does not exist")
                    and (ambiguous or lo.status is OpStatus.IN_FLIGHT or lane.view is not None)
                ):
                    # The first attempt's answer was lost but it did the job. With a view the
                    # item was there when read: the HTTP library itself resends an idempotent
                    # DELETE whose kept-alive connection dropped (aiohttp does), so a 404 here
                    # is that same story, even on what looks like the first attempt.
                    outcome = Outcome(OpStatus.SUCCEEDED, reconciled=True, target_id=target)
                    await self._finish(lo, outcome)
                    return
                if exc.status == 404 and exc.message.startswith("Extension does not exist"):
                    lane.missing = exc.message
                await self._finish(lo, _error_outcome(OpStatus.FAILED, exc), error=exc)
                return
            self._note_request("ok", op.seq, request.method, resp.status, started, resp.latency)
            self.stats.writes += 1
            self.pacer.on_success()
            created = rq.created_id_of(resp.json)
            if lane.view is not None:
                rq.apply_to_view(lane.view, op, res, created)
            outcome = Outcome(
                OpStatus.SUCCEEDED,
                http_status=resp.status,
                created_id=created,
                target_id=created or target,
                tracking_id=resp.tracking_id,
                latency_ms=resp.latency * 1000,
                reconciled=ambiguous,
            )
            await self._finish(lo, outcome)
            return

    async def _reconcile(self, lane: _Lane, lo: LaneOp) -> rq.Resolution | None:
        """After an ambiguous POST: read the extension and look for the item by natural key."""
        self.stats.reconciliations += 1
        if not await self._read(lane, first=False, seq=lo.op.seq):
            return None
        return rq.resolve(lo.op, lane.view)

    async def _on_rate_limited(self, exc: RateLimitedError, limited: int) -> bool:
        """Slow everyone down, wait as told; False when the job must stop (daily limit)."""
        self.stats.rate_limited += 1
        if exc.daily:
            self.resume_at = exc.retry_at
            when = f"; it resets at {exc.retry_at.isoformat()}" if exc.retry_at else ""
            self.request_stop(StopReason.DAILY_LIMIT, f"Zoom's daily limit was reached{when}")
            return False
        self.pacer.on_rate_limited()
        if exc.retry_after is not None:
            delay = min(exc.retry_after, self.opts.retry.max_retry_after)
            self.pacer.pause_for(delay)
        else:
            delay = self.opts.retry.backoff(limited, self.rng)
        await self._pause(delay)
        return not self.stopping

    async def _pause(self, delay: float) -> None:
        """Sleep, but wake at once when the run is told to stop."""
        assert self._stop is not None
        if delay <= 0:
            return
        try:
            async with asyncio.timeout(delay):
                await self._stop.wait()
        except TimeoutError:
            pass

    def _note_request(
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
            self._latency = 0.9 * self._latency + 0.1 * latency
        self.stats.requests += 1
        attempt = Attempt(self.wall(), seq, method, status, kind, latency * 1000)
        self.cp.queue_attempt(attempt)

    async def _finish(
        self,
        lo: LaneOp,
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
        # Failures from Zoom's answers group by status and code; the rest by their message.
        key = (
            f"HTTP {outcome.http_status}, code {outcome.zoom_code}"
            if error
            else (outcome.message or "")
        )
        if count_breaker and self.breaker.record(failed, key):
            self.request_stop(StopReason.BREAKER, self.breaker.reason)

    def _result(self) -> RunResult:
        counts = self.cp.counts()
        duration = (self.stats.ended or self.clock()) - self.stats.started
        if self.stop_reason is StopReason.AUTH:
            code = EXIT_AUTH
        elif self.stop_reason is not None:
            code = EXIT_RESUMABLE
        elif counts.get(OpStatus.FAILED, 0) or counts.get(OpStatus.SKIPPED, 0):
            code = EXIT_FAILURES
        else:
            code = EXIT_OK
        if self.opts.dry_run and code == EXIT_FAILURES and not counts.get(OpStatus.FAILED, 0):
            code = EXIT_OK  # a dry run's "skipped" only means "not sent"
        return RunResult(
            code, self.stop_reason, self.stop_detail, self.resume_at, counts, self.stats, duration
        )
