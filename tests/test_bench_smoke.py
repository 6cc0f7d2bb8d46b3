"""Smoke test of the benchmark harness (benchmarks/): correctness only, never timing.

A few hundred operations, no latency, a high rate: bulkops under faults leaves every planned
holiday exactly once and counts every operation; the harness's own count finds duplicates and
gaps. The timed comparisons live in ``python -m benchmarks`` (``make bench``), never here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import bench_pull
from benchmarks.bench_pacing import scenario as pacing_scenario
from benchmarks.bench_rate import scenario
from benchmarks.common import tally

pytestmark = pytest.mark.slow

SMALL = {"extensions": 20, "holidays": 10, "latency_ms": 0.0, "rate": 2000.0}


def test_tally_counts_duplicates_and_gaps() -> None:
    expected = [("e1", "A", "f", "t"), ("e1", "B", "f", "t"), ("e2", "A", "f", "t")]
    state = {
        "e1": [{"name": "A", "from": "f", "to": "t"}] * 3 + [{"name": "Other", "from": "f"}],
        "e2": [],
    }
    assert tally(expected, state.__getitem__) == {"expected": 3, "duplicates": 2, "missing": 2}


@pytest.mark.parametrize(
    "script",
    [pytest.param("bulkops", id="precheck"), pytest.param("bulkops-noprecheck", id="no-precheck")],
)
async def test_bulkops_exactly_once_under_faults(tmp_path: Path, script: str) -> None:
    r = await scenario(script, subset=None, faults=True, seed=5, folder=tmp_path, **SMALL)
    assert r["ops"] == r["expected"] == 200
    assert (r["duplicates"], r["missing"]) == (0, 0)
    assert r["counts"] == {"succeeded": 200}
    assert r["exit_code"] == 0
    assert r["server_errors"] > 0  # the faults did happen
    assert r["requests"] >= 200 + (20 if script == "bulkops" else 0)


async def test_naive_script_harness_without_faults(tmp_path: Path) -> None:
    r = await scenario("naive", subset=None, faults=False, seed=5, folder=tmp_path, **SMALL)
    assert (r["ops"], r["requests"], r["duplicates"], r["missing"]) == (200, 200, 0, 0)
    assert r["reported_failed"] == 0


async def test_directory_pull_harness(tmp_path: Path) -> None:
    r = await bench_pull.scenario(extensions=300, plan="business", latency_ms=0.0, folder=tmp_path)
    assert (r["rows"], r["skipped_common_areas"], r["rate_limited"]) == (300, 3, 0)
    assert r["pages"] >= 6 and r["ideal"] == r["pages"] / 20
    assert r["max_in_medium_window"] <= 20


def test_pacing_harness_times_the_whole_cli_under_jitter(tmp_path: Path) -> None:
    """The pacing section's scenario, tiny: a jittery simulator, the CLI timed as a process."""
    r = pacing_scenario(
        extensions=6,
        holidays=4,
        jitter_ms=5.0,
        latency_ms=0.0,
        latency_sigma=0.0,
        rate=2000.0,
        seed=5,
        folder=tmp_path,
    )
    assert (r["ops"], r["expected"], r["duplicates"], r["missing"]) == (24, 24, 0, 0)
    assert r["requests"] - r["rate_limited"] == 24 + 6  # the writes and one read per extension
    assert r["ideal_s"] == pytest.approx(30 / 2000.0)
    assert r["wall_s"] >= r["span_s"] + r["before_s"] >= r["span_s"] > 0
    assert r["cpu_s"] > 0  # the CLI's own, beside its wall time
    # summary.json tells the sending span and the whole process apart.
    assert r["summary_process_duration_s"] > r["summary_duration_s"] > 0


def test_row_heavy_planning_section_runs_tiny() -> None:
    from benchmarks import bench_rows

    results = bench_rows.run((300,), repeat=2, warmup=1)
    assert [(r["operations"], r["shape"]) for r in results] == [(300, s) for s in bench_rows.SHAPES]
    for r in results:
        assert r["ratio"] == r["seconds"] / r["fanout_seconds"]
        assert r["peak_rss_mb"] > 0 and r["cpu_ratio"] > 0
        # Medians of two rounds, each process's figure kept beside them.
        assert len(r["seconds_each"]) == len(r["fanout_seconds_each"]) == 2
        assert r["seconds"] == sum(r["seconds_each"]) / 2
        assert len(r["warmup_seconds"]) == len(r["fanout_warmup_seconds"]) == 1
