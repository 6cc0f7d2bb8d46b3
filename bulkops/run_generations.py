"""A state's finished run kept aside when the next run starts afresh, and the old ones pruned.

A nightly job whose file changed, and every finished sync, start a new generation of their
state directory (``state.generations``); the state keeps the newest ``--keep-generations``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .state import generations

__all__ = ["archive_finished", "new_generation", "new_sync_generation"]

log = logging.getLogger("bulkops.runner")  # the run's own log lines, as before the move


def new_generation(state_dir: Path, keep: int) -> None:
    """The state holds a finished run of other job contents: keep it aside, reports and all."""
    kept = archive_finished(state_dir, keep)
    log.info(
        "the job changed since its last run finished: that run is kept in %s; this is "
        "generation %d of %s",
        kept,
        generations.current(state_dir),
        state_dir,
    )


def new_sync_generation(state_dir: Path, keep: int) -> None:
    """A sync's last run finished: keep it aside and read Zoom afresh."""
    kept = archive_finished(state_dir, keep)
    log.info("the last run of this sync finished (kept in %s); reading Zoom afresh", kept)


def archive_finished(state_dir: Path, keep: int) -> Path:
    """Archive the finished run, then delete the oldest generations beyond the newest ``keep``."""
    from .reports.results import REPORT_FILES

    kept = generations.archive(state_dir, REPORT_FILES)
    gone = generations.prune(state_dir, keep)
    if gone:
        log.info(
            "deleted %d old generation(s) of %s (%s): it keeps the last %d "
            "(--keep-generations, $%s)",
            len(gone),
            state_dir,
            ", ".join(p.name for p in gone),
            keep,
            generations.KEEP_ENV,
        )
    return kept
