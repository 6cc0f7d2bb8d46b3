"""Generations of a state directory: one finished job's record kept aside when the job changes.

A nightly job whose file changes (a new hire in the directory) finds the state of its previous,
finished run. That run is archived whole into ``<state>/generations/<n>/`` (its checkpoint and
the reports named by the caller) and the run starts a fresh checkpoint, generation ``n + 1``, in
the same directory. The caller holds the state's lock while this happens.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .schema import DB_NAME

__all__ = ["GENERATIONS_DIR", "archive", "archived", "current"]

GENERATIONS_DIR = "generations"
# The database first: once it has moved, the state directory reads as empty. SQLite's side
# files follow (the WAL is checkpointed and empty by then; see Checkpoint).
_DB_FILES = (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal")


def archived(state_dir: Path) -> list[Path]:
    """The archived generations of ``state_dir``, oldest first."""
    root = Path(state_dir) / GENERATIONS_DIR
    if not root.is_dir():
        return []
    numbered = [p for p in root.iterdir() if p.is_dir() and p.name.isdigit()]
    return sorted(numbered, key=lambda p: int(p.name))


def current(state_dir: Path) -> int:
    """The number of the generation the state directory holds now (1 before any archive)."""
    past = archived(state_dir)
    return int(past[-1].name) + 1 if past else 1


def archive(state_dir: Path, names: Iterable[str]) -> Path:
    """Move the checkpoint and the files ``names`` (reports) into the next generation's folder.

    Returns that folder. Files that do not exist are skipped; anything else in the state
    directory (the lock, a simulator's account) stays where it is.
    """
    state_dir = Path(state_dir)
    root = state_dir / GENERATIONS_DIR
    root.mkdir(mode=0o700, exist_ok=True)
    target = root / str(current(state_dir))
    target.mkdir(mode=0o700)
    for name in (*_DB_FILES, *names):
        source = state_dir / name
        if source.exists():
            os.replace(source, target / name)
    return target
