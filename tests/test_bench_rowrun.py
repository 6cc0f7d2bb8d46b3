"""The row-heavy benchmark's inputs and tables (the benchmark itself runs in `make bench`)."""

from __future__ import annotations

from pathlib import Path

from benchmarks import __main__ as suite
from benchmarks.bench_rowrun import HOLIDAYS, write_row_job
from bulkops.jobs.plan import build_plan


def test_a_row_job_plans_one_operation_per_row(tmp_path: Path) -> None:
    job, directory = write_row_job(tmp_path, 40)
    plan = build_plan(job, directory=directory)
    assert len(plan) == 40 == len(job.read_text().splitlines()) - 1
    assert plan.frame["extension_id"].nunique() == 40 // HOLIDAYS
    assert set(plan.frame["row"]) == set(range(2, 42))


def test_the_row_tables_show_ratios_and_missing_figures() -> None:
    run = {"plan_ready_s": 1.0, "first_request_after_plan_s": 0.5, "sending_s": 3.0}
    runs = [
        {**run, "rows": 10_000, "tail_s": 0.9, "wall_s": 5.0, "peak_rss_mb": 200.0},
        {**run, "rows": 200_000, "tail_s": 2.0, "wall_s": 60.0, "peak_rss_mb": 260.0},
    ]
    resume = {
        "rows": 200_000,
        "done": 0.9,
        "first_request_before_sigterm_s": 1.25,
        "sigterm_exit_s": 0.5,
        "sigterm_exit_code": 75,
        "first_request_before_sigkill_s": None,
        "sigkill_exit_s": 0.01,
        "first_request_after_sigkill_s": 1.5,
    }
    rows = suite.rowrun_table({"runs": runs})
    assert "| 200,000 |" in rows and "260 (1.30×)" in rows
    stops = suite.stop_table({"resume": resume})
    assert "| 200,000 | 90% done | 1.25 | 0.50 (SIGTERM, exit 75) |" in stops
    assert "| after that SIGTERM | — |" in stops
