"""Row-heavy runs: one job-file row per operation, as a migration has them.

Each scenario runs ``bulkops run`` as the CLI in a fresh process (``cli`` below: the CLI with its
``bulkops.runner`` logger at INFO, so the "plan ready" line reaches its JSON log) against an
unlimited simulator in another process, and measures from outside:

- **plan ready**: the ``at`` of the runner's "plan ready" log line, from process start;
- **first request**: the earliest send time in the checkpoint's attempts since the start
  (``at`` is when the answer came, minus its latency), minus plan ready;
- **tail**: process exit minus the last answer the checkpoint logged;
- **peak RSS**: the process's own ``ru_maxrss`` from ``os.wait4`` (not the cumulative children's);
- **stop**: after SIGTERM, seconds to exit; then a resume of that state (and, after a SIGKILL, of
  that one): process start to first request.

The resumed job is ``RESUME_DONE`` done (marked succeeded directly in SQLite, as bench_scale
does), then started, stopped by a signal once it has sent requests, and started again.
"""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .common import ROOT, cli_env, simulator_process, warm_bytecode, write_job

HOLIDAYS = 10  # rows (operations) per extension
CONCURRENCY = 32
ENGINE_RATE = 100_000.0
RESUME_DONE = 0.9
SENT_BEFORE_SIGNAL = 200  # requests the simulator answers before the benchmark signals


def write_row_job(folder: Path, rows: int) -> tuple[Path, Path]:
    """``rows // HOLIDAYS`` extensions and a job naming each by id, one holiday add per row."""
    _, directory = write_job(folder, rows // HOLIDAYS, 1)
    with directory.open(encoding="utf-8", newline="") as fh:
        ids = [r["extension_id"] for r in csv.DictReader(fh)]
    job = folder / "rows.csv"
    with job.open("w", encoding="utf-8") as out:
        out.write("action,setting_type,sub_setting_type,extension_id,name,from,to\n")
        for h in range(HOLIDAYS):
            day = f"2027-{1 + h % 12:02d}-{10 + h // 12:02d}"
            for ext in ids:
                out.write(f"add,holiday_hours,holiday,{ext},Row Holiday {h:03d},{day},{day}\n")
    return job, directory


@dataclass(frozen=True, slots=True)
class Process:
    started: float  # wall clock
    exited: float
    exit_code: int
    peak_rss_mb: float
    plan_ready: float | None  # wall clock of the "plan ready" log line
    stderr: str


def _command(job: Path, directory: Path, state: Path, sim: Any) -> list[str]:
    return [
        sys.executable, "-m", "benchmarks.bench_rowrun", "cli", "run", str(job),
        "--directory", str(directory), "--state", str(state), "--rate", str(ENGINE_RATE),
        "--concurrency", str(CONCURRENCY), "--no-precheck", "--log-format", "json", "--yes",
        "--api-url", sim.api_url, "--oauth-url", sim.oauth_url,
    ]  # fmt: skip


def _spawn(cmd: list[str], log: Path) -> tuple[subprocess.Popen[bytes], float]:
    env = cli_env()
    with log.open("wb") as err:
        started = time.time()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    return proc, started


def _reap(proc: subprocess.Popen[bytes], started: float, log: Path) -> Process:
    _, status, usage = os.wait4(proc.pid, 0)
    exited = time.time()
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(encoding="utf-8", errors="replace")
    ready = None
    for line in text.splitlines():
        if line.startswith("{"):
            event = orjson.loads(line)
            if str(event.get("message", "")).startswith("plan ready"):
                ready = float(event["at"])
    return Process(started, exited, proc.returncode, usage.ru_maxrss / 1024, ready, text)


def _requests(state: Path, since: float) -> tuple[float | None, float | None, int]:
    """First send, last answer (wall clock) and count of the requests logged since ``since``."""
    with sqlite3.connect(f"file:{state / 'checkpoint.sqlite3'}?mode=ro", uri=True) as db:
        first, last, n = db.execute(
            "SELECT MIN(at - latency_ms / 1000.0), MAX(at), COUNT(*) FROM attempts WHERE at >= ?",
            (since,),
        ).fetchone()
    return first, last, int(n)


def _wait_for_requests(state: Path, since: float, proc: subprocess.Popen[bytes]) -> None:
    """Until the run has logged some requests (the checkpoint is readable mid-run)."""
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (state / "checkpoint.sqlite3").exists():
            try:
                if _requests(state, since)[2] >= SENT_BEFORE_SIGNAL:
                    return
            except sqlite3.OperationalError:
                pass  # the plan is being stored: the table is busy or not there yet
        time.sleep(0.05)


def fresh_run(folder: Path, rows: int) -> dict[str, Any]:
    job, directory = write_row_job(folder / f"fresh-{rows}", rows)
    state = folder / f"fresh-{rows}" / "state"
    log = folder / f"fresh-{rows}.log"
    with simulator_process(directory) as sim:
        proc, started = _spawn(_command(job, directory, state, sim), log)
        done = _reap(proc, started, log)
    if done.exit_code != 0:
        raise RuntimeError(f"run of {rows} rows exited {done.exit_code}:\n{done.stderr[-3000:]}")
    first, last, n = _requests(state, started)
    assert done.plan_ready is not None and first is not None and last is not None
    return {
        "rows": rows,
        "requests": n,
        "plan_ready_s": done.plan_ready - started,
        "first_request_after_plan_s": first - done.plan_ready,
        "sending_s": last - first,
        "tail_s": done.exited - last,
        "wall_s": done.exited - started,
        "peak_rss_mb": done.peak_rss_mb,
    }


def _mark_done(job: Path, directory: Path, state: Path, fraction: float) -> None:
    from bulkops.jobs.plan import build_plan
    from bulkops.state.checkpoint import DB_NAME, Checkpoint

    plan = build_plan(job, directory=directory)
    checkpoint = Checkpoint.open(state, job_hash=plan.job_hash, job_path=str(job))
    try:
        checkpoint.load_plan(plan.frame)
    finally:
        checkpoint.close()
    with sqlite3.connect(state / DB_NAME) as db:
        db.execute(
            "UPDATE ops SET status = 'succeeded', attempts = 1 WHERE seq < ?",
            (int(len(plan) * fraction),),
        )


def stop_and_resume(folder: Path, rows: int) -> dict[str, Any]:
    """SIGTERM a resumed run (exit time), resume it, SIGKILL that, resume again; each resume's
    time from process start to its first request."""
    job, directory = write_row_job(folder / f"resume-{rows}", rows)
    state = folder / f"resume-{rows}" / "state"
    _mark_done(job, directory, state, RESUME_DONE)
    out: dict[str, Any] = {"rows": rows, "done": RESUME_DONE}
    with simulator_process(directory) as sim:
        cmd = _command(job, directory, state, sim)
        for step, sig in (("sigterm", signal.SIGTERM), ("sigkill", signal.SIGKILL)):
            log = folder / f"resume-{rows}-{step}.log"
            proc, started = _spawn(cmd, log)
            _wait_for_requests(state, started, proc)
            first = _requests(state, started)[0]
            out[f"first_request_before_{step}_s"] = None if first is None else first - started
            signalled = time.time()
            proc.send_signal(sig)
            done = _reap(proc, started, log)
            out[f"{step}_exit_s"] = done.exited - signalled
            out[f"{step}_exit_code"] = done.exit_code
        log = folder / f"resume-{rows}-after-kill.log"
        proc, started = _spawn(cmd, log)
        _wait_for_requests(state, started, proc)
        first = _requests(state, started)[0]
        out["first_request_after_sigkill_s"] = None if first is None else first - started
        proc.send_signal(signal.SIGTERM)
        _reap(proc, started, log)
    return out


def run(sizes: tuple[int, ...], resume_rows: int) -> dict[str, Any]:
    import tempfile

    warm_bytecode()  # the timed processes start as an installed copy does (common.cli_env)
    with tempfile.TemporaryDirectory(prefix="bulkops-bench-rows-") as tmp:
        folder = Path(tmp)
        return {
            "runs": [fresh_run(folder, n) for n in sizes],
            "resume": stop_and_resume(folder, resume_rows),
        }


def main(argv: list[str]) -> None:
    if argv[:1] == ["cli"]:
        import logging

        from bulkops.cli import main as cli_main

        logging.getLogger("bulkops.runner").setLevel(logging.INFO)
        sys.exit(cli_main(argv[1:]))
    sizes = tuple(int(a) for a in argv) or (10_000, 200_000)
    result = run(sizes[:-1] or sizes, sizes[-1])
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main(sys.argv[1:])
