"""Crash and stop safety of `bulkops run`, as a separate process against the simulator.

The simulator runs in the test process; `python -m bulkops run` runs as a subprocess that the
test SIGKILLs, SIGTERMs or SIGINTs at seeded points (after the N-th write the simulator answered,
or after a random delay). Whatever the kills, the reruns must converge on exactly the planned
state: every holiday and forwarding number once, every deleted item gone, and a checkpoint with
nothing left open. The SIGKILL test runs against every way the simulator may store a holiday
(times to the second or minute, names verbatim or trimmed): the state to converge on is the job's
holidays as the account stores them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bulkops.config import Credentials
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
from bulkops.simulator.storage import HolidayNames, HolidayTimes, stored_holiday

REPO = Path(__file__).resolve().parent.parent
CREDS = Credentials("resume-account", "resume-client", "resume-secret-5b1e")
HEADER = "action,setting_type,sub_setting_type,extension_id,name,from,to,phone_number,description,settings"
OLD_HOLIDAY = {"name": "Old Day", "from": "2026-02-02T00:00:00Z", "to": "2026-02-02T23:59:59Z"}
OLD_NUMBER = "+14155550999"
HOLIDAY_NUMBER = "+14155550100"
DESK_NUMBER = "+14155550200"
NEW_HOLIDAYS = [
    ("Resume  Day A", "2027-01-04"),  # two spaces: an account that trims stores it otherwise
    ("Resume Day B", "2027-02-04"),
    ("Resume Day C", "2027-03-04"),
]
OK_STATES = {"succeeded", "already_present", "already_absent"}
WAIT_S = 60.0  # the longest any one subprocess may take


class WatchedSimulator(Simulator):
    """A simulator the test can watch and hold still.

    ``on_write(n)`` is called once it has answered its n-th API write. While writes are held
    (:meth:`hold_writes`), every write waits at the door until :meth:`release`, so a run can be
    pinned mid-job at a known point instead of racing the clock. :meth:`settled` waits until no
    API request is being handled, so a write applied after its client died is in the state
    before the next run reads it.
    """

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.writes = 0
        self.on_write: Callable[[int], None] | None = None
        self.held = 0  # writes waiting at the door right now
        self.write_held = asyncio.Event()  # set once a write is waiting at the door
        self._open = asyncio.Event()
        self._open.set()
        self._handling = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    def record(self, method: str, path: str, query: str, reply: Reply, tracking_id: str) -> None:
        super().record(method, path, query, reply, tracking_id)
        if method != "GET" and "/phone/" in path:
            self.writes += 1
            if self.on_write is not None:
                self.on_write(self.writes)

    def hold_writes(self) -> None:
        self.write_held.clear()
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def settled(self) -> None:
        await asyncio.wait_for(self._quiet.wait(), WAIT_S)

    async def handle_api(
        self,
        method: str,
        extension_id: str,
        setting_type: str | None,
        body: Callable[[], Any],
        query: Mapping[str, str],
        authorization: str | None,
    ) -> Reply:
        self._handling += 1
        self._quiet.clear()
        try:
            if method != "GET" and not self._open.is_set():
                self.held += 1
                self.write_held.set()
                try:
                    await self._open.wait()
                finally:
                    self.held -= 1
            return await super().handle_api(
                method, extension_id, setting_type, body, query, authorization
            )
        finally:
            self._handling -= 1
            if not self._handling:
                self._quiet.set()


@dataclass
class World:
    tmp: Path
    directory: Path
    users: list[str]
    job: Path
    before: dict[str, dict[str, Any]] = field(default_factory=dict)
    # how the simulator stores holidays: the expected state is the job's, stored that way
    times: HolidayTimes = HolidayTimes.SECOND
    names: HolidayNames = HolidayNames.VERBATIM


def _world(tmp: Path, sim: Simulator, users: list[str]) -> World:
    """Seed what the job deletes, write the job: adds, forwarding under a holiday, deletes."""
    for ext_id in users:
        ext = sim.state.extension(ext_id)
        assert ext is not None
        sim.state.add_holiday(ext, dict(OLD_HOLIDAY))
        sim.state.add_forwarding(
            ext, "business_hours", {"phone_number": OLD_NUMBER, "description": "old"}
        )
    rows = []
    for u in users:
        for name, day in NEW_HOLIDAYS[:2]:
            rows.append(f"add,holiday_hours,holiday,{u},{name},{day},{day},,,")
        first_name, first_day = NEW_HOLIDAYS[0]
        rows.append(
            f"add,holiday_hours,call_forwarding,{u},{first_name},{first_day},,{HOLIDAY_NUMBER},Holiday desk,"
        )
        rows.append(f"add,business_hours,call_forwarding,{u},,,,{DESK_NUMBER},Desk,")
        rows.append(f"delete,holiday_hours,holiday,{u},{OLD_HOLIDAY['name']},2026-02-02,,,,")
        rows.append(f"delete,business_hours,call_forwarding,{u},,,,{OLD_NUMBER},,")
        name, day = NEW_HOLIDAYS[2]
        rows.append(f"add,holiday_hours,holiday,{u},{name},{day},{day},,,")
        rows.append(f'update,business_hours,custom_hours,{u},,,,,,"{{""type"": 1}}"')
    job = tmp / "job.csv"
    job.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    world = World(tmp, tmp / "directory.csv", users, job)
    world.times, world.names = sim.config.holiday_times, sim.config.holiday_names
    world.before = {u: _picture(sim, u) for u in users}
    return world


def _picture(sim: Simulator, ext_id: str) -> dict[str, Any]:
    """What the test compares: holidays and forwarding numbers as multisets (ids aside)."""
    holidays = Counter((h["name"], h["from"], h["to"]) for h in sim.holidays(ext_id))
    under = {}
    for h in sim.holidays(ext_id):
        numbers = sim.forwarding(ext_id, "holiday_hours", h["holiday_id"])
        under[h["name"]] = Counter(f["phone_number"] for f in numbers if "phone_number" in f)
    business = Counter(f["phone_number"] for f in sim.forwarding(ext_id) if "phone_number" in f)
    hours = next(
        e["settings"]
        for e in sim.settings(ext_id)["business_hours"]
        if e["sub_setting_type"] == "custom_hours"
    )
    return {"holidays": holidays, "under": under, "business": business, "hours": hours["type"]}


def _expected(world: World, before: dict[str, Any]) -> dict[str, Any]:
    holidays = Counter(before["holidays"])
    del holidays[(OLD_HOLIDAY["name"], OLD_HOLIDAY["from"], OLD_HOLIDAY["to"])]
    stored = [
        stored_holiday(
            {"name": name, "from": f"{day}T00:00:00Z", "to": f"{day}T23:59:59Z"},
            world.times,
            world.names,
        )
        for name, day in NEW_HOLIDAYS
    ]
    for h in stored:
        holidays[(h["name"], h["from"], h["to"])] += 1
    under = {n: c for n, c in before["under"].items() if n != OLD_HOLIDAY["name"]}
    under.update({h["name"]: Counter() for h in stored})
    under[stored[0]["name"]] = Counter({HOLIDAY_NUMBER: 1})
    business = Counter(before["business"])
    del business[OLD_NUMBER]
    business[DESK_NUMBER] += 1
    return {"holidays": holidays, "under": under, "business": business, "hours": 1}


def assert_exact_state(sim: Simulator, world: World) -> None:
    for u in world.users:
        assert _picture(sim, u) == _expected(world, world.before[u]), u


def checkpoint_counts(state: Path) -> Counter[str]:
    conn = sqlite3.connect(f"file:{state / 'checkpoint.sqlite3'}?mode=ro", uri=True)
    try:
        return Counter(dict(conn.execute("SELECT status, COUNT(*) FROM ops GROUP BY status")))
    finally:
        conn.close()


def reconciled_ops(state: Path) -> int:
    conn = sqlite3.connect(f"file:{state / 'checkpoint.sqlite3'}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM ops WHERE reconciled = 1").fetchone()[0])
    finally:
        conn.close()


def _failures(state: Path) -> str:
    conn = sqlite3.connect(f"file:{state / 'checkpoint.sqlite3'}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT seq, action, setting_type, sub_setting_type, holiday_name, phone_number,"
            " status, attempts, http_status, message FROM ops WHERE status NOT IN (?, ?, ?)",
            sorted(OK_STATES),
        ).fetchall()
    finally:
        conn.close()
    return "\n".join(map(repr, rows))


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOM_")}
    env.update(
        ZOOM_ACCOUNT_ID=CREDS.account_id,
        ZOOM_CLIENT_ID=CREDS.client_id,
        ZOOM_CLIENT_SECRET=CREDS.client_secret,
    )
    return env


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str


class Bulkops:
    """`python -m bulkops run` against one running simulator, as a subprocess."""

    def __init__(self, running: RunningSimulator, world: World) -> None:
        self.running = running
        self.world = world
        self.procs: list[asyncio.subprocess.Process] = []

    def args(self, state: Path, *extra: str, job: Path | None = None) -> list[str]:
        return [
            "run",
            str(job or self.world.job),
            "--directory",
            str(self.world.directory),
            "--state",
            str(state),
            "--api-url",
            self.running.api_url,
            "--oauth-url",
            self.running.oauth_url,
            "--rate",
            "500",
            "--yes",
            "--timezone",  # the expected holidays are UTC days, whatever the directory's zones
            "UTC",
            *extra,
        ]

    async def start(self, args: list[str]) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bulkops",
            *args,
            cwd=REPO,
            env=_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self.procs.append(proc)
        return proc

    async def wait(self, proc: asyncio.subprocess.Process) -> Finished:
        out, err = await asyncio.wait_for(proc.communicate(), WAIT_S)
        assert proc.returncode is not None
        return Finished(proc.returncode, out.decode(), err.decode())

    async def run(self, args: list[str]) -> Finished:
        return await self.wait(await self.start(args))

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()


@contextlib.asynccontextmanager
async def scenario(
    tmp: Path, *, users: int = 6, seed: int = 11, **config: Any
) -> AsyncIterator[tuple[WatchedSimulator, World, Bulkops]]:
    exts = [e for e in generate_directory(users * 3, seed) if e.type is ExtensionType.USER]
    exts = exts[:users]
    directory = tmp / "directory.csv"
    write_directory(exts, directory)
    sim = WatchedSimulator(
        SimConfig(directory=directory, rate=None, seed=seed, credentials=CREDS, **config)
    )
    world = _world(tmp, sim, [e.extension_id for e in exts])
    async with run_simulator(simulator=sim) as running:
        cli = Bulkops(running, world)
        try:
            yield sim, world, cli
        finally:
            sim.on_write = None
            sim.release()
            cli.cleanup()
            for proc in cli.procs:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(proc.wait(), 5)


def _signal_after_writes(
    sim: WatchedSimulator, proc: asyncio.subprocess.Process, n: int, signals: list[int]
) -> None:
    """Send ``signals`` to ``proc`` once the simulator answered ``n`` more writes."""
    start = sim.writes

    def on_write(count: int) -> None:
        if count - start >= n and sim.on_write is on_write:
            sim.on_write = None
            for sig in signals:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)

    sim.on_write = on_write


# -- SIGKILL at random points ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "kills", "faults"),
    [
        pytest.param(
            101,
            7,
            {"applied_5xx": 0.08, "applied_drop": 0.08, "error_5xx": 0.04},
            id="applied-faults",
        ),
        pytest.param(
            202,
            6,
            {"applied_drop": 0.15, "error_5xx": 0.04},
            id="dropped-answers",
        ),
    ],
)
async def test_sigkill_at_random_points_converges_on_the_exact_state(
    tmp_path: Path,
    seed: int,
    kills: int,
    faults: dict[str, Any],
    sim_variant: dict[str, Any],
) -> None:
    rng = random.Random(seed)
    state = tmp_path / "state"
    config = {**faults, **sim_variant}
    async with scenario(tmp_path, seed=seed, latency_ms=15, **config) as (sim, world, cli):
        killed = 0
        for _ in range(kills):
            proc = await cli.start(cli.args(state))
            if rng.random() < 0.7:  # mid-run, right after the simulator answered a write
                _signal_after_writes(sim, proc, rng.randint(1, 7), [signal.SIGKILL])
                done = await cli.wait(proc)
            else:  # anywhere: start-up, planning, opening the checkpoint, stuck at a write
                # Writes wait at the door meanwhile, so the job cannot end before the kill: the
                # clock only picks where the kill lands, never whether it lands.
                sim.hold_writes()
                await asyncio.sleep(rng.uniform(0.05, 1.2))
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                done = await cli.wait(proc)
                sim.release()  # the held writes are applied, their answers lost with the run
            sim.on_write = None
            await sim.settled()  # what the dead run had sent lands before the next run reads
            if done.code == -signal.SIGKILL:
                killed += 1
            else:
                assert done.code == 0, done.stderr
                break
        assert killed >= kills - 2, "the kills should mostly land before the job ends"

        final = await cli.run(cli.args(state))
        if final.code == 1:
            # Only the faults' bad luck may fail an op for good (max attempts in a row); the
            # failures must say so, and --retry-failed finishes them.
            failures = _failures(state)
            assert all("gave up after" in line for line in failures.splitlines()), failures
            final = await cli.run(cli.args(state, "--retry-failed"))
        assert final.code == 0, _failures(state)
        assert_exact_state(sim, world)
        counts = checkpoint_counts(state)
        assert set(counts) <= OK_STATES, counts
        assert sum(counts.values()) == 8 * len(world.users)
        # The faults made some POSTs ambiguous: the engine settled them by reading, not resending.
        assert sim.journal.by_fault, "the faults should have fired"
        assert reconciled_ops(state) >= 1

        # A rerun of the finished job sends no write.
        writes = sim.writes
        again = await cli.run(cli.args(state))
        assert again.code == 0, again.stderr
        assert sim.writes == writes


# -- SIGTERM and SIGINT ----------------------------------------------------------------------


async def test_sigterm_stops_gracefully_and_the_rerun_completes(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with scenario(tmp_path, latency_ms=60, latency_sigma=0.1) as (sim, world, cli):
        proc = await cli.start(cli.args(state))
        _signal_after_writes(sim, proc, 6, [signal.SIGTERM])
        stopped = await cli.wait(proc)
        assert stopped.code == 75, stopped.stdout + stopped.stderr
        assert "stopped" in stopped.stdout and "signal" in stopped.stdout
        counts = checkpoint_counts(state)
        assert counts["not_run"] > 0, counts
        assert counts["in_flight"] == 0, "the grace period lets in-flight requests finish"

        rerun = await cli.run(cli.args(state))
        assert rerun.code == 0, rerun.stdout + rerun.stderr
        assert_exact_state(sim, world)
        assert set(checkpoint_counts(state)) <= OK_STATES


async def test_second_sigint_leaves_at_once_and_the_rerun_completes(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with scenario(tmp_path, latency_ms=60, latency_sigma=0.1) as (sim, world, cli):
        proc = await cli.start(cli.args(state))

        def hold_after_four(n: int) -> None:
            if n >= 4 and sim.on_write is hold_after_four:
                sim.on_write = None
                sim.hold_writes()

        sim.on_write = hold_after_four
        await asyncio.wait_for(sim.write_held.wait(), WAIT_S)  # a write now hangs at the server
        proc.send_signal(signal.SIGINT)
        await _read_stderr_until(proc, b"SIGINT received")
        assert sim.held, "the first SIGINT waits for the requests in flight"
        proc.send_signal(signal.SIGINT)
        interrupted = await cli.wait(proc)
        assert interrupted.code == 130, interrupted.stderr
        assert "leaving now" in interrupted.stderr
        assert sim.held, "the second SIGINT left without waiting for the requests in flight"

        sim.release()
        await sim.settled()  # let the server finish what was sent
        sim.configure({"latency_ms": 5, "latency_sigma": 0.1})
        rerun = await cli.run(cli.args(state))
        assert rerun.code == 0, rerun.stdout + rerun.stderr
        assert_exact_state(sim, world)
        assert set(checkpoint_counts(state)) <= OK_STATES


async def _read_stderr_until(proc: asyncio.subprocess.Process, text: bytes) -> None:
    """Read the run's stderr up to the line that holds ``text`` (the rest stays in the pipe)."""
    assert proc.stderr is not None
    async with asyncio.timeout(WAIT_S):
        while True:
            line = await proc.stderr.readline()
            assert line, f"the run ended without saying {text!r}"
            if text in line:
                return


# -- the state lock ------------------------------------------------------------------------------


async def test_a_second_run_on_a_busy_state_exits_73(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with scenario(tmp_path, latency_ms=15) as (sim, world, cli):
        # The first run holds the state and is pinned at its first write until released: the
        # second run meets it there however long a process takes to start on a busy machine.
        sim.hold_writes()
        holder = await cli.start(cli.args(state))
        await asyncio.wait_for(sim.write_held.wait(), WAIT_S)
        tokens = sim.journal.by_status["200"]  # the holder's token and reads so far, at least
        try:
            second = await cli.run(cli.args(state))
        except TimeoutError:
            pytest.fail("the second run was let in: it is waiting at the held writes")
        assert second.code == 73, second.stderr
        # The account's lease is taken before the state's lock: it names the holder's state.
        assert "another bulkops run is working on Zoom account" in second.stderr
        assert f"with state {state} " in second.stderr
        holder.send_signal(signal.SIGTERM)
        await _read_stderr_until(holder, b"SIGTERM received")
        sim.release()
        assert (await cli.wait(holder)).code == 75
        assert checkpoint_counts(state)["in_flight"] == 0, "the holder finished what it sent"
        # The refused run never asked for a token: only the holder ever did.
        assert sum(1 for j in sim.journal if j.path.endswith("/oauth/token")) == 1
        assert tokens >= 1

        # The state holds this job's unfinished run: another job file is refused, nothing sent.
        other = tmp_path / "other.csv"
        other.write_text(
            HEADER + f"\nadd,holiday_hours,holiday,{world.users[0]},X,2027-06-01,2027-06-01,,,\n"
        )
        before = len(sim.journal)
        refused = await cli.run(cli.args(state, job=other))
        assert refused.code == 73, refused.stderr
        assert "other contents" in refused.stderr
        assert len(sim.journal) == before
