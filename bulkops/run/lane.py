"""One lane: one extension's operations, one at a time in plan order.

A lane reads the extension first when it must (to resolve ids by name, to find what is already
in place, to settle an attempt whose answer was lost), then sends each operation and records its
outcome. When an attempt fails it asks :func:`~bulkops.run.decide.decide` what to do and carries
the decision out: wait and send again, read and reconcile, record success or failure, leave the
rest for a later run (Zoom out of reach), or stop the run. The engine runs many lanes side by
side; everything a lane shares with the others (the checkpoint, the client, the limiter, the
counters, the breaker) it is handed.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime

from ..errors import ApiError, RateLimitedError
from ..model import Action, OpStatus, Outcome
from ..state.checkpoint import Checkpoint
from ..state.schema import OpRecord
from ..zoom import routes as rq
from ..zoom.view import ExtensionView
from .bookkeeping import Bookkeeper
from .breaker import Breaker, failure_kind
from .decide import (
    Decision,
    Defer,
    ExtensionGone,
    Fail,
    History,
    Reconcile,
    Retry,
    Stop,
    TookEffect,
    decide,
)
from .ports import Api, Pacer, RunControl
from .retry import RetryPolicy
from .stats import RunStats, StopReason

log = logging.getLogger(__name__)

#: The stand-in id a dry run gives what an add would create (``dry-run-<seq>``).
DRY_RUN_ID = "dry-run-"


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


class _Lane:
    """One extension's operations and what the engine knows of it while it runs them."""

    __slots__ = ("closed", "extension_id", "missing", "ops", "view")

    def __init__(self, extension_id: str, ops: list[OpRecord]) -> None:
        self.extension_id = extension_id
        self.ops = ops
        self.view: ExtensionView | None = None
        self.missing: str | None = None  # Zoom said the extension does not exist
        # Nothing more is sent to it in this run: every remaining operation has its outcome,
        # or waits for a later run behind one Zoom could not be reached for.
        self.closed = False


class LaneRunner:
    """Runs lanes for one run of the engine; what they count goes to its ``book``
    (``bookkeeping.Bookkeeper``), whose ``latency`` the engine sizes its concurrency by."""

    def __init__(
        self,
        control: RunControl,
        checkpoint: Checkpoint,
        api: Api,
        pacer: Pacer,
        stats: RunStats,
        breaker: Breaker,
        *,
        retry: RetryPolicy,
        precheck: bool,
        dry_run: bool,
        clock: Callable[[], float],
        wall: Callable[[], float],
        rng: random.Random,
        latency: float,  # seconds per request to assume until some are measured
    ) -> None:
        self.control = control
        self.cp = checkpoint
        self.api = api
        self.pacer = pacer
        self.stats = stats
        self.breaker = breaker
        self.retry = retry
        self.precheck = precheck
        self.dry_run = dry_run
        self.clock = clock
        self.wall = wall
        self.rng = rng
        self.book = Bookkeeper(
            control, checkpoint, pacer, stats, breaker, clock=clock, wall=wall, latency=latency
        )

    @property
    def latency(self) -> float:
        return self.book.latency

    @property
    def stopping(self) -> bool:
        return self.control.stopping

    async def run(self, extension_id: str) -> None:
        """Carry out the unfinished operations of ``extension_id``, in plan order."""
        lane = _Lane(extension_id, [lo for lo in self.cp.lane(extension_id) if not lo.status.final])
        if not lane.ops:
            return
        if self._needs_view(lane) and not await self._read(lane, first=True):
            return
        for lo in lane.ops:
            if self.stopping or lane.closed:
                return
            if lane.missing is not None:
                await self.book.finish(
                    lo,
                    Outcome(OpStatus.SKIPPED, message=f"skipped: {lane.missing}"),
                    count_breaker=False,
                )
                continue
            await self._run_op(lane, lo)

    def _needs_view(self, lane: _Lane) -> bool:
        if self.precheck or self.dry_run:
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
                # Never "empty" on a guess: the view decides what is written.
                view = ExtensionView.parse(resp.json, resp.status, resp.tracking_id)
            except ApiError as exc:
                self.book.note_failure(exc, None, "GET", started)
                history = history.after(exc, "GET")
                decision = self._decide(exc, "GET", history)
                match decision:
                    case Retry():
                        if await self._wait(decision):
                            continue
                    case Stop():
                        self._stop_for(decision)
                    case Fail(message=message) | ExtensionGone(message=message):
                        await self._fail_lane(lane, exc, message, seq)
                    case Defer(message=message):
                        # An unsettled write stays in_flight: the next run reads before resending.
                        self._defer(lane, exc, message)
                    case Reconcile() | TookEffect():  # decide() answers these to writes only
                        raise AssertionError(f"{decision} after a read") from exc
                return False
            self.book.note_request(
                "lookup" if first else "reconcile", seq, "GET", resp.status, started, resp.latency
            )
            self.stats.lookups += 1
            self.book.succeeded()
            lane.view = view
            if first:
                await self.cp.record_snapshot(lane.extension_id, resp.json)
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
            await self.book.finish(lo, outcome, count_breaker=first, error=exc)
            first = False
        lane.closed = True

    async def _run_op(self, lane: _Lane, lo: OpRecord) -> None:
        op = lo.op
        res = rq.resolve(op, lane.view)
        # Sent before (by a run that died, or stopped after an ambiguous answer): an item found
        # in place or gone is this job's doing, so it is `succeeded` (and undo reverses it).
        resumed = lo.status is OpStatus.IN_FLIGHT or lo.attempts > 0
        if resumed:
            self.stats.reconciliations += 1
        if res.problem is not None:
            await self.book.finish(lo, Outcome(OpStatus.FAILED, message=res.problem))
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
            await self.book.finish(lo, outcome)
            return
        request = rq.build(op, res)
        if self.dry_run:
            await self._would_send(lane, lo, res, request)
            return
        await self._send(lane, lo, res, request)

    async def _would_send(
        self, lane: _Lane, lo: OpRecord, res: rq.Resolution, request: rq.Request
    ) -> None:
        """A dry run: record the write as it would go, and plan the lane's later operations
        against the extension as it would then be (an update of a holiday this job adds finds
        it), with a stand-in id for what an add would create."""
        op = lo.op
        created = f"{DRY_RUN_ID}{op.seq}" if op.action is Action.ADD else None
        if lane.view is not None:
            rq.apply_to_view(lane.view, op, res, created)
        message = f"dry run: would {request.method} {request.setting_type}"
        target = created or res.forwarding_id or res.holiday_id
        await self.book.finish(
            lo, Outcome(OpStatus.WOULD_CHANGE, message=message, target_id=target)
        )

    async def _send(
        self, lane: _Lane, lo: OpRecord, res: rq.Resolution, request: rq.Request
    ) -> None:
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
                self.book.note_failure(exc, op.seq, request.method, started)
                history = history.after(exc, request.method)
                decision = self._decide(exc, request.method, history)
                if await self._carry_out(decision, exc, lane, lo, target):
                    continue
                return
            self.book.note_request("ok", op.seq, request.method, resp.status, started, resp.latency)
            self.stats.writes += 1
            self.book.succeeded()
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
            await self.book.finish(lo, outcome)
            return

    async def _carry_out(
        self, decision: Decision, exc: ApiError, lane: _Lane, lo: OpRecord, target: str | None
    ) -> bool:
        """Do what ``decision`` says after ``exc`` answered ``lo``'s write; True: send again."""
        seq = lo.op.seq
        match decision:
            case Retry():
                await self.cp.record_outcome(seq, _pending_after(exc))
                return await self._wait(decision)
            case Reconcile(then=then):
                if isinstance(then, Retry):
                    # Wait first, then read: the read that clears a resend stands right before
                    # it, and a write refused as busy may be this one's lost attempt landing.
                    # Until that read the operation stays in_flight, so a crash still reads.
                    if not await self._wait(then):
                        return False
                    then = Retry(0.0)
                found = await self._reconcile(lane, lo)
                if found is None:  # could not read: the outcome stays unknown (in_flight)
                    return False
                if found.problem is not None:  # a look-alike may be ours: never send twice
                    failed = Outcome(OpStatus.FAILED, message=found.problem, reconciled=True)
                    await self.book.finish(lo, failed)
                    return False
                if not found.present:  # absent: sending again is safe
                    return await self._carry_out(then, exc, lane, lo, target)
                # The fresh read already shows the item: the lane's view is current.
                created = found.forwarding_id or found.holiday_id
                outcome = Outcome(
                    OpStatus.SUCCEEDED, created_id=created, target_id=created, reconciled=True
                )
                await self.book.finish(lo, outcome)
            case TookEffect():
                outcome = Outcome(OpStatus.SUCCEEDED, reconciled=True, target_id=target)
                await self.book.finish(lo, outcome)
            case ExtensionGone(message=message):
                lane.missing = message
                await self.book.finish(lo, _error_outcome(OpStatus.FAILED, exc, message), error=exc)
            case Fail(message=message):
                await self.book.finish(lo, _error_outcome(OpStatus.FAILED, exc, message), error=exc)
            case Stop():
                await self.cp.record_outcome(seq, _pending_after(exc))
                self._stop_for(decision)
            case Defer(message=message):
                await self.cp.record_outcome(seq, _pending_after(exc))
                self._defer(lane, exc, message)
        return False

    def _defer(self, lane: _Lane, exc: ApiError, message: str) -> None:
        """Zoom is out of reach: the lane's open operations wait for a later run, in order."""
        lane.closed = True
        log.info("extension %s left for a later run: %s", lane.extension_id, message)
        if self.breaker.record(True, failure_kind(exc), pending=True):
            self.control.request_stop(StopReason.BREAKER, self.breaker.reason)

    async def _reconcile(self, lane: _Lane, lo: OpRecord) -> rq.Resolution | None:
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
        await self.control.pause(retry.after)
        return not self.stopping

    def _stop_for(self, stop: Stop) -> None:
        resume_at = stop.resume_at
        if resume_at is None and stop.resume_in is not None:
            resume_at = datetime.fromtimestamp(self.wall() + stop.resume_in, UTC)
        self.control.request_stop(stop.reason, stop.detail, resume_at=resume_at)

    def _decide(self, exc: ApiError, method: str, history: History) -> Decision:
        stalled = self.book.stalled()
        return decide(exc, method, history, self.retry, self.rng, stalled=stalled)
