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

Lanes start longest first (most unfinished operations; ties in plan order): a lane's writes are
serial, so a long lane started late would end the run as a trickle of one request per round
trip. This module schedules lanes and stops them; :mod:`bulkops.run.lane` runs one, and
:func:`~bulkops.run.decide.decide` (a pure function with a table test) says what to do after a
failed attempt. The engine reports facts (a :class:`RunResult`): which exit code they mean is
the CLI's business, and recording the run is the runner's.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..errors import CheckpointWriteError
from ..state.checkpoint import Checkpoint
from .breaker import Breaker
from .lane import LaneRunner
from .ports import Api, Pacer
from .retry import RetryPolicy
from .stats import RunResult, RunStats, StopReason, process_started_at

__all__ = ["Api", "Engine", "EngineOptions", "Pacer"]

log = logging.getLogger(__name__)

_FIRST_LATENCY_GUESS = 0.25  # seconds per request, until the lanes have measured some
_HEADROOM = 3.0  # lanes in flight per lane that the rate and latency keep busy


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """How one run behaves: its concurrency, reads, retries, stops and breaker."""

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


def _collect(
    task: asyncio.Task[None], tasks: set[asyncio.Task[None]], errors: list[BaseException]
) -> None:
    """Done-callback of a lane: forget the task, keep an unexpected error for run() to raise."""
    tasks.discard(task)
    if not task.cancelled() and (exc := task.exception()) is not None:
        errors.append(exc)


class Engine:
    """Applies a checkpoint's open operations: one lane per extension, many lanes at once, and a
    stop (signal, max runtime, daily or too long a rate limit, refused credentials, breaker)
    that drains them."""

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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.cp = checkpoint
        self.api = api
        self.pacer = pacer
        self.opts = options or EngineOptions()
        self.clock = clock
        self.wall = wall
        self.rng = rng or random.Random()
        self.sleep = sleep  # every wait between attempts; a test's may move a fake clock
        self.stats = RunStats(process_started_at=process_started_at(), pid=os.getpid())
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
        self._lanes: LaneRunner | None = None
        self.stop_reason: StopReason | None = None
        self.stop_detail: str | None = None
        self.resume_at: datetime | None = None

    # -- control -------------------------------------------------------------------------

    def request_stop(
        self, reason: StopReason, detail: str | None = None, *, resume_at: datetime | None = None
    ) -> None:
        """Stop taking work; lanes finish the request they are in. Safe to call repeatedly.

        The first reason is the run's; the latest ``resume_at`` given (a daily limit's reset,
        the end of a rate-limit wait) is kept, since it says when any resume can succeed."""
        if resume_at is not None and (self.resume_at is None or resume_at > self.resume_at):
            self.resume_at = resume_at
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
        # Wired now, not in __init__: a hook may swap the engine's parts (e.g. rng) before this.
        self._lanes = LaneRunner(
            self,
            self.cp,
            self.api,
            self.pacer,
            self.stats,
            self.breaker,
            retry=self.opts.retry,
            precheck=self.opts.precheck,
            dry_run=self.opts.dry_run,
            clock=self.clock,
            wall=self.wall,
            rng=self.rng,
            latency=_FIRST_LATENCY_GUESS,
        )
        tasks: set[asyncio.Task[None]] = set()
        errors: list[BaseException] = []
        try:
            # Longest lanes first: a lane's writes go one at a time, so a long lane started last
            # would end the run as a trickle at one request per round trip.
            for extension_id in self.cp.open_lanes(longest_first=True):
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
            if self.stop_reason is None and (waiting := self.breaker.pending_reason()):
                # Lanes left work for a later run without tripping the breaker: not complete.
                self.request_stop(StopReason.BREAKER, waiting)
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
        # Little's law: lanes in flight = rate × time per request, with headroom. Once the last
        # lane has started, the run ends at the pace of the lanes still open, one request per
        # round trip each: the more lanes share the rate, the less work each has left then, and
        # the shorter the trickle (1.5× headroom left ~0.5 s of it at 40/s; 3× about a third).
        latency = self._lanes.latency if self._lanes is not None else _FIRST_LATENCY_GUESS
        wanted = math.ceil(self.pacer.current_rate * latency * _HEADROOM) + 2
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
            assert self._lanes is not None
            await self._lanes.run(extension_id)
        except asyncio.CancelledError:
            raise
        except CheckpointWriteError as exc:  # a full disk is no bug: the CLI says so, once
            self.request_stop(StopReason.BREAKER, str(exc))
            raise
        except Exception as exc:
            log.exception("internal error on extension %s", extension_id)
            self.request_stop(StopReason.BREAKER, f"internal error: {exc!r}")
            raise
        finally:
            self._active -= 1
            assert self._slot_freed is not None
            self._slot_freed.set()

    async def pause(self, seconds: float) -> None:
        """Sleep (with the engine's ``sleep``), but wake at once when the run is told to stop."""
        assert self._stop is not None
        if seconds <= 0:
            return
        slept = asyncio.ensure_future(self.sleep(seconds))
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({slept, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            slept.cancel()
            stopped.cancel()

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
