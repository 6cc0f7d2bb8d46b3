"""A state that knows when it is damaged: every open checks, and a damaged state is refused.

SQLite opens an older database without a word when its write-ahead log is lost, so these tests
damage real states the ways the issue found (a deleted, cut or overwritten WAL, a truncated
database, a lost table, edited rows) and check that every path in (a run, status, report)
refuses them with a message that says what to do, exits 2, and sends nothing.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import shutil
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_checkpoint import plan_frame

from bulkops.cli import main
from bulkops.config import AccountPlan, Credentials
from bulkops.errors import CheckpointError, CheckpointWriteError, StateDamagedError
from bulkops.exit_codes import EXIT_OK, EXIT_USAGE, exit_code
from bulkops.model import OpStatus, Outcome
from bulkops.progress import PlainDisplay
from bulkops.reports.results import write_all
from bulkops.run.engine import EngineOptions
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
from bulkops.state import Checkpoint, open_readonly
from bulkops.state.integrity import sql_errors

DB = "checkpoint.sqlite3"
WAL = DB + "-wal"
SHM = DB + "-shm"
CREDS = Credentials("damage-account", "damage-client", "damage-secret-0d41")
HEADER = "action,setting_type,sub_setting_type,extension_id,name,from,to,phone_number,description,settings"
DAYS = 3


async def until(event: asyncio.Event, task: asyncio.Task[Any]) -> None:
    """Wait for ``event``; should ``task`` end first, its error (or a failure) says why."""
    waiter = asyncio.ensure_future(event.wait())
    await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    if not event.is_set():
        waiter.cancel()
        task.result()
        pytest.fail("the run ended before the point the test waits for")


def _open(state: Path) -> Checkpoint:
    return Checkpoint.open(state, job_hash="h", job_path="job.csv")


async def _crash_image(tmp: Path) -> tuple[Path, Path]:
    """A state as a crash leaves it (commits in the WAL, not yet in the main file), and the same
    state closed cleanly afterwards."""
    live, image = tmp / "live", tmp / "image"
    cp = _open(live)
    cp.load_plan(plan_frame(6))
    await cp.start()
    for seq in range(4):
        await cp.record_intent(seq, at=1.0, target_id=None)
        done = Outcome(status=OpStatus.SUCCEEDED, http_status=201, created_id=f"id{seq}")
        await cp.record_outcome(seq, done, wait=True)
    shutil.copytree(live, image)  # the writer is idle: every commit is whole on disk
    await cp.stop_writer()
    cp.close()
    assert (image / WAL).stat().st_size > 0
    assert not (live / WAL).exists()  # a clean close folds the WAL into the main file
    return image, live


def _delete_wal(state: Path) -> None:
    (state / WAL).unlink()
    (state / SHM).unlink()


def _delete_wal_and_lock(state: Path) -> None:
    _delete_wal(state)
    (state / "lock").unlink()  # no commit mark left: the "open" flag must tell


def _cut_wal(state: Path) -> None:
    os.truncate(state / WAL, (state / WAL).stat().st_size // 2)


def _overwrite_wal(state: Path) -> None:
    size = (state / WAL).stat().st_size
    (state / WAL).write_bytes(bytes(range(256)) * (size // 256))


def _sql(statement: str) -> Callable[[Path], None]:
    def damage(state: Path) -> None:
        conn = sqlite3.connect(state / DB)
        with conn:
            conn.execute(statement)
        conn.close()

    return damage


def _truncate_db(fraction: float) -> Callable[[Path], None]:
    def damage(state: Path) -> None:
        os.truncate(state / DB, int((state / DB).stat().st_size * fraction))

    return damage


def _stub_wal(state: Path) -> None:
    (state / WAL).write_bytes(b"\x37\x7f")  # shorter than a WAL header


def _scribble_on_last_page(state: Path) -> None:
    size = (state / DB).stat().st_size
    with open(state / DB, "r+b") as fh:
        fh.seek(size - 4096)
        fh.write(b"\xff" * 4096)


def _delete_db(state: Path) -> None:
    (state / DB).unlink()


def _not_a_database(state: Path) -> None:
    (state / DB).write_bytes(b"results,of,something,else\n" * 200)


CRASHED = [
    pytest.param(_delete_wal, "holds 1 of the 10 commits", id="wal-deleted"),
    pytest.param(
        _delete_wal_and_lock, "write-ahead log (-wal file) is missing", id="wal-and-lock-deleted"
    ),
    pytest.param(_cut_wal, "commits the lock file records", id="wal-cut-in-half"),
    pytest.param(_overwrite_wal, "the write-ahead log, is corrupt", id="wal-overwritten"),
    pytest.param(_stub_wal, "the write-ahead log, is corrupt", id="wal-stub"),
]
CLOSED = [
    pytest.param(
        _truncate_db(0), "the database is empty, but the lock file records", id="db-truncated-to-0"
    ),
    pytest.param(_truncate_db(0.5), "is truncated", id="db-truncated-to-half"),
    pytest.param(_delete_db, "is missing, but the lock file records 11", id="db-deleted"),
    pytest.param(_not_a_database, "not a usable bulkops checkpoint", id="not-a-database"),
    pytest.param(_sql("DROP TABLE ops"), "table(s) ops are missing", id="ops-table-lost"),
    pytest.param(
        _sql("DELETE FROM ops WHERE seq = 3"), "holds 5 of the plan's 6", id="ops-row-lost"
    ),
    pytest.param(
        _sql("UPDATE ops SET status = 'banana' WHERE seq = 2"), "seq 2 hold values", id="bad-status"
    ),
    pytest.param(
        _sql("UPDATE ops SET settings = '{broken' WHERE seq = 4"),
        "seq 4 hold values",
        id="bad-json",
    ),
    pytest.param(
        _sql("UPDATE ops SET attempts = 'many' WHERE seq = 1"),
        "seq 1 hold values",
        id="bad-integer",
    ),
    pytest.param(_sql("DELETE FROM meta"), "of the 11 commits", id="meta-lost"),
    pytest.param(
        _sql("DELETE FROM meta WHERE key = 'plan_loaded'"),
        "holds 6 operations but not the plan's records",
        id="plan-mark-lost",
    ),
    pytest.param(_scribble_on_last_page, "SQLite", id="page-overwritten"),
]


@pytest.mark.parametrize(("damage", "says"), CRASHED + CLOSED)
async def test_a_damaged_state_is_refused_on_every_path_and_left_as_found(
    tmp_path: Path, damage: Callable[[Path], None], says: str
) -> None:
    image, closed = await _crash_image(tmp_path)
    state = image if damage in [p.values[0] for p in CRASHED] else closed
    damage(state)
    # -shm is SQLite's shared index of the WAL, rebuilt by any reader: not part of the record.
    before = {p.name: p.read_bytes() for p in state.iterdir() if p.name != SHM}
    with pytest.raises(StateDamagedError) as caught:
        _open(state)
    message = str(caught.value)
    assert says in message, message
    assert f"mv {state} {state}.damaged" in message and "without --no-precheck" in message
    assert exit_code(caught.value) == EXIT_USAGE
    with pytest.raises(StateDamagedError):  # status and the reports refuse it too
        open_readonly(state)
    with pytest.raises(StateDamagedError):
        write_all(state, out_dir=tmp_path / "reports")
    after = {p.name: p.read_bytes() for p in state.iterdir() if p.name in before}
    assert after == before  # refused exactly as found: nothing was written into it
    with pytest.raises(StateDamagedError):  # and refused again on the next try
        _open(state)


async def test_a_crash_image_with_its_wal_resumes(tmp_path: Path) -> None:
    """The control: the same image, undamaged, opens with every commit in place."""
    image, _ = await _crash_image(tmp_path)
    cp = _open(image)
    assert cp.counts() == {OpStatus.SUCCEEDED: 4, OpStatus.PENDING: 2}
    cp.close()
    with open_readonly(image) as reader:
        assert reader.total() == 6


def test_an_older_state_without_a_plan_count_still_shows_a_gap(tmp_path: Path) -> None:
    cp = _open(tmp_path)
    cp.load_plan(plan_frame(4))
    cp.close()
    _sql("DELETE FROM meta WHERE key = 'plan_rows'")(tmp_path)  # as a state made before it
    _open(tmp_path).close()
    _sql("DELETE FROM ops WHERE seq = 1")(tmp_path)
    with pytest.raises(StateDamagedError, match=r"operations are missing \(seq 0 to 3, 3 rows\)"):
        _open(tmp_path)


@pytest.mark.parametrize(
    ("name", "raised", "says"),
    [
        pytest.param("SQLITE_FULL", CheckpointWriteError, "Free the disk", id="full"),
        pytest.param("SQLITE_IOERR_WRITE", CheckpointWriteError, "Free the disk", id="io"),
        pytest.param("SQLITE_CORRUPT", StateDamagedError, "is damaged", id="corrupt"),
        pytest.param("SQLITE_NOTADB", StateDamagedError, "is damaged", id="not-a-db"),
        pytest.param("SQLITE_READONLY", CheckpointError, "writable by this user", id="read-only"),
        pytest.param("SQLITE_CANTOPEN", CheckpointError, "writable by this user", id="cant-open"),
        pytest.param("SQLITE_BUSY", CheckpointError, "cannot use the checkpoint", id="other"),
    ],
)
def test_sqlite_errors_become_errors_that_say_what_to_do(
    tmp_path: Path, name: str, raised: type[Exception], says: str
) -> None:
    error = sqlite3.OperationalError("something")
    error.sqlite_errorname = name  # type: ignore[attr-defined]
    with pytest.raises(raised, match=says) as caught, sql_errors(tmp_path):
        raise error
    assert str(tmp_path) in str(caught.value)
    denied = PermissionError(13, "Permission denied")
    with (
        pytest.raises(CheckpointError, match="make it readable and writable"),
        sql_errors(tmp_path),
    ):
        raise denied


def test_a_state_whose_first_open_died_before_any_commit_is_new(tmp_path: Path) -> None:
    """A 0-byte database with no commit mark (the disk filled at the first open): start it."""
    (tmp_path / DB).write_bytes(b"")
    (tmp_path / "lock").write_bytes(b"")
    cp = _open(tmp_path)
    cp.load_plan(plan_frame(2))
    assert cp.total() == 2
    cp.close()


def test_a_state_left_open_by_a_crash_with_its_wal_is_not_damaged(tmp_path: Path) -> None:
    """The "open" flag alone is no damage while the WAL is there (and the mark agrees)."""
    cp = _open(tmp_path / "s")
    cp.load_plan(plan_frame(3))
    shutil.copytree(tmp_path / "s", tmp_path / "crashed")
    cp.close()
    (tmp_path / "crashed" / "lock").unlink()
    reopened = _open(tmp_path / "crashed")
    assert reopened.total() == 3
    reopened.close()


# -- end to end: a run on a damaged state sends nothing -----------------------------------------


class HeldSimulator(Simulator):
    """Holds the second write it receives until the test sets ``release``."""

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.writes = 0
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_api(self, method: str, *args: object, **kwargs: object) -> object:
        if method != "GET":
            self.writes += 1
            if self.writes == 2:
                self.holding.set()
                await self.release.wait()
        return await super().handle_api(method, *args, **kwargs)  # type: ignore[arg-type]


async def _run(running: RunningSimulator, job: Path, state: Path, run_dir: Path) -> RunOutcome:
    settings = RunSettings(
        job=job,
        state_dir=state,
        account_plan=AccountPlan.BUSINESS,
        rate=500,
        options=EngineOptions(concurrency=1),
        api_url=running.api_url,
        oauth_url=running.oauth_url,
    )
    env = {**CREDS.as_env(), "XDG_RUNTIME_DIR": str(run_dir)}
    out = io.StringIO()
    return await run_job(settings, env=env, display=PlainDisplay(out), out=out)


async def test_a_run_on_a_state_whose_wal_was_lost_mid_run_sends_nothing(tmp_path: Path) -> None:
    """The issue's case: a run's state copied aside mid-run (a crash image), its WAL deleted.
    Resumed as is, the job's own adds would read as already_present and vanish from undo.csv."""
    exts = generate_directory(40, 3)
    users = [e for e in exts if e.type is ExtensionType.USER][:2]
    write_directory(users, tmp_path / "directory.csv")
    rows = [
        f"add,holiday_hours,holiday,{u.extension_id},Damage Day {i},2027-05-0{1 + i},2027-05-0{1 + i},,,"
        for u in users
        for i in range(DAYS)
    ]
    job = tmp_path / "job.csv"
    job.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    run_dir = tmp_path / "xdg"
    run_dir.mkdir()
    sim = HeldSimulator(
        SimConfig(directory=tmp_path / "directory.csv", rate=None, credentials=CREDS)
    )
    async with run_simulator(simulator=sim) as running:
        first = asyncio.create_task(_run(running, job, tmp_path / "state", run_dir))
        await until(sim.holding, first)  # one add done and recorded, the second in Zoom's hands
        shutil.copytree(tmp_path / "state", tmp_path / "crashed")
        sim.release.set()
        assert (await first).exit_code == EXIT_OK
        shutil.copytree(tmp_path / "crashed", tmp_path / "lost-wal")
        _delete_wal(tmp_path / "lost-wal")
        sent = len(sim.journal)
        with pytest.raises(StateDamagedError, match="commits the lock file records"):
            await _run(running, job, tmp_path / "lost-wal", run_dir)
        assert len(sim.journal) == sent  # not even a token request
        # The undamaged image resumes, and keeps its own: the add it saw answered, and the one
        # it never heard back about (reconciled), stay "succeeded" and in undo.csv. The rest,
        # which the first run finished meanwhile, are found in place.
        resumed = await _run(running, job, tmp_path / "crashed", run_dir)
        assert resumed.exit_code == EXIT_OK
        assert resumed.result.counts == {OpStatus.SUCCEEDED: 2, OpStatus.ALREADY_PRESENT: 4}
        assert len(_rows(tmp_path / "crashed" / "undo.csv")) == 2
        for user in users:
            names = Counter(h["name"] for h in sim.holidays(user.extension_id))
            assert all(names[f"Damage Day {i}"] == 1 for i in range(DAYS))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


async def test_the_cli_exits_2_with_the_message_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, _ = await _crash_image(tmp_path)
    _delete_wal(image)
    for argv in (["status", "--state", str(image)], ["report", "--state", str(image)]):
        assert await asyncio.to_thread(main, argv) == EXIT_USAGE
        err = capsys.readouterr().err
        assert err.startswith(f"bulkops: the checkpoint in {image} is damaged")
        assert "Traceback" not in err
