"""Outages are stops, not failures: Zoom out of reach stops the run resumably (exit 75) with no
operation marked failed, and a plain rerun, once Zoom is back, finishes the job exactly once.

The outage is real: a loopback port where nothing listens (connection refused), or the
in-process simulator shut down in the middle of a run and served again on the same port.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import socket
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from bulkops.config import AccountPlan, Credentials, Endpoints, resolve_rate
from bulkops.errors import RetriableApiError
from bulkops.exit_codes import EXIT_OK, EXIT_RESUMABLE
from bulkops.model import OpStatus
from bulkops.progress import PlainDisplay
from bulkops.run.decide import Defer, History, Retry, decide
from bulkops.run.engine import EngineOptions
from bulkops.run.ratelimit import AdaptiveLimiter
from bulkops.run.retry import RetryPolicy
from bulkops.run.stats import StopReason
from bulkops.runner import RunOutcome, RunSettings, run_job
from bulkops.simulator import SimConfig, Simulator, generate_directory, run_simulator
from bulkops.simulator import write_directory as write_directory_file
from bulkops.simulator.reply import Reply
from bulkops.zoom.client import ZoomClient
from bulkops.zoom.transport import NoAnswer, no_answer

CREDS = Credentials("outage-account", "outage-client", "outage-secret-3c9d")
ENV = CREDS.as_env()
NO_WAIT = RetryPolicy(base_delay=0.0, max_delay=0.0, max_retry_after=0.0)
HOLIDAYS = [("Outage Day A", "2027-05-03"), ("Outage Day B", "2027-06-07")]
HEADER = "action,setting_type,sub_setting_type,target,name,from,to"


def free_port() -> int:
    """A loopback port nothing listens on (bound, noted, closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the decision: a request that never reached Zoom -----------------------------------------


def refused() -> RetriableApiError:
    return RetriableApiError(
        "could not connect to Zoom: connection refused (ClientConnectorError; not sent)",
        sent=False,
        kind="connection refused",
    )


class MaxJitter(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b


POLICY = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=8.0)
GAVE_UP = (
    "Zoom could not be reached (3 attempts): could not connect to Zoom: connection refused "
    "(ClientConnectorError; not sent)"
)
OUTAGE_ROWS = [
    pytest.param("GET", History(failures=1), Retry(1.0), id="read-retries"),
    pytest.param("GET", History(failures=3), Defer(GAVE_UP), id="read-budget-spent-defers"),
    pytest.param("PATCH", History(failures=3), Defer(GAVE_UP), id="patch-defers-not-fails"),
    pytest.param("DELETE", History(failures=3), Defer(GAVE_UP), id="delete-defers"),
    pytest.param("POST", History(failures=2), Retry(2.0), id="post-resends-without-a-read"),
    pytest.param(
        "POST",
        History(failures=3, maybe_applied=True),
        Defer(GAVE_UP),
        id="post-after-a-lost-answer-defers-no-reconcile",  # the rerun reads first (attempts > 0)
    ),
]


@pytest.mark.parametrize(("method", "history", "expected"), OUTAGE_ROWS)
def test_a_request_that_never_reached_zoom_is_retried_then_deferred(
    method: str, history: History, expected: Retry | Defer
) -> None:
    assert decide(refused(), method, history, POLICY, MaxJitter()) == expected


def test_an_answer_with_a_status_is_no_outage_row() -> None:
    """Only "no connection, no answer" defers; a 503 spent its budget and fails as before."""
    error = RetriableApiError("HTTP 503", status=503, sent=False)
    decision = decide(error, "PATCH", History(failures=3), POLICY, MaxJitter())
    assert not isinstance(decision, Defer)


# -- the kinds: one name per failure, no URL ---------------------------------------------------

KEY = ConnectionKey("zoom.example", 443, True, True, None, None, None, "zoom.example")
KINDS = [
    pytest.param(aiohttp.ConnectionTimeoutError(), "connect timeout", False, id="connect-timeout"),
    pytest.param(
        aiohttp.ClientConnectorDNSError(KEY, OSError(-2, "Name or service not known")),
        "DNS lookup failed",
        False,
        id="dns",
    ),
    pytest.param(
        aiohttp.ClientConnectorCertificateError(KEY, ValueError("self-signed")),
        "TLS failed",
        False,
        id="tls",
    ),
    pytest.param(
        aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "refused")),
        "connection refused",
        False,
        id="refused",
    ),
    pytest.param(
        aiohttp.ClientConnectorError(KEY, OSError(101, "Network is unreachable")),
        "could not connect",
        False,
        id="unreachable-network",
    ),
    pytest.param(aiohttp.ServerDisconnectedError(), "connection dropped", True, id="dropped"),
    pytest.param(aiohttp.SocketTimeoutError(), "answer timeout", True, id="read-timeout"),
    pytest.param(TimeoutError(), "answer timeout", True, id="total-timeout"),
    pytest.param(aiohttp.ClientPayloadError("cut"), "answer cut off", True, id="cut-off"),
    pytest.param(aiohttp.ClientOSError(104, "reset"), "connection failed", True, id="other"),
]


@pytest.mark.parametrize(("exc", "kind", "sent"), KINDS)
def test_every_failure_without_an_answer_has_a_kind(
    exc: BaseException, kind: str, sent: bool
) -> None:
    described = no_answer(exc)
    assert isinstance(described, NoAnswer)
    assert (described.kind, described.sent) == (kind, sent)


async def _refusals(endpoints: Endpoints) -> list[RetriableApiError]:
    limiter = AdaptiveLimiter(resolve_rate(AccountPlan.PRO, 1000.0))
    errors: list[RetriableApiError] = []
    async with ZoomClient(endpoints, CREDS, limiter) as zoom:
        for extension in ("extA1", "extB2"):
            with pytest.raises(RetriableApiError) as info:
                await zoom.get_settings(extension)
            errors.append(info.value)
    return errors


async def test_a_refused_connection_names_its_kind_not_the_extension() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    config = SimConfig(rate=None, credentials=CREDS)
    async with run_simulator(config) as running:  # a token, then an API that is not there
        api = await _refusals(Endpoints(f"{dead}/v2", running.oauth_url))
    token = await _refusals(Endpoints(f"{dead}/v2", f"{dead}/oauth/token"))
    for errors in (api, token):
        assert {(e.kind, e.sent, e.status) for e in errors} == {("connection refused", False, None)}
        assert len({e.message for e in errors}) == 1  # the same words for every extension
        assert "extA1" not in errors[0].message
    assert api[0].message.startswith("could not connect to Zoom: connection refused")
    assert "ZOOM_OAUTH_URL" in token[0].message


# -- the whole run: exit 75, nothing failed, then a rerun completes exactly once ---------------


def _world(tmp_path: Path, extensions: int) -> tuple[Path, Path]:
    directory = tmp_path / "directory.csv"
    write_directory_file(generate_directory(extensions, 4242), directory)
    rows = [f"add,holiday_hours,holiday,*,{name},{day},{day}" for name, day in HOLIDAYS]
    job = tmp_path / "job.csv"
    job.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return job, directory


def _settings(job: Path, directory: Path, state: Path, port: int, **options: int) -> RunSettings:
    return RunSettings(
        job=job,
        directory=directory,
        timezone="UTC",  # the holidays below are UTC days, whatever the directory's zones
        state_dir=state,
        rate=1000.0,
        options=EngineOptions(retry=NO_WAIT, **options),
        api_url=f"http://127.0.0.1:{port}/v2",
        oauth_url=f"http://127.0.0.1:{port}/oauth/token",
    )


async def _run(settings: RunSettings) -> RunOutcome:
    return await run_job(settings, env=ENV, display=PlainDisplay(io.StringIO()), out=io.StringIO())


def _assert_each_holiday_once(sim: Simulator) -> None:
    wanted = {(name, f"{day}T00:00:00Z", f"{day}T23:59:59Z") for name, day in HOLIDAYS}
    for ext in sim.extensions:
        seen = Counter((h["name"], h["from"], h["to"]) for h in sim.holidays(ext.extension_id))
        assert {k: n for k, n in seen.items() if k in wanted} == dict.fromkeys(wanted, 1), ext


async def test_zoom_unreachable_is_a_resumable_stop_and_a_rerun_completes(tmp_path: Path) -> None:
    """The issue's case: 30 extensions, Zoom unreachable. Before: "failed 30, skipped 300",
    exit 1, and a rerun did nothing. Now: exit 75, everything still to do, the rerun does it."""
    job, directory = _world(tmp_path, 30)
    state = tmp_path / "state"
    port = free_port()
    settings = _settings(job, directory, state, port)

    stopped = await _run(settings)
    assert stopped.exit_code == EXIT_RESUMABLE
    assert stopped.result.stop_reason is StopReason.BREAKER
    assert stopped.result.counts == {OpStatus.NOT_RUN: 60}  # none failed, none skipped
    assert stopped.result.stats.writes == 0
    detail = stopped.result.stop_detail or ""
    assert detail.startswith("Zoom could not be reached") and '"connection refused"' in detail
    summary = json.loads((state / "summary.json").read_text())
    assert summary["exit_code"] == 75 and summary["complete"] is False
    assert summary["stop"]["reason"] == "breaker" and summary["stop"]["detail"] == detail
    assert summary["counts"]["failed"] == 0 and summary["failures_csv_rows"] == 0
    page = (state / "report.html").read_text()
    assert 'id="stopped"' in page and "Zoom could not be reached" in page

    # Zoom is back (on the very same address): the same command finishes the job.
    config = SimConfig(directory=directory, rate=None, credentials=CREDS)
    async with run_simulator(config, port=port) as running:
        done = await _run(settings)
        sim = running.simulator
        posts = sum(1 for j in sim.journal if j.method == "POST" and "/phone/" in j.path)
    assert done.exit_code == EXIT_OK, done.result
    assert done.result.counts == {OpStatus.SUCCEEDED: 60}
    assert posts == 60  # none sent twice
    _assert_each_holiday_once(sim)
    summary = json.loads((state / "summary.json").read_text())
    assert summary["stop"] is None and [r["exit_code"] for r in summary["runs"]] == [75, 0]


async def test_a_few_extensions_left_pending_still_make_the_run_resumable(tmp_path: Path) -> None:
    """Too few extensions to trip the breaker's first-20 rule: the run still ends with 75,
    saying what was left, never with 0 and work quietly undone."""
    job, directory = _world(tmp_path, 3)
    settings = _settings(job, directory, tmp_path / "state", free_port())
    outcome = await _run(settings)
    assert outcome.exit_code == EXIT_RESUMABLE
    assert outcome.result.counts == {OpStatus.NOT_RUN: 6}
    assert "for 3 extension(s)" in (outcome.result.stop_detail or "")


class Serving:
    """A simulator served on one fixed port until an event, and served again on demand: the
    same account at the same address, as Zoom is after an outage."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.port = free_port()
        self._task: asyncio.Task[None] | None = None

    async def _serve(self, until: asyncio.Event) -> None:
        async with run_simulator(simulator=self.sim, port=self.port):
            await until.wait()

    def start(self, until: asyncio.Event) -> None:
        self._task = asyncio.create_task(self._serve(until))

    async def stopped(self) -> None:
        assert self._task is not None
        await self._task


class CountingSimulator(Simulator):
    """Calls ``on_write(n)`` once it has answered its n-th API write."""

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.writes = 0
        self.on_write: Callable[[int], None] | None = None

    def record(self, method: str, path: str, query: str, reply: Reply, tracking_id: str) -> None:
        super().record(method, path, query, reply, tracking_id)
        if method != "GET" and "/phone/" in path:
            self.writes += 1
            if self.on_write is not None:
                self.on_write(self.writes)


async def test_zoom_going_away_mid_run_stops_it_and_the_rerun_completes_once(
    tmp_path: Path,
) -> None:
    job, directory = _world(tmp_path, 24)
    sim = CountingSimulator(SimConfig(directory=directory, rate=None, credentials=CREDS))
    zoom = Serving(sim)
    down = asyncio.Event()
    sim.on_write = lambda n: down.set() if n == 10 else None
    zoom.start(down)  # served until its 10th write, then gone: connections drop, then refused
    settings = _settings(job, directory, tmp_path / "state", zoom.port, concurrency=4)

    stopped = await _run(settings)
    await zoom.stopped()
    assert stopped.exit_code == EXIT_RESUMABLE, stopped.result
    assert stopped.result.stop_reason is StopReason.BREAKER
    counts = stopped.result.counts
    assert OpStatus.FAILED not in counts and OpStatus.SKIPPED not in counts
    assert counts.get(OpStatus.SUCCEEDED, 0) >= 1  # it was mid-run
    assert counts.get(OpStatus.NOT_RUN, 0) + counts.get(OpStatus.IN_FLIGHT, 0) > 0

    back = asyncio.Event()
    zoom.start(back)
    try:
        done = await _run(settings)
    finally:
        back.set()
        await zoom.stopped()
    assert done.exit_code == EXIT_OK, done.result
    assert set(done.result.counts) == {OpStatus.SUCCEEDED}
    assert sum(done.result.counts.values()) == 48
    _assert_each_holiday_once(sim)
