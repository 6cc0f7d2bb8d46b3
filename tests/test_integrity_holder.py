"""The lock holder's own readers: the row checks are left out, the witnesses outside SQLite are not.

A run's reports open the state while the run still holds its lock. The run checked every page
and row when it opened the state and wrote every row since, so reading them all again (about a
second per million operations) is left out; whatever can still go wrong meanwhile (a lost or cut
WAL, a database put back) is caught by the checks that read no rows, which still run.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from test_checkpoint import plan_frame

from bulkops.errors import StateDamagedError, StateLockedError
from bulkops.state import Checkpoint, open_readonly
from bulkops.state.integrity import vouched

DB = "checkpoint.sqlite3"


def _open(state: Path) -> Checkpoint:
    return Checkpoint.open(state, job_hash="h", job_path="job.csv")


def _edit(state: Path, statement: str) -> None:
    """A hand edit through another connection: no bulkops code writes such a row."""
    conn = sqlite3.connect(state / DB)
    with conn:
        conn.execute(statement)
    conn.close()


def test_the_holder_vouches_from_open_to_close(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert not vouched(state)
    cp = _open(state)
    assert vouched(state)
    assert vouched(tmp_path / "." / "state")  # the same directory, however it is spelled
    cp.close()
    assert not vouched(state)


def test_a_row_edited_by_hand_is_refused_once_the_holder_is_gone(tmp_path: Path) -> None:
    cp = _open(tmp_path)
    cp.load_plan(plan_frame(4))
    _edit(tmp_path, "UPDATE ops SET status = 'banana' WHERE seq = 2")
    with open_readonly(tmp_path) as reader:  # the holder's reader reads no rows to check
        assert reader.total() == 4
    cp.close()
    with pytest.raises(StateDamagedError, match="seq 2 hold values"):
        open_readonly(tmp_path)  # every other reader checks them all


def test_the_holder_s_reader_still_checks_the_commit_mark_and_the_plan_count(
    tmp_path: Path,
) -> None:
    cp = _open(tmp_path)
    cp.load_plan(plan_frame(4))
    lock = tmp_path / "lock"
    mark = lock.read_bytes()
    lock.write_bytes(b"commits 999\n")  # the database holds fewer: as after a lost WAL
    with pytest.raises(StateDamagedError, match="commits the lock file records"):
        open_readonly(tmp_path)
    lock.write_bytes(mark)
    _edit(tmp_path, "DELETE FROM ops WHERE seq = 3")
    with pytest.raises(StateDamagedError, match="holds 3 of the plan's 4 operations"):
        open_readonly(tmp_path)
    cp.close()


def test_a_state_refused_at_open_is_not_vouched_for(tmp_path: Path) -> None:
    cp = _open(tmp_path)
    cp.load_plan(plan_frame(4))
    cp.close()
    _edit(tmp_path, "UPDATE ops SET attempts = 'many' WHERE seq = 1")
    with pytest.raises(StateDamagedError, match="seq 1 hold values"):
        _open(tmp_path)
    assert not vouched(tmp_path)
    with pytest.raises(StateDamagedError, match="seq 1 hold values"):
        open_readonly(tmp_path)


def test_a_second_open_refused_by_the_lock_leaves_the_holder_s_vouch(tmp_path: Path) -> None:
    cp = _open(tmp_path)
    with pytest.raises(StateLockedError):
        _open(tmp_path)
    assert vouched(tmp_path)
    cp.close()
    assert not vouched(tmp_path)


def test_a_forked_child_does_not_inherit_the_vouch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cp = _open(tmp_path)
    real = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: real + 1)  # as a child forked after the open
    assert not vouched(tmp_path)
    monkeypatch.setattr(os, "getpid", lambda: real)
    assert vouched(tmp_path)
    cp.close()
