"""Latency figures streamed from the checkpoint equal numpy's over the whole array."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from bulkops.reports.summary import QUANTILES, latency
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
async def test_latency_equals_numpy(
    n: int, chunk: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("bulkops.reports.summary.CHUNK", chunk)
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
