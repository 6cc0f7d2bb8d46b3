"""Generations of a state directory: one finished job's record kept aside when the job changes.

A nightly job whose file changes (a new hire in the directory) finds the state of its previous,
finished run. That run is archived whole into ``<state>/generations/<n>/`` (its checkpoint and
the reports named by the caller) and the run starts a fresh checkpoint, generation ``n + 1``, in
the same directory. The caller holds the state's lock while this happens.

Nothing else would ever remove them: a nightly sync archives one folder a night. So after each
archive the runner keeps the newest ``keep`` generations (default :data:`DEFAULT_KEEP`, else
``$BULKOPS_KEEP_GENERATIONS`` or ``run --keep-generations N``) and deletes the oldest beyond
them. The state the directory holds now is not a generation folder and is never touched.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import ConfigError
from .schema import DB_NAME

__all__ = [
    "DEFAULT_KEEP",
    "GENERATIONS_DIR",
    "KEEP_ENV",
    "archive",
    "archived",
    "current",
    "prune",
    "resolve_keep",
]

#: Archived generations kept by default: a month of nightly runs, each with its reports.
DEFAULT_KEEP = 30
KEEP_ENV = "BULKOPS_KEEP_GENERATIONS"

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


def resolve_keep(given: int | None, env: Mapping[str, str]) -> int:
    """How many archived generations to keep: ``given`` (``--keep-generations``), else
    ``$BULKOPS_KEEP_GENERATIONS``, else :data:`DEFAULT_KEEP`; at least 1 (the one just
    archived, which also carries the numbering on)."""
    if given is not None:
        source, text = "--keep-generations", str(given)
    elif env.get(KEEP_ENV, "").strip():
        source, text = KEEP_ENV, env[KEEP_ENV].strip()
    else:
        return DEFAULT_KEEP
    try:
        keep = int(text)
    except ValueError:
        keep = 0
    if keep < 1:
        raise ConfigError(
            f"{source} must be a whole number of at least 1 (the finished runs a state "
            f"directory keeps under {GENERATIONS_DIR}/), not {text!r}"
        )
    return keep


def prune(state_dir: Path, keep: int) -> list[Path]:
    """Delete the oldest archived generations beyond the newest ``keep``; return those deleted.

    One that cannot be deleted (permissions, a symlink put there by hand) is left for the next
    archive to try again: pruning is housekeeping and never fails the run that archives.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, not {keep}")
    deleted = []
    for folder in archived(state_dir)[:-keep]:
        if folder.is_symlink():  # not one we made: rmtree would refuse it anyway
            continue
        try:
            shutil.rmtree(folder)
        except OSError:
            continue
        deleted.append(folder)
    return deleted


def archive(state_dir: Path, names: Iterable[str]) -> Path:
    """Move the checkpoint and the files ``names`` (reports) into the next generation's folder
    (the caller then prunes the oldest: :func:`prune`).

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
