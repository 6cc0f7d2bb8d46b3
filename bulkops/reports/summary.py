"""summary.json, and the latency figures it shares with report.html, computed in bounded memory.

Latencies come sorted, in chunks (``StateReader.sorted_latencies``: numpy sorts up to a
million of them in memory, 8 MB; beyond that SQLite's sorter, which spills to disk); one pass
over the chunks picks the values at the ranks the percentiles need and adds up the histogram
(by the edges' places in each sorted chunk). The counts beside them (attempts by kind, the span,
the latencies' range) come from the reader's one tally of the attempts. The percentiles equal
``numpy.percentile`` (linear) of the whole array, bit for bit.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..model import OpStatus
from ..run.stats import process_started_at
from ..state import generations
from ..state.reader import StateReader
from .collected import Collected

CHUNK = 50_000
QUANTILES = (50, 90, 99)
BINS = 30
STATUSES = ("succeeded", "already_present", "already_absent", "failed", "skipped", "not_run")


@dataclass(frozen=True, slots=True)
class Latency:
    """What summary.json and the latency chart show; the chart counts positive latencies only."""

    summary: dict[str, float | int]  # p50, p90, p99, max (ms, 0.1 rounded) and n; {} when none
    edges: list[float] = field(default_factory=list)  # histogram bin edges (positives)
    counts: list[int] = field(default_factory=list)  # values per bin
    marks: dict[int, float] = field(default_factory=dict)  # quantile → value (positives)


def _ranks(n: int, q: int) -> tuple[int, int, float]:
    """Indices and weight of ``numpy.percentile(a, q)`` (method 'linear') over ``n`` sorted values."""
    virtual = (n - 1) * (q / 100)
    if virtual >= n - 1:
        return n - 1, n - 1, 0.0
    lo = math.floor(virtual)
    return lo, lo + 1, virtual - lo


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's ``_lerp``: the same operations, so the same rounding."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def _histogram(ascending: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.int64]:
    """``numpy.histogram(ascending[ascending > 0], edges)`` of values already in order: what it
    does after sorting them (the last edge inclusive). The first edge is positive, so the values
    below it (the non-positive ones among them) fall outside as they do there."""
    cumulative = np.concatenate(
        (ascending.searchsorted(edges[:-1], "left"), ascending.searchsorted(edges[-1:], "right"))
    )
    return np.diff(cumulative).astype(np.int64)


def latency(reader: StateReader) -> Latency:
    stats = reader.latency_stats()
    if stats is None:
        return Latency({})
    n, n_pos = stats.n, stats.n_positive
    skip = n - n_pos  # the non-positive values sort first
    wanted = {q: _ranks(n, q) for q in QUANTILES}
    wanted_pos = {q: _ranks(n_pos, q) for q in QUANTILES} if n_pos else {}
    need = {i for a, b, _ in wanted.values() for i in (a, b)}
    need |= {skip + i for a, b, _ in wanted_pos.values() for i in (a, b)}
    edges = np.array([])
    counts = np.zeros(0, dtype=np.int64)
    if stats.positive_range is not None:
        lo, hi = stats.positive_range
        edges = (
            np.geomspace(lo, hi * 1.0001, BINS + 1) if hi > lo else np.array([lo * 0.9, lo * 1.1])
        )
        counts = np.zeros(len(edges) - 1, dtype=np.int64)
    found: dict[int, float] = {}
    start = 0
    for values in reader.sorted_latencies(chunk=CHUNK):
        end = start + len(values)
        for i in need:
            if start <= i < end:
                found[i] = float(values[i - start])
        if n_pos:
            counts += _histogram(values, edges)
        start = end

    def value(ranks: dict[int, tuple[int, int, float]], q: int, base: int) -> float:
        a, b, t = ranks[q]
        return _lerp(found[base + a], found[base + b], t)

    summary: dict[str, float | int] = {f"p{q}": round(value(wanted, q, 0), 1) for q in QUANTILES}
    summary |= {"max": round(stats.top, 1), "n": n}
    return Latency(
        summary,
        [float(x) for x in edges],
        [int(x) for x in counts],
        {q: value(wanted_pos, q, skip) for q in wanted_pos},
    )


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return pd.Timestamp(ts, unit="s", tz="UTC").isoformat().replace("+00:00", "Z")


def _runs(reader: StateReader) -> tuple[list[dict[str, Any]], float | None]:
    """Every run as summary.json shows it, and the seconds their processes took as a whole
    (None when a run does not say when its process started)."""
    runs = []
    whole: float | None = 0.0
    for run in reader.runs():
        stats = dict(run.stats or {})
        stop = stats.pop("stop", None)  # recorded with the counters: {reason, detail, resume_at}
        began = stats.pop("process_started_at", None)
        pid = stats.pop("pid", None)
        process_s = None
        if began is not None and run.ended_at is not None:
            process_s = run.ended_at - began
            if pid == os.getpid() and abs(began - process_started_at()) < 0.05:
                process_s = time.time() - began  # this process: its reports, up to this one
        whole = None if whole is None or process_s is None else whole + process_s
        runs.append(
            {
                "started_at": iso(run.started_at),
                "ended_at": iso(run.ended_at),
                "duration_s": None
                if run.ended_at is None
                else round(run.ended_at - run.started_at, 3),
                "process_started_at": iso(began),
                "process_duration_s": None if process_s is None else round(process_s, 3),
                "exit_code": run.exit_code,
                "stop": stop,
                "stats": stats,
            }
        )
    return runs, (whole if runs else None)


def build_summary(
    reader: StateReader, state_dir: Path, acc: Collected, lat: Latency
) -> dict[str, Any]:
    meta = reader.meta()
    runs, whole = _runs(reader)
    kinds = reader.attempt_kinds()
    span = reader.attempt_span()
    totals: Counter[str] = Counter()
    for run in runs:
        for key in ("requests", "writes", "lookups", "rate_limited", "retries", "reconciliations"):
            totals[key] += int(run["stats"].get(key, 0))
    duration = sum(r["duration_s"] or 0.0 for r in runs)
    if not runs and span.count:  # mid-run or after a crash: the attempts log is what there is
        assert span.first_at is not None and span.last_at is not None
        duration = float(span.last_at - span.first_at)
        totals["requests"] = span.count
        totals["rate_limited"] = kinds.get("rate_limited", 0)
        totals["retries"] = kinds.get("retry", 0)
        totals["lookups"] = kinds.get("lookup", 0)
        totals["reconciliations"] = kinds.get("reconcile", 0)
    # A dry run's state also holds the writes it would send.
    shown = (*STATUSES, OpStatus.WOULD_CHANGE.value) if acc.counts.get("would_change") else STATUSES
    counts = {s: int(acc.counts.get(s, 0)) for s in shown}
    by_operation = {
        k: {"total": sum(c.values()), **{s: int(c[s]) for s in shown if c[s]}}
        for k, c in sorted(acc.by_operation.items())
    }
    return {
        "job": meta.get("job_path"),
        "job_hash": meta.get("job_hash"),
        "state_dir": str(state_dir),
        "generation": generations.current(state_dir),
        "generated_at": iso(time.time()),
        "operations": acc.total,
        "complete": counts["not_run"] == 0,
        "counts": counts,
        "by_operation": by_operation,
        # The runs themselves (the engine, start to end: the sending span), summed.
        "duration_s": round(duration, 3),
        "requests": totals["requests"],
        "achieved_rate": round(totals["requests"] / duration, 2) if duration > 0 else None,
        # The whole process of each run: start-up, planning, sending and reports.
        "process_duration_s": None if whole is None else round(whole, 3),
        "process_achieved_rate": round(totals["requests"] / whole, 2) if whole else None,
        "rate_limited": totals["rate_limited"],
        "retries": totals["retries"],
        "reconciliations": totals["reconciliations"],
        "lookups": totals["lookups"],
        "writes": totals["writes"],
        "attempts_by_kind": kinds,
        "latency_ms": lat.summary,
        "exit_code": runs[-1]["exit_code"] if runs else None,
        "stop": runs[-1]["stop"] if runs else None,  # why the last run stopped; None: it ran out
        "runs": runs,
    }
