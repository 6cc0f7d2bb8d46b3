"""Engine overhead: bulkops versus a bare aiohttp loop, simulator unlimited and instant.

The simulator runs in its own process (``bulkops simulate --rate unlimited``), a fresh one per
run, so the client process measures only its own CPU (``time.process_time``, all threads: the
checkpoint's writer thread included). Both clients keep ``concurrency`` requests in flight;
bulkops gets ``rate=100000`` so its limiter never waits, and keeps its durable checkpoint.

``python -m benchmarks.bench_overhead client KIND --api-url … --job … --directory …`` is one
measured client (a JSON line); :func:`run` drives the comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from .common import CREDS, ROOT, NullDisplay, planned_ops, simulator_process, write_job

KINDS = ("bare", "bulkops", "bulkops-precheck")
ENGINE_RATE = 100_000.0


async def _client(kind: str, ns: argparse.Namespace) -> dict[str, Any]:
    from bulkops.run.engine import EngineOptions
    from bulkops.runner import RunSettings, run_job

    from . import naive

    out: dict[str, Any] = {"kind": kind, "concurrency": ns.concurrency}
    if kind == "bare":
        ops = planned_ops(ns.job, ns.directory)  # built before the clock starts: not its cost
        cpu0, wall0 = time.process_time(), time.perf_counter()
        res = await naive.bare_loop(ns.api_url, ns.oauth_url, CREDS, ops, ns.concurrency)
        out["ops"] = len(ops)
        out["failed"] = res.reported_failed
        out["engine_cpu"] = time.process_time() - cpu0
        out["engine_seconds"] = time.perf_counter() - wall0
        out["cpu"], out["seconds"] = out["engine_cpu"], out["engine_seconds"]
        return out
    marks: dict[str, float] = {}

    def hook(engine: Any) -> None:  # called right before engine.run(): setup is done
        marks["cpu"], marks["wall"] = time.process_time(), time.perf_counter()

    settings = RunSettings(
        job=ns.job,
        directory=ns.directory,
        state_dir=ns.state,
        rate=ENGINE_RATE,
        options=EngineOptions(concurrency=ns.concurrency, precheck=kind == "bulkops-precheck"),
        api_url=ns.api_url,
        oauth_url=ns.oauth_url,
        write_reports=False,
    )
    cpu0, wall0 = time.process_time(), time.perf_counter()
    outcome = await run_job(
        settings, env=CREDS.as_env(), display=NullDisplay(), out=io.StringIO(), engine_hook=hook
    )
    cpu1, wall1 = time.process_time(), time.perf_counter()
    out["ops"] = sum(outcome.result.counts.values())
    out["failed"] = sum(
        v for k, v in outcome.result.counts.items() if k.value not in ("succeeded",)
    )
    out["cpu"], out["seconds"] = cpu1 - cpu0, wall1 - wall0
    out["engine_cpu"], out["engine_seconds"] = cpu1 - marks["cpu"], wall1 - marks["wall"]
    out["requests"] = outcome.result.stats.requests
    return out


def client_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--oauth-url", required=True)
    parser.add_argument("--job", type=Path, required=True)
    parser.add_argument("--directory", type=Path, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--profile", type=Path, help="cProfile the run, write the top lines here")
    ns = parser.parse_args(argv)
    if ns.profile is None:
        result = asyncio.run(_client(ns.kind, ns))
    else:
        import bulkops.runner  # noqa: F401  (imported before profiling: not the run's cost)

        profiler = cProfile.Profile()
        result = profiler.runcall(asyncio.run, _client(ns.kind, ns))
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.strip_dirs().sort_stats("tottime").print_stats(15)
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("cumulative").print_stats("/bulkops/", 20)
        report = text.getvalue().replace(str(ROOT) + "/", "")
        ns.profile.write_text(report, encoding="utf-8")
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


def _one(kind: str, folder: Path, job: Path, directory: Path, n: int, concurrency: int,
         profile: Path | None = None) -> dict[str, Any]:  # fmt: skip
    with simulator_process(directory) as sim:
        cmd = [
            sys.executable, "-m", "benchmarks.bench_overhead", "client", kind,
            "--api-url", sim.api_url, "--oauth-url", sim.oauth_url, "--job", str(job),
            "--directory", str(directory), "--state", str(folder / f"state-{kind}-{n}"),
            "--concurrency", str(concurrency),
        ]  # fmt: skip
        if profile is not None:
            cmd += ["--profile", str(profile)]
        done = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    return dict(orjson.loads(done.stdout.strip().splitlines()[-1]))


def run(
    *, extensions: int, holidays: int, concurrency: int, repeats: int, profile: Path | None
) -> dict[str, Any]:
    """Interleaved runs (bare, bulkops, bulkops-precheck) × repeats, plus one profiled run."""
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    with tempfile.TemporaryDirectory(prefix="bulkops-bench-") as tmp:
        folder = Path(tmp)
        job, directory = write_job(folder, extensions, holidays)
        for n in range(repeats):
            for kind in KINDS:
                runs[kind].append(_one(kind, folder, job, directory, n, concurrency))
        if profile is not None:
            _one("bulkops", folder, job, directory, 99, concurrency, profile)
    return {"extensions": extensions, "holidays": holidays, "concurrency": concurrency,
            "runs": runs}  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["client"]:
        client_main(sys.argv[2:])
    else:
        prof = Path(tempfile.gettempdir()) / "bulkops-overhead.prof.txt"
        print(orjson.dumps(run(extensions=500, holidays=10, concurrency=32, repeats=1,
                               profile=prof), option=orjson.OPT_INDENT_2).decode())  # fmt: skip
        print(prof.read_text())
