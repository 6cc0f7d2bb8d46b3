"""``python -m benchmarks`` (``make bench``): every comparison in one run, a table, RESULTS.md.

Sections (README.md says what each figure means):

1. rate      — sequential loop vs naive gather+AsyncLimiter vs bulkops (precheck on/off), 40/s
2. faults    — the same with 5% error_5xx, 2% applied_5xx, 1% applied_drop
3. overhead  — bulkops vs a bare aiohttp loop, unlimited instant simulator in another process
4. scale     — plan time/memory 10k–1M, run memory small vs large, resume of a 90%-done job
5. pull      — `bulkops directory pull` of 10,000 extensions vs pages ÷ MEDIUM rate (Pro, Business)
6. pacing    — the whole ``bulkops run`` process, 40/s, with and without 50 ms network jitter
7. rows      — planning row-heavy job files (a row per operation) next to fan-out, 10k–1M
8. rowrun    — row-heavy runs (one job row per operation), 10k vs a large size (50k; 200k with
                BULKOPS_BENCH_ROWS=200000): time to first request, tail, peak RSS, stop and resume

``--quick`` runs small sizes of everything in about a minute and writes RESULTS.md only when
``--out`` is given.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from . import bench_overhead, bench_plan, bench_pull, bench_rowrun, bench_rows, bench_scale
from .common import ROOT, machine, median

HERE = Path(__file__).resolve().parent
SECTIONS = ("rate", "faults", "overhead", "scale", "pull", "pacing", "rows", "rowrun")


@dataclass(frozen=True, slots=True)
class Sizes:
    extensions: int = 200  # rate and faults: extensions × holidays operations
    holidays: int = 10
    subset: int = 200  # operations the sequential loop runs
    latency_ms: float = 120.0
    rate: float = 40.0
    rate_repeats: int = 1
    overhead_extensions: int = 500
    overhead_holidays: int = 10
    overhead_repeats: int = 3
    concurrency: int = 32
    plan_sizes: tuple[int, ...] = bench_plan.SIZES
    run_sizes: tuple[int, ...] = (10_000, 100_000)
    resume_size: int = 200_000
    pull_extensions: int = 10_000
    pacing_jitters_ms: tuple[float, ...] = (0.0, 50.0)
    pacing_repeats: int = 3
    pacing_latency_sigma: float = 0.05  # a steady server: the spread the run sees is the network's
    row_sizes: tuple[int, ...] = bench_rows.SIZES  # + 1M with BULKOPS_BENCH_ROWS_1M=1
    rowrun_sizes: tuple[int, ...] = (10_000, int(os.environ.get("BULKOPS_BENCH_ROWS", "50000")))


FULL = Sizes()
QUICK = Sizes(
    extensions=30,
    holidays=10,
    subset=60,
    overhead_extensions=200,
    overhead_repeats=1,
    plan_sizes=(10_000, 100_000),
    run_sizes=(2_000, 10_000),
    resume_size=20_000,
    pull_extensions=1_000,
    pacing_repeats=1,
    row_sizes=(10_000,),
    rowrun_sizes=(2_000, 10_000),
)


def scenario(script: str, sizes: Sizes, *, faults: bool, seed: int) -> dict[str, Any]:
    """One ``bench_rate`` scenario in a fresh process; its JSON result."""
    cmd = [
        sys.executable, "-m", "benchmarks.bench_rate", script,
        "--extensions", str(sizes.extensions), "--holidays", str(sizes.holidays),
        "--latency-ms", str(sizes.latency_ms), "--rate", str(sizes.rate), "--seed", str(seed),
    ]  # fmt: skip
    if script == "sequential":
        cmd += ["--subset", str(sizes.subset)]
    if faults:
        cmd.append("--faults")
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed:\n{done.stderr[-3000:]}")
    return dict(orjson.loads(done.stdout.strip().splitlines()[-1]))


def rate_section(sizes: Sizes, *, repeats: int) -> dict[str, list[dict[str, Any]]]:
    """The sequential loop (latency-bound, ~8 requests/s) runs beside the naive script; the two
    bulkops runs each run alone, so nothing else on this machine's cores is ours meanwhile."""
    out: dict[str, list[dict[str, Any]]] = {}
    for n in range(repeats):
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            seq = pool.submit(scenario, "sequential", sizes, faults=False, seed=n + 1)
            naive = pool.submit(scenario, "naive", sizes, faults=False, seed=n + 1)
            results = [seq.result(), naive.result()]
        for script in ("bulkops", "bulkops-noprecheck"):
            results.append(scenario(script, sizes, faults=False, seed=n + 1))
        for r in results:
            out.setdefault(r["script"], []).append(r)
    return out


def faults_section(sizes: Sizes, *, seed: int = 11) -> dict[str, list[dict[str, Any]]]:
    """All four side by side (correctness is the point here; timings are indicative)."""
    scripts = ("sequential", "naive", "bulkops", "bulkops-noprecheck")
    with concurrent.futures.ThreadPoolExecutor(len(scripts)) as pool:
        futures = [pool.submit(scenario, s, sizes, faults=True, seed=seed) for s in scripts]
        return {s: [f.result()] for s, f in zip(scripts, futures, strict=True)}


def pacing_scenario(sizes: Sizes, jitter_ms: float, seed: int) -> dict[str, Any]:
    """One ``bench_pacing`` scenario in a fresh process (it starts two more: the simulator and
    the timed ``bulkops run``); its JSON result."""
    cmd = [
        sys.executable, "-m", "benchmarks.bench_pacing",
        "--extensions", str(sizes.extensions), "--holidays", str(sizes.holidays),
        "--latency-ms", str(sizes.latency_ms), "--latency-sigma", str(sizes.pacing_latency_sigma),
        "--jitter-ms", str(jitter_ms), "--rate", str(sizes.rate), "--seed", str(seed),
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed:\n{done.stderr[-3000:]}")
    return dict(orjson.loads(done.stdout.strip().splitlines()[-1]))


def pacing_section(sizes: Sizes) -> dict[float, list[dict[str, Any]]]:
    """Each run alone, jitters interleaved, so a busy spell on the machine hits both alike."""
    out: dict[float, list[dict[str, Any]]] = {j: [] for j in sizes.pacing_jitters_ms}
    for n in range(sizes.pacing_repeats):
        for jitter in sizes.pacing_jitters_ms:
            out[jitter].append(pacing_scenario(sizes, jitter, seed=n + 1))
    return out


# --- formatting ------------------------------------------------------------------------------


def table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in r] for r in rows]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(lines)


def _med(runs: list[dict[str, Any]], key: str) -> float:
    return median(float(r[key]) for r in runs)


LABELS = {
    "sequential": "sequential loop (PSZoom-style)",
    "naive": "naive gather + AsyncLimiter(40, 1)",
    "bulkops": "bulkops (precheck, default)",
    "bulkops-noprecheck": "bulkops (precheck=False)",
}


def rate_table(section: dict[str, list[dict[str, Any]]], sizes: Sizes, *, faults: bool) -> str:
    full_ops = sizes.extensions * sizes.holidays
    rows = []
    for script, runs in section.items():
        ops = runs[0]["ops"]
        wall = _med(runs, "seconds")
        ideal = ops / sizes.rate
        requests = _med(runs, "requests")
        note = ""
        if script == "sequential":
            note = (
                f"{ops} of {full_ops} ops; extrapolated to {full_ops}: "
                f"{wall / ideal * full_ops / sizes.rate:.0f} s"
            )
        if script == "bulkops":
            note = f"÷ (ops+GETs)/rate = {wall / (requests / sizes.rate):.3f}"
        failed = int(_med(runs, "reported_failed"))
        if "reported_failed_but_applied" in runs[0] and failed:
            failed_txt = f"{failed} ({int(_med(runs, 'reported_failed_but_applied'))} applied)"
        else:
            failed_txt = str(failed)
        rows.append(
            [
                LABELS[script],
                ops,
                f"{wall:.1f}",
                f"{wall / ideal:.3f}",
                int(_med(runs, "rate_limited")),
                f"{requests / ops:.3f}",
                int(_med(runs, "max_in_window")),
                int(_med(runs, "duplicates")),
                int(_med(runs, "missing")),
                failed_txt,
                note,
            ]
        )
    head = [
        "script",
        "ops",
        "wall s",
        "wall ÷ ideal (ops/rate)",
        "429s",
        "requests/op",
        "max in 1 s",
        "duplicated",
        "missing",
        "reported failed",
        "note",
    ]
    if faults:
        head[5] = "requests/op (incl. retries)"
    return table(head, rows)


def overhead_table(result: dict[str, Any]) -> str:
    runs = result["runs"]
    bare_rate = median(r["ops"] / r["engine_seconds"] for r in runs["bare"])
    rows = []
    for kind, label in (
        ("bare", "bare aiohttp loop (POST only)"),
        ("bulkops", "bulkops, precheck=False"),
        ("bulkops-precheck", "bulkops, precheck (1 GET/extension)"),
    ):
        rs = runs[kind]
        rate = median(r["ops"] / r["engine_seconds"] for r in rs)
        cpu = median(r["engine_cpu"] / r["ops"] * 1000 for r in rs)
        cpu_all = median(r["cpu"] / r["ops"] * 1000 for r in rs)
        rows.append(
            [
                label,
                rs[0]["ops"],
                f"{rate:,.0f}",
                f"{rate / bare_rate:.2f}",
                f"{cpu:.3f}",
                f"{cpu_all:.3f}",
                sum(r["failed"] for r in rs),
            ]
        )
    head = [
        "client",
        "ops",
        "ops/s (median)",
        "× bare",
        "CPU s / 1,000 ops (run)",
        "CPU s / 1,000 ops (incl. plan + checkpoint setup)",
        "failed",
    ]
    return table(head, rows)


def plan_table(rows: list[dict[str, float]]) -> str:
    return table(
        ["operations", "plan s", "peak RSS MB", "RSS added by planning MB", "frame MB"],
        [
            [
                f"{int(r['operations']):,}",
                f"{r['seconds']:.2f}",
                f"{r['peak_rss_mb']:.0f}",
                f"{r['planning_rss_mb']:.0f}",
                f"{r['frame_mb']:.1f}",
            ]
            for r in rows
        ],
    )


def rows_table(rows: list[dict[str, Any]]) -> str:
    return table(
        [
            "job-file rows",
            "shape",
            "plan s (CPU s), median",
            "each plan s",
            "peak RSS MB",
            "fan-out s (CPU s), median",
            "each fan-out s",
            "warm-up plan / fan-out s",
            "ratio of medians",
        ],
        [
            [
                f"{int(r['operations']):,}",
                r["shape"],
                f"{r['seconds']:.2f} ({r['cpu_seconds']:.2f})",
                ", ".join(f"{s:.2f}" for s in r["seconds_each"]),
                f"{r['peak_rss_mb']:.0f}",
                f"{r['fanout_seconds']:.2f} ({r['fanout_cpu_seconds']:.2f})",
                ", ".join(f"{s:.2f}" for s in r["fanout_seconds_each"]),
                " / ".join(
                    ", ".join(f"{s:.2f}" for s in r[key])
                    for key in ("warmup_seconds", "fanout_warmup_seconds")
                ),
                f"{r['ratio']:.1f}× ({r['cpu_ratio']:.1f}× CPU)",
            ]
            for r in rows
        ],
    )


def scale_table(result: dict[str, Any]) -> str:
    runs = result["runs"]
    base = runs[0]
    rows = []
    for r in runs:
        rows.append(
            [
                f"{r['planned']:,}",
                f"{r['seconds']:.1f}",
                f"{r['setup_rss_mb']:.0f}",
                f"{r['engine_rss_mb']:.0f} ({r['engine_rss_mb'] / base['engine_rss_mb']:.2f}×)",
                f"{r['report_rss_mb']:.0f} ({r['report_rss_mb'] / base['report_rss_mb']:.2f}×)",
                f"{r['report_seconds']:.1f}",
            ]
        )
    return table(
        [
            "operations",
            "run s",
            "peak RSS after setup MB",
            "peak RSS after engine MB",
            "peak RSS after reports MB",
            "reports s",
        ],
        rows,
    )


def pull_table(results: list[dict[str, Any]]) -> str:
    rows = [
        [
            r["plan"],
            f"{r['rate']:g}/s",
            f"{r['rows']:,}",
            r["pages"],
            f"{r['seconds']:.1f}",
            f"{r['ideal']:.1f}",
            f"{r['ratio']:.2f}",
            r["rate_limited"],
            r["max_in_medium_window"],
        ]
        for r in results
    ]
    head = ["plan", "MEDIUM rate", "extensions", "pages", "pull s", "ideal s", "pull ÷ ideal"]
    return table([*head, "429s", "max in 1 s"], rows)


def resume_table(result: dict[str, Any]) -> str:
    rows = []
    for r in result["resume"]:
        first = r["seconds_to_first_request"]
        rows.append(
            [
                f"{r['operations']:,}",
                f"{int(r['done_fraction'] * 100)}% done" if r["done_fraction"] else "fresh start",
                "—" if first is None else f"{first:.2f}",
            ]
        )
    return table(["operations", "state", "process start → first API request, s"], rows)


def pacing_table(section: dict[float, list[dict[str, Any]]]) -> str:
    rows = []
    for jitter, runs in section.items():
        ratio = [r["wall_s"] / r["ideal_s"] for r in runs]
        each = ", ".join(f"{x:.3f}" for x in sorted(ratio))
        limited = ", ".join(str(r["rate_limited"]) for r in runs)
        edges = "/".join(f"{_med(runs, k):.1f}" for k in ("before_s", "tail_s", "after_s"))
        told = "/".join(
            f"{_med(runs, k):.1f}" for k in ("summary_duration_s", "summary_process_duration_s")
        )
        rows.append(
            [
                f"{jitter:g} ms",
                runs[0]["ops"],
                f"{_med(runs, 'requests') - _med(runs, 'rate_limited'):.0f}",
                f"{_med(runs, 'ideal_s'):.1f}",
                f"{_med(runs, 'wall_s'):.1f}",
                f"{_med(runs, 'cpu_s'):.1f}",
                f"{median(ratio):.3f} ({each})",
                f"{median(r['span_s'] / r['ideal_s'] for r in runs):.3f}",
                f"{int(_med(runs, 'rate_limited'))} ({limited})",
                edges,
                told,
                int(sum(r["duplicates"] + r["missing"] for r in runs)),
            ]
        )
    head = [
        "jitter",
        "writes",
        "requests needed",
        "ideal s",
        "whole process s (median)",
        "its CPU s",
        "whole ÷ ideal: median (runs)",
        "sending span ÷ ideal",
        "429s: median (runs)",
        "before first / tail / after last request s",
        "summary.json duration_s / process_duration_s",
        "duplicated + missing",
    ]
    return table(head, rows)


def rowrun_table(result: dict[str, Any]) -> str:
    runs = result["runs"]
    base = runs[0]["peak_rss_mb"]
    rows = [
        [
            f"{r['rows']:,}",
            f"{r['plan_ready_s']:.2f}",
            f"{r['first_request_after_plan_s']:.2f}",
            f"{r['sending_s']:.1f}",
            f"{r['tail_s']:.2f}",
            f"{r['wall_s']:.1f}",
            f"{r['peak_rss_mb']:.0f} ({r['peak_rss_mb'] / base:.2f}×)",
        ]
        for r in runs
    ]
    return table(
        [
            "job rows (= operations)",
            "start → plan ready s",
            "plan ready → first request s",
            "sending s",
            "last answer → exit s",
            "wall s",
            "peak RSS MB",
        ],
        rows,
    )


def stop_table(result: dict[str, Any]) -> str:
    r = result["resume"]

    def s(key: str) -> str:
        return "—" if r.get(key) is None else f"{r[key]:.2f}"

    return table(
        ["job rows", "state", "start → first request s", "signal → exit s"],
        [
            [f"{r['rows']:,}", f"{int(r['done'] * 100)}% done", s("first_request_before_sigterm_s"),
             f"{s('sigterm_exit_s')} (SIGTERM, exit {r['sigterm_exit_code']})"],
            [f"{r['rows']:,}", "after that SIGTERM", s("first_request_before_sigkill_s"),
             f"{s('sigkill_exit_s')} (SIGKILL)"],
            [f"{r['rows']:,}", "after that SIGKILL", s("first_request_after_sigkill_s"), ""],
        ],
    )  # fmt: skip


# --- the run ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--rate-repeats", type=int, help="repeat the rate section N times")
    parser.add_argument("--out", type=Path, help="write the markdown here")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    repeats = args.rate_repeats or sizes.rate_repeats
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    out_path = args.out or (
        None if args.quick or len(only) < len(SECTIONS) else HERE / "RESULTS.md"
    )
    started = time.perf_counter()
    info = machine()
    parts: list[str] = []

    def emit(text: str) -> None:
        print(text, flush=True)
        parts.append(text)

    emit("# bulkops benchmarks" + (" (quick)" if args.quick else ""))
    emit("")
    emit(f"- date: {info['date']}")
    emit(f"- machine: {info['machine']}")
    emit(f"- python: {info['python']}")
    emit(f"- libraries: {info['libraries']}")
    emit("- how each script is configured, and what each figure means: benchmarks/README.md")
    ops = sizes.extensions * sizes.holidays
    sim = (
        f"simulator in its own process, `business` plan: strict {sizes.rate:g}/s rolling window, "
        f"lognormal latency median {sizes.latency_ms:g} ms (σ 0.5)"
    )
    if "rate" in only:
        emit("")
        emit(f"## 1. Rate fidelity and completion time: {ops:,} holiday adds")
        emit("")
        emit(
            f"{sizes.extensions} extensions × {sizes.holidays} holidays, {sim}. Ideal = "
            f"ops ÷ {sizes.rate:g}/s = {ops / sizes.rate:.1f} s. "
            + (f"Median of {repeats} runs. " if repeats > 1 else "One run each (budget). ")
            + f"The sequential loop runs the first {sizes.subset} ops only (latency-bound: "
            "its ratio is extrapolated linearly to the full job) beside the naive script; the "
            "bulkops runs run alone."
        )
        emit("")
        emit(rate_table(rate_section(sizes, repeats=repeats), sizes, faults=False))
    if "faults" in only:
        emit("")
        emit(f"## 2. With faults: 5% error_5xx, 2% applied_5xx, 1% applied_drop ({ops:,} ops)")
        emit("")
        emit(
            "Same job and simulator; the four scripts ran side by side (each its own simulator, "
            "same seed), so timings here are indicative; the point is what each leaves behind. "
            "Naive scripts retry a 5xx blindly (max 3 attempts, 1 s apart) and log a dropped "
            "connection as failed. 'reported failed (applied)': what the script says failed, "
            "and how many of those Zoom in fact applied (a rerun of them duplicates)."
        )
        emit("")
        emit(rate_table(faults_section(sizes), sizes, faults=True))
    if "overhead" in only:
        emit("")
        n = sizes.overhead_extensions * sizes.overhead_holidays
        emit(f"## 3. Engine overhead: {n:,} holiday adds, concurrency {sizes.concurrency}")
        emit("")
        emit(
            "Simulator unlimited, no latency, in its own process (a fresh one per run); the "
            "client process measures its own CPU (`time.process_time`, all threads). bulkops "
            f"runs with rate={bench_overhead.ENGINE_RATE:,.0f} and its durable SQLite checkpoint "
            f"(synchronous=FULL). Median of {sizes.overhead_repeats} interleaved runs. "
            "Targets: ≥ 0.5× bare throughput, < 1 CPU s per 1,000 ops."
        )
        emit("")
        with tempfile.TemporaryDirectory() as tmp:
            prof = Path(tmp) / "profile.txt"
            result = bench_overhead.run(
                extensions=sizes.overhead_extensions,
                holidays=sizes.overhead_holidays,
                concurrency=sizes.concurrency,
                repeats=sizes.overhead_repeats,
                profile=prof,
            )
            emit(overhead_table(result))
            emit("")
            emit("cProfile of one bulkops run (precheck=False; main thread only):")
            emit("")
            emit("```")
            emit(prof.read_text(encoding="utf-8").strip())
            emit("```")
    if "scale" in only:
        emit("")
        emit("## 4. Scale")
        emit("")
        emit("Planning (bench_plan: N/20 extensions × 20 holidays, each size a fresh process):")
        emit("")
        emit(plan_table(bench_plan.run(sizes.plan_sizes)))
        emit("")
        scale = bench_scale.run(sizes=sizes.run_sizes, resume_size=sizes.resume_size)
        emit(
            "Whole runs, each a fresh process (run_job, precheck=False, concurrency "
            f"{bench_scale.CONCURRENCY}, rate={bench_scale.ENGINE_RATE:,.0f}) against an unlimited "
            "simulator in another process; N/10 extensions × 10 holidays. Peak RSS is cumulative "
            "(ru_maxrss): 'after engine' covers plan + checkpoint + the run, 'after reports' adds "
            "writing results/summary/failures/undo/HTML. Target: within 1.5× as the job grows."
        )
        emit("")
        emit(scale_table(scale))
        emit("")
        emit(
            "Resume: checkpoint marked 90% succeeded directly in SQLite; `bulkops run` (CLI, new "
            "process, default precheck) from process start to the first API request in the "
            "simulator's journal. Target: < 5 s."
        )
        emit("")
        emit(resume_table(scale))
    if "pull" in only:
        emit("")
        emit(f"## 5. Directory pull: {sizes.pull_extensions:,} extensions")
        emit("")
        emit(
            "`bulkops directory pull` (bulkops.directory_pull.pull_from: every list at its "
            "largest page, the lists side by side on one MEDIUM limiter at the plan's rate) "
            "against the simulator in its own process: the seeded generator's account, its "
            "strict MEDIUM window, lognormal latency median 120 ms. Ideal = pages ÷ MEDIUM "
            "rate. Each list's pages follow one another (a page needs the last one's token), "
            "so the users list alone needs about its pages × the latency: the floor once the "
            "budget is faster than that."
        )
        emit("")
        emit(pull_table(bench_pull.run(sizes.pull_extensions)))
    if "pacing" in only:
        emit("")
        emit(f"## 6. Pacing that survives jitter: {ops:,} holiday adds, whole process")
        emit("")
        emit(
            f"`bulkops run … --yes` as a process of its own, timed from its start to its exit "
            "(start-up, planning, the run, reports), against the simulator in another process: "
            f"`business` plan, strict {sizes.rate:g}/s window, latency median "
            f"{sizes.latency_ms:g} ms with σ {sizes.pacing_latency_sigma:g} (a steady server), "
            "and each API request's arrival delayed by a uniform 0–jitter ms (`--jitter-ms`). "
            "Ideal = the requests the job needs (writes + one GET per extension, no 429 "
            f"retries) ÷ {sizes.rate:g}/s. Median of {sizes.pacing_repeats} run(s), jitters "
            "interleaved. Targets: with 50 ms jitter ≤ 2 × 429 and ≤ 1.08 × ideal; without, "
            "0 × 429 and ≤ 1.03 ×. 'tail': how much longer the last 5% of requests took than "
            "the run's steady rate needed."
        )
        emit("")
        emit(pacing_table(pacing_section(sizes)))
    if "rows" in only:
        emit("")
        emit("## 7. Row-heavy planning: a job-file row per operation")
        emit("")
        emit(
            "`build_plan` of job files with one row per operation on distinct extension ids "
            "(`holiday`: holiday adds; `mix`: forwarding add/delete, holiday update/delete by "
            "id), each in a fresh process, next to the fan-out plan of as many operations "
            "(section 4's job) measured in the same run. Target (issue 15): 1M rows within 3× "
            "the fan-out time, under 2 GB. CPU seconds are shown too: on a shared machine they "
            "move less than wall time."
        )
        emit("")
        row_sizes = sizes.row_sizes if args.quick else bench_rows.sizes_from_env()
        emit(rows_table(bench_rows.run(row_sizes)))
    if "rowrun" in only:
        emit("")
        emit("## 8. Row-heavy runs: one job-file row per operation")
        emit("")
        emit(
            "`bulkops run` (CLI, a fresh process each, --no-precheck, concurrency "
            f"{bench_rowrun.CONCURRENCY}, rate={bench_rowrun.ENGINE_RATE:,.0f}) against an unlimited "
            f"simulator in another process; N/{bench_rowrun.HOLIDAYS} extensions, each named by id "
            f"on {bench_rowrun.HOLIDAYS} holiday-add rows. Request times from the checkpoint's "
            "attempts, plan ready from the run's log, peak RSS of the run's process alone "
            "(wait4). Targets: plan ready → first request ≤ 3 s, last answer → exit ≤ 3 s, peak "
            "RSS of the large run ≤ 1.5× the small one's."
        )
        emit("")
        rows = bench_rowrun.run(sizes.rowrun_sizes, sizes.rowrun_sizes[-1])
        emit(rowrun_table(rows))
        emit("")
        emit(
            f"Stop and resume: the large job marked {int(bench_rowrun.RESUME_DONE * 100)}% done "
            "directly in SQLite, run, SIGTERMed once it has sent "
            f"{bench_rowrun.SENT_BEFORE_SIGNAL} requests, run again and SIGKILLed, run again. "
            "Targets: first request ≤ 3 s after start, exit ≤ 3 s after SIGTERM."
        )
        emit("")
        emit(stop_table(rows))
    elapsed = time.perf_counter() - started
    emit("")
    emit(f"Total benchmark time: {elapsed / 60:.1f} min.")
    if out_path is not None:
        out_path.write_text("\n".join(parts) + "\n", encoding="utf-8")
        print(f"\nwrote {out_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
