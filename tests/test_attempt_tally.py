"""The attempts log counted in one pass: the same figures as a query per figure, asked once per
held moment."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from bulkops.reports.summary import _histogram
from bulkops.state import Attempt, Checkpoint, open_readonly
from bulkops.state.attempts import BarCount

T0 = 1_800_000_000.0
KINDS = ("ok", "error", "rate_limited", "retry", "lookup", "reconcile")


async def _state(where: Path, n: int, seed: int) -> Checkpoint:
    rnd = random.Random(seed)
    cp = Checkpoint.open(where, job_hash="h", job_path="job.csv")
    await cp.start()
    for i in range(n):
        latency = rnd.choice((None, 0.0, -2.5, round(rnd.lognormvariate(4.5, 0.7), 3)))
        at = T0 + rnd.uniform(0, 900) + (3600.0 if i % 11 == 0 else 0.0)  # a pause between
        cp.queue_attempt(Attempt(at, i, "POST", 201, rnd.choice(KINDS), latency))
    await cp.flush()
    return cp


def _by_query(db: Path) -> dict[str, Any]:
    """Each figure by a query of its own, as the readers asked before the tally."""
    conn = sqlite3.connect(db)
    try:
        lat = conn.execute(
            "SELECT COUNT(*), MAX(latency_ms), COUNT(CASE WHEN latency_ms > 0 THEN 1 END), "
            "MIN(CASE WHEN latency_ms > 0 THEN latency_ms END) FROM attempts "
            "WHERE latency_ms IS NOT NULL"
        ).fetchone()
        first_s, last_s = conn.execute(
            "SELECT MIN(CAST(at AS INTEGER)), MAX(CAST(at AS INTEGER)) FROM attempts"
        ).fetchone()
        return {
            "kinds": dict(conn.execute("SELECT kind, COUNT(*) FROM attempts GROUP BY kind")),
            "span": conn.execute("SELECT MIN(at), MAX(at), COUNT(*) FROM attempts").fetchone(),
            "latency": lat,
            "seconds": (first_s, last_s),
            "bars": conn.execute(
                "SELECT (CAST(at AS INTEGER) - ?) / 7 AS bar, kind, COUNT(*) FROM attempts "
                "GROUP BY bar, kind ORDER BY bar, kind",
                (first_s,),
            ).fetchall(),
        }
    finally:
        conn.close()


@pytest.mark.parametrize("n", [0, 1, 400])
async def test_the_tally_gives_what_a_query_per_figure_gave(tmp_path: Path, n: int) -> None:
    cp = await _state(tmp_path, n, seed=n)
    await cp.stop_writer()
    cp.close()
    want = _by_query(tmp_path / "checkpoint.sqlite3")
    with open_readonly(tmp_path) as reader:
        kinds = reader.attempt_kinds()
        assert kinds == want["kinds"] and list(kinds) == sorted(kinds)  # summary.json's order
        span = reader.attempt_span()
        assert (span.first_at, span.last_at, span.count) == want["span"]
        stats = reader.latency_stats()
        count, top, n_positive, lowest = want["latency"]
        if not n:
            assert stats is None and reader.attempt_seconds() is None
            return
        assert stats is not None
        assert (stats.n, stats.top, stats.n_positive) == (count, top, n_positive)
        assert stats.positive_range == ((lowest, top) if n_positive else None)
        assert reader.attempt_seconds() == want["seconds"]
        first_s = want["seconds"][0]
        bars = reader.attempt_bars(first_s, 7)
        assert [(b.bar, b.kind, b.count) for b in bars] == want["bars"]


async def test_the_tally_is_counted_again_only_after_a_commit(tmp_path: Path) -> None:
    cp = await _state(tmp_path, 30, seed=1)
    loose, held = open_readonly(tmp_path), open_readonly(tmp_path)
    held.hold_one_moment()
    assert loose.attempt_span().count == held.attempt_span().count == 30
    kept = loose.attempt_tally()
    assert loose.attempt_tally() is kept  # nothing committed since: the same count
    cp.queue_attempt(Attempt(T0, None, "GET", 200, "lookup", 12.0))
    await cp.flush()
    assert loose.attempt_tally() is not kept
    assert loose.attempt_span().count == 31  # a reader not held sees the log grow
    assert held.attempt_span().count == 30  # the held one stays at its moment
    assert BarCount(int(T0), "lookup", 1) in loose.attempt_tally().seconds
    loose.close()
    held.close()
    await cp.stop_writer()
    cp.close()


@pytest.mark.parametrize("seed", range(5))
def test_the_histogram_of_sorted_values_is_numpy_s(seed: int) -> None:
    rng = np.random.default_rng(seed)
    drawn = np.concatenate((rng.lognormal(4.5, 0.8, 2_000), [0.0, -1.0, 0.0]))
    values: NDArray[np.float64] = np.round(drawn, int(rng.integers(0, 3))).astype(np.float64)
    positive = values[values > 0]
    lo, hi = float(positive.min()), float(positive.max())
    ascending = np.sort(values)
    for edges in (np.geomspace(lo, hi * 1.0001, 31), np.array([lo * 0.9, lo * 1.1])):
        counts = sum(
            (_histogram(ascending[i : i + 333], edges) for i in range(0, len(values), 333)),
            np.zeros(len(edges) - 1, dtype=np.int64),
        )
        assert counts.tolist() == np.histogram(positive, bins=edges)[0].tolist()
    # a value on the last edge counts in the last bin, as numpy has it
    on_edge: NDArray[np.float64] = np.array([1.0, 2.0, 3.0, 3.5], dtype=np.float64)
    assert _histogram(on_edge, np.array([1.0, 2.0, 3.0])).tolist() == [1, 2]
