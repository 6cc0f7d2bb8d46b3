"""The typed readers of a state directory, on the stopped-part-way state of test_report."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_report import build_state

from bulkops.jobs.plan import build_plan
from bulkops.model import Action, OpStatus, Outcome
from bulkops.state import Checkpoint, StateReader, open_readonly, statuses
from bulkops.state.reader import BarCount

T0 = 1_800_000_000.0
BAD = statuses(OpStatus.FAILED, OpStatus.SKIPPED)


@pytest.fixture
async def reader(tmp_path: Path) -> StateReader:
    state, _, _ = await build_state(tmp_path)
    return open_readonly(state)


def test_records_select_by_status_in_either_order(reader: StateReader) -> None:
    assert [r.op.seq for r in reader.records(BAD)] == [1, 8, 9, 14]
    assert [r.op.seq for r in reader.records(~BAD)] == [0, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13]
    done = reader.records(statuses(OpStatus.SUCCEEDED), newest_first=True)
    assert [r.op.seq for r in done] == [13, 7, 6, 5, 4, 3, 2, 0]
    assert len(list(reader.records())) == reader.total() == 15


def test_a_record_carries_the_operation_its_outcome_and_progress(reader: StateReader) -> None:
    by_seq = {r.op.seq: r for r in reader.records()}
    failed = by_seq[1]  # one 429, then a 400
    assert failed.op.action is Action.ADD and failed.op.extension_id == "extA"
    assert failed.status is OpStatus.FAILED and failed.outcome.http_status == 400
    assert failed.outcome.tracking_id == "v=2.0;rid=1" and failed.outcome.latency_ms == 41.0
    assert (failed.attempts, failed.first_attempt_at, failed.last_attempt_at) == (
        2,
        T0 + 0.5,
        T0 + 1.5,
    )
    waiting = by_seq[11]
    assert waiting.outcome == Outcome(OpStatus.PENDING) and waiting.attempts == 0
    assert by_seq[0].outcome.created_id == "NEWHOL"


def test_lanes_and_counts(reader: StateReader) -> None:
    assert reader.counts()[OpStatus.SUCCEEDED] == 8
    assert reader.open_lanes() == ["extD"]  # seq 10 in flight, seq 11 pending
    assert [r.op.seq for r in reader.lane("extC")] == [8, 9, 13]


def test_frames_of_chosen_columns(reader: StateReader) -> None:
    first = reader.op_frame(["seq", "status"], BAD, limit=2)
    assert first.to_dict("records") == [
        {"seq": 1, "status": "failed"},
        {"seq": 8, "status": "failed"},
    ]
    assert [len(f) for f in reader.op_frames(["seq"], chunk=4)] == [4, 4, 4, 3]
    with pytest.raises(ValueError, match="no column nope"):
        reader.op_frame(["seq", "nope"], limit=1)


def test_what_the_job_deleted(reader: StateReader) -> None:
    assert reader.any_deleted()
    assert reader.deleted_ids("extB") == {"HOLB", "FWB"}
    assert reader.deleted_ids("extA") == frozenset()


def test_snapshots_runs_and_attempts(reader: StateReader) -> None:
    snap = reader.snapshot("extC")
    assert snap is not None and snap["holiday_hours"] == []
    assert reader.snapshot("extD") is None
    [run] = reader.runs()
    assert run.started_at == T0 and run.exit_code == 75 and run.ended_at is not None
    assert run.stats == {"requests": 15, "rate_limited": 1, "lookups": 3, "retries": 0}
    kinds = reader.attempt_kinds()
    assert kinds == {"ok": 8, "error": 4, "rate_limited": 1, "lookup": 1}
    span = reader.attempt_span()
    assert (span.first_at, span.last_at, span.count) == (T0, T0 + 7.0, 14)
    assert reader.attempt_seconds() == (int(T0), int(T0) + 7)
    bars = reader.attempt_bars(int(T0), 4)
    assert {b.bar for b in bars} == {0, 1}
    assert sum(b.count for b in bars) == 14
    assert BarCount(0, "rate_limited", 1) in bars
    stats = reader.latency_stats()
    assert stats is not None and (stats.n, stats.top, stats.n_positive) == (14, 54.0, 14)
    assert stats.positive_range == (12.0, 54.0)
    assert [len(b) for b in reader.sorted_latencies(chunk=5)] == [5, 5, 4]


def test_an_empty_state_reads_as_empty(tmp_path: Path) -> None:
    Checkpoint.open(tmp_path, job_hash="h", job_path="job.csv").close()
    with open_readonly(tmp_path) as reader:
        assert reader.meta()["job_path"] == "job.csv"
        assert (reader.total(), reader.counts(), reader.runs()) == (0, {}, [])
        assert sum(len(f) for f in reader.op_frames(["seq"], chunk=10)) == 0
        assert not reader.any_deleted()
        assert reader.latency_stats() is None and reader.attempt_seconds() is None
        assert reader.attempt_span().count == 0


async def test_held_reads_see_one_moment(tmp_path: Path) -> None:
    state, job, directory = await build_state(tmp_path)
    held = open_readonly(state)
    held.hold_one_moment()
    before = held.counts()
    plan = build_plan(job, directory=directory)
    cp = Checkpoint.open(state, job_hash=plan.job_hash, job_path=str(job))
    await cp.start()
    await cp.record_outcome(11, Outcome(OpStatus.SUCCEEDED, 204))
    await cp.stop_writer()
    cp.close()
    assert held.counts() == before  # the report being written keeps describing one moment
    held.close()
    with open_readonly(state) as fresh:
        assert fresh.counts()[OpStatus.SUCCEEDED] == before[OpStatus.SUCCEEDED] + 1
