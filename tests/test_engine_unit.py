"""The engine alone: a scripted in-memory Zoom, a fake pacer, a fake clock, a real checkpoint.

No sockets and no sleeps: retries wait zero seconds, and the fake Zoom yields to the loop inside
every request so that lanes interleave the way they do against a real server.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from conftest import FakeClock

from bulkops.errors import (
    ApiError,
    AuthError,
    ExtensionNotFoundError,
    FatalApiError,
    RateLimitedError,
    RetriableApiError,
)
from bulkops.jobs.expand import PLAN_COLUMNS
from bulkops.model import Action, Operation, OpStatus, Outcome, SettingType, SubSettingType
from bulkops.run.engine import Engine, EngineOptions
from bulkops.run.retry import RetryPolicy
from bulkops.run.stats import RunResult, StopReason
from bulkops.state.checkpoint import Checkpoint
from bulkops.state.reader import open_readonly

NO_WAIT = RetryPolicy(base_delay=0.0, max_delay=0.0, max_retry_after=0.0)
RESET = datetime(2026, 10, 22, tzinfo=UTC)
WALL = 1_800_000_000.0
GONE = "Extension does not exist: gone"
DAY = {"from": "2027-01-01T00:00:00Z", "to": "2027-01-01T23:59:59Z"}


# -- the fake Zoom ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    json: Any
    tracking_id: str | None = None
    latency: float = 0.01


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted answer: raise ``error``, after applying the request when ``applied``."""

    error: ApiError
    applied: bool = False


def dropped() -> RetriableApiError:
    return RetriableApiError("Zoom closed the connection before answering", sent=True)


def server_error(status: int = 503) -> RetriableApiError:
    return RetriableApiError(f"HTTP {status}", status=status)


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    extension_id: str
    name: str | None  # the holiday a write is about


@dataclass
class FakeZoom:
    """Holidays per extension. ``script[(method, extension)]`` lists the answers to the next
    requests: a fault, or None for a normal answer; past its end, every answer is normal."""

    holidays: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    script: dict[tuple[str, str], list[Fault | None]] = field(default_factory=dict)
    bodies: dict[str, list[Any]] = field(default_factory=dict)  # the next GETs' 200 bodies
    crash: dict[str, Exception] = field(default_factory=dict)  # extension -> raised as is
    calls: list[Call] = field(default_factory=list)
    writing: dict[str, int] = field(default_factory=dict)  # writes in flight per extension
    overlaps: list[str] = field(default_factory=list)  # extensions that saw two at once
    most_in_flight: int = 0
    gate: dict[str, asyncio.Event] = field(default_factory=dict)  # its writes wait for it
    held: list[str] = field(default_factory=list)  # extensions whose write waits at the gate
    _entered: asyncio.Event = field(default_factory=asyncio.Event)
    _in_flight: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def holiday_names(self, extension_id: str) -> list[str]:
        return sorted(h["name"] for h in self.holidays.get(extension_id, {}).values())

    def seed(self, extension_id: str, name: str) -> str:
        holiday_id = f"h{next(self._ids)}"
        self.holidays.setdefault(extension_id, {})[holiday_id] = {"name": name, **DAY}
        return holiday_id

    async def wait_held(self, count: int) -> None:
        """Return once ``count`` writes wait at their gates."""
        while len(self.held) < count:
            self._entered.clear()
            await self._entered.wait()

    def requests(self, method: str | None = None, extension_id: str | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if method in (None, c.method) and extension_id in (None, c.extension_id)
        ]

    async def get_settings(self, extension_id: str) -> Answer:
        return await self._handle("GET", extension_id, None, None)

    async def send(
        self,
        method: str,
        extension_id: str,
        setting_type: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Answer:
        return await self._handle(method, extension_id, body, params)

    async def _handle(
        self,
        method: str,
        extension_id: str,
        body: dict[str, Any] | None,
        params: dict[str, str] | None,
    ) -> Answer:
        settings = (body or {}).get("settings", {})
        self.calls.append(Call(method, extension_id, settings.get("name")))
        if extension_id in self.crash:
            raise self.crash[extension_id]
        write = method != "GET"
        self._in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self._in_flight)
        if write:
            self.writing[extension_id] = self.writing.get(extension_id, 0) + 1
            if self.writing[extension_id] > 1:
                self.overlaps.append(extension_id)
        try:
            await asyncio.sleep(0)  # let other lanes in, as a real round trip would
            if (gate := self.gate.get(extension_id)) is not None and write:
                self.held.append(extension_id)
                self._entered.set()
                await gate.wait()
            faults = self.script.get((method, extension_id), [])
            fault = faults.pop(0) if faults else None
            if fault is not None and not fault.applied:
                raise fault.error
            answer = self._apply(method, extension_id, settings, params or {})
            if fault is not None:
                raise fault.error  # applied, but the answer is lost
            await asyncio.sleep(0)
            return answer
        finally:
            self._in_flight -= 1
            if write:
                self.writing[extension_id] -= 1

    def _apply(
        self, method: str, extension_id: str, settings: dict[str, Any], params: dict[str, str]
    ) -> Answer:
        holidays = self.holidays.setdefault(extension_id, {})
        if method == "GET" and self.bodies.get(extension_id):
            return Answer(200, self.bodies[extension_id].pop(0))
        if method == "GET":
            return Answer(
                200, {"holiday_hours": [_holiday_json(k, v) for k, v in holidays.items()]}
            )
        if method == "POST":
            holiday_id = f"h{next(self._ids)}"
            holidays[holiday_id] = {
                "name": settings["name"],
                "from": settings["from"],
                "to": settings["to"],
            }
            return Answer(201, {"holiday_id": holiday_id})
        if method == "DELETE" and holidays.pop(params["holiday_id"], None) is None:
            raise FatalApiError("Holiday does not exist.", status=404, code=404)
        return Answer(204, None)


def _holiday_json(holiday_id: str, holiday: dict[str, str]) -> dict[str, Any]:
    return {
        "holiday_id": holiday_id,
        "details": [{"sub_setting_type": "holiday", "settings": holiday}],
    }


class FakePacer:
    current_rate = 10.0

    def __init__(self) -> None:
        self.slowed = 0
        self.paused: list[float] = []
        self.latencies: list[float] = []

    def on_rate_limited(self) -> None:
        self.slowed += 1

    def on_success(self) -> None:
        pass

    def observe_latency(self, latency: float) -> None:
        self.latencies.append(latency)

    def pause_for(self, seconds: float) -> None:
        self.paused.append(seconds)


# -- plans and runs ----------------------------------------------------------------------------


def add(extension_id: str, name: str) -> dict[str, Any]:
    return {
        "action": Action.ADD,
        "extension_id": extension_id,
        "setting_type": SettingType.HOLIDAY_HOURS,
        "sub_setting_type": SubSettingType.HOLIDAY,
        "settings": {"name": name, **DAY},
        "holiday_name": name,
        "holiday_from": DAY["from"],
        "holiday_to": DAY["to"],
    }


def delete(extension_id: str, name: str) -> dict[str, Any]:
    return {**add(extension_id, name), "action": Action.DELETE, "settings": {}}


def update(extension_id: str, name: str) -> dict[str, Any]:
    return {**add(extension_id, name), "action": Action.UPDATE, "settings": {"name": name}}


def plan_frame(ops: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for seq, op in enumerate(ops):
        operation = Operation(seq=seq, op_id=f"op{seq}", row=seq + 2, **op)
        row = {f.name: getattr(operation, f.name) for f in fields(Operation)}
        row["settings"] = orjson.dumps(operation.settings).decode()
        rows.append({k: v.value if hasattr(v, "value") else v for k, v in row.items()})
    return pd.DataFrame(rows, columns=list(PLAN_COLUMNS))


@dataclass
class Run:
    zoom: FakeZoom
    pacer: FakePacer
    checkpoint: Checkpoint

    def start(
        self, ops: list[dict[str, Any]], *, clock: FakeClock | None = None, **options: Any
    ) -> Engine:
        """An engine for ``ops`` (a resumed run keeps the plan stored first). With ``clock``,
        waits take no time but move that clock; without, the clock ticks a millisecond a call."""
        options.setdefault("retry", NO_WAIT)
        self.checkpoint.load_plan(plan_frame(ops))
        ticks = itertools.count()
        if clock is None:
            return Engine(
                self.checkpoint,
                self.zoom,
                self.pacer,
                EngineOptions(**options),
                clock=lambda: next(ticks) * 0.001,
                wall=lambda: WALL,
                rng=random.Random(9),
            )
        return Engine(
            self.checkpoint,
            self.zoom,
            self.pacer,
            EngineOptions(**options),
            clock=clock,
            wall=lambda: WALL + clock.now,
            rng=random.Random(9),
            sleep=clock.sleep,
        )

    async def __call__(
        self, ops: list[dict[str, Any]], *, clock: FakeClock | None = None, **options: Any
    ) -> RunResult:
        engine = self.start(ops, clock=clock, **options)
        return await asyncio.wait_for(engine.run(), timeout=10)

    def outcomes(self) -> list[dict[str, Any]]:
        with open_readonly(self.checkpoint.state_dir) as reader:
            return [
                {
                    "seq": r.op.seq,
                    "status": r.status.value,
                    "message": r.outcome.message,
                    "reconciled": int(r.outcome.reconciled),
                    "created_id": r.outcome.created_id,
                    "http_status": r.outcome.http_status,
                }
                for r in reader.records()
            ]

    def statuses(self) -> list[str]:
        return [o["status"] for o in self.outcomes()]


@pytest.fixture
async def run(tmp_path: Path) -> AsyncIterator[Run]:
    checkpoint = Checkpoint.open(tmp_path / "state", job_hash="unit", job_path="job.csv")
    await checkpoint.start()
    try:
        yield Run(FakeZoom(), FakePacer(), checkpoint)
    finally:
        await checkpoint.stop_writer()
        checkpoint.close()


def names(calls: list[Call]) -> list[str | None]:
    return [c.name for c in calls]


# -- lanes -----------------------------------------------------------------------------------


async def test_one_write_at_a_time_per_extension_in_plan_order(run: Run) -> None:
    exts = ["e1", "e2", "e3", "e4"]
    ops = [add(ext, f"Day {i}") for i in range(4) for ext in exts]  # lanes interleave in the plan
    result = await run(ops, concurrency=4)
    assert result.counts == {OpStatus.SUCCEEDED: 16}
    assert run.zoom.overlaps == []
    assert run.zoom.most_in_flight > 1  # the lanes did run side by side
    for ext in exts:
        calls = run.zoom.requests(extension_id=ext)
        assert [c.method for c in calls] == ["GET"] + ["POST"] * 4  # read first, then in order
        assert names(calls[1:]) == ["Day 0", "Day 1", "Day 2", "Day 3"]


async def test_longest_lanes_start_first_and_keep_their_plan_order(run: Run) -> None:
    # Planned first: e1 (one write), then e2 and e4 (three each), e3 (two).
    ops = [add("e1", "A"), add("e2", "A"), add("e3", "A"), add("e4", "A")]
    ops += [add("e2", "B"), add("e3", "B"), add("e4", "B"), add("e2", "C"), add("e4", "C")]
    result = await run(ops, concurrency=1)
    assert result.counts == {OpStatus.SUCCEEDED: 9}
    assert [c.extension_id for c in run.zoom.requests("GET")] == ["e2", "e4", "e3", "e1"]
    for ext, planned in (("e2", ["A", "B", "C"]), ("e3", ["A", "B"]), ("e1", ["A"])):
        assert names(run.zoom.requests("POST", ext)) == planned  # each lane still in plan order


async def test_a_resumed_run_starts_the_lane_with_the_most_left_to_do(run: Run) -> None:
    ops = [add("e1", "A"), add("e1", "B"), add("e1", "C"), add("e2", "A"), add("e2", "B")]
    run.checkpoint.load_plan(plan_frame(ops))
    await run.checkpoint.record_outcome(0, Outcome(OpStatus.SUCCEEDED))
    await run.checkpoint.record_outcome(1, Outcome(OpStatus.SUCCEEDED))
    await run.checkpoint.flush()
    result = await run(ops, concurrency=1)
    assert result.counts == {OpStatus.SUCCEEDED: 5}
    assert [c.extension_id for c in run.zoom.requests("GET")] == ["e2", "e1"]


async def test_every_clean_answer_tells_the_pacer_its_latency(run: Run) -> None:
    run.zoom.script[("POST", "e1")] = [Fault(server_error(500))]
    result = await run([add("e1", "A"), add("e2", "A")], concurrency=2)
    assert result.counts == {OpStatus.SUCCEEDED: 2}
    answered = len(run.zoom.calls) - 1  # the 500 was no clean answer
    assert run.pacer.latencies == [0.01] * answered


# -- ambiguous answers -----------------------------------------------------------------------


async def test_a_post_applied_but_unanswered_is_found_by_a_read_and_never_resent(run: Run) -> None:
    run.zoom.script[("POST", "e1")] = [Fault(dropped(), applied=True)]
    result = await run([add("e1", "Lost"), add("e1", "After")])
    assert result.counts == {OpStatus.SUCCEEDED: 2}
    calls = run.zoom.requests(extension_id="e1")
    assert [(c.method, c.name) for c in calls] == [
        ("GET", None),
        ("POST", "Lost"),
        ("GET", None),  # the reconciling read finds it: not sent again
        ("POST", "After"),
    ]
    assert run.zoom.holiday_names("e1") == ["After", "Lost"]
    lost = run.outcomes()[0]
    assert lost["reconciled"] == 1 and lost["created_id"] in run.zoom.holidays["e1"]
    assert result.stats.reconciliations == 1 and result.stats.retries == 1


@pytest.mark.parametrize(
    "busy",
    [
        pytest.param(server_error(409), id="409"),
        pytest.param(RateLimitedError("busy", retry_after=1.0), id="429"),
    ],
)
async def test_a_busy_refusal_after_a_lost_answer_is_read_for_before_resending(
    run: Run, busy: ApiError
) -> None:
    """The first POST's answer is lost before it lands; the read after it finds nothing; the
    resend is refused as busy while the first one lands (the scripted refusal applies it). A
    third POST would add the holiday twice: the engine reads again and finds it."""
    run.zoom.script[("POST", "e1")] = [Fault(dropped()), Fault(busy, applied=True)]
    result = await run([add("e1", "Late")])
    assert result.counts == {OpStatus.SUCCEEDED: 1}
    calls = run.zoom.requests(extension_id="e1")
    assert [(c.method, c.name) for c in calls] == [
        ("GET", None),
        ("POST", "Late"),  # answer lost, not yet applied
        ("GET", None),  # absent: sending again is safe now
        ("POST", "Late"),  # refused as busy while the first one lands
        ("GET", None),  # read before any resend: it is there
    ]
    assert run.zoom.holiday_names("e1") == ["Late"]
    assert run.outcomes()[0]["reconciled"] == 1


async def test_a_post_that_failed_unapplied_is_read_then_sent_once_more(run: Run) -> None:
    run.zoom.script[("POST", "e1")] = [Fault(server_error(502))]
    result = await run([add("e1", "Retried")])
    assert result.counts == {OpStatus.SUCCEEDED: 1}
    assert [c.method for c in run.zoom.requests(extension_id="e1")] == [
        "GET",
        "POST",
        "GET",
        "POST",
    ]
    assert run.zoom.holiday_names("e1") == ["Retried"]
    assert run.outcomes()[0]["reconciled"] == 1


async def test_a_lost_post_whose_read_shows_only_a_look_alike_is_failed_not_resent(
    run: Run,
) -> None:
    # Without a precheck, the reconciling read is the first: a same-named holiday with other,
    # overlapping times may be this POST stored differently. Sending again could duplicate it.
    run.zoom.holidays["e1"] = {
        "seen": {"name": "lost ", "from": "2027-01-01T08:00:00Z", "to": "2027-01-01T12:00:00Z"}
    }
    run.zoom.script[("POST", "e1")] = [Fault(server_error(502))]
    result = await run([add("e1", "Lost")], precheck=False)
    assert result.counts == {OpStatus.FAILED: 1}
    assert [c.method for c in run.zoom.requests(extension_id="e1")] == ["POST", "GET"]
    failed = run.outcomes()[0]
    assert failed["reconciled"] == 1 and "not added" in failed["message"]
    assert "holiday_id seen" in failed["message"]


async def test_a_post_that_never_left_is_resent_without_a_read(run: Run) -> None:
    refused = RetriableApiError("could not connect to Zoom", sent=False)
    run.zoom.script[("POST", "e1")] = [Fault(refused)]
    result = await run([add("e1", "Again")])
    assert result.counts == {OpStatus.SUCCEEDED: 1}
    assert [c.method for c in run.zoom.requests(extension_id="e1")] == ["GET", "POST", "POST"]
    assert run.outcomes()[0]["reconciled"] == 0


async def test_a_delete_404_after_an_unanswered_attempt_is_success(run: Run) -> None:
    run.zoom.seed("e1", "Old")
    run.zoom.script[("DELETE", "e1")] = [Fault(dropped(), applied=True)]
    result = await run([delete("e1", "Old")])
    assert result.counts == {OpStatus.SUCCEEDED: 1}
    assert [c.method for c in run.zoom.requests(extension_id="e1")] == ["GET", "DELETE", "DELETE"]
    assert run.zoom.holiday_names("e1") == []
    gone = run.outcomes()[0]
    assert gone["reconciled"] == 1 and gone["http_status"] is None


async def test_a_patch_answered_5xx_after_applying_is_simply_sent_again(run: Run) -> None:
    run.zoom.seed("e1", "Kept")
    run.zoom.script[("PATCH", "e1")] = [Fault(server_error(500), applied=True)]
    result = await run([update("e1", "Kept")])
    assert result.counts == {OpStatus.SUCCEEDED: 1}
    assert [c.method for c in run.zoom.requests(extension_id="e1")] == ["GET", "PATCH", "PATCH"]
    assert run.outcomes()[0]["reconciled"] == 0  # idempotent: nothing to reconcile


# -- budgets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("attempts", [1, 3])
async def test_the_retry_budget_is_the_policys(run: Run, attempts: int) -> None:
    run.zoom.seed("e1", "Busy")
    run.zoom.script[("PATCH", "e1")] = [Fault(server_error(503)) for _ in range(5)]
    policy = RetryPolicy(max_attempts=attempts, base_delay=0.0, max_delay=0.0)
    result = await run([update("e1", "Busy")], retry=policy)
    assert result.counts == {OpStatus.FAILED: 1}
    assert len(run.zoom.requests("PATCH")) == attempts
    assert run.outcomes()[0]["message"] == f"gave up after {attempts} attempts: HTTP 503"
    assert result.stats.retries == attempts


async def test_per_second_429s_slow_everyone_down_within_the_policys_budget(run: Run) -> None:
    qps = "You have reached the maximum per-second rate limit for this API."
    run.zoom.script[("POST", "e1")] = [
        Fault(RateLimitedError(qps, retry_after=1.0)),  # Retry-After: everyone waits
        Fault(RateLimitedError(qps)),  # none: this lane backs off alone
        Fault(RateLimitedError(qps)),
    ]
    policy = RetryPolicy(base_delay=0.0, max_delay=0.0, max_retry_after=0.0, max_rate_limited=2)
    result = await run([add("e1", "Crowded")], retry=policy)
    assert result.counts == {OpStatus.FAILED: 1}
    assert len(run.zoom.requests("POST")) == 3
    assert run.outcomes()[0]["message"] == f"rate limited too often: {qps}"
    assert run.pacer.slowed == 2 and run.pacer.paused == [0.0]  # the capped Retry-After
    assert result.stats.rate_limited == 3


async def test_a_read_is_retried_and_its_429s_slow_everyone_down(run: Run) -> None:
    qps = RateLimitedError("per-second rate limit", retry_after=1.0)
    run.zoom.script[("GET", "e1")] = [Fault(server_error(503)), Fault(qps)]
    result = await run([add("e1", "A")])
    assert result.counts == {OpStatus.SUCCEEDED: 1}
    assert [c.method for c in run.zoom.calls] == ["GET", "GET", "GET", "POST"]
    assert run.pacer.slowed == 1 and run.pacer.paused == [0.0]
    assert result.stats.requests == 4 and result.stats.lookups == 1
    assert result.stats.retries == 0  # counts writes' retries only


async def test_a_reconciling_read_that_fails_fails_the_rest_of_the_lane(run: Run) -> None:
    run.zoom.script[("POST", "e1")] = [None, Fault(dropped())]
    run.zoom.script[("GET", "e1")] = [None, Fault(server_error(503)), Fault(server_error(503))]
    policy = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0)
    await run([add("e1", "A"), add("e1", "B"), add("e1", "C")], retry=policy)
    unreadable = "could not read the extension's settings: HTTP 503"
    assert run.statuses() == ["succeeded", "failed", "skipped"]  # A was done before the read
    outcomes = run.outcomes()
    assert outcomes[1]["message"] == unreadable
    assert outcomes[2]["message"] == f"skipped: {unreadable}"
    assert [c.method for c in run.zoom.calls] == ["GET", "POST", "POST", "GET", "GET"]


async def test_a_stop_while_reconciling_leaves_the_post_in_flight_for_the_next_run(
    run: Run,
) -> None:
    daily = RateLimitedError("daily rate limit", daily=True, retry_at=RESET)
    run.zoom.script[("POST", "e1")] = [Fault(dropped(), applied=True)]
    run.zoom.script[("GET", "e1")] = [None, Fault(daily)]
    result = await run([add("e1", "A"), add("e1", "B")])
    assert result.stop_reason is StopReason.DAILY_LIMIT and result.resume_at == RESET
    assert run.statuses() == ["in_flight", "not_run"]  # unknown, not "pending": read first


# -- stops -----------------------------------------------------------------------------------


async def test_refused_credentials_on_a_read_stop_the_run(run: Run) -> None:
    run.zoom.script[("GET", "e1")] = [Fault(AuthError("Invalid access token.", status=401))]
    result = await run([add("e1", "A"), add("e2", "B")], concurrency=1)
    assert result.stop_reason is StopReason.AUTH
    assert result.counts == {OpStatus.NOT_RUN: 2}
    assert [c.method for c in run.zoom.calls] == ["GET"]
    assert result.stats.requests == 1


async def test_a_stop_asked_before_the_run_sends_nothing(run: Run) -> None:
    engine = run.start([add("e1", "A"), add("e2", "B")])
    engine.request_stop(StopReason.SIGNAL, "SIGINT")
    result = await asyncio.wait_for(engine.run(), timeout=10)
    assert result.stop_reason is StopReason.SIGNAL and run.zoom.calls == []
    assert result.counts == {OpStatus.NOT_RUN: 2}


async def test_a_lane_that_crashes_stops_the_run_and_the_error_reaches_the_caller(
    run: Run,
) -> None:
    run.zoom.crash["e1"] = ValueError("a bug")
    engine = run.start([add("e1", "A"), add("e2", "B"), add("e3", "C")], concurrency=1)
    with pytest.raises(ValueError, match="a bug"):
        await asyncio.wait_for(engine.run(), timeout=10)
    after = engine.result()  # what the runner records for the crashed run
    assert after.stop_reason is StopReason.BREAKER
    assert after.stop_detail == "internal error: ValueError('a bug')"
    assert after.counts == {OpStatus.NOT_RUN: 3}


async def test_a_daily_limit_stops_the_run_with_the_reset_time(run: Run) -> None:
    daily = RateLimitedError("daily rate limit", daily=True, retry_after=3600.0, retry_at=RESET)
    run.zoom.script[("POST", "e1")] = [Fault(daily)]
    ops = [add("e1", "A"), add("e1", "B"), add("e2", "C")]
    result = await run(ops, concurrency=1)
    assert result.stop_reason is StopReason.DAILY_LIMIT and result.resume_at == RESET
    assert result.stop_detail == f"Zoom's daily limit was reached; it resets at {RESET.isoformat()}"
    assert result.counts == {OpStatus.NOT_RUN: 3}  # the refused one included: it changed nothing
    assert [c.method for c in run.zoom.calls] == ["GET", "POST"]  # no retry loop, no next lane
    assert run.pacer.slowed == 0  # a daily limit is not a pacing signal


async def test_an_extension_gone_skips_its_later_operations_unsent(run: Run) -> None:
    run.zoom.script[("POST", "gone")] = [Fault(ExtensionNotFoundError(GONE, status=404, code=404))]
    ops = [add("gone", "A"), add("e1", "B"), add("gone", "C"), add("gone", "D")]
    result = await run(ops, precheck=False)  # adds need no read: the POST meets the 404
    assert run.statuses() == ["failed", "succeeded", "skipped", "skipped"]
    assert len(run.zoom.requests(extension_id="gone")) == 1
    outcomes = run.outcomes()
    assert outcomes[0]["message"] == GONE and outcomes[0]["http_status"] == 404
    assert outcomes[2]["message"] == outcomes[3]["message"] == f"skipped: {GONE}"
    assert result.stop_reason is None


async def test_an_extension_gone_on_its_first_read_fails_its_lane(run: Run) -> None:
    run.zoom.script[("GET", "gone")] = [Fault(ExtensionNotFoundError(GONE, status=404, code=404))]
    await run([add("gone", "A"), add("gone", "B")])
    assert run.statuses() == ["failed", "skipped"]
    assert [c.method for c in run.zoom.calls] == ["GET"]


async def test_refused_credentials_stop_the_run_and_keep_the_operation_resumable(run: Run) -> None:
    refused = AuthError("Invalid access token.", status=401, code=124)
    run.zoom.script[("POST", "e1")] = [Fault(refused)]
    result = await run([add("e1", "A"), add("e1", "B")], precheck=False)
    assert result.stop_reason is StopReason.AUTH and result.stop_detail == "Invalid access token."
    assert result.counts == {OpStatus.NOT_RUN: 2}
    first = run.outcomes()[0]
    assert first["http_status"] == 401 and first["message"] == "Invalid access token."
    assert len(run.zoom.calls) == 1


async def test_a_stop_lets_requests_in_flight_finish_and_sends_nothing_new(run: Run) -> None:
    for ext in ("e1", "e2"):
        run.zoom.gate[ext] = asyncio.Event()
    ops = [add(ext, f"{ext} {i}") for ext in ("e1", "e2", "e3") for i in range(2)]
    engine = run.start(ops, concurrency=2)
    task = asyncio.create_task(engine.run())
    await asyncio.wait_for(run.zoom.wait_held(2), timeout=10)  # both lanes mid-POST
    engine.request_stop(StopReason.SIGNAL, "SIGTERM")
    sent = len(run.zoom.calls)
    for gate in run.zoom.gate.values():
        gate.set()
    result = await asyncio.wait_for(task, timeout=10)
    assert result.stop_reason is StopReason.SIGNAL and result.stop_detail == "SIGTERM"
    assert len(run.zoom.calls) == sent  # nothing was sent after the stop
    # The writes in flight were answered and recorded; the rest waits for the next run.
    assert run.statuses() == ["succeeded", "not_run", "succeeded", "not_run", "not_run", "not_run"]
    assert run.zoom.holiday_names("e1") == ["e1 0"] and run.zoom.holiday_names("e2") == ["e2 0"]


async def test_a_request_hung_past_the_grace_period_is_reconciled_by_the_next_run(
    run: Run,
) -> None:
    ops = [add("e1", "Hung"), add("e1", "Next")]
    run.zoom.gate["e1"] = asyncio.Event()  # never released
    engine = run.start(ops, grace_period=0.0)
    task = asyncio.create_task(engine.run())
    await asyncio.wait_for(run.zoom.wait_held(1), timeout=10)
    engine.request_stop(StopReason.MAX_RUNTIME)
    result = await asyncio.wait_for(task, timeout=10)
    assert result.counts == {OpStatus.IN_FLIGHT: 1, OpStatus.NOT_RUN: 1}  # outcome unknown

    # Zoom did apply it. The next run reads the extension, finds it, and does not send it again.
    del run.zoom.gate["e1"]
    run.zoom.seed("e1", "Hung")
    posts = len(run.zoom.requests("POST"))
    resumed = await asyncio.wait_for(run.start(ops).run(), timeout=10)
    assert resumed.counts == {OpStatus.SUCCEEDED: 2} and resumed.stop_reason is None
    assert names(run.zoom.requests("POST")[posts:]) == ["Next"]
    assert run.zoom.holiday_names("e1") == ["Hung", "Next"]
    assert run.outcomes()[0]["reconciled"] == 1


# -- reads not understood ------------------------------------------------------------------------

UNDERSTOOD_NOT = "could not read the extension's settings: Zoom's answer was not understood ("
THREE_READS = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(None, id="null"),
        pytest.param([], id="a-list"),
        pytest.param({"business_hours": "abc"}, id="a-string-for-a-list"),
        pytest.param(
            {"holiday_hours": [{"holiday_id": 7, "details": []}]}, id="a-number-for-an-id"
        ),
        pytest.param({"code": 300, "message": "Validation Failed."}, id="an-error-object"),
    ],
)
async def test_a_read_not_understood_is_retried_and_never_taken_as_empty(
    run: Run, body: Any
) -> None:
    run.zoom.seed("e1", "A")  # already there: a read taken as "empty" would add it again
    run.zoom.bodies["e1"] = [body] * 3
    result = await run([add("e1", "A"), add("e1", "B")], retry=THREE_READS)
    assert [c.method for c in run.zoom.calls] == ["GET"] * 3  # retried, and nothing written
    assert run.statuses() == ["failed", "skipped"] and result.stop_reason is None
    failed = run.outcomes()[0]
    assert failed["message"].startswith(UNDERSTOOD_NOT) and failed["http_status"] == 200
    assert run.zoom.holiday_names("e1") == ["A"]


async def test_a_read_understood_on_a_retry_lets_the_lane_go_on(run: Run) -> None:
    run.zoom.seed("e1", "A")
    run.zoom.bodies["e1"] = [{"holiday_hours": "<html>"}]
    result = await run([add("e1", "A"), add("e1", "B")], retry=THREE_READS)
    assert run.statuses() == ["already_present", "succeeded"]
    assert [c.method for c in run.zoom.calls] == ["GET", "GET", "POST"]
    assert run.zoom.holiday_names("e1") == ["A", "B"] and result.stats.lookups == 1


async def test_a_reconciling_read_not_understood_never_sends_the_post_again(run: Run) -> None:
    run.zoom.script[("POST", "e1")] = [Fault(dropped(), applied=True)]
    run.zoom.bodies["e1"] = [{"holiday_hours": []}] + [{"holiday_hours": [["h1"]]}] * 3
    await run([add("e1", "A"), add("e1", "B")], retry=THREE_READS)
    assert [c.method for c in run.zoom.calls] == ["GET", "POST", "GET", "GET", "GET"]
    assert run.zoom.holiday_names("e1") == ["A"]  # once: the lost answer is not guessed away
    assert run.statuses() == ["failed", "skipped"]
    assert run.outcomes()[0]["message"].startswith(UNDERSTOOD_NOT)


# -- bounded waits on rate limits ------------------------------------------------------------------

QPS = "You have reached the maximum per-second rate limit for this API. Try again later."
SIX = [add("e1", f"Day {i}") for i in range(6)]


def storm(retry_after: float | None, count: int = 1000) -> list[Fault | None]:
    return [Fault(RateLimitedError(QPS, retry_after=retry_after)) for _ in range(count)]


@pytest.mark.parametrize(
    "retry_after",
    [pytest.param(None, id="no-retry-after"), pytest.param(0.0, id="retry-after-in-the-past")],
)
async def test_429s_forever_stop_the_run_within_max_stall_and_resume_cleanly(
    run: Run, retry_after: float | None
) -> None:
    """The issue's six operations took 24 minutes to fail; now: at most 5 minutes of waiting,
    then a resumable stop with nothing failed and nothing sent twice."""
    clock = FakeClock(0.0)
    run.zoom.script[("POST", "e1")] = storm(retry_after)
    result = await run(SIX, clock=clock, retry=RetryPolicy())
    assert result.stop_reason is StopReason.RATE_LIMITED
    assert result.counts == {OpStatus.NOT_RUN: 6}
    assert sum(clock.slept) == clock.now <= RetryPolicy().max_stall  # waited, bounded
    posts = len(run.zoom.requests("POST"))
    assert posts == len(clock.slept) + 1 < 50  # one request per wait, far below the budgets
    assert run.pacer.paused == []  # no Retry-After worth holding everyone for
    assert result.resume_at is not None
    stopped = datetime.fromtimestamp(WALL + clock.now, UTC)
    assert stopped + timedelta(seconds=clock.now) <= result.resume_at  # as long as it waited
    assert result.stop_detail is not None and "nothing but 429s" in result.stop_detail

    run.zoom.script.clear()  # the storm is over: the same command picks up, adding each once
    resumed = await run(SIX, clock=clock, retry=RetryPolicy())
    assert resumed.counts == {OpStatus.SUCCEEDED: 6} and resumed.stop_reason is None
    assert run.zoom.holiday_names("e1") == sorted(f"Day {i}" for i in range(6))


async def test_a_retry_after_beyond_max_stall_stops_at_once_until_then(run: Run) -> None:
    clock = FakeClock(0.0)
    run.zoom.script[("POST", "e1")] = storm(3600.0)
    result = await run(SIX, clock=clock, retry=RetryPolicy())
    assert result.stop_reason is StopReason.RATE_LIMITED
    assert clock.slept == [] and len(run.zoom.requests("POST")) == 1  # no waiting, no retry
    assert result.resume_at == datetime.fromtimestamp(WALL + 3600.0, UTC)
    assert result.counts == {OpStatus.NOT_RUN: 6}


async def test_retry_afters_within_max_stall_are_honoured_until_the_stall_is_too_long(
    run: Run,
) -> None:
    clock = FakeClock(0.0)
    run.zoom.script[("GET", "e1")] = storm(120.0)  # the read alike: everyone held, then a stop
    result = await run(SIX, clock=clock, retry=RetryPolicy())
    assert result.stop_reason is StopReason.RATE_LIMITED
    assert clock.slept == run.pacer.paused == [120.0, 120.0]  # 240 s + 120 s would pass 300 s
    assert len(run.zoom.requests("GET")) == 3 and run.zoom.requests("POST") == []
    assert result.resume_at == datetime.fromtimestamp(WALL + 240.0 + 240.0, UTC)


async def test_a_success_between_429s_resets_the_stall(run: Run) -> None:
    """Another app sharing the quota: 429s interleaved with progress never stop the run."""
    clock = FakeClock(0.0)
    run.zoom.script[("POST", "e1")] = [
        f
        for _ in range(6)
        for f in (*storm(200.0, 1), None)  # 200 s waits, then progress
    ]
    result = await run(SIX, clock=clock, retry=RetryPolicy())
    assert result.stop_reason is None and result.counts == {OpStatus.SUCCEEDED: 6}
    assert clock.slept == [200.0] * 6  # 20 minutes in all, never 5 without progress
    assert run.zoom.holiday_names("e1") == sorted(f"Day {i}" for i in range(6))


async def test_lanes_in_flight_are_three_times_what_the_rate_and_latency_keep_busy(
    run: Run,
) -> None:
    # At 10/s and the first guess of 250 ms a request (less once the GETs are measured at
    # 10 ms), Little's law keeps ~2.5 lanes busy: 3x that plus two is 10 lanes before any
    # latency is measured, 7 after four GETs; the 1.5x of before never held more than 6. More
    # lanes share the rate, so each has less left when the last one starts: no trickle at the end.
    exts = [f"e{i}" for i in range(30)]
    for ext in exts:
        run.zoom.gate[ext] = asyncio.Event()
    engine = run.start([add(ext, "A") for ext in exts])
    task = asyncio.create_task(engine.run())
    await asyncio.wait_for(run.zoom.wait_held(7), timeout=10)  # seven lanes mid-POST at once
    for gate in run.zoom.gate.values():
        gate.set()
    result = await asyncio.wait_for(task, timeout=10)
    assert result.counts == {OpStatus.SUCCEEDED: 30}
    assert run.zoom.overlaps == []
