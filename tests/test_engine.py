"""The engine's promises, end to end in one process: `run_job` against the simulator.

Each test serves a small simulator on 127.0.0.1:0 and runs a small job through the real client,
limiter, checkpoint and engine, then compares the simulator's state and journal with what the
job asked for. Retries back off in milliseconds so the whole file stays fast.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bulkops.config import AccountPlan, Credentials
from bulkops.model import OpStatus
from bulkops.progress import PlainDisplay
from bulkops.run.engine import Engine, EngineOptions
from bulkops.run.retry import RetryPolicy
from bulkops.run.stats import StopReason
from bulkops.runner import RunOutcome, RunSettings, run_job
from bulkops.simulator import (
    FROM_PLAN,
    ExtensionType,
    RetryAfter,
    RunningSimulator,
    SimConfig,
    Simulator,
    generate_directory,
    run_simulator,
    write_directory,
)
from bulkops.simulator.reply import Reply

CREDS = Credentials("engine-account", "engine-client", "engine-secret-9c4d")
ENV = CREDS.as_env()
HEADER = "action,setting_type,sub_setting_type,extension_id,name,from,to,phone_number,description,settings"
FAST_RETRY = RetryPolicy(base_delay=0.01, max_delay=0.05)


class MaxJitter(random.Random):
    """Full jitter that always draws the longest wait."""

    def uniform(self, a: float, b: float) -> float:
        return b


class StopOnBackoff(MaxJitter):
    """Draws the longest backoff and has the engine stopped while it waits it out."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine

    def uniform(self, a: float, b: float) -> float:
        asyncio.get_running_loop().call_soon(self.engine.request_stop, StopReason.MAX_RUNTIME)
        return super().uniform(a, b)


@dataclass
class Setup:
    tmp: Path
    directory: Path
    users: list[str]
    queues: list[str]


def _setup(tmp: Path, *, users: int, queues: int = 0, seed: int = 5) -> Setup:
    """A directory file of ``users`` users and ``queues`` call queues."""
    exts = generate_directory(8 * (users + queues) + 8, seed)
    picked_users = [e for e in exts if e.type is ExtensionType.USER][:users]
    picked_queues = [e for e in exts if e.type is ExtensionType.CALL_QUEUE][:queues]
    assert len(picked_users) == users and len(picked_queues) == queues
    directory = tmp / "directory.csv"
    write_directory(picked_users + picked_queues, directory)
    return Setup(
        tmp,
        directory,
        [e.extension_id for e in picked_users],
        [e.extension_id for e in picked_queues],
    )


def holiday_rows(extensions: list[str], count: int) -> list[str]:
    rows = []
    for ext in extensions:
        for i in range(count):
            day = f"2027-{1 + i // 28:02d}-{1 + i % 28:02d}"
            rows.append(f"add,holiday_hours,holiday,{ext},Engine Day {i},{day},{day},,,")
    return rows


def write_job(tmp: Path, rows: list[str], name: str = "job.csv") -> Path:
    job = tmp / name
    job.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return job


def assert_holidays_once(sim: Simulator, extensions: list[str], count: int) -> None:
    """Every planned holiday is on every extension exactly once, nothing else was added."""
    for ext in extensions:
        names = Counter(h["name"] for h in sim.holidays(ext) if h["name"].startswith("Engine Day"))
        assert names == Counter(f"Engine Day {i}" for i in range(count)), ext


@contextlib.asynccontextmanager
async def serving(
    setup: Setup, *, clock: Any = None, **config: Any
) -> AsyncIterator[RunningSimulator]:
    config.setdefault("rate", None)
    sim = Simulator(
        SimConfig(directory=setup.directory, credentials=CREDS, **config),
        clock=clock or time.monotonic,
    )
    async with run_simulator(simulator=sim) as running:
        yield running


async def run(
    running: RunningSimulator,
    job: Path,
    state: Path,
    *,
    rate: float | None = 500,
    plan: AccountPlan = AccountPlan.BUSINESS,
    retry_failed: bool = False,
    engine_hook: Callable[[Engine], None] | None = None,
    **options: Any,
) -> tuple[RunOutcome, str]:
    options.setdefault("retry", FAST_RETRY)
    settings = RunSettings(
        job=job,
        state_dir=state,
        account_plan=plan,
        rate=rate,
        options=EngineOptions(**options),
        api_url=running.api_url,
        oauth_url=running.oauth_url,
        retry_failed=retry_failed,
        write_reports=False,
    )
    out = io.StringIO()
    outcome = await run_job(
        settings, env=ENV, display=PlainDisplay(out), out=out, engine_hook=engine_hook
    )
    return outcome, out.getvalue()


def api_entries(sim: Simulator) -> list[Any]:
    return [j for j in sim.journal if "/phone/" in j.path]


def token_requests(sim: Simulator) -> int:
    return sum(1 for j in sim.journal if j.path.endswith("/oauth/token"))


# -- exactly once under ambiguous answers ----------------------------------------------------------


async def test_every_dropped_answer_is_reconciled_not_resent(tmp_path: Path) -> None:
    """POSTs and DELETEs that are applied but never answered: each takes effect exactly once."""
    setup = _setup(tmp_path, users=4)
    async with serving(setup, applied_drop=1.0) as running:
        sim = running.simulator
        for ext_id in setup.users:  # something for the job to delete
            ext = sim.state.extension(ext_id)
            assert ext is not None
            sim.state.add_holiday(
                ext, {"name": "Gone", "from": "2026-03-03T00:00:00Z", "to": "2026-03-03T23:59:59Z"}
            )
        rows = holiday_rows(setup.users, 2)
        rows += [f"delete,holiday_hours,holiday,{u},Gone,,,,," for u in setup.users]
        job = write_job(tmp_path, rows)
        outcome, text = await run(running, job, tmp_path / "state")
        assert outcome.exit_code == 0, text
        assert outcome.result.counts == {OpStatus.SUCCEEDED: 12}
        assert_holidays_once(sim, setup.users, 2)
        assert not any(h["name"] == "Gone" for u in setup.users for h in sim.holidays(u))
        writes = [j for j in api_entries(sim) if j.method != "GET"]
        posts = [j for j in writes if j.method == "POST"]
        assert len(posts) == 8 and all(j.status is None and j.applied for j in posts)
        # aiohttp resends a DELETE whose connection dropped: the resend finds nothing (404),
        # which the engine must count as the first attempt's success, not a failure.
        deletes = [j for j in writes if j.method == "DELETE"]
        assert sum(j.applied for j in deletes) == 4
        assert [j.status for j in deletes].count(404) == 4


# -- token expiry --------------------------------------------------------------------------------


class TickingClock:
    """A clock that moves ``tick`` seconds each time it is read, whatever the real time."""

    def __init__(self, tick: float, now: float = 1000.0) -> None:
        self.tick = tick
        self.now = now

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


async def test_an_expiring_token_is_renewed_and_the_request_replayed(tmp_path: Path) -> None:
    setup = _setup(tmp_path, users=8)
    # The simulator reads its clock twice per API request (its gate and its journal): a 60 s
    # token lasts 15 requests, however slowly a busy machine gets through them.
    clock = TickingClock(2.0)
    async with serving(setup, clock=clock, token_ttl=60, latency_ms=20) as running:
        sim = running.simulator
        job = write_job(tmp_path, holiday_rows(setup.users, 6))
        outcome, text = await run(running, job, tmp_path / "state", concurrency=2)
        assert outcome.exit_code == 0, text
        assert_holidays_once(sim, setup.users, 6)
        entries = api_entries(sim)
        refused = [j for j in entries if j.status == 401]
        assert refused, "the token should have expired mid-run"
        for j in refused:  # each refused request was replayed and went through
            later = [k for k in entries if k.t > j.t and (k.method, k.path) == (j.method, j.path)]
            assert later and later[0].status is not None and later[0].status < 300
        tokens = token_requests(sim)
        assert 1 < tokens <= len(refused) + 1
        assert tokens < len(entries) / 4, "a token per request is what Zoom punishes"


# -- 429s --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param(RetryAfter.SECONDS, id="seconds"),
        pytest.param(RetryAfter.HTTP_DATE, id="http-date"),
        pytest.param(RetryAfter.ISO, id="iso"),
    ],
)
async def test_retry_after_is_honoured_and_the_limiter_backs_off(
    tmp_path: Path, mode: RetryAfter
) -> None:
    setup = _setup(tmp_path, users=6)
    async with serving(setup, rate=15, retry_after=mode) as running:
        sim = running.simulator
        job = write_job(tmp_path, holiday_rows(setup.users, 4))
        outcome, text = await run(running, job, tmp_path / "state", rate=45)
        assert outcome.exit_code == 0, text
        assert_holidays_once(sim, setup.users, 4)
        limited = sim.journal.by_status["429"]
        assert limited >= 1, "three times the simulator's rate must hit its window"
        assert outcome.result.stats.rate_limited == limited
        # AIMD and the pause: a handful of 429s, not one per request.
        assert limited <= 10, limited


class WindowAtSendTime(Simulator):
    """Places each request in the rate window at the moment the client's limiter let it go.

    Client and simulator share one process here, so on a busy machine the loop can reach the
    server's side of a request tens of milliseconds after the client sent it, and squeeze
    evenly sent requests together: a "network" jitter beyond the limiter's 15 ms margin that
    says nothing about the limiter. Every API attempt pays the limiter right before it is sent
    (one request per lane: the connection pool never holds it back), so the sorted grant times
    are the send times, and the n-th request through the gate takes the n-th of them.
    """

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.sent: collections.deque[float] = collections.deque()
        self.unpaid = 0  # requests that reached the gate without a grant

    def stamp_grants(self, engine: Engine) -> None:
        """The ``engine_hook``: note when the run's limiter grants each request."""
        limiter = engine.pacer
        acquire = limiter.acquire

        async def acquire_and_stamp() -> None:
            await acquire()
            self.sent.append(time.monotonic())

        limiter.acquire = acquire_and_stamp  # type: ignore[method-assign]

    def gate(self, authorization: str | None, method: str = "GET") -> Reply | None:
        if not self.sent:
            self.unpaid += 1
            return super().gate(authorization, method)
        sent_at, clock = self.sent.popleft(), self.clock
        self.clock = lambda: sent_at
        try:
            return super().gate(authorization, method)
        finally:
            self.clock = clock


async def test_no_429_at_the_nominal_business_rate(tmp_path: Path) -> None:
    setup = _setup(tmp_path, users=20)
    sim = WindowAtSendTime(
        SimConfig(
            directory=setup.directory, credentials=CREDS, plan=AccountPlan.BUSINESS, rate=FROM_PLAN
        )
    )
    async with run_simulator(simulator=sim) as running:
        assert sim.config.effective_rate == 40
        job = write_job(tmp_path, holiday_rows(setup.users, 9))
        outcome, text = await run(
            running, job, tmp_path / "state", rate=None, engine_hook=sim.stamp_grants
        )
        assert outcome.exit_code == 0, text
        assert len(api_entries(sim)) == 200
        assert sim.journal.by_status.get("429", 0) == 0
        assert sim.stats()["max_in_window"] <= 40
        assert (sim.unpaid, len(sim.sent)) == (0, 0), "one grant per request, right before it"


async def test_daily_limit_stops_with_the_reset_time_and_a_rerun_completes(tmp_path: Path) -> None:
    setup = _setup(tmp_path, users=4)
    async with serving(setup, daily_limit=10) as running:
        sim = running.simulator
        job = write_job(tmp_path, holiday_rows(setup.users, 5))
        state = tmp_path / "state"
        outcome, text = await run(running, job, state)
        result = outcome.result
        assert outcome.exit_code == 75, text
        assert result.resume_at is not None
        assert result.stop_detail is not None and result.resume_at.isoformat() in result.stop_detail
        assert "resume after" in text and result.resume_at.isoformat() in text
        assert result.counts.get(OpStatus.NOT_RUN, 0) > 0
        # The daily 429 is not retried in a loop: one per lane that was working at the time.
        assert sim.journal.by_status["429"] <= len(setup.users)

        sim.configure({"daily_limit": None})
        rerun, text = await run(running, job, state)
        assert rerun.exit_code == 0, text
        assert_holidays_once(sim, setup.users, 5)


# -- breaker, dry run, exit codes ------------------------------------------------------------------


async def test_the_breaker_stops_a_job_that_fails_the_same_way_everywhere(tmp_path: Path) -> None:
    """External forwarding on call queues is refused (400): stop after ~20, not after all 60."""
    setup = _setup(tmp_path, users=0, queues=6)
    rows = [
        f"add,business_hours,call_forwarding,{q},,,,+1415555{i:04d},,"
        for q in setup.queues
        for i in range(10)
    ]
    async with serving(setup) as running:
        sim = running.simulator
        job = write_job(tmp_path, rows)
        outcome, text = await run(running, job, tmp_path / "state")
        result = outcome.result
        assert outcome.exit_code == 75, text
        assert result.stop_reason is not None and result.stop_reason.value == "breaker"
        assert "HTTP 400" in (result.stop_detail or "")
        failed = result.counts.get(OpStatus.FAILED, 0)
        assert 20 <= failed <= 20 + len(setup.queues), result.counts
        assert result.counts.get(OpStatus.NOT_RUN, 0) >= 60 - failed - len(setup.queues)
        writes = [j for j in api_entries(sim) if j.method != "GET"]
        assert len(writes) == failed


async def test_dry_run_sends_no_write_and_leaves_the_state_alone(tmp_path: Path) -> None:
    setup = _setup(tmp_path, users=3)
    async with serving(setup) as running:
        sim = running.simulator
        job = write_job(tmp_path, holiday_rows(setup.users, 3))
        state = tmp_path / "state"
        outcome, text = await run(running, job, state, dry_run=True)
        assert outcome.exit_code == 0, text
        assert {j.method for j in api_entries(sim)} == {"GET"}
        assert not state.exists()
        assert sim.journal.applied == 0
        # The real run afterwards starts from scratch and does everything.
        real, text = await run(running, job, state)
        assert real.exit_code == 0, text
        assert real.result.counts == {OpStatus.SUCCEEDED: 9}
        assert_holidays_once(sim, setup.users, 3)


async def test_exit_codes_and_retry_failed(tmp_path: Path) -> None:
    setup = _setup(tmp_path, users=3)
    u3 = setup.users[2]
    rows = [
        *holiday_rows(setup.users, 2),
        # fails: the holiday the forwarding number belongs under does not exist (yet)
        f"add,holiday_hours,call_forwarding,{u3},Later Day,2027-09-09,,+14155550123,,",
    ]
    async with serving(setup) as running:
        sim = running.simulator
        job = write_job(tmp_path, rows)
        state = tmp_path / "state"
        first, text = await run(running, job, state)
        assert first.exit_code == 1, text
        assert first.result.counts == {OpStatus.SUCCEEDED: 6, OpStatus.FAILED: 1}

        # A rerun does not try failed operations again on its own.
        writes = sim.journal.applied
        again, text = await run(running, job, state)
        assert again.exit_code == 1, text
        assert sim.journal.applied == writes

        # The cause is fixed; --retry-failed runs the failed operation again.
        ext = sim.state.extension(u3)
        assert ext is not None
        sim.state.add_holiday(
            ext, {"name": "Later Day", "from": "2027-09-09T00:00:00Z", "to": "2027-09-09T23:59:59Z"}
        )
        fixed, text = await run(running, job, state, retry_failed=True)
        assert fixed.exit_code == 0, text
        assert fixed.result.counts == {OpStatus.SUCCEEDED: 7}
        later = next(h for h in sim.holidays(u3) if h["name"] == "Later Day")
        numbers = sim.forwarding(u3, "holiday_hours", later["holiday_id"])
        assert [n["phone_number"] for n in numbers if "phone_number" in n] == ["+14155550123"]
        assert_holidays_once(sim, setup.users, 2)

        # A finished job with nothing failed: exit 0 and not a single write.
        writes = sim.journal.applied
        done, text = await run(running, job, state)
        assert done.exit_code == 0, text
        assert sim.journal.applied == writes
        assert json.loads(json.dumps(done.result.stats.as_dict()))["writes"] == 0


async def test_a_delete_stopped_after_an_ambiguous_answer_is_ours_on_resume(tmp_path: Path) -> None:
    """Applied, answered 500, stopped while backing off: the rerun finds the item gone.

    That absence is this job's doing (the op was sent), so it is `succeeded` and undo restores
    it, not `already_absent`, which undo skips as "changed nothing".
    """
    setup = _setup(tmp_path, users=1)
    (user,) = setup.users
    async with serving(setup, applied_5xx=1.0) as running:
        sim = running.simulator
        ext = sim.state.extension(user)
        assert ext is not None
        sim.state.add_holiday(
            ext, {"name": "Gone", "from": "2026-03-03T00:00:00Z", "to": "2026-03-03T23:59:59Z"}
        )
        job = write_job(tmp_path, [f"delete,holiday_hours,holiday,{user},Gone,,,,,"])
        state = tmp_path / "state"
        slow_retry = RetryPolicy(base_delay=30.0, max_delay=30.0)

        def longest_backoff(engine: Engine) -> None:
            engine.rng = MaxJitter()

        stopped, text = await run(
            running, job, state, retry=slow_retry, max_runtime=0.5, engine_hook=longest_backoff
        )
        assert stopped.exit_code == 75, text
        assert not any(h["name"] == "Gone" for h in sim.holidays(user))  # it did take effect

        sim.configure({"applied_5xx": 0.0})
        resumed, text = await run(running, job, state)
        assert resumed.exit_code == 0, text
        assert resumed.result.counts == {OpStatus.SUCCEEDED: 1}
