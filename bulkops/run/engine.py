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

What to do after a failed attempt (retry, reconcile, fail, stop) is decided by
:func:`~bulkops.run.decide.decide`, a pure function with a table test; the engine carries the
decision out. It reports facts (a :class:`RunResult`); which exit code they mean is the CLI's
business, and recording the run is the runner's.
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

from ..errors import ApiError, RateLimitedError, RetriableApiError
from ..model import Action, OpStatus, Outcome
from ..state.checkpoint import Attempt, Checkpoint, LaneOp
from ..zoom import routes as rq
from ..zoom.view import ExtensionView
from .breaker import Breaker
from .decide import (
    Decision,
    ExtensionGone,
    Fail,
    History,
    Reconcile,
    Retry,
    Stop,
    TookEffect,
    decide,
)
from .retry import RetryPolicy
from .stats import RunResult, RunStats, StopReason

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
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # budgets and waits of every retry
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


def _pending_after(exc: ApiError) -> Outcome:
    """Pending again after ``exc``; a 429 is a refusal that changed nothing and says nothing."""
    if isinstance(exc, RateLimitedError):
        return Outcome(OpStatus.PENDING)
    return Outcome(OpStatus.PENDING, exc.status, exc.code, exc.message)


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
        """Run every open lane to its end or to a stop. The checkpoint's writer must be running
        (``await checkpoint.start()``); the caller stops it after recording the run."""
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
        if errors:
            raise errors[0]
        return self.result()

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
        history = History()
        while not self.stopping:
            started = self.clock()
            try:
                resp = await self.api.get_settings(lane.extension_id)
            except ApiError as exc:
                self._note_failure(exc, None, "GET", started)
                history = history.after(exc, "GET")
                decision = decide(exc, "GET", history, self.opts.retry, self.rng)
                match decision:
                    case Retry():
                        if await self._wait(decision):
                            continue
                    case Stop():
                        self._stop_for(decision)
                    case Fail(message=message) | ExtensionGone(message=message):
                        await self._fail_lane(lane, exc, message, seq)
                    case Reconcile() | TookEffect():  # decide() answers these to writes only
                        raise AssertionError(f"{decision} after a read") from exc
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

    async def _fail_lane(self, lane: _Lane, exc: ApiError, message: str, seq: int | None) -> None:
        """Fail the lane from operation ``seq`` on (all of it when None): it cannot go on."""
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
        target = res.forwarding_id or res.holiday_id
        history = History(
            in_flight_before=lo.status is OpStatus.IN_FLIGHT, target_was_read=lane.view is not None
        )
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
            except ApiError as exc:
                self._note_failure(exc, op.seq, request.method, started)
                history = history.after(exc, request.method)
                decision = decide(exc, request.method, history, self.opts.retry, self.rng)
                if await self._carry_out(decision, exc, lane, lo, target):
                    continue
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
                reconciled=history.maybe_applied,
            )
            await self._finish(lo, outcome)
            return

    async def _carry_out(
        self, decision: Decision, exc: ApiError, lane: _Lane, lo: LaneOp, target: str | None
    ) -> bool:
        """Do what ``decision`` says after ``exc`` answered ``lo``'s write; True: send again."""
        seq = lo.op.seq
        match decision:
            case Retry():
                await self.cp.record_outcome(seq, _pending_after(exc))
                return await self._wait(decision)
            case Reconcile(then=then):
                found = await self._reconcile(lane, lo)
                if found is None:  # could not read: the outcome stays unknown (in_flight)
                    return False
                if not found.present:  # absent: sending again is safe
                    return await self._carry_out(then, exc, lane, lo, target)
                # The fresh read already shows the item: the lane's view is current.
                created = found.forwarding_id or found.holiday_id
                outcome = Outcome(
                    OpStatus.SUCCEEDED, created_id=created, target_id=created, reconciled=True
                )
                await self._finish(lo, outcome)
            case TookEffect():
                outcome = Outcome(OpStatus.SUCCEEDED, reconciled=True, target_id=target)
                await self._finish(lo, outcome)
            case ExtensionGone(message=message):
                lane.missing = message
                await self._finish(lo, _error_outcome(OpStatus.FAILED, exc, message), error=exc)
            case Fail(message=message):
                await self._finish(lo, _error_outcome(OpStatus.FAILED, exc, message), error=exc)
            case Stop():
                await self.cp.record_outcome(seq, _pending_after(exc))
                self._stop_for(decision)
        return False

    async def _reconcile(self, lane: _Lane, lo: LaneOp) -> rq.Resolution | None:
        """After an ambiguous POST: read the extension and look for the item by natural key."""
        self.stats.reconciliations += 1
        if not await self._read(lane, first=False, seq=lo.op.seq):
            return None
        return rq.resolve(lo.op, lane.view)

    async def _wait(self, retry: Retry) -> bool:
        """Steer the limiter as told and sleep; False when the run was stopped meanwhile."""
        if retry.slow_down:
            self.pacer.on_rate_limited()
        if retry.hold_everyone:
            self.pacer.pause_for(retry.after)
        await self._pause(retry.after)
        return not self.stopping

    def _stop_for(self, stop: Stop) -> None:
        if stop.resume_at is not None:
            self.resume_at = stop.resume_at
        self.request_stop(stop.reason, stop.detail)

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

    def _note_failure(self, exc: ApiError, seq: int | None, method: str, started: float) -> None:
        """Count one failed attempt; a read's failures are lookups, like its successes."""
        if isinstance(exc, RateLimitedError):
            self.stats.rate_limited += 1
            kind = "rate_limited"
        elif method == "GET":
            kind = "lookup"
        elif isinstance(exc, RetriableApiError):
            self.stats.retries += 1  # also when the budget is spent: it was retriable
            kind = "retry"
        else:
            kind = "error"
        self._note_request(kind, seq, method, exc.status, started)

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

    def result(self) -> RunResult:
        """Where the job stands now and why the run stopped, if it did: facts, no exit code.

        Also meaningful after :meth:`run` raised, so the caller can still record the run."""
        duration = (self.stats.ended or self.clock()) - self.stats.started
        return RunResult(
            self.stop_reason,
            self.stop_detail,
            self.resume_at,
            self.cp.counts(),
            self.stats,
            duration,
            dry_run=self.opts.dry_run,
        )
