"""Whether a checkpoint can be trusted, checked each time it is opened and before anything is sent.

SQLite never complains about a lost write-ahead log: delete ``checkpoint.sqlite3-wal`` (or cut it
short, or overwrite it) and the next connection opens the older database that the main file still
holds, as if the lost transactions never happened. For bulkops that older database is a trap: its
operations read as pending, the precheck finds the job's own holidays in place and labels them
``already_present``, and they vanish from undo.csv. So every open checks, and a damaged state is
refused with ``StateDamagedError``; it is never resumed, and never silently replaced.

What is detected:

- a file that is not an SQLite database, or a database file shorter than its header says;
- a write-ahead log with a corrupt header (SQLite would ignore it and all it holds);
- fewer commits in the database than the *commit mark* in the lock file says were made
  (``state.files``): a deleted, truncated or corrupted WAL, a truncated database, an older copy
  put back;
- when the lock file has no mark (it was deleted or the database was copied without it): the
  database says a run still had it open (the ``open`` flag, pushed into the main file at each
  open) but no WAL is there;
- SQLite's ``quick_check`` failing, a table missing, fewer or more operations than the stored
  plan has, operations without their plan's meta, cells no operation can hold.

What cannot be detected: a WAL cut short or replaced *and* the lock file deleted or rewritten
with it, when what is left is a valid older database. A state directory is one unit: move or
copy it whole.

The checks that read every page and row (``quick_check``, the cells) cost about a second per
million operations. The process that holds a state's lock has run them when it opened the state
and has written every row since (``Checkpoint`` vouches for it until it closes), so a reader that
process opens on it, the run's own reports, runs only the checks that read no rows: the files,
the tables, the commit mark, the plan's count. Those still catch what can go wrong meanwhile (a
WAL deleted or cut mid-run); any other process (status, ``bulkops report``) checks in full.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError, CheckpointWriteError, StateDamagedError
from ..model import ColumnKind
from .schema import (
    META_COMMITS,
    META_OPEN,
    META_PLAN_LOADED,
    META_PLAN_ROWS,
    OPS_COLUMNS,
    TABLES,
)

__all__ = [
    "Files",
    "check_database",
    "damaged",
    "inspect_files",
    "sql_errors",
    "vouch",
    "vouched",
    "withdraw",
]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_WAL_MAGICS = (0x377F0682, 0x377F0683)  # little- and big-endian checksums
_WAL_HEADER = 32


@dataclass(frozen=True, slots=True)
class Files:
    """What the files of a checkpoint looked like before SQLite opened (and perhaps changed) them."""

    db_bytes: int  # 0 when there is no database file yet
    wal_bytes: int | None  # None when there is no write-ahead log


# The state directories whose lock this process holds, checked in full when they were opened,
# and the process's id: a child forked meanwhile inherits the set, not the writing.
_VOUCHED: dict[Path, int] = {}


def vouch(directory: Path) -> None:
    """The lock holder, once it has checked ``directory`` in full: it writes every row from now."""
    _VOUCHED[directory.resolve()] = os.getpid()


def withdraw(directory: Path) -> None:
    """The lock holder lets go of ``directory``: the next reader checks it in full again."""
    _VOUCHED.pop(directory.resolve(), None)


def vouched(directory: Path) -> bool:
    """Whether this process holds ``directory``'s lock and checked it when it took it."""
    return _VOUCHED.get(directory.resolve()) == os.getpid()


def damaged(directory: Path, what: str) -> StateDamagedError:
    return StateDamagedError(
        f"the checkpoint in {directory} is damaged: {what}. Its record of what this job already "
        "did may be incomplete, so bulkops will neither resume it nor start over in it. Move the "
        f"directory aside (mv {directory} {directory}.damaged) and run the same command again "
        "without --no-precheck: each extension is read before its first add, so the changes "
        "already made are reported already_present rather than sent twice (but the new "
        "undo.csv cannot reverse them)"
    )


def inspect_files(db: Path, mark: int | None) -> Files:
    """Check the files themselves; SQLite must not see them first, as opening may rewrite them."""
    directory = db.parent
    wal = db.with_name(db.name + "-wal")
    if db.is_dir() or wal.is_dir():
        raise CheckpointError(
            f"{db} or its -wal is a directory, not a bulkops checkpoint; remove it, or pass "
            "--state DIR with another directory"
        )
    db_bytes = db.stat().st_size if db.exists() else 0
    wal_bytes = wal.stat().st_size if wal.exists() else None
    if not db.exists() and (mark or wal_bytes):
        raise damaged(
            directory,
            f"{db.name} is missing, but "
            + (f"the lock file records {mark:,} commits to it" if mark else "its WAL is there"),
        )
    if db_bytes:
        with open(db, "rb") as fh:
            header = fh.read(100)
        if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
            raise damaged(
                directory, f"{db.name} is not a usable bulkops checkpoint (no SQLite database)"
            )
        if not wal_bytes:  # a WAL may still hold the pages the main file lacks
            expected = _database_bytes(header)
            if expected is not None and db_bytes < expected:
                raise damaged(
                    directory,
                    f"{db.name} is truncated ({db_bytes:,} of {expected:,} bytes)",
                )
    if wal_bytes and not _wal_header_ok(wal):
        raise damaged(directory, f"{wal.name}, the write-ahead log, is corrupt")
    return Files(db_bytes, wal_bytes)


def _database_bytes(header: bytes) -> int | None:
    """The size the header gives the database, when the header's size field is current."""
    (page_size,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if page_size == 1 else page_size
    change, pages = struct.unpack(">II", header[24:32])
    (valid_for,) = struct.unpack(">I", header[92:96])
    return pages * page_size if change == valid_for and pages else None


def _wal_header_ok(wal: Path) -> bool:
    with open(wal, "rb") as fh:
        header = fh.read(_WAL_HEADER)
    if len(header) < _WAL_HEADER:
        return False
    (magic,) = struct.unpack(">I", header[:4])
    if magic not in _WAL_MAGICS:
        return False
    words = struct.unpack((">" if magic & 1 else "<") + "6I", header[:24])
    s0 = s1 = 0
    for i in range(0, 6, 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return (s0, s1) == struct.unpack(">II", header[24:32])


def check_database(
    conn: sqlite3.Connection,
    directory: Path,
    files: Files,
    mark: int | None,
    *,
    rows: bool = True,
) -> None:
    """Check what SQLite opened against the witnesses outside it and against itself. Every
    page and row is read once (about a second per million operations); without ``rows`` (a
    reader of the lock holder's, see above) none is."""
    if rows:
        problems = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise damaged(directory, "SQLite's integrity check failed: " + "; ".join(problems))
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        if mark:
            raise damaged(
                directory,
                f"the database is empty, but the lock file records {mark:,} commits to it (the "
                "database was truncated or replaced, or its write-ahead log lost)",
            )
        return  # a new state
    missing = [t for t in TABLES if t not in tables]
    if missing:
        raise damaged(directory, f"table(s) {', '.join(missing)} are missing")
    meta = {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    commits = int(meta.get(META_COMMITS, "0"))
    if mark is not None and commits < mark:
        raise damaged(
            directory,
            f"it holds {commits:,} of the {mark:,} commits the lock file records: the "
            "write-ahead log was deleted, truncated or corrupted, or an older copy put back",
        )
    # An empty WAL counts as missing: SQLite recreates the file, empty, on any later open.
    if mark is None and meta.get(META_OPEN) == "1" and not files.wal_bytes:
        raise damaged(
            directory,
            "the last run did not close it and its write-ahead log (-wal file) is missing",
        )
    _check_operations(conn, directory, meta, rows=rows)


def _check_operations(
    conn: sqlite3.Connection, directory: Path, meta: dict[str, str], *, rows: bool
) -> None:
    count, low, high = conn.execute("SELECT COUNT(*), MIN(seq), MAX(seq) FROM ops").fetchone()
    if meta.get(META_PLAN_LOADED) != "1":
        if count:
            raise damaged(directory, f"it holds {count:,} operations but not the plan's records")
        return
    expected = meta.get(META_PLAN_ROWS)
    if expected is not None and count != int(expected):
        raise damaged(directory, f"it holds {count:,} of the plan's {int(expected):,} operations")
    if expected is None and count and (low != 0 or high != count - 1):  # a state made before
        # plan_rows was recorded: the plan numbers its operations from 0 without gaps
        raise damaged(directory, f"operations are missing (seq {low} to {high}, {count:,} rows)")
    if not rows:
        return
    bad = conn.execute(_BAD_ROWS, _BAD_ROW_PARAMS).fetchall()  # one scan, in SQLite
    if bad:
        seqs = ", ".join(str(r[0]) for r in bad)
        raise damaged(directory, f"operation(s) with seq {seqs} hold values no operation has")


def _bad_rows_sql() -> tuple[str, tuple[str, ...]]:
    """One scan that finds rows whose cells the readers would choke on (edited by hand, or
    pages that SQLite could still parse)."""
    tests: list[str] = []
    params: list[str] = []
    for c in OPS_COLUMNS:
        if c.enum is not None:
            values = [m.value for m in c.enum]
            tests.append(f"{c.name} NOT IN ({', '.join('?' * len(values))})")
            params.extend(values)
        elif c.kind is ColumnKind.JSON_OBJECT:
            tests.append(
                f"CASE WHEN json_valid({c.name}) THEN json_type({c.name}) != 'object' ELSE 1 END"
            )
        elif c.kind is ColumnKind.INT:
            tests.append(f"typeof({c.name}) != 'integer'")
        elif c.kind is ColumnKind.REAL:
            tests.append(f"typeof({c.name}) NOT IN ('real', 'integer')")
        elif c.kind is ColumnKind.BOOL:
            tests.append(f"{c.name} NOT IN (0, 1)")
        else:
            continue
        if c.nullable:
            tests[-1] = f"({c.name} IS NOT NULL AND {tests[-1]})"
    where = " OR ".join(f"({t})" for t in tests)
    return f"SELECT seq FROM ops WHERE {where} ORDER BY seq LIMIT 5", tuple(params)


_BAD_ROWS, _BAD_ROW_PARAMS = _bad_rows_sql()


@contextlib.contextmanager
def sql_errors(directory: Path) -> Iterator[None]:
    """SQLite's and the OS's errors while a state is set up, as errors that say what to do."""
    try:
        yield
    except sqlite3.Error as exc:
        name = getattr(exc, "sqlite_errorname", "")
        if name.startswith(("SQLITE_FULL", "SQLITE_IOERR")):
            raise CheckpointWriteError(
                f"cannot write the checkpoint in {directory}: {exc}; nothing was sent. Free the "
                "disk or fix the directory, then run again"
            ) from None
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            raise damaged(directory, f"SQLite cannot read it ({exc})") from None
        if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")):
            raise CheckpointError(
                f"cannot write the checkpoint in {directory}: {exc}; make the directory and its "
                "files writable by this user, or pass --state DIR with another directory"
            ) from None
        raise CheckpointError(f"cannot use the checkpoint in {directory}: {exc}") from None
    except OSError as exc:
        raise CheckpointError(
            f"cannot use the state directory {directory}: {exc}; make it readable and writable "
            "by this user, or pass --state DIR with another directory"
        ) from None
