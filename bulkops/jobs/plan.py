"""The plan: every row × every extension it names, one row per operation, checked as a whole.

``build_plan`` reads the job file (``jobfile``), resolves each row's extension reference
(``directory``), reads naive times in each extension's zone (``zones``), checks what depends on
the extension's type (``kinds``), expands rows into operations vectorised, with no Python
object per operation (``expand``), and rejects duplicates and contradictions per extension
(``conflicts``). The frame's columns are the fields of ``model.Operation`` (docs/CONTRACTS.md)
and then ``timezone``, the zone the operation's naive times were read in (shown by ``--out``,
not stored with the operation); low-cardinality text columns are categoricals so a million
operations share a handful of ``settings`` strings.
``validate`` reports the same problems without raising: it is how a job file is validated.
"""

from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

from ..errors import ConfigError, JobFileError, Problem
from ..model import (
    Operation,
    operation_from_record,
)
from .checks import ExtensionRef, RowSpec
from .conflicts import extension_codes, find_conflicts
from .directory import Directory, read_directory, resolve
from .expand import expand
from .hours import from_body
from .intake import job_hash as _job_hash
from .jobfile import load
from .kinds import check_types
from .tables import atomic_file, atomic_path, neutralise_frame
from .zones import localise, zones_of_times

_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """What a plan will do and roughly how long it takes at a given rate."""

    counts: tuple[tuple[str, str, str, int], ...]  # (action, setting_type, sub_setting_type, n)
    operations: int
    extensions: int
    lookups: int  # one GET per extension that has at least one operation needing an id
    requests: int  # operations + lookups
    rate: float
    eta_seconds: float
    hours: tuple[tuple[int, str], ...] = ()  # (job-file row, its business hours in words)
    zones: tuple[tuple[str, int], ...] = ()  # (zone, operations with times read in it)


#: Rows whose business hours a plan's summary lists in words before it gives only a count.
HOURS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Plan:
    """One row per operation in execution order (``seq``), plus where it came from."""

    frame: pd.DataFrame
    job_hash: str  # sha256 of the job file (+ directory file, + encoding/timezone arguments)
    source: str
    warnings: tuple[Problem, ...] = ()
    directory: str | None = None

    def __len__(self) -> int:
        return len(self.frame)

    def iter_operations(self, start: int = 0) -> Iterator[Operation]:
        """Operations in ``seq`` order from ``start``, converted lazily a chunk at a time."""
        for first in range(start, len(self.frame), _CHUNK):
            chunk = self.frame.iloc[first : first + _CHUNK]
            records: list[dict[str, Any]] = chunk.to_dict("records")  # type: ignore[assignment]
            for rec in records:
                yield operation_from_record(rec)

    def summary(self, rate: float, *, precheck: bool = True) -> PlanSummary:
        return summarize(self.frame, rate, precheck=precheck)


# --- building ------------------------------------------------------------------------------


def build_plan(
    path: str | Path,
    *,
    directory: str | Path | None = None,
    encoding: str | None = None,
    timezone: str | None = None,
    sheet: str | None = None,
) -> Plan:
    """Read, check and expand a job file; raise JobFileError listing every problem if any."""
    plan, problems = _prepare(path, directory, encoding, timezone, sheet)
    if plan is None or any(p.severity == "error" for p in problems):
        raise JobFileError(problems)
    return plan


def validate(
    path: str | Path,
    *,
    directory: str | Path | None = None,
    encoding: str | None = None,
    timezone: str | None = None,
    sheet: str | None = None,
) -> list[Problem]:
    """Every problem (errors and warnings) ``build_plan`` would find; empty means clean."""
    return _prepare(path, directory, encoding, timezone, sheet)[1]


def _prepare(
    path: str | Path,
    directory_path: str | Path | None,
    encoding: str | None,
    timezone: str | None,
    sheet: str | None = None,
) -> tuple[Plan | None, list[Problem]]:
    try:
        with _collector_paused(), _freed_memory_reused():
            return _prepare_plan(path, directory_path, encoding, timezone, sheet)
    finally:
        _give_back()


#: glibc's mallopt parameters; what planning sets them to (arrays up to 32 MiB from the heap,
#: up to 64 MiB of freed heap kept for the next ones: the most glibc's own adaptive thresholds
#: reach, set from the start); and glibc's start values, which planning leaves them at.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD, _TRIM_THRESHOLD = 32 * 2**20, 64 * 2**20
_START_THRESHOLD = 128 * 1024


def _libc_function(name: str) -> Any:
    """A function of the C library (glibc's ``mallopt``, ``malloc_trim``), or None elsewhere."""
    import ctypes

    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


@contextlib.contextmanager
def _freed_memory_reused() -> Iterator[None]:
    """Let planning reuse the memory it frees. A row-heavy plan makes and drops many arrays of
    a few megabytes; with glibc's thresholds at their start values each is a fresh mapping whose
    every page faults in (on a VM, a first touch costs about 2 ms per MB), with these they come
    from freed heap (1M rows: 52k -> 41k page faults). Afterwards they are glibc's start values
    again, fixed (set once, glibc adapts them no more): a run keeping the raised ones held 16 MB
    more at 10k operations; ``_give_back`` returns what planning left."""
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        yield
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    try:
        yield
    finally:
        mallopt(_M_MMAP_THRESHOLD, _START_THRESHOLD)
        mallopt(_M_TRIM_THRESHOLD, _START_THRESHOLD)


def _give_back() -> None:
    """Hand the memory planning freed back to the system. Arrow's allocator and C's malloc keep
    freed pages for reuse, and planning a row-heavy job frees hundreds of megabytes that the
    run, which stores the plan, sends and writes reports on top of what is held, never needs
    again (a 200k-row plan: about 60 MB of the process's memory at rest)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _libc_function("malloc_trim")  # glibc's; elsewhere freed memory stays put
    if trim is not None:
        trim(0)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Planning a row-heavy job allocates millions of acyclic objects (row specs, their bodies,
    conflict keys) and frees none of them until it ends: the cyclic collector would rescan the
    growing heap again and again for no garbage, about a sixth of such a plan's time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _prepare_plan(
    path: str | Path,
    directory_path: str | Path | None,
    encoding: str | None,
    timezone: str | None,
    sheet: str | None,
) -> tuple[Plan | None, list[Problem]]:
    problems: list[Problem] = []
    directory: Directory | None = None
    if directory_path is not None:
        directory, found = read_directory(directory_path)
        problems.extend(found)
    try:
        job = load(path, encoding=encoding, timezone=timezone, sheet=sheet)
    except JobFileError as exc:
        return None, problems + exc.problems
    row_problems = list(job.problems)
    specs: Sequence[RowSpec] = job.specs
    if directory_path is not None and directory is None:
        # References cannot be checked without the directory; its own problems say why.
        specs = [s for s in job.specs if s.ref is ExtensionRef.EXTENSION_ID]
    resolution, found = resolve(specs, directory, file=job.path)
    row_problems.extend(found)
    specs, resolution, found = localise(specs, resolution, directory, file=job.path)
    row_problems.extend(found)
    row_problems.extend(check_types(specs, resolution, directory, file=job.path))
    directory_data = None if directory is None else directory.data
    job_hash = _job_hash(job.digest, directory_data, encoding, timezone, sheet)
    extensions = extension_codes(resolution)
    frame = expand(specs, resolution, directory, job_hash, extensions)
    row_problems.extend(
        find_conflicts(frame, specs, resolution, file=job.path, extensions=extensions)
    )
    del extensions
    row_problems.sort(key=lambda p: p.row or 0)
    problems.extend(row_problems)
    plan = Plan(
        frame,
        str(frame.attrs["job_hash"]),
        job.path,
        tuple(p for p in problems if p.severity == "warning"),
        None if directory is None else directory.path,
    )
    return plan, problems


# --- summary and output --------------------------------------------------------------------


def needs_lookup(frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """``Operation.needs_lookup`` for every row at once."""
    action = frame["action"].astype(str)
    sub = frame["sub_setting_type"].astype(str)
    holiday_hours = frame["setting_type"].astype(str).eq("holiday_hours")
    no_holiday = frame["holiday_id"].isna()
    adds_holiday = action.eq("add") & sub.eq("holiday")
    forwarding = sub.eq("call_forwarding") & action.ne("add") & frame["call_forwarding_id"].isna()
    result = (holiday_hours & no_holiday & ~adds_holiday) | forwarding
    return result.to_numpy(dtype=bool)


def summarize(frame: pd.DataFrame, rate: float, *, precheck: bool = True) -> PlanSummary:
    """Counts and the time the engine needs: one read per extension it must read, plus the ops.

    The engine reads an extension before its first write when ``precheck`` is on (the default),
    and otherwise only where an id must be looked up or an update/delete needs a before-image.
    """
    keys = ["action", "setting_type", "sub_setting_type"]
    counts = frame.groupby(keys, observed=True, sort=True).size()
    if precheck:
        lookups = int(frame["extension_id"].nunique())
    else:
        read = needs_lookup(frame) | frame["action"].astype(str).ne("add").to_numpy(dtype=bool)
        lookups = int(frame["extension_id"][read].nunique())
    ops = len(frame)
    return PlanSummary(
        counts=tuple(
            (str(a), str(s), str(b), int(n))
            for a, s, b, n in counts.reset_index().itertuples(index=False, name=None)
        ),
        operations=ops,
        extensions=int(frame["extension_id"].nunique()),
        lookups=lookups,
        requests=ops + lookups,
        rate=rate,
        eta_seconds=(ops + lookups) / rate if rate > 0 else math.inf,
        hours=hours_by_row(frame),
        zones=zones_of_times(frame),
    )


def hours_by_row(frame: pd.DataFrame) -> tuple[tuple[int, str], ...]:
    """Each custom_hours row's hours in words, once per job-file row (not per extension), so a
    reader checks the week they set rather than Zoom's 1 = Sunday numbers."""
    chosen = frame["sub_setting_type"].astype(str).eq("custom_hours").to_numpy(dtype=bool)
    rows = frame.loc[chosen, ["row", "settings"]].drop_duplicates("row").sort_values("row")
    out: list[tuple[int, str]] = []
    for row, settings in rows.itertuples(index=False, name=None):
        body = orjson.loads(str(settings))
        week = from_body(body) if isinstance(body, dict) else None
        out.append((int(row), "hours unchanged" if week is None else week.words()))
    return tuple(out)


def format_duration(seconds: float) -> str:
    if math.isinf(seconds):
        return "forever"
    if seconds < 90:
        n = max(1, round(seconds))
        return f"{n} second{'s' if n != 1 else ''}"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{seconds / 3600:.1f} hours"


def format_summary(summary: PlanSummary) -> str:
    """A text table for the CLI, ending with the ETA line."""
    head = ("action", "setting_type", "sub_setting_type", "operations")
    rows = [(a, s, b, f"{n:,}") for a, s, b, n in summary.counts]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i == 3 else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    per = summary.operations / summary.extensions if summary.extensions else 0
    out.append("")
    out.append(
        f"{summary.extensions:,} extensions × {per:.3g} operations"
        f" + {summary.lookups:,} lookups = {summary.requests:,} requests"
        f" at {summary.rate:g}/s ≈ {format_duration(summary.eta_seconds)}"
    )
    if summary.zones:
        read = ", ".join(f"{zone} ({n:,})" for zone, n in summary.zones)
        out += ["", f"dates and times read in: {read} (see the timezone column of --out)"]
    if summary.hours:
        out += ["", "business hours, as each row sets them:"]
        out += [f"  row {row}: {words}" for row, words in summary.hours[:HOURS_SHOWN]]
        if len(summary.hours) > HOURS_SHOWN:
            out.append(f"  … and {len(summary.hours) - HOURS_SHOWN:,} more rows")
    return "\n".join(out)


def write_plan(plan: Plan, out_path: str | Path) -> None:
    """Write the plan frame as CSV or Parquet, chosen by the suffix, the way reports are written:
    atomically, mode 0600, and in CSV with formula-like cells neutralised (names, descriptions
    and Zoom's settings come from job and directory files)."""
    path = Path(out_path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ConfigError(f"--out must end in .csv or .parquet, not {suffix or 'no suffix'!r}")
    try:
        if suffix == ".csv":
            with atomic_file(path) as fh:
                neutralise_frame(plan.frame).to_csv(fh, index=False, lineterminator="\n")
        else:
            with atomic_path(path) as tmp:
                plan.frame.to_parquet(tmp, index=False)
    except OSError as exc:
        raise ConfigError(f"cannot write --out {path}: {exc.strerror or exc}") from None
