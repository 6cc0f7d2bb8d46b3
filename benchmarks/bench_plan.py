"""Planning benchmark: time and peak memory to build plans of 10k, 100k and 1M operations.

Run by hand: ``python -m benchmarks.bench_plan`` (or ``python benchmarks/bench_plan.py``); the
suite (``python -m benchmarks``) calls :func:`run`.
Each size runs in a fresh subprocess so its peak RSS is its own. The directory is synthetic:
N/20 extensions across three sites; the job adds 20 holidays to every extension via ``*``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOLIDAYS = 20
SIZES = (10_000, 100_000, 1_000_000)
SITES = ("New York", "London", "Berlin")
TYPES = ("user", "user", "user", "call_queue", "auto_receptionist")


def write_inputs(folder: Path, operations: int) -> tuple[Path, Path]:
    extensions = operations // HOLIDAYS
    directory = folder / "directory.csv"
    with directory.open("w", encoding="utf-8") as out:
        out.write("extension_id,extension_number,name,email,type,site\n")
        for i in range(extensions):
            out.write(
                f"ext{i:019d},{100000 + i},Person {i},p{i}@example.com,"
                f"{TYPES[i % len(TYPES)]},{SITES[i % len(SITES)]}\n"
            )
    job = folder / "job.csv"
    with job.open("w", encoding="utf-8") as out:
        out.write("action,setting_type,sub_setting_type,target,name,from,to,timezone\n")
        for h in range(HOLIDAYS):
            day = f"2027-{1 + h // 2:02d}-{1 + 14 * (h % 2):02d}"
            out.write(f"add,holiday_hours,holiday,*,Holiday {h},{day},{day},Europe/Berlin\n")
    return job, directory


def run_one(operations: int, *, as_json: bool = False) -> dict[str, float]:
    from bulkops.jobs.plan import build_plan

    with tempfile.TemporaryDirectory() as tmp:
        job, directory = write_inputs(Path(tmp), operations)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        plan = build_plan(job, directory=directory)
        elapsed = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert len(plan) == operations, (len(plan), operations)
        frame_mb = plan.frame.memory_usage(deep=True).sum() / 2**20
    result = {
        "operations": operations,
        "seconds": elapsed,
        "peak_rss_mb": peak / 1024,
        "planning_rss_mb": (peak - before) / 1024,
        "frame_mb": float(frame_mb),
    }
    if as_json:
        print(json.dumps(result))
    else:
        print(
            f"{operations:>10,} ops  {elapsed:6.2f} s  peak RSS {peak / 1024:7.1f} MB "
            f"(+{(peak - before) / 1024:6.1f} MB while planning)  frame {frame_mb:6.1f} MB"
        )
    return result


def run(sizes: tuple[int, ...] = SIZES) -> list[dict[str, float]]:
    """Each size in a fresh subprocess (its own peak RSS); the suite's entry point."""
    root = Path(__file__).resolve().parent.parent
    out = []
    for size in sizes:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_plan", "--one", str(size), "--json"],
            check=True,
            cwd=root,
            capture_output=True,
            text=True,
        )
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--one", type=int, help="run one size in this process")
    parser.add_argument("--json", action="store_true", help="with --one: print a JSON line")
    args = parser.parse_args()
    if args.one:
        run_one(args.one, as_json=args.json)
        return
    root = Path(__file__).resolve().parent.parent
    for size in SIZES:
        subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_plan", "--one", str(size)],
            check=True,
            cwd=root,
        )


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
