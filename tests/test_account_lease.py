"""One run per Zoom account at a time: the lease, and two real runs of one job at once."""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bulkops.config import AccountPlan, Credentials
from bulkops.errors import AccountBusyError, AccountMismatchError, CheckpointError
from bulkops.exit_codes import EXIT_LOCKED, EXIT_OK, exit_code
from bulkops.model import OpStatus
from bulkops.progress import PlainDisplay
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
from bulkops.state import Checkpoint
from bulkops.state.lease import account_lease, lease_path, runtime_dir

CREDS = Credentials("lease-account", "lease-client", "lease-secret-3f9a")
OTHER = Credentials("other-account", "other-client", "other-secret-77b0")
API = "https://api.zoom.us/v2"
HEADER = "action,setting_type,sub_setting_type,extension_id,name,from,to,phone_number,description,settings"
DAYS = 4


def env_for(creds: Credentials, run_dir: Path) -> dict[str, str]:
    return {**creds.as_env(), "XDG_RUNTIME_DIR": str(run_dir)}


class Waiting(logging.Handler):
    """Sets ``event`` when a run announces that it waits for the account's other run."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.event = asyncio.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        if record.getMessage().startswith("waiting for the other bulkops run"):
            self.event.set()


@pytest.fixture
def waiting() -> Iterator[Waiting]:
    handler = Waiting()
    logger = logging.getLogger("bulkops.state.lease")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    path = tmp_path / "xdg-runtime"
    path.mkdir(mode=0o700)
    return path


async def until(event: asyncio.Event, task: asyncio.Task[Any]) -> None:
    """Wait for ``event``; should ``task`` end first, its error (or a failure) says why."""
    waiter = asyncio.ensure_future(event.wait())
    await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    if not event.is_set():
        waiter.cancel()
        task.result()
        pytest.fail("the run ended before the point the test waits for")


# -- the lease itself ---------------------------------------------------------------------------


async def test_a_second_holder_is_refused_with_the_first_ones_job_and_state(run_dir: Path) -> None:
    directory = runtime_dir({"XDG_RUNTIME_DIR": str(run_dir)})
    assert directory == run_dir / "bulkops"
    async with account_lease(
        directory, API, "acct", job="jobs/a.csv", state="jobs/.bulkops/a.csv", wait=False
    ) as path:
        assert path.stat().st_mode & 0o777 == 0o600
        assert directory.stat().st_mode & 0o777 == 0o700
        assert "acct" not in path.name
        with pytest.raises(AccountBusyError) as caught:
            async with account_lease(directory, API, "acct", job="b", state="s", wait=False):
                pass  # pragma: no cover - never entered
        message = str(caught.value)
        assert "jobs/a.csv" in message and "jobs/.bulkops/a.csv" in message
        assert f"pid {os.getpid()}" in message and "--wait" in message
        assert exit_code(caught.value) == EXIT_LOCKED
        # Another account, or the same account id on another Zoom, has its own lease.
        async with account_lease(directory, API, "other", job="c", state="s", wait=False):
            pass
        async with account_lease(
            directory, "http://127.0.0.1:9/v2", "acct", job="d", state="s", wait=False
        ):
            pass
    assert not path.exists()  # released and removed
    async with account_lease(directory, API, "acct", job="e", state="s", wait=False):
        pass


async def test_a_waiting_run_starts_when_the_holder_leaves(run_dir: Path, waiting: Waiting) -> None:
    directory = run_dir / "bulkops"
    order: list[str] = []

    async def second() -> None:
        async with account_lease(
            directory, API, "acct", job="b.csv", state="sb", wait=True
        ) as path:
            order.append("second holds")
            assert b'"job":"b.csv"' in path.read_bytes()

    async with account_lease(directory, API, "acct", job="a.csv", state="sa", wait=False):
        task = asyncio.create_task(second())
        await waiting.event.wait()
        assert "job a.csv with state sa" in waiting.messages[0]
        order.append("first leaves")
    await task
    assert order == ["first leaves", "second holds"]


async def test_a_waiting_run_that_is_cancelled_leaves_no_lock_behind(
    run_dir: Path, waiting: Waiting
) -> None:
    directory = run_dir / "bulkops"

    async def queued() -> None:
        async with account_lease(directory, API, "acct", job="b", state="s", wait=True):
            raise AssertionError("a cancelled waiter must never hold the lease")

    async with account_lease(directory, API, "acct", job="a", state="s", wait=False):
        task = asyncio.create_task(queued())
        await waiting.event.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    async with account_lease(directory, API, "acct", job="c", state="s", wait=False):
        pass


def _hold_lease(run_dir: str, ready: Any) -> None:
    async def hold() -> None:
        directory = Path(run_dir) / "bulkops"
        async with account_lease(directory, API, "acct", job="held", state="s", wait=False):
            ready.set()
            await asyncio.Event().wait()  # until killed

    asyncio.run(hold())


async def test_the_lease_dies_with_its_process(run_dir: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_hold_lease, args=(str(run_dir), ready))
    proc.start()
    directory = run_dir / "bulkops"
    try:
        assert await asyncio.to_thread(ready.wait, 60)
        with pytest.raises(AccountBusyError, match="job held"):
            async with account_lease(directory, API, "acct", job="b", state="s", wait=False):
                pass  # pragma: no cover - never entered
    finally:
        proc.kill()
        await asyncio.to_thread(proc.join)
    # The killed holder could not unlink its file; the kernel dropped its lock all the same.
    assert lease_path(directory, API, "acct").exists()
    async with account_lease(directory, API, "acct", job="c", state="s", wait=False):
        pass


def test_the_runtime_directory_falls_back_to_a_private_one_in_the_temp_dir(tmp_path: Path) -> None:
    fallback = runtime_dir({})
    assert fallback.name == f"bulkops-{os.geteuid()}"
    assert runtime_dir({"XDG_RUNTIME_DIR": str(tmp_path / "missing")}) == fallback


async def test_a_runtime_directory_that_is_not_private_is_tightened_or_refused(
    tmp_path: Path,
) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o755)
    async with account_lease(loose, API, "acct", job="a", state="s", wait=False):
        assert loose.stat().st_mode & 0o777 == 0o700
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(CheckpointError, match="not a directory of this user"):
        async with account_lease(tmp_path / "link", API, "acct", job="a", state="s", wait=False):
            pass  # pragma: no cover - never entered


# -- two real runs of one job on one account --------------------------------------------------


class GatedSimulator(Simulator):
    """Holds the first write it receives until the test sets ``release``."""

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.first_write = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_api(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if method != "GET" and not self.first_write.is_set():
            self.first_write.set()
            await self.release.wait()
        return await super().handle_api(method, *args, **kwargs)


def _users(tmp: Path, count: int) -> tuple[Path, list[str]]:
    exts = generate_directory(8 * count + 8, 11)
    users = [e for e in exts if e.type is ExtensionType.USER][:count]
    directory = tmp / "directory.csv"
    write_directory(users, directory)
    return directory, [u.extension_id for u in users]


def _job(tmp: Path, users: list[str]) -> Path:
    rows = [
        f"add,holiday_hours,holiday,{u},Lease Day {i},2027-04-{1 + i:02d},2027-04-{1 + i:02d},,,"
        for u in users
        for i in range(DAYS)
    ]
    job = tmp / "job.csv"
    job.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return job


@pytest.fixture
async def gated(
    tmp_path: Path,
) -> AsyncIterator[tuple[RunningSimulator, GatedSimulator, Path, list[str]]]:
    directory, users = _users(tmp_path, 3)
    sim = GatedSimulator(SimConfig(directory=directory, rate=None, credentials=CREDS))
    async with run_simulator(simulator=sim) as running:
        yield running, sim, _job(tmp_path, users), users


async def _run(
    running: RunningSimulator, job: Path, state: Path, env: dict[str, str], *, wait: bool = False
) -> RunOutcome:
    settings = RunSettings(
        job=job,
        state_dir=state,
        account_plan=AccountPlan.BUSINESS,
        rate=500,
        api_url=running.api_url,
        oauth_url=running.oauth_url,
        write_reports=False,
        wait=wait,
    )
    out = io.StringIO()
    return await run_job(settings, env=env, display=PlainDisplay(out), out=out)


def _holidays_once(sim: Simulator, users: list[str]) -> None:
    for user in users:
        names = Counter(h["name"] for h in sim.holidays(user) if h["name"].startswith("Lease Day"))
        assert names == Counter(f"Lease Day {i}" for i in range(DAYS)), user


def _token_requests(sim: Simulator) -> int:
    return sum(1 for j in sim.journal if j.path.endswith("/oauth/token"))


async def test_the_same_job_under_a_second_state_exits_73_and_sends_nothing(
    gated: tuple[RunningSimulator, GatedSimulator, Path, list[str]], tmp_path: Path, run_dir: Path
) -> None:
    running, sim, job, users = gated
    env = env_for(CREDS, run_dir)
    first = asyncio.create_task(_run(running, job, tmp_path / "state-a", env))
    await until(sim.first_write, first)  # the first run holds the account and has a write in Zoom
    with pytest.raises(AccountBusyError) as caught:
        await _run(running, job, tmp_path / "state-b", env)
    assert exit_code(caught.value) == EXIT_LOCKED
    assert str(job) in str(caught.value) and str(tmp_path / "state-a") in str(caught.value)
    assert not (tmp_path / "state-b").exists()  # refused before its state was made
    sim.release.set()
    outcome = await first
    assert outcome.exit_code == EXIT_OK
    assert _token_requests(sim) == 1  # the second run never logged in
    _holidays_once(sim, users)
    # Run again once the first is done: it finds everything in place and adds nothing.
    again = await _run(running, job, tmp_path / "state-b", env)
    assert again.result.counts == {OpStatus.ALREADY_PRESENT: DAYS * len(users)}
    _holidays_once(sim, users)


async def test_with_wait_the_second_run_starts_after_the_first_and_finds_it_all_done(
    gated: tuple[RunningSimulator, GatedSimulator, Path, list[str]],
    tmp_path: Path,
    run_dir: Path,
    waiting: Waiting,
) -> None:
    running, sim, job, users = gated
    env = env_for(CREDS, run_dir)
    first = asyncio.create_task(_run(running, job, tmp_path / "state-a", env))
    await until(sim.first_write, first)
    second = asyncio.create_task(_run(running, job, tmp_path / "state-b", env, wait=True))
    await until(waiting.event, second)  # queued behind the first, with nothing sent
    assert _token_requests(sim) == 1
    sim.release.set()
    done_first, done_second = await first, await second
    assert done_first.exit_code == EXIT_OK
    assert done_first.result.counts == {OpStatus.SUCCEEDED: DAYS * len(users)}
    assert done_second.exit_code == EXIT_OK
    assert done_second.result.counts == {OpStatus.ALREADY_PRESENT: DAYS * len(users)}
    _holidays_once(sim, users)
    writes = [j for j in sim.journal if j.method == "POST" and "/phone/" in j.path]
    assert len(writes) == DAYS * len(users)  # zero duplicates: each add was sent once, in all


# -- the state remembers its account ----------------------------------------------------------


def test_a_state_refuses_another_accounts_credentials(tmp_path: Path) -> None:
    cp = Checkpoint.open(tmp_path, job_hash="h", job_path="job.csv")
    cp.claim_account("acct-1")
    cp.claim_account("acct-1")  # the same account resumes
    cp.close()
    cp = Checkpoint.open(tmp_path, job_hash="h", job_path="job.csv")
    with pytest.raises(AccountMismatchError, match=r"'acct-1'.*'acct-2'") as caught:
        cp.claim_account("acct-2")
    cp.close()
    assert exit_code(caught.value) == EXIT_LOCKED


async def test_a_run_with_another_accounts_credentials_is_refused_before_sending(
    tmp_path: Path, run_dir: Path
) -> None:
    directory, users = _users(tmp_path, 1)
    job = _job(tmp_path, users)
    state = tmp_path / "state"
    config = SimConfig(directory=directory, rate=None, credentials=CREDS)
    async with run_simulator(config) as running:
        assert (await _run(running, job, state, env_for(CREDS, run_dir))).exit_code == EXIT_OK
    other = SimConfig(directory=directory, rate=None, credentials=OTHER)
    async with run_simulator(other) as running:
        with pytest.raises(AccountMismatchError, match="lease-account"):
            await _run(running, job, state, env_for(OTHER, run_dir))
        assert len(running.simulator.journal) == 0  # not even a token request
