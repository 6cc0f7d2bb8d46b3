"""Latency figures streamed from the checkpoint equal numpy's over the whole array; the
sending span and the whole process of each run, told apart."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson
import pytest

from bulkops.reports.results import write_all
from bulkops.reports.summary import QUANTILES, latency
from bulkops.run.stats import process_started_at
from bulkops.state import Attempt, Checkpoint, StateReader, open_readonly


async def _state(where: Path, values: list[float | None]) -> StateReader:
    cp = Checkpoint.open(where, job_hash="h", job_path="job.csv")
    await cp.start()
    for value in values:
        cp.queue_attempt(Attempt(0.0, None, "GET", 200, "ok", value))
    await cp.stop_writer()
    cp.close()
    return open_readonly(where)


def _sample(n: int, seed: int) -> list[float | None]:
    rnd = random.Random(seed)
    out: list[float | None] = [
        round(rnd.lognormvariate(4.8, 0.6), rnd.choice((0, 1, 3))) for _ in range(n)
    ]
    return out + [None, 0.0, -1.0][: n % 4]


@pytest.mark.parametrize(
    ("n", "chunk"),
    [
        pytest.param(1, 10, id="one"),
        pytest.param(2, 1, id="two-chunk-of-one"),
        pytest.param(1_003, 7, id="many-small-chunks"),
        pytest.param(5_001, 50_000, id="one-chunk"),
    ],
)
@pytest.mark.parametrize("in_memory", [1_000_000, 0], ids=["numpy-sorts", "sqlite-sorts"])
async def test_latency_equals_numpy(
    n: int, chunk: int, in_memory: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("bulkops.reports.summary.CHUNK", chunk)
    monkeypatch.setattr("bulkops.state.reader.IN_MEMORY_LATENCIES", in_memory)
    values = _sample(n, seed=n)
    lat = latency(await _state(tmp_path, values))
    every = np.asarray([v for v in values if v is not None], dtype=np.float64)
    want = {f"p{q}": round(float(np.percentile(every, q)), 1) for q in QUANTILES}
    want |= {"max": round(float(every.max()), 1), "n": len(every)}
    assert lat.summary == want
    positive = every[every > 0]
    lo, hi = float(positive.min()), float(positive.max())
    edges = np.geomspace(lo, hi * 1.0001, 31) if hi > lo else np.array([lo * 0.9, lo * 1.1])
    assert lat.edges == edges.tolist()
    assert lat.counts == np.histogram(positive, bins=edges)[0].tolist()
    assert lat.marks == {q: float(np.percentile(positive, q)) for q in QUANTILES}


async def test_no_latency_at_all(tmp_path: Path) -> None:
    assert latency(await _state(tmp_path / "none", [])).summary == {}
    only_zero = latency(await _state(tmp_path / "zero", [0.0, None]))
    assert only_zero.summary["n"] == 1 and only_zero.counts == [] and only_zero.marks == {}


async def test_summary_tells_whole_processes_beside_the_sending_span(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cp = Checkpoint.open(state, job_hash="h", job_path="job.csv")
    await cp.start()
    began = time.time() - 30.0
    # An earlier run in another process: 2 s of start-up before its 10 s of sending.
    other = {"requests": 40, "process_started_at": began, "pid": -1}
    await cp.record_run(began + 2.0, 75, other)
    # This process's run: its whole time runs on to the summary, reports included. It began
    # sending as its process started (however young the process: a test run alone is).
    mine = {"requests": 60, "process_started_at": process_started_at(), "pid": os.getpid()}
    await cp.record_run(process_started_at(), 0, mine)
    await cp.stop_writer()
    cp.close()
    before = time.time()
    summary = orjson.loads(write_all(state)["summary.json"].read_bytes())
    after = time.time()
    with open_readonly(state) as reader:
        first, second = reader.runs()
    assert first.ended_at is not None and second.ended_at is not None
    earlier = first.ended_at - began
    assert summary["runs"][0]["process_duration_s"] == round(earlier, 3)
    assert summary["runs"][0]["duration_s"] == round(first.ended_at - first.started_at, 3)
    ours = summary["runs"][1]["process_duration_s"]
    assert before - process_started_at() - 1e-3 <= ours <= after - process_started_at() + 1e-3
    assert summary["process_duration_s"] == pytest.approx(earlier + ours, abs=2e-3)
    assert summary["process_duration_s"] > summary["duration_s"]  # start-up and reports count
    assert summary["process_achieved_rate"] == round(100 / summary["process_duration_s"], 2)
    assert "pid" not in summary["runs"][1]["stats"]


async def test_a_run_that_does_not_say_when_its_process_began_has_no_whole_figure(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    cp = Checkpoint.open(state, job_hash="h", job_path="job.csv")
    await cp.start()
    await cp.record_run(time.time() - 1.0, 0, {"requests": 3})
    await cp.stop_writer()
    cp.close()
    summary = orjson.loads(write_all(state)["summary.json"].read_bytes())
    assert summary["process_duration_s"] is None and summary["process_achieved_rate"] is None
    assert summary["runs"][0]["process_duration_s"] is None and summary["duration_s"] > 0


def test_this_process_started_before_it_imported_bulkops() -> None:
    launched = time.time()
    code = (
        "import time; from bulkops.run.stats import process_started_at; "
        "print(process_started_at(), time.time())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    started, printed = map(float, done.stdout.split())
    tick = 0.011  # /proc counts in clock ticks of 10 ms
    assert launched - tick <= started <= printed
