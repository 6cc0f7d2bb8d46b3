"""The checkpoint: lock, job identity, plan storage, durable intents and outcomes."""

from __future__ import annotations

import multiprocessing
import re
from pathlib import Path

import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkops.errors import CheckpointWriteError, StateLockedError, StateMismatchError
from bulkops.model import OPERATION_COLUMN_NAMES, Action, OpStatus, Outcome
from bulkops.state import Checkpoint, OpRecord, StateReader, default_state_dir, open_readonly
from bulkops.state.files import StateLock, read_mark


def plan_frame(n: int = 6) -> pd.DataFrame:
    rows = []
    for i in range(n):
        rows.append(
            {
                "seq": i,
                "op_id": f"op{i}",
                "row": 2 + i // 2,
                "action": "add",
                "extension_id": f"ext{i % 3}",
                "setting_type": "holiday_hours",
                "sub_setting_type": "holiday",
                "settings": orjson.dumps({"name": f"H{i}"}).decode(),
                "holiday_id": None,
                "call_forwarding_id": None,
                "holiday_name": f"H{i}",
                "holiday_from": "2027-01-01T00:00:00Z",
                "holiday_to": "2027-01-02T00:00:00Z",
                "phone_number": None,
                "extension_number": str(100 + i % 3),
                "extension_name": None,
            }
        )
    return pd.DataFrame(rows, columns=list(OPERATION_COLUMN_NAMES))


def first_op(reader: StateReader) -> OpRecord:
    return next(reader.records())  # abandoned: must not pin the reader at this moment


def test_default_state_dir_is_beside_the_job(tmp_path: Path) -> None:
    assert (
        default_state_dir(tmp_path / "jobs" / "x.csv") == tmp_path / "jobs" / ".bulkops" / "x.csv"
    )


def test_plan_round_trip_and_lanes(tmp_path: Path) -> None:
    cp = Checkpoint.open(tmp_path / "s", job_hash="h", job_path="job.csv")
    cp.load_plan(plan_frame())
    cp.load_plan(plan_frame(2))  # a resumed run keeps the stored plan
    assert cp.total() == 6
    assert cp.open_lanes() == ["ext0", "ext1", "ext2"]
    lane = cp.lane("ext1")
    assert [lo.op.seq for lo in lane] == [1, 4]
    first = lane[0].op
    assert first.action is Action.ADD and first.settings == {"name": "H1"}
    assert first.extension_number == "101" and first.extension_name is None
    assert cp.counts() == {OpStatus.PENDING: 6}
    cp.close()


def test_lock_refuses_a_second_run(tmp_path: Path) -> None:
    cp = Checkpoint.open(tmp_path, job_hash="h", job_path="job.csv")
    with pytest.raises(StateLockedError, match="another bulkops run"):
        Checkpoint.open(tmp_path, job_hash="h", job_path="job.csv")
    cp.close()
    Checkpoint.open(tmp_path, job_hash="h", job_path="job.csv").close()


def _hold_lock(path: str, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    Checkpoint.open(path, job_hash="h", job_path="job.csv")
    ready.set()
    import time

    time.sleep(60)


def test_lock_dies_with_its_process(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready))
    proc.start()
    try:
        assert ready.wait(30)
        with pytest.raises(StateLockedError):
            Checkpoint.open(tmp_path, job_hash="h", job_path="job.csv")
    finally:
        proc.kill()
        proc.join()
    Checkpoint.open(tmp_path, job_hash="h", job_path="job.csv").close()


def test_other_job_contents_are_refused(tmp_path: Path) -> None:
    Checkpoint.open(tmp_path, job_hash="h1", job_path="job.csv").close()
    with pytest.raises(StateMismatchError, match="changed since that run"):
        Checkpoint.open(tmp_path, job_hash="h2", job_path="job.csv")


async def test_intent_is_durable_before_return(tmp_path: Path) -> None:
    cp = Checkpoint.open(tmp_path, job_hash="h", job_path="job.csv")
    cp.load_plan(plan_frame())
    await cp.start()
    await cp.record_intent(0, at=1.0, target_id=None)
    # Another connection (as a process after a crash would) sees the intent already.
    other = open_readonly(tmp_path)
    seq0 = first_op(other)
    assert (seq0.status, seq0.attempts) == ("in_flight", 1)
    await cp.record_outcome(
        0, Outcome(status=OpStatus.SUCCEEDED, http_status=201, created_id="hid")
    )
    await cp.record_outcome(1, Outcome(status=OpStatus.FAILED, message="nope"))
    await cp.flush()
    seq0 = first_op(other)
    assert (seq0.status, seq0.outcome.created_id) == ("succeeded", "hid")
    await cp.mark_not_run()
    await cp.stop_writer()
    assert cp.counts() == {OpStatus.SUCCEEDED: 1, OpStatus.FAILED: 1, OpStatus.NOT_RUN: 4}
    # Lanes come back in the order of their first unfinished operation.
    assert cp.open_lanes() == ["ext2", "ext0", "ext1"]
    assert cp.reset_failed() == 1
    cp.close()


async def test_snapshot_keeps_the_first_read(tmp_path: Path) -> None:
    cp = Checkpoint.open(tmp_path, job_hash="h", job_path="job.csv")
    await cp.start()
    await cp.record_snapshot("ext0", {"holiday_hours": []})
    await cp.record_snapshot("ext0", {"holiday_hours": [{"holiday_id": "later"}]})
    await cp.stop_writer()
    assert cp.snapshot("ext0") == {"holiday_hours": []}
    assert cp.snapshot("nope") is None
    cp.close()


def test_state_files_are_private(tmp_path: Path) -> None:
    cp = Checkpoint.open(tmp_path / "s", job_hash="h", job_path="job.csv")
    cp.close()
    assert (tmp_path / "s").stat().st_mode & 0o077 == 0
    assert (tmp_path / "s" / "checkpoint.sqlite3").stat().st_mode & 0o077 == 0


def test_garbage_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "checkpoint.sqlite3").write_bytes(b"not a database" * 100)
    with pytest.raises(Exception, match="not a usable bulkops checkpoint"):
        Checkpoint.open(tmp_path, job_hash="h", job_path="job.csv")
    # The lock was released on the way out: with the file gone, the directory opens again.
    (tmp_path / "checkpoint.sqlite3").unlink()
    Checkpoint.open(tmp_path, job_hash="h", job_path="job.csv").close()


async def test_a_failed_commit_fails_callers_instead_of_hanging(tmp_path: Path) -> None:
    cp = Checkpoint.open(tmp_path, job_hash="h", job_path="job.csv")
    cp.load_plan(plan_frame())
    await cp.start()
    cp._conn.close()  # what a vanished disk looks like to the writer thread
    with pytest.raises(CheckpointWriteError, match="run again to resume"):
        await cp.record_intent(0, at=1.0, target_id=None)
    with pytest.raises(CheckpointWriteError, match="writer stopped"):
        await cp.flush()
    with pytest.raises(CheckpointWriteError):
        await cp.stop_writer()
    cp.close()


def test_every_commit_is_counted_in_the_database_and_the_lock(tmp_path: Path) -> None:
    cp = Checkpoint.open(tmp_path, job_hash="h", job_path="job.csv")
    opened = read_mark(tmp_path)
    assert opened is not None and opened == int(cp.reader.meta()["commits"])
    cp.load_plan(plan_frame(3))
    assert read_mark(tmp_path) == opened + 1 == int(cp.reader.meta()["commits"])
    cp.close()  # clearing the "open" flag is one more
    with open_readonly(tmp_path) as reader:
        assert reader.meta()["commits"] == str(opened + 2) and reader.meta()["open"] == "0"
    assert read_mark(tmp_path) == opened + 2


@given(st.integers(min_value=0, max_value=2**63), st.binary(max_size=40))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_the_commit_mark_round_trips_and_garbage_reads_as_none(
    tmp_path: Path, commits: int, junk: bytes
) -> None:
    lock = StateLock.acquire(tmp_path)
    try:
        lock.write_mark(commits)
        assert read_mark(tmp_path) == commits
    finally:
        lock.release()
    (tmp_path / "lock").write_bytes(junk)
    found = re.match(rb"commits (\d+)\n", junk)
    expected = int(found.group(1)) if found else None
    lock = StateLock.acquire(tmp_path)
    lock.release()
    assert lock.mark == read_mark(tmp_path) == expected
