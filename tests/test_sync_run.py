"""Sync jobs end to end: `run_job` with ``sync`` against the in-process simulator, and the CLI's
flags. One run converges, a second sends no write, lost answers create no duplicate, a stopped
sync resumes what it recorded instead of reading the account again."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bulkops.cli import main
from bulkops.config import AccountPlan, Credentials
from bulkops.errors import SyncReadError
from bulkops.jobs.sync import SyncSpec
from bulkops.model import OpStatus
from bulkops.progress import PlainDisplay
from bulkops.run.engine import Engine, EngineOptions
from bulkops.run.retry import RetryPolicy
from bulkops.run.stats import StopReason
from bulkops.runner import RunOutcome, RunSettings, run_job
from bulkops.simulator import (
    ExtensionType,
    RunningSimulator,
    SimConfig,
    Simulator,
    generate_directory,
    run_simulator,
    write_directory,
)
from bulkops.simulator.reply import Reply
from bulkops.zoom.match import name_key

CREDS = Credentials("sync-account", "sync-client", "sync-secret-77a1")
ENV = CREDS.as_env()
HEADER = "action,setting_type,sub_setting_type,extension_id,name,from,to,phone_number,description"
YEAR = SyncSpec.of("holiday_hours", "2027-01-01..2027-12-31")
FAST_RETRY = RetryPolicy(base_delay=0.01, max_delay=0.05)
#: What each user has before the sync: kept, changed, stale, and two outside the window.
SEEDED = [
    ("New Year", "2027-01-01"),
    ("Bank Holiday", "2027-05-10"),
    ("Retired Day", "2027-06-01"),
    ("Retired Day", "2026-06-01"),
    ("New Year", "2028-01-01"),
]
#: What the job says each user must have in 2027.
DESIRED = [("New Year", "2027-01-01"), ("Bank Holiday", "2027-05-03"), ("Christmas", "2027-12-25")]


class CountingSimulator(Simulator):
    """Counts the API writes it answered and calls ``on_write(n)`` after the n-th. With
    ``lose_answers`` it applies every write and drops the answer of each POST and DELETE and
    of each PATCH's first attempt (a PATCH is resent, so dropping all would only fail it)."""

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.writes = 0
        self.on_write: Callable[[int], None] | None = None
        self.lose_answers = False
        self._patched: set[str] = set()
        self.fail_first_reads = False  # answer each extension's first GET with a 503
        self._read: set[str] = set()

    async def handle_api(
        self,
        method: str,
        extension_id: str,
        setting_type: str | None,
        body: Callable[[], Any],
        query: Mapping[str, str],
        authorization: str | None,
    ) -> Reply:
        if self.fail_first_reads and method == "GET" and extension_id not in self._read:
            self._read.add(extension_id)
            return Reply(503, {"code": 503, "message": "Service temporarily unavailable."})
        if self.lose_answers and method != "GET":
            first = method != "PATCH" or extension_id not in self._patched
            self._patched.add(extension_id)
            self.configure({"applied_drop": 1.0 if first else 0.0})
        return await super().handle_api(
            method, extension_id, setting_type, body, query, authorization
        )

    def record(self, method: str, path: str, query: str, reply: Reply, tracking_id: str) -> None:
        super().record(method, path, query, reply, tracking_id)
        if method != "GET" and "/phone/" in path:
            self.writes += 1
            if self.on_write is not None:
                self.on_write(self.writes)


@pytest.fixture
def users(tmp_path: Path) -> list[str]:
    exts = [e for e in generate_directory(40, 11) if e.type is ExtensionType.USER][:3]
    write_directory(exts, tmp_path / "directory.csv")
    return [e.extension_id for e in exts]


@pytest_asyncio.fixture
async def running(
    tmp_path: Path, users: list[str], request: pytest.FixtureRequest
) -> AsyncIterator[RunningSimulator]:
    extra: dict[str, Any] = getattr(request, "param", {})
    sim = CountingSimulator(
        SimConfig(directory=tmp_path / "directory.csv", credentials=CREDS, rate=None, **extra)
    )
    async with run_simulator(simulator=sim) as served:
        yield served


def seed_holidays(sim: Simulator, extension_ids: list[str]) -> None:
    for ext_id in extension_ids:
        ext = sim.state.extension(ext_id)
        assert ext is not None
        for name, day in SEEDED:
            sim.state.add_holiday(
                ext, {"name": name, "from": f"{day}T00:00:00Z", "to": f"{day}T23:59:00Z"}
            )


def holiday_job(tmp_path: Path, extension_ids: list[str]) -> Path:
    rows = [
        f"add,holiday_hours,holiday,{ext},{name},{day},{day},,"
        for ext in extension_ids
        for name, day in DESIRED
    ]
    job = tmp_path / "sync.csv"
    job.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return job


async def sync_run(
    running: RunningSimulator,
    job: Path,
    state: Path,
    spec: SyncSpec = YEAR,
    *,
    engine_hook: Callable[[Engine], None] | None = None,
    **options: Any,
) -> tuple[RunOutcome, str]:
    options.setdefault("retry", FAST_RETRY)
    settings = RunSettings(
        job=job,
        state_dir=state,
        account_plan=AccountPlan.BUSINESS,
        rate=500,
        options=EngineOptions(**options),
        api_url=running.api_url,
        oauth_url=running.oauth_url,
        write_reports=False,
        sync=spec,
    )
    out = io.StringIO()
    outcome = await run_job(
        settings, env=ENV, display=PlainDisplay(out), out=out, engine_hook=engine_hook
    )
    return outcome, out.getvalue()


def in_window(sim: Simulator, ext: str) -> Counter[tuple[str, str]]:
    return Counter(
        (name_key(h["name"]), h["from"][:10])
        for h in sim.holidays(ext)
        if h["from"].startswith("2027")
    )


def outside(sim: Simulator, ext: str) -> list[tuple[str, str, str]]:
    return [
        (h["holiday_id"], h["name"], h["from"])
        for h in sim.holidays(ext)
        if not h["from"].startswith("2027")
    ]


WANTED = Counter((name_key(n), d) for n, d in DESIRED)


def assert_converged(sim: Simulator, users: list[str], before: dict[str, Any]) -> None:
    for ext in users:
        assert in_window(sim, ext) == WANTED, ext
        assert outside(sim, ext) == before[ext], ext


async def test_one_sync_converges_and_a_second_sends_no_write(
    tmp_path: Path, running: RunningSimulator, users: list[str]
) -> None:
    sim = running.simulator
    assert isinstance(sim, CountingSimulator)
    seed_holidays(sim, users)
    before = {ext: outside(sim, ext) for ext in users}
    kept = {ext: sim.holidays(ext)[0]["holiday_id"] for ext in users}  # New Year 2027
    job = holiday_job(tmp_path, users)

    outcome, text = await sync_run(running, job, tmp_path / "state")
    assert outcome.exit_code == 0, text
    assert outcome.result.counts == {OpStatus.SUCCEEDED: 3 * len(users)}
    assert "sync holiday_hours in 2027-01-01..2027-12-31 (each extension's zone)" in text
    assert "delete  holiday_hours  holiday" in text  # the deletes, counted before any write
    assert_converged(sim, users, before)
    assert all(sim.holidays(ext)[0]["holiday_id"] == kept[ext] for ext in users)  # not re-added
    assert sim.writes == 3 * len(users)
    stats = outcome.result.stats
    assert stats.lookups == 2 * len(users)  # the sync's reads, then the engine's before writing
    assert stats.requests == stats.lookups + stats.writes == 5 * len(users)

    outcome, text = await sync_run(running, job, tmp_path / "state")
    assert outcome.exit_code == 0, text
    assert sim.writes == 3 * len(users)  # not one write more
    assert outcome.generation == 2  # the first run is kept aside, the account read afresh
    assert "already has exactly what the job lists; nothing to send" in text
    assert f"requests sent     {len(users)} (0 writes, {len(users)} reads)" in text
    assert_converged(sim, users, before)


async def test_json_logs_carry_the_planned_counts_as_an_event(
    tmp_path: Path,
    running: RunningSimulator,
    users: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = running.simulator
    seed_holidays(sim, users)
    job = holiday_job(tmp_path, users)
    settings = RunSettings(
        job=job,
        state_dir=tmp_path / "state",
        rate=500,
        options=EngineOptions(retry=FAST_RETRY),
        api_url=running.api_url,
        oauth_url=running.oauth_url,
        write_reports=False,
        sync=YEAR,
        log_format="json",
    )
    for converged in (False, True):
        out = io.StringIO()
        outcome = await run_job(settings, env=ENV, display=PlainDisplay(io.StringIO()), out=out)
        assert outcome.exit_code == 0
        assert "planned from what Zoom has now" not in out.getvalue()  # the text is text mode's
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
        [event] = [line for line in lines if line.get("event") == "sync_plan"]
        n = 0 if converged else len(users)
        assert event["scope"] == "holiday_hours"
        # no --timezone: each extension counts the window in its own zone
        assert event["window"] == {"first": "2027-01-01", "last": "2027-12-31", "zone": None}
        assert event["by_action"] == {"add": n, "update": n, "delete": n}
        assert event["operations"] == 3 * n and event["extensions"] == n
        deletes = [c for c in event["counts"] if c["action"] == "delete"]
        expected = (
            []
            if converged
            else [
                {
                    "action": "delete",
                    "setting_type": "holiday_hours",
                    "sub_setting_type": "holiday",
                    "operations": n,
                }
            ]
        )
        assert deletes == expected


async def test_a_nightly_sync_keeps_only_its_last_generations(
    tmp_path: Path, running: RunningSimulator, users: list[str]
) -> None:
    seed_holidays(running.simulator, users)
    job = holiday_job(tmp_path, users)
    state = tmp_path / "state"
    settings = RunSettings(
        job=job,
        state_dir=state,
        rate=500,
        options=EngineOptions(retry=FAST_RETRY),
        api_url=running.api_url,
        oauth_url=running.oauth_url,
        write_reports=False,
        sync=YEAR,
        keep_generations=2,
    )
    for night in range(1, 5):  # every finished sync is archived by the next night's run
        done = await run_job(
            settings, env=ENV, display=PlainDisplay(io.StringIO()), out=io.StringIO()
        )
        assert done.exit_code == 0 and done.generation == night
    assert sorted(p.name for p in (state / "generations").iterdir()) == ["2", "3"]


async def test_a_dry_run_counts_the_deletes_and_writes_nothing(
    tmp_path: Path, running: RunningSimulator, users: list[str]
) -> None:
    sim = running.simulator
    assert isinstance(sim, CountingSimulator)
    seed_holidays(sim, users)
    job = holiday_job(tmp_path, users)
    outcome, text = await sync_run(running, job, tmp_path / "state", dry_run=True)
    assert sim.writes == 0
    assert outcome.result.counts == {OpStatus.WOULD_CHANGE: 3 * len(users)}
    cells = [line.split() for line in text.splitlines()]
    table = {c[0]: c[-1] for c in cells if len(c) == 4 and c[1] == "holiday_hours"}
    assert table == {"add": str(len(users)), "update": str(len(users)), "delete": str(len(users))}
    assert not (tmp_path / "state").exists()  # a dry run keeps no state


async def test_lost_answers_create_no_duplicate_and_delete_once(
    tmp_path: Path, running: RunningSimulator, users: list[str], sim_variant: dict[str, Any]
) -> None:
    """Every add and delete is applied and its answer lost: each is settled by reading, never
    sent twice. One lane at a time, so each write meets the fault meant for it."""
    sim = running.simulator
    assert isinstance(sim, CountingSimulator)
    sim.configure(sim_variant)
    seed_holidays(sim, users)
    before = {ext: outside(sim, ext) for ext in users}
    job = holiday_job(tmp_path, users)
    sim.lose_answers = True
    outcome, text = await sync_run(running, job, tmp_path / "state", concurrency=1)
    assert outcome.exit_code == 0, text
    assert outcome.result.stats.reconciliations >= len(users), text  # each lost POST, by a read
    assert_converged(sim, users, before)
    posts = [j for j in sim.journal if j.method == "POST" and "/phone/" in j.path]
    assert len(posts) == len(users) and all(j.applied for j in posts)  # one per missing holiday
    deletes = [j for j in sim.journal if j.method == "DELETE" and "/phone/" in j.path]
    assert sum(j.applied for j in deletes) == len(users)
    writes = sim.writes
    outcome, text = await sync_run(running, job, tmp_path / "state", concurrency=1)
    assert outcome.exit_code == 0 and sim.writes == writes, text


async def test_a_stopped_sync_resumes_its_recorded_plan_not_a_new_reading(
    tmp_path: Path, running: RunningSimulator, users: list[str]
) -> None:
    sim = running.simulator
    assert isinstance(sim, CountingSimulator)
    seed_holidays(sim, users)
    before = {ext: outside(sim, ext) for ext in users}
    job = holiday_job(tmp_path, users)
    engines: list[Engine] = []
    sim.on_write = lambda n: engines[0].request_stop(StopReason.SIGNAL, "test") if n == 1 else None
    outcome, text = await sync_run(
        running, job, tmp_path / "state", engine_hook=engines.append, concurrency=1
    )
    assert outcome.exit_code == 75, text
    assert 1 <= sim.writes < 3 * len(users)
    sim.on_write = None
    # Between the runs someone adds a holiday in the window: the resumed run carries out the
    # operations recorded before its first write and does not read the account into new ones.
    late = sim.state.extension(users[-1])
    assert late is not None
    sim.state.add_holiday(
        late, {"name": "Late Day", "from": "2027-09-09T00:00:00Z", "to": "2027-09-09T23:59:00Z"}
    )
    outcome, text = await sync_run(running, job, tmp_path / "state")
    assert outcome.exit_code == 0, text
    assert outcome.generation == 1  # the same plan, finished
    assert ("late day", "2027-09-09") in in_window(sim, users[-1])
    assert sim.writes == 3 * len(users)  # each planned write once, the stopped one included
    # The next run reads afresh: the late holiday is not in the job, so it goes.
    outcome, text = await sync_run(running, job, tmp_path / "state")
    assert outcome.exit_code == 0, text
    assert outcome.result.counts == {OpStatus.SUCCEEDED: 1}
    assert_converged(sim, users, before)


async def test_a_read_that_fails_once_is_retried(
    tmp_path: Path, running: RunningSimulator, users: list[str]
) -> None:
    sim = running.simulator
    assert isinstance(sim, CountingSimulator)
    seed_holidays(sim, users)
    before = {ext: outside(sim, ext) for ext in users}
    sim.fail_first_reads = True
    outcome, text = await sync_run(running, holiday_job(tmp_path, users), tmp_path / "state")
    assert outcome.exit_code == 0, text
    assert outcome.result.stats.retries == len(users)  # the sync's reads, once each
    assert sum(1 for j in sim.journal if j.method == "GET" and j.status == 503) == len(users)
    assert_converged(sim, users, before)


@pytest.mark.parametrize("running", [{"fault_reads": True, "error_5xx": 1.0}], indirect=True)
async def test_a_sync_that_cannot_read_plans_and_sends_nothing(
    tmp_path: Path, running: RunningSimulator, users: list[str]
) -> None:
    sim = running.simulator
    assert isinstance(sim, CountingSimulator)
    with pytest.raises(SyncReadError, match="Nothing was planned or sent; run the same command"):
        await sync_run(running, holiday_job(tmp_path, users), tmp_path / "state")
    assert sim.writes == 0


async def test_a_gone_extension_keeps_its_rows_for_the_engine_to_fail(
    tmp_path: Path, running: RunningSimulator, users: list[str]
) -> None:
    sim = running.simulator
    job = holiday_job(tmp_path, [*users[:1], "goneGoneGoneGoneGone22"])
    outcome, text = await sync_run(running, job, tmp_path / "state")
    assert outcome.exit_code == 1, text
    assert outcome.result.counts == {OpStatus.SUCCEEDED: 3, OpStatus.FAILED: 1, OpStatus.SKIPPED: 2}
    assert in_window(sim, users[0]) == WANTED


async def test_a_forwarding_sync_keeps_exactly_the_listed_numbers(
    tmp_path: Path, running: RunningSimulator, users: list[str]
) -> None:
    sim = running.simulator
    assert isinstance(sim, CountingSimulator)
    ext_id = users[0]
    ext = sim.state.extension(ext_id)
    assert ext is not None
    for number, words in (("+14155550100", "desk"), ("+14155550101", "old"), ("+14155550199", "x")):
        sim.state.add_forwarding(
            ext, "business_hours", {"phone_number": number, "description": words}
        )
    sim.state.add_forwarding(ext, "closed_hours", {"phone_number": "+14155550300"})
    apps = [e for e in sim.forwarding(ext_id) if "phone_number" not in e]
    rows = [
        f"add,business_hours,call_forwarding,{ext_id},,,,+14155550100,desk",
        f"add,business_hours,call_forwarding,{ext_id},,,,+14155550101,front desk",
        f"add,business_hours,call_forwarding,{ext_id},,,,+14155550102,new",
    ]
    job = tmp_path / "forwarding.csv"
    job.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    spec = SyncSpec.of("call_forwarding", None)
    outcome, text = await sync_run(running, job, tmp_path / "state", spec)
    assert outcome.exit_code == 0, text
    entries = sim.forwarding(ext_id)
    numbered = {e["phone_number"]: e["description"] for e in entries if "phone_number" in e}
    assert numbered == {"+14155550100": "desk", "+14155550101": "front desk", "+14155550102": "new"}
    assert [e for e in entries if "phone_number" not in e] == apps  # Zoom's own, untouched
    closed = sim.forwarding(ext_id, "closed_hours")
    assert [e["phone_number"] for e in closed if "phone_number" in e] == ["+14155550300"]
    assert sim.writes == 3
    outcome, text = await sync_run(running, job, tmp_path / "state", spec)
    assert outcome.exit_code == 0 and sim.writes == 3, text


# -- the CLI -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--sync", "holiday_hours", "--window", "2027-01-01"], "has no '..'"),
        (["--sync", "holiday_hours", "--window", "2027-02-30..2027-12-31"], "is not a date"),
        (["--sync", "holiday_hours", "--window", "2027-12-31..2027-01-01"], "ends before"),
        (["--sync", "holiday_hours"], "needs --window"),
        (["--window", "2027-01-01..2027-12-31"], "--window goes with --sync holiday_hours"),
        (["--sync", "holidays", "--window", "2027-01-01..2027-12-31"], "is not a scope"),
        (["--sync", "holiday_hours", "--window", "2027-03-01..2027-12-31"], "does not start in"),
    ],
)
def test_bad_sync_flags_exit_2_before_sending(
    tmp_path: Path, flags: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    job = holiday_job(tmp_path, ["extSyncAAAAAAAAAAAAAAA"])
    # Port 9 (discard) has no Zoom behind it: anything sent would fail otherwise, not exit 2.
    argv = ["run", str(job), "--state", str(tmp_path / "s"), "--api-url", "http://127.0.0.1:9/v2"]
    assert main([*argv, *flags, "--yes"]) == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_plan_checks_a_sync_job_and_says_where_the_deletes_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = holiday_job(tmp_path, ["extSyncAAAAAAAAAAAAAAA"])
    assert (
        main(["plan", str(job), "--sync", "holiday_hours", "--window", "2027-01-01..2027-12-31"])
        == 0
    )
    out = capsys.readouterr().out
    assert "bulkops run --dry-run" in out and "add     holiday_hours" in out
    assert (
        main(["plan", str(job), "--sync", "holiday_hours", "--window", "2027-06-01..2027-12-31"])
        == 2
    )
    assert "does not start in the --window" in capsys.readouterr().err
