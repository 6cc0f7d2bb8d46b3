"""Pacing under network jitter: the whole ``bulkops run`` process against a jittery simulator.

One scenario per call (``python -m benchmarks.bench_pacing --jitter-ms 50``, a JSON line on
stdout): the simulator in its own process (``bulkops simulate``, Business plan, a strict 40/s
window) delays every API request's *arrival* by a uniform draw in ``[0, jitter_ms]``; the CLI
(``bulkops run … --yes``) runs in another process, timed from its start to its exit, reports
included. The figures:

- ``wall_s``: the CLI process, start to exit (Python start-up, planning, the run, reports);
  ``cpu_s``: the CPU seconds it used (user + system), which a loaded machine inflates less;
- ``ideal_s``: the API requests the job needs (writes + precheck GETs, without 429 retries)
  ÷ the rate: what a perfect client that starts and ends instantly would take;
- ``span_s``: the simulator's first to last API request; ``before_s``/``after_s``: the
  process's time before the first and after the last request; ``tail_s``: how much longer the
  last 5% of requests took than the run's steady rate would have needed (the end's trickle);
- ``rate_limited``: requests the simulator answered 429;
- ``duplicates``/``missing``: every planned holiday must exist exactly once afterwards.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bulkops.simulator import SimConfig, Simulator

from .common import (
    ROOT,
    cli_env,
    planned_ops,
    simulator_process,
    tally,
    warm_bytecode,
    write_job,
)


def scenario(
    *,
    extensions: int,
    holidays: int,
    jitter_ms: float,
    latency_ms: float,
    latency_sigma: float,
    rate: float,
    seed: int,
    folder: Path,
) -> dict[str, Any]:
    warm_bytecode()  # the timed process starts as an installed copy does (common.cli_env)
    job, directory = write_job(folder, extensions, holidays)
    ops = planned_ops(job, directory)
    flags = ["--account-plan", "business", "--rate", str(rate), "--seed", str(seed)]
    flags += ["--latency-ms", str(latency_ms), "--latency-sigma", str(latency_sigma)]
    flags += ["--jitter-ms", str(jitter_ms)]
    flags += ["--state-file", str(folder / "zoom.json")]
    out: dict[str, Any] = {"ops": len(ops), "jitter_ms": jitter_ms, "rate": rate, "seed": seed}
    out["latency_sigma"] = latency_sigma
    with simulator_process(directory, *flags) as running:
        env = cli_env(
            ZOOM_API_URL=running.api_url,
            ZOOM_OAUTH_URL=running.oauth_url,
            XDG_RUNTIME_DIR=str(folder),  # this run's account lease, nobody else's
        )
        cmd = [sys.executable, "-m", "bulkops", "run", str(job), "--directory", str(directory)]
        cmd += ["--account-plan", "business", "--rate", str(rate)]
        cmd += ["--state", str(folder / "state"), "--yes", "-q"]
        started_wall = time.time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        out["wall_s"] = time.perf_counter() - started
        # The CLI's own CPU (the simulator, another child, is still running: not counted).
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        out["cpu_s"] = used.ru_utime + used.ru_stime - children.ru_utime - children.ru_stime
        ended_wall = started_wall + out["wall_s"]
        if done.returncode:
            raise RuntimeError(f"bulkops run exited {done.returncode}:\n{done.stderr[-3000:]}")
        journal = _journal(running.base_url)
    api = [e for e in journal if e["path"].startswith("/v2/")]
    limited = sum(1 for e in api if e["status"] == 429)
    needed = len(api) - limited
    out["requests"] = len(api)
    out["rate_limited"] = limited
    start = min(e["wall"] for e in api)
    out["rate_limited_at"] = [round(e["wall"] - start, 2) for e in api if e["status"] == 429]
    out["ideal_s"] = needed / rate
    sent = sorted(e["wall"] for e in api)
    first, last = sent[0], sent[-1]
    out["span_s"] = last - first
    out["tail_s"] = _tail(sent)
    out["before_s"] = first - started_wall
    out["after_s"] = ended_wall - last
    summary = orjson.loads((folder / "state" / "summary.json").read_bytes())
    for key in ("duration_s", "achieved_rate", "process_duration_s", "process_achieved_rate"):
        out[f"summary_{key}"] = summary.get(key)
    zoom = Simulator(SimConfig(directory=directory, state_file=folder / "zoom.json", rate=None))
    out.update(tally((op.key for op in ops), zoom.holidays))
    return out


def _tail(sent: list[float]) -> float:
    """Seconds the last 5% of requests took beyond what the run's steady middle rate (between
    5% and 95% of them) would have needed: the end's trickle, if any."""
    n = len(sent)
    lo, hi = n // 20, n - n // 20 - 1
    if hi <= lo or sent[hi] <= sent[lo]:
        return 0.0
    steady = (hi - lo) / (sent[hi] - sent[lo])
    return (sent[-1] - sent[hi]) - (n - 1 - hi) / steady


def _journal(base_url: str) -> list[dict[str, Any]]:
    import urllib.request

    with urllib.request.urlopen(f"{base_url}/__sim/journal") as answer:  # loopback only
        return list(orjson.loads(answer.read()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--extensions", type=int, default=200)
    parser.add_argument("--holidays", type=int, default=10)
    parser.add_argument("--jitter-ms", type=float, default=50.0)
    parser.add_argument("--latency-ms", type=float, default=120.0)
    parser.add_argument("--latency-sigma", type=float, default=0.05)
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bulkops-pacing-") as tmp:
        result = scenario(
            extensions=args.extensions,
            holidays=args.holidays,
            jitter_ms=args.jitter_ms,
            latency_ms=args.latency_ms,
            latency_sigma=args.latency_sigma,
            rate=args.rate,
            seed=args.seed,
            folder=Path(tmp),
        )
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
