"""Scale: peak memory of whole runs as the job grows, and how fast a big job resumes.

Runs: each size in a fresh client process (``child``) against a fresh unlimited simulator in
another process; the child reports its peak RSS (``ru_maxrss``) after setup (plan built and
stored in the checkpoint), after the engine, and after writing the reports.

Resume: a 200k-operation job whose checkpoint is marked 90% succeeded (directly in SQLite); the
time from starting ``bulkops run`` (a new process, which re-reads the job file, checks it against
the checkpoint and opens its lanes) to the first API request in the simulator's journal. The
same for a fresh start of the same job (storing the plan is part of that).

Reports (``python -m benchmarks.bench_scale reports [SIZE ...]``): ``write_all`` alone, in a fresh process
per size and mode (``REPORT_MODES``: without a cache, building one, with a fresh one, with the
last ``TAIL_OPS`` operations changed since), on a finished-looking state (90% succeeded, 5%
failed, one attempt each): peak RSS, seconds and CPU seconds. Target: 200k within 1.3× of 10k.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from .common import CREDS, ROOT, NullDisplay, simulator_process, write_job

HOLIDAYS = 10
CONCURRENCY = 32
ENGINE_RATE = 100_000.0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _child(ns: argparse.Namespace) -> dict[str, Any]:
    from bulkops.reports.results import write_all
    from bulkops.run.engine import EngineOptions
    from bulkops.runner import RunSettings, run_job

    out: dict[str, Any] = {"start_rss_mb": _rss_mb()}

    def hook(engine: Any) -> None:
        out["setup_rss_mb"] = _rss_mb()
        out["setup_seconds"] = time.perf_counter() - started

    settings = RunSettings(
        job=ns.job,
        directory=ns.directory,
        state_dir=ns.state,
        rate=ENGINE_RATE,
        options=EngineOptions(concurrency=CONCURRENCY, precheck=False),
        api_url=ns.api_url,
        oauth_url=ns.oauth_url,
        write_reports=False,
    )
    started = time.perf_counter()
    outcome = await run_job(
        settings, env=CREDS.as_env(), display=NullDisplay(), out=io.StringIO(), engine_hook=hook
    )
    out["seconds"] = time.perf_counter() - started
    out["engine_rss_mb"] = _rss_mb()
    out["ops"] = sum(outcome.result.counts.values())
    out["counts"] = {k.value: v for k, v in outcome.result.counts.items()}
    t = time.perf_counter()
    write_all(ns.state)
    out["report_seconds"] = time.perf_counter() - t
    out["report_rss_mb"] = _rss_mb()
    return out


def _run_size(folder: Path, operations: int) -> dict[str, Any]:
    job, directory = write_job(folder / f"run-{operations}", operations // HOLIDAYS, HOLIDAYS)
    with simulator_process(directory) as sim:
        cmd = [
            sys.executable, "-m", "benchmarks.bench_scale", "child", "--job", str(job),
            "--directory", str(directory), "--state", str(folder / f"state-{operations}"),
            "--api-url", sim.api_url, "--oauth-url", sim.oauth_url,
        ]  # fmt: skip
        done = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    result = dict(orjson.loads(done.stdout.strip().splitlines()[-1]))
    result["planned"] = operations
    return result


def _prepare(job: Path, directory: Path, state: Path, done_fraction: float) -> None:
    """Store the plan in a checkpoint and mark the first ``done_fraction`` of it succeeded."""
    from bulkops.jobs.plan import build_plan
    from bulkops.state.checkpoint import DB_NAME, Checkpoint

    plan = build_plan(job, directory=directory)
    checkpoint = Checkpoint.open(state, job_hash=plan.job_hash, job_path=str(job))
    try:
        checkpoint.load_plan(plan.frame)
    finally:
        checkpoint.close()
    cutoff = int(len(plan) * done_fraction)
    with sqlite3.connect(state / DB_NAME) as db:
        db.execute("UPDATE ops SET status = 'succeeded', attempts = 1 WHERE seq < ?", (cutoff,))


def _first_request(base_url: str, since: float, deadline: float) -> float | None:
    """Wall time of the first API request the simulator answered, polling its journal."""
    seen = 0
    while time.time() < deadline:
        with urllib.request.urlopen(f"{base_url}/__sim/journal?since={seen}") as r:
            entries = orjson.loads(r.read())
        seen += len(entries)
        for e in entries:
            if e["path"].startswith("/v2/") and e["wall"] >= since:
                return float(e["wall"])
        time.sleep(0.02)
    return None


def _time_to_first_request(folder: Path, operations: int, done_fraction: float) -> dict[str, Any]:
    tag = f"resume-{operations}-{int(done_fraction * 100)}"
    job, directory = write_job(folder / tag, operations // HOLIDAYS, HOLIDAYS)
    state = folder / tag / "state"
    prepare_started = time.perf_counter()
    if done_fraction > 0:
        _prepare(job, directory, state, done_fraction)
    prepare_seconds = time.perf_counter() - prepare_started
    with simulator_process(directory) as sim:
        cmd = [
            sys.executable, "-m", "bulkops", "run", str(job), "--directory", str(directory),
            "--state", str(state), "--rate", str(ENGINE_RATE),
            "--concurrency", str(CONCURRENCY), "--log-format", "json",
            "--api-url", sim.api_url, "--oauth-url", sim.oauth_url, "--yes",
        ]  # fmt: skip
        env = {**os.environ, **CREDS.as_env()}
        started = time.time()
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            first = _first_request(sim.base_url, started, started + 60)
        finally:
            proc.send_signal(signal.SIGTERM)  # graceful stop: exit 75, resumable
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {
        "operations": operations,
        "done_fraction": done_fraction,
        "prepare_seconds": prepare_seconds,
        "seconds_to_first_request": None if first is None else first - started,
        "exit_code": proc.returncode,
    }


def _report_state(folder: Path, operations: int) -> Path:
    """A state as a finished run leaves it, made directly in SQLite (no simulator)."""
    from bulkops.state.checkpoint import DB_NAME

    job, directory = write_job(folder / f"reports-{operations}", operations // HOLIDAYS, HOLIDAYS)
    state = folder / f"reports-{operations}" / "state"
    _prepare(job, directory, state, 0.9)
    with sqlite3.connect(state / DB_NAME) as db:
        db.execute(
            "UPDATE ops SET created_id = 'HOL' || seq, http_status = 201, latency_ms = "
            "20.5 + (seq * 7919) % 400, first_attempt_at = 1.8e9 + seq / 40.0, "
            "last_attempt_at = 1.8e9 + seq / 40.0 WHERE status = 'succeeded'"
        )
        db.execute(
            "UPDATE ops SET status = 'failed', http_status = 409, zoom_code = 300, created_id = "
            "NULL, message = 'Holiday exists: ' || op_id WHERE status = 'succeeded' AND seq % 18 = 1"
        )
        db.execute(
            "INSERT INTO attempts SELECT first_attempt_at, seq, 'POST', http_status, "
            "CASE WHEN status = 'failed' THEN 'error' ELSE 'ok' END, latency_ms FROM ops "
            "WHERE first_attempt_at IS NOT NULL"
        )
    return state


def _hwm_mb() -> float:
    """Peak RSS of this process image: unlike ``ru_maxrss``, not inherited across exec from a
    parent that built a big state."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return _rss_mb()


#: ``write_all`` in each mode, a fresh process each, in this order on one state: ``full`` the
#: pass over the whole state (no cache), ``cold`` the run's final pass without a cache (it builds
#: one), ``warm`` a report with the cache fresh, ``tail`` the run's final pass after the last
#: ``TAIL_OPS`` operations changed (what a refresher leaves: a few seconds of a run).
REPORT_MODES = ("full", "cold", "warm", "tail")
TAIL_OPS = 2_000


def _reports_child(state: Path, out: Path, mode: str) -> dict[str, Any]:
    from bulkops.reports.results import write_all

    start = _hwm_mb()
    t, cpu = time.perf_counter(), time.process_time()
    if mode == "full":
        write_all(state, out_dir=out, full=True)
    else:
        write_all(state, out_dir=out, keep_cache=mode in ("cold", "tail"))
    return {
        "mode": mode,
        "seconds": time.perf_counter() - t,
        "cpu_s": time.process_time() - cpu,
        "start_rss_mb": start,
        "rss_mb": _hwm_mb(),
    }


def _touch_tail(state: Path, ops: int) -> None:
    """The last ``ops`` operations written again, as a run's last seconds write them."""
    from bulkops.state.checkpoint import DB_NAME

    with sqlite3.connect(state / DB_NAME) as db:
        db.execute(
            "UPDATE ops SET attempts = attempts WHERE seq > (SELECT MAX(seq) FROM ops) - ?", (ops,)
        )


def reports(
    sizes: tuple[int, ...] = (10_000, 200_000), modes: tuple[str, ...] = REPORT_MODES
) -> list[dict[str, Any]]:
    """Peak RSS and time of ``write_all`` alone, each size and mode in a fresh process."""
    out = []
    with tempfile.TemporaryDirectory(prefix="bulkops-bench-") as tmp:
        for n in sizes:
            state = _report_state(Path(tmp), n)
            for mode in modes:
                if mode == "tail":
                    _touch_tail(state, TAIL_OPS)
                cmd = [
                    sys.executable,
                    "-m",
                    "benchmarks.bench_scale",
                    "reports-child",
                    str(state),
                    mode,
                ]
                done = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
                out.append({"operations": n, **orjson.loads(done.stdout.strip().splitlines()[-1])})
    return out


def run(*, sizes: tuple[int, ...], resume_size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bulkops-bench-") as tmp:
        folder = Path(tmp)
        runs = [_run_size(folder, n) for n in sizes]
        resume = [_time_to_first_request(folder, resume_size, f) for f in (0.9, 0.0)]
    return {"runs": runs, "resume": resume}


def main(argv: list[str]) -> None:
    if argv[:1] == ["child"]:
        parser = argparse.ArgumentParser()
        for name in ("--job", "--directory", "--state"):
            parser.add_argument(name, type=Path, required=True)
        parser.add_argument("--api-url", required=True)
        parser.add_argument("--oauth-url", required=True)
        result = asyncio.run(_child(parser.parse_args(argv[1:])))
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
        return
    if argv[:1] == ["reports-child"]:
        state = Path(argv[1])
        result = _reports_child(state, state.parent / "reports", argv[2] if argv[2:] else "full")
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
        return
    if argv[:1] == ["reports"]:  # sizes may follow: reports 100000 200000
        sizes = tuple(int(n) for n in argv[1:]) or (10_000, 200_000)
        print(orjson.dumps(reports(sizes), option=orjson.OPT_INDENT_2).decode())
        return
    result = run(sizes=(10_000, 50_000), resume_size=200_000)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main(sys.argv[1:])
