"""Rate fidelity, completion time and exactly-once effects of one script against the simulator.

One scenario per process (``python -m benchmarks.bench_rate SCRIPT [options]``, a JSON line on
stdout), each against its own simulator in another process (``bulkops simulate``, as Zoom is a
separate server: the client's event loop cannot delay the simulator's clock). Scripts:

- ``sequential``: one request at a time, 1 s sleep on 429 (run on a ``--subset`` of the ops);
- ``naive``: aiohttp + ``asyncio.gather`` + ``AsyncLimiter(rate, 1)``, 1 s sleep on 429;
- ``bulkops``: ``run_job`` with the default precheck; ``bulkops-noprecheck``: ``precheck=False``.

Afterwards every planned (extension, name, from, to) is looked up in the simulator's state.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bulkops.config import AccountPlan
from bulkops.run.engine import EngineOptions
from bulkops.runner import RunSettings, run_job
from bulkops.simulator import SimConfig, Simulator

from . import naive
from .common import (
    CREDS,
    NullDisplay,
    planned_ops,
    simulator_process,
    tally,
    write_job,
)

SCRIPTS = ("sequential", "naive", "bulkops", "bulkops-noprecheck")
FAULTS = {"error_5xx": 0.05, "applied_5xx": 0.02, "applied_drop": 0.01}


async def scenario(
    script: str,
    *,
    extensions: int,
    holidays: int,
    subset: int | None,
    faults: bool,
    seed: int,
    latency_ms: float,
    rate: float,
    folder: Path,
) -> dict[str, Any]:
    job, directory = write_job(folder, extensions, holidays)
    ops = planned_ops(job, directory)
    if subset is not None:
        ops = ops[:subset]
    flags = ["--account-plan", "business", "--rate", str(rate), "--latency-ms", str(latency_ms)]
    flags += ["--seed", str(seed), "--state-file", str(folder / "zoom.json")]
    for name, p in FAULTS.items() if faults else ():
        flags += ["--fault", f"{name}={p}"]
    out: dict[str, Any] = {"script": script, "ops": len(ops), "faults": faults, "rate": rate}
    with simulator_process(directory, *flags) as running:
        if script in ("sequential", "naive"):
            if script == "sequential":
                res = await naive.sequential(running.api_url, running.oauth_url, CREDS, ops)
            else:
                res = await naive.naive_concurrent(
                    running.api_url, running.oauth_url, CREDS, ops, rate
                )
            out["seconds"] = res.seconds
            out["reported_failed"] = res.reported_failed
            out["dropped"] = res.dropped
            failed_keys = res.failed_keys
        else:
            settings = RunSettings(
                job=job,
                directory=directory,
                state_dir=folder / "state",
                account_plan=AccountPlan.BUSINESS,
                rate=rate,
                options=EngineOptions(precheck=script == "bulkops"),
                api_url=running.api_url,
                oauth_url=running.oauth_url,
                write_reports=False,
            )
            started = time.perf_counter()
            outcome = await run_job(
                settings, env=CREDS.as_env(), display=NullDisplay(), out=io.StringIO()
            )
            out["seconds"] = time.perf_counter() - started
            out["engine_seconds"] = outcome.result.duration
            out["exit_code"] = outcome.exit_code
            out["counts"] = {str(k.value): v for k, v in outcome.result.counts.items()}
            out["reported_failed"] = sum(
                v for k, v in outcome.result.counts.items() if k.value in ("failed", "skipped")
            )
            failed_keys = []
        journal, stats = await _inspect(running.base_url)
    api = [e for e in journal if e["path"].startswith("/v2/")]
    out["requests"] = len(api)
    out["gets"] = sum(1 for e in api if e["method"] == "GET")
    out["rate_limited"] = sum(1 for e in api if e["status"] == 429)
    out["server_errors"] = sum(1 for e in api if (e["status"] or 0) >= 500)
    out["dropped_by_sim"] = sum(1 for e in api if e["status"] is None)
    out["max_in_window"] = stats["max_in_window"]
    # The simulator saved its state on SIGTERM: count holidays in it.
    zoom = Simulator(SimConfig(directory=directory, state_file=folder / "zoom.json", rate=None))
    out.update(tally((op.key for op in ops), zoom.holidays))
    # Failures the script reported although Zoom applied them (answers lost or 5xx after apply).
    present = tally(failed_keys, zoom.holidays)
    out["reported_failed_but_applied"] = present["expected"] - present["missing"]
    return out


async def _inspect(base_url: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base_url}/__sim/journal") as r:
            journal = orjson.loads(await r.read())
        async with session.get(f"{base_url}/__sim/stats") as r:
            stats = orjson.loads(await r.read())
    return journal, stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("script", choices=SCRIPTS)
    parser.add_argument("--extensions", type=int, default=200)
    parser.add_argument("--holidays", type=int, default=10)
    parser.add_argument("--subset", type=int, help="only the first N operations")
    parser.add_argument("--faults", action="store_true", help=f"inject {FAULTS}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=40.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bulkops-bench-") as tmp:
        result = asyncio.run(
            scenario(
                args.script,
                extensions=args.extensions,
                holidays=args.holidays,
                subset=args.subset,
                faults=args.faults,
                seed=args.seed,
                latency_ms=args.latency_ms,
                rate=args.rate,
                folder=Path(tmp),
            )
        )
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
