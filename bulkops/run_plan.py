"""The plan a run works from: built from the job file (a sync's desired state checked), or
recognised as the one the state already holds, so a resumed run neither reads nor checks the
job file again."""

from __future__ import annotations

import gc
import hashlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import directory_pull
from .directory_pull import is_zoom
from .errors import JobFileError
from .jobs.intake import job_hash_of
from .jobs.sync import SyncSpec, check_rows, extension_zones
from .run_settings import RunSettings, state_dir_for
from .state.reader import stored_plan_hash

if TYPE_CHECKING:  # pandas loads with these: a resumed run's first request does not wait for it
    from .jobs.plan import Plan

# The name these lines had when they lived in runner.py: log filters and JSON readers know it.
log = logging.getLogger("bulkops.runner")


def plan_for(settings: RunSettings, directory: Path | None) -> Plan:
    """The plan of the job file (a sync's desired state, checked), its warnings logged."""
    build_plan = _planner()
    plan = build_plan(
        settings.job,
        directory=directory,
        encoding=settings.encoding,
        timezone=settings.timezone,
        sheet=settings.sheet,
    )
    for warning in plan.warnings:
        log.warning("%s", warning)
    return plan if settings.sync is None else sync_plan(plan, settings.sync)


def _planner() -> Callable[..., Plan]:
    """The planner. pandas and the planner load only here and for the reports: a resumed run's
    first request does not wait for them.

    What that first import makes (pandas', pyarrow's and numpy's modules, most of a process's
    objects) lives as long as the process, so it is parked outside the collector at once: the
    full collection the runner makes before its engine starts then goes through what planning
    left, not through every object of those libraries again (~35 ms of every fresh run's
    start-up), and neither do the collections planning a large job triggers. The runner's
    ``gc.unfreeze()`` after the run hands them back like everything else."""
    first = "bulkops.jobs.plan" not in sys.modules
    from .jobs.plan import build_plan

    if first:
        gc.freeze()
    return build_plan


def stored_plan(settings: RunSettings) -> tuple[str, Path | None] | None:
    """(job hash, directory file) when the state already holds the plan of these very files:
    the run then takes the plan from there and neither reads nor checks the job file again."""
    state_dir = state_dir_for(settings)
    stored = stored_plan_hash(state_dir)
    if stored is None:
        return None
    directory = settings.directory
    if is_zoom(directory):  # the pull the stored plan was built from, kept in the state
        found = directory_pull.cached(state_dir)
        if found is None or settings.refresh_directory:  # zoom_directory decides about those
            return None
        directory = found[0]
    try:
        current = job_hash_of(
            settings.job,
            directory=directory,
            encoding=settings.encoding,
            timezone=settings.timezone,
            sheet=settings.sheet,
        )
    except JobFileError:
        return None  # unreadable now: building the plan says why, with the usual message
    if settings.sync is not None:
        current = sync_hash(current, settings.sync)
    return (stored, directory) if current == stored else None


def sync_plan(plan: Plan, spec: SyncSpec) -> Plan:
    """The desired state of a sync job, checked; a sync of other scope or window is another job
    to the state directory, so its identity joins the job hash."""
    problems = check_rows(plan.iter_operations(), spec, plan.source, extension_zones(plan.frame))
    if problems:
        raise JobFileError(problems)
    return replace(plan, job_hash=sync_hash(plan.job_hash, spec))


def sync_hash(job_hash: str, spec: SyncSpec) -> str:
    return hashlib.sha256(f"{job_hash}\0{spec.identity}".encode()).hexdigest()


def sync_summary(sync: SyncSpec, frame: Any, rate: float) -> str:
    """What the reads decided, before any write: the counts by action, deletes included."""
    from .jobs.plan import format_summary as format_plan
    from .jobs.plan import summarize

    scope = f"sync {sync.scope.value}" + (f" in {sync.window}" if sync.window else "")
    if not len(frame):
        return f"{scope}: every extension already has exactly what the job lists; nothing to send"
    return f"{scope}, planned from what Zoom has now:\n" + format_plan(summarize(frame, rate))


def emit_sync_plan(sync: SyncSpec, frame: Any, rate: float) -> None:
    """The reads' decision as one JSON line on stderr, beside the progress events: what
    ``sync_summary`` prints in text mode, the deletes included, before any write."""
    import orjson

    from .jobs.plan import summarize

    counts = summarize(frame, rate).counts if len(frame) else ()
    window = sync.window
    record = {
        "event": "sync_plan",
        "at": time.time(),
        "scope": sync.scope.value,
        "window": None
        if window is None
        else {
            "first": window.first.isoformat(),
            "last": window.last.isoformat(),
            "zone": window.zone,
        },
        "operations": len(frame),
        "extensions": int(frame["extension_id"].nunique()) if len(frame) else 0,
        "by_action": {
            a: sum(n for act, _, _, n in counts if act == a) for a in ("add", "update", "delete")
        },
        "counts": [
            {"action": a, "setting_type": s, "sub_setting_type": b, "operations": n}
            for a, s, b, n in counts
        ],
    }
    sys.stderr.write(orjson.dumps(record).decode() + "\n")
    sys.stderr.flush()
