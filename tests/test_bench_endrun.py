"""Smoke test of benchmarks/bench_endrun.py: every piece measured, the reports written, the
state let go. Correctness only, never timing."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_endrun import measure
from benchmarks.bench_scale import _report_state
from bulkops.reports.results import REPORT_FILES
from bulkops.state import Checkpoint, open_readonly


def test_every_piece_of_the_end_of_a_run_is_measured(tmp_path: Path) -> None:
    made = _report_state(tmp_path / "made", 200)
    state = tmp_path / "state"
    shutil.copytree(made, state)
    pieces = measure(state)
    assert set(pieces) == {
        "record_run+stop_writer",
        "open_readonly",
        "latency",
        "timeline",
        "collect",
        "section_html",
        "table_html",
        "write_all",
        "close",
    }
    assert all(len(v) == 2 and min(v) >= 0 for v in pieces.values())
    assert all((state / name).is_file() for name in REPORT_FILES)
    with open_readonly(state) as reader:
        assert reader.total() == 200 and len(reader.runs()) == 1  # the run it recorded
        meta = reader.meta()
    Checkpoint.open(state, job_hash=meta["job_hash"], job_path=meta["job_path"]).close()
