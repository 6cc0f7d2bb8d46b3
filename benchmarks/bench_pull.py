"""How long ``bulkops directory pull`` takes, next to the ideal: pages ÷ the MEDIUM rate.

One scenario per process (``python -m benchmarks.bench_pull [options]``, a JSON line on stdout)
against ``bulkops simulate`` in another process: the account's ``--extensions`` (the seeded
generator's mix of users, queues, auto receptionists and shared lines over three sites), the
plan's strict MEDIUM window (Pro 10/s, Business 20/s), Zoom-like latency. The pull runs as the
command does (:func:`bulkops.directory_pull.pull_from`, the plan's MEDIUM rate).

The ideal counts every request the pull needed at the budget's pace; each list's pages follow
one another (a page needs the last one's token), so latency alone can hold a list below it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bulkops.config import Endpoints
from bulkops.directory_pull import medium_rate, pull_from

from .common import CREDS, simulator_process


def _account(folder: Path, extensions: int, seed: int) -> Path:
    """The simulated account: a directory file of the seeded generator's ``extensions``."""
    from bulkops.simulator import generate_directory, write_directory

    folder.mkdir(parents=True, exist_ok=True)
    directory = folder / "directory.csv"
    write_directory(generate_directory(extensions, seed), directory)
    return directory


async def scenario(
    *, extensions: int, plan: str, latency_ms: float, folder: Path, seed: int = 2026
) -> dict[str, Any]:
    directory = _account(folder, extensions, seed)
    rate = medium_rate(plan, None)
    flags = ["--account-plan", plan, "--rate", "unlimited", "--latency-ms", str(latency_ms)]
    with simulator_process(directory, *flags) as running:
        endpoints = Endpoints(running.api_url, running.oauth_url)
        started = time.perf_counter()
        pulled = await pull_from(endpoints, CREDS, rate)
        seconds = time.perf_counter() - started
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{running.base_url}/__sim/stats") as r,
        ):
            stats = orjson.loads(await r.read())
    ideal = pulled.pages / rate
    return {
        "extensions": extensions,
        "plan": plan,
        "rate": rate,
        "latency_ms": latency_ms,
        "rows": len(pulled.rows),
        "skipped_common_areas": pulled.skipped_common_areas,
        "pages": pulled.pages,
        "seconds": seconds,
        "ideal": ideal,
        "ratio": seconds / ideal,
        "rate_limited": stats["by_status"].get("429", 0),
        "max_in_medium_window": stats["max_in_medium_window"],
    }


def run(
    extensions: int, plans: tuple[str, ...] = ("pro", "business"), latency_ms: float = 120.0
) -> list[dict[str, Any]]:
    """Each plan in a fresh process (as ``python -m benchmarks`` runs every scenario)."""
    import subprocess

    from .common import ROOT

    out = []
    for plan in plans:
        cmd = [sys.executable, "-m", "benchmarks.bench_pull", "--extensions", str(extensions)]
        cmd += ["--plan", plan, "--latency-ms", str(latency_ms)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"bench_pull {plan} failed:\n{done.stderr[-3000:]}")
        out.append(dict(orjson.loads(done.stdout.strip().splitlines()[-1])))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--extensions", type=int, default=10_000)
    parser.add_argument("--plan", choices=["pro", "business"], default="pro")
    parser.add_argument("--latency-ms", type=float, default=120.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(
            scenario(
                extensions=args.extensions,
                plan=args.plan,
                latency_ms=args.latency_ms,
                folder=Path(tmp),
            )
        )
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
