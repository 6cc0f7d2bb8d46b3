"""The end of a run, piece by piece, with the state's lock held as the run holds it.

What a finished run does after its last answer besides rendering result rows (issue 15's
"exits within 3 s of its last request"): record the run and stop the checkpoint's writer, open
the state for its reports, count the attempts for summary.json and report.html (latency,
timeline), gather the counts, draw the page's tables, write every report, close the state.

``python -m benchmarks.bench_endrun STATE_DIR`` works on a copy of ``STATE_DIR`` (a finished
run's, never written); ``--operations N`` makes one first (``bench_scale``'s report state: 90%
succeeded, 5% failed). Prints wall and CPU seconds per piece as JSON. Compare two versions of
the code by running each in fresh processes, alternately (``PYTHONPATH`` a copy of the other).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson

T = TypeVar("T")
# The page's tables as the reports draw them; a sample of the plan stands for their rows.
_TABLE = ("seq", "row", "extension_id", "extension_number", "extension_name", "action",
          "setting_type", "sub_setting_type", "holiday_name", "phone_number", "status",
          "http_status", "zoom_code", "message", "attempts")  # fmt: skip


def measure(state: Path) -> dict[str, list[float]]:
    """Each piece's [wall s, CPU s] on ``state`` (written: pass a copy)."""
    import pandas  # noqa: F401  # loaded by a run long before its end: not the end's cost

    from bulkops.reports import html
    from bulkops.reports.beforeafter import section_html
    from bulkops.reports.collected import Collected, collect
    from bulkops.reports.results import REPORT_FILES, write_all
    from bulkops.reports.summary import latency
    from bulkops.state.checkpoint import DB_NAME, Checkpoint
    from bulkops.state.reader import open_readonly

    for name in REPORT_FILES:
        (state / name).unlink(missing_ok=True)
    with sqlite3.connect(state / DB_NAME) as db:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    cp = Checkpoint.open(state, job_hash=meta["job_hash"], job_path=meta["job_path"])
    out: dict[str, list[float]] = {}

    def timed(name: str, work: Callable[[], T]) -> T:
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        out[name] = [round(time.perf_counter() - wall, 4), round(time.process_time() - cpu, 4)]
        return result

    async def record() -> None:
        await cp.start()
        await cp.record_run(time.time() - 1.0, 0, {"requests": 0})
        await cp.stop_writer()

    timed("record_run+stop_writer", lambda: asyncio.run(record()))
    reader = timed("open_readonly", lambda: open_readonly(state))
    reader.hold_one_moment()
    timed("latency", lambda: latency(reader))
    timed("timeline", lambda: html.timeline(reader))
    acc = Collected()
    collecting = [0.0, 0.0]
    for frame in reader.op_frames(_TABLE, chunk=10_000):  # the fetch is the results' cost
        timed(
            "collect", functools.partial(collect, acc, frame.rename(columns={"row": "source_row"}))
        )
        collecting = [a + b for a, b in zip(collecting, out["collect"], strict=True)]
    out["collect"] = [round(x, 4) for x in collecting]
    columns = [*_TABLE, "before", "after"]
    sample = reader.op_frame(_TABLE, limit=5_000)
    sample = sample.rename(columns={"row": "source_row"}).reindex(columns=columns)
    timed("section_html", lambda: section_html(sample, preview=False, total=acc.total))
    timed("table_html", lambda: html._table_html(acc, sample))
    reader.close()
    timed("write_all", lambda: write_all(state))
    timed("close", cp.close)
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_endrun")
    parser.add_argument("state", nargs="?", type=Path, help="a finished run's state directory")
    parser.add_argument("--operations", type=int, help="make a report state of N operations")
    args = parser.parse_args(argv)
    if (args.state is None) == (args.operations is None):
        parser.error("give a STATE_DIR or --operations N")
    with tempfile.TemporaryDirectory(prefix="bulkops-endrun-") as tmp:
        if args.state is None:
            from .bench_scale import _report_state

            source = _report_state(Path(tmp) / "made", args.operations)
        else:
            source = args.state
        copy = Path(tmp) / "state"
        shutil.copytree(source, copy)
        result: dict[str, Any] = {"pieces": measure(copy)}
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main(sys.argv[1:])
