"""The durable record of a run: the plan, each operation's state, attempts and before-images.

One SQLite database in WAL mode per state directory. Writes go through a single writer thread
that commits in groups (``synchronous=FULL``): a worker's intent is on disk before its request
leaves, and many workers share one fsync. A crash at any point leaves every operation either
final, pending, or ``in_flight`` — the last meaning "sent, outcome unknown", which the engine
reconciles with a read before it sends anything again.

The state directory is guarded by an OS file lock (``state.files.StateLock``: the kernel drops it
when the process dies, so a SIGKILLed run never leaves a stale lock behind). Every commit is
counted, in the database and in the lock file, and every open checks the database against that
count and its own invariants (``state.integrity``): a damaged state is refused, never resumed as
if the lost commits had not happened. The directory is 0700 and every file in it 0600.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import AccountMismatchError, StateMismatchError
from ..model import OPERATION_COLUMN_NAMES, OPERATION_COLUMNS, OUTCOME_COLUMNS, OpStatus, Outcome
from .database import connect_writable, prepare
from .files import StateLock, private_dir
from .integrity import check_database, inspect_files, sql_errors, vouch, withdraw
from .reader import StateReader, connect_readonly
from .schema import (
    ATTEMPT_COLUMNS,
    CHANGE_LOG_TABLE,
    DB_NAME,
    LOCK_NAME,
    META_ACCOUNT,
    META_COMMITS,
    META_CONFIRMED,
    META_LOG_PRUNED,
    META_OPEN,
    META_PLAN_LOADED,
    META_PLAN_ROWS,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    Attempt,
    OpRecord,
    RunRecord,
    cells,
    column_cells,
    insert_sql,
)
from .writer import Batch, GroupWriter

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DB_NAME", "LOCK_NAME", "Attempt", "Checkpoint", "OpRecord", "default_state_dir"]

# How an outcome merges into its row: an outcome that does not know an id (a retry sent back to
# pending) must not erase the one an earlier answer gave, nor undo an earlier reconciliation.
_MERGE = {
    "status": "?",
    "http_status": "?",
    "zoom_code": "?",
    "message": "?",
    "created_id": "COALESCE(?, created_id)",
    "target_id": "COALESCE(?, target_id)",
    "tracking_id": "COALESCE(?, tracking_id)",
    "reconciled": "MAX(reconciled, ?)",
    "latency_ms": "COALESCE(?, latency_ms)",
}
_RECORD_OUTCOME = (
    "UPDATE ops SET "
    + ", ".join(f"{c.name} = {_MERGE[c.name]}" for c in OUTCOME_COLUMNS)
    + " WHERE seq = ?"
)
_INSERT_OP = insert_sql("ops", OPERATION_COLUMNS)
_INSERT_ATTEMPT = insert_sql("attempts", ATTEMPT_COLUMNS)
_INSERT_RUN = insert_sql("runs", RUN_COLUMNS)
_SET_META = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"
# Copy the WAL into the main file and empty it, so the main file alone says what it must.
_CHECKPOINT_WAL = "PRAGMA wal_checkpoint(TRUNCATE)"


def default_state_dir(job_path: str | os.PathLike[str]) -> Path:
    """``jobs/rollout.csv`` keeps its state in ``jobs/.bulkops/rollout.csv/``, so cron resumes."""
    path = Path(job_path).resolve()
    return path.parent / ".bulkops" / path.name


class Checkpoint:
    """Owns the state directory of one job: its lock, its database and its writer."""

    def __init__(
        self,
        state_dir: Path,
        conn: sqlite3.Connection,
        reader: StateReader,
        lock: StateLock,
        commits: int,
    ) -> None:
        self.state_dir = state_dir
        self._conn = conn  # writes; used by one thread at a time (the writer, or setup code)
        # Reads on the loop thread get their own connection: they see committed data only and
        # never interleave with a transaction the writer thread has open.
        self.reader = reader
        self._lock = lock
        self._commits = commits  # transactions committed, as meta and the lock's mark say
        self._opened = False  # whether this run set the "open" flag it must clear
        self._writer = GroupWriter(self._commit, state_dir)

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        state_dir: str | os.PathLike[str],
        *,
        job_hash: str,
        job_path: str,
        archive: Callable[[Path], object] | None = None,
        renew: bool = False,
    ) -> Checkpoint:
        """Lock, check and open (or create) the state directory for the job with ``job_hash``.

        Raises StateLockedError when another process holds it, StateMismatchError when it was
        made for other job contents, StateDamagedError when it lost records or is corrupt
        (``state.integrity``), CheckpointWriteError when the disk refuses to write. With
        ``archive``, a state whose job finished (every operation final) is no mismatch:
        ``archive(state_dir)`` moves it away, lock held, and a fresh checkpoint starts (a new
        generation). A damaged state is refused before that: it is never archived as finished.
        ``renew`` (a sync job, which reads Zoom afresh each run) archives a finished state of the
        same job too; an unfinished one is resumed as it stands.
        """
        directory = Path(state_dir)
        private_dir(directory)
        lock = StateLock.acquire(directory)
        try:
            path = directory / DB_NAME
            with sql_errors(directory):
                files = inspect_files(path, lock.mark)
                if files.db_bytes or lock.mark:
                    # On a connection that cannot write: closing a read-write one would fold
                    # what is left of a damaged WAL into the main file. Refused as found.
                    with contextlib.closing(connect_readonly(path)) as probe:
                        check_database(probe, directory, files, lock.mark)
                conn = connect_writable(path)
                try:
                    prepare(conn, path)
                    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                    reader = StateReader(connect_readonly(path))
                except BaseException:
                    conn.close()
                    raise
        except BaseException:
            lock.release()
            raise
        checkpoint = cls(directory, conn, reader, lock, int(meta.get(META_COMMITS, 0)))
        try:
            checkpoint._claim(job_hash, job_path, archive, renew)
        except BaseException:
            checkpoint.close()
            raise
        vouch(directory)  # checked above, lock held: this process's readers skip the row checks
        return checkpoint

    def _claim(
        self,
        job_hash: str,
        job_path: str,
        archive: Callable[[Path], object] | None,
        renew: bool = False,
    ) -> None:
        """Mark a new state directory as this job's; refuse one made for other job contents,
        unless that job finished and ``archive`` can move it away (with ``renew``, a finished
        run of this very job is moved away too)."""
        existing = self.reader.meta()
        changed = bool(existing) and existing.get("job_hash") != job_hash
        renewing = renew and not changed and existing.get(META_PLAN_LOADED) == "1"
        if renewing and archive is not None and not self._open_ops():
            self._start_generation(archive)
            existing = {}
        if changed:
            open_ops = self._open_ops()
            if archive is None or open_ops:
                unfinished = f" and {open_ops:,} operation(s) not done" if open_ops else ""
                raise StateMismatchError(
                    f"{self.state_dir} holds a run of {existing.get('job_path')!r} with other "
                    f"contents{unfinished}: the job file (or its directory file) changed since "
                    "that run started. Put the previous file back and run again until it "
                    "finishes (a finished run makes way for a changed job), or run the changed "
                    "job with another --state DIR"
                )
            self._start_generation(archive)
            existing = {}
        identity = [
            ("schema_version", str(SCHEMA_VERSION)),
            ("job_hash", job_hash),
            ("job_path", job_path),
            ("created_at", str(time.time())),
        ]
        with sql_errors(self.state_dir), self._transaction() as conn:
            if not existing:
                conn.executemany(_SET_META, identity)
            conn.execute(_SET_META, (META_OPEN, "1"))
        self._opened = True
        # The flag must reach the main file: it is what tells a lost WAL apart from a closed state.
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute(_CHECKPOINT_WAL)

    def _open_ops(self) -> int:
        return sum(n for s, n in self.reader.counts().items() if not s.final)

    def claim_account(self, account_id: str) -> None:
        """Record the Zoom account the state's runs work on; refuse another account's credentials
        (its plan, snapshots and created ids describe the first account's extensions)."""
        recorded = self.reader.meta().get(META_ACCOUNT)
        if recorded is None:
            with sql_errors(self.state_dir), self._transaction() as conn:
                conn.execute(_SET_META, (META_ACCOUNT, account_id))
        elif recorded != account_id:
            raise AccountMismatchError(
                f"{self.state_dir} holds the state of a run on Zoom account {recorded!r}, but "
                f"these credentials are for account {account_id!r}. Run it with that account's "
                "credentials, or give this account its own --state DIR"
            )

    def record_confirmation(self, job_hash: str) -> None:
        """Note that applying the job with ``job_hash`` to the state's account was agreed to."""
        if self.reader.meta().get(META_CONFIRMED) == job_hash:
            return
        with sql_errors(self.state_dir), self._transaction() as conn:
            conn.execute(_SET_META, (META_CONFIRMED, job_hash))

    def _start_generation(self, archive: Callable[[Path], object]) -> None:
        """Hand the finished state to ``archive`` and start an empty database in its place."""
        path = self.state_dir / DB_NAME
        with sql_errors(self.state_dir):
            # Fold the WAL into the database so the file moved holds everything and the WAL
            # left behind, if any, is empty.
            self._conn.execute(_CHECKPOINT_WAL)
        self.reader.close()
        self._conn.close()
        archive(self.state_dir)
        # The lock's mark counted the archived database's commits: the new one starts at 0,
        # and the mark must not claim more than it holds, or the next open reads it as damage.
        self._commits = 0
        self._lock.write_mark(0)
        with sql_errors(self.state_dir):
            self._conn = connect_writable(path)
            prepare(self._conn, path)
            self.reader = StateReader(connect_readonly(path))

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.reader.close()
        if self._opened and not self._writer.running:  # never beside a busy writer
            with contextlib.suppress(sqlite3.Error, OSError):
                with self._transaction() as conn:
                    conn.execute(_SET_META, (META_OPEN, "0"))
                self._conn.execute(_CHECKPOINT_WAL)
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
        withdraw(self.state_dir)  # before the lock goes: another run may write from then on
        self._lock.release()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One counted transaction: the count joins the commit, the lock's mark follows it."""
        commits = self._commits + 1
        with self._conn:
            yield self._conn
            self._conn.execute(_SET_META, (META_COMMITS, str(commits)))
        self._commits = commits
        self._lock.write_mark(commits)

    # -- the plan ------------------------------------------------------------------------

    @property
    def has_plan(self) -> bool:
        return self.reader.meta().get(META_PLAN_LOADED) == "1"

    def load_plan(self, frame: pd.DataFrame, *, chunk: int = 50_000) -> None:
        """Store the plan (a frame of the operation columns) once, in one transaction; a resumed
        run keeps the stored copy.

        A chunk at a time, column by column: a chunk's cells are Python values only while
        SQLite takes them, so storing a large plan neither copies it whole nor costs a
        Python object per cell beyond the statement's own.
        """
        if self.has_plan:
            return
        names = list(OPERATION_COLUMN_NAMES)
        with sql_errors(self.state_dir), self._transaction() as conn:
            for start in range(0, len(frame), chunk):
                part = frame.iloc[start : start + chunk]
                columns = [column_cells(part[name]) for name in names]
                conn.executemany(_INSERT_OP, zip(*columns, strict=True))
            conn.execute(_SET_META, (META_PLAN_ROWS, str(len(frame))))
            conn.execute(_SET_META, (META_PLAN_LOADED, "1"))

    # -- reading (what the engine asks; the reports open their own reader) -----------------

    def open_lanes(self, *, longest_first: bool = False) -> list[str]:
        return self.reader.open_lanes(longest_first=longest_first)

    def lane(self, extension_id: str) -> list[OpRecord]:
        return self.reader.lane(extension_id)

    def counts(self) -> dict[OpStatus, int]:
        return self.reader.counts()

    def total(self) -> int:
        return self.reader.total()

    def snapshot(self, extension_id: str) -> dict[str, Any] | None:
        return self.reader.snapshot(extension_id)

    # -- writing (grouped commits) ---------------------------------------------------------

    async def start(self) -> None:
        """Start the writer; call inside the running loop that will record outcomes."""
        await self._writer.start()

    async def flush(self) -> None:
        """Return once everything recorded so far is committed."""
        await self._writer.flush()

    async def stop_writer(self) -> None:
        """Flush everything queued and stop the writer; the database stays open for reading."""
        await self._writer.stop()

    async def record_intent(self, seq: int, *, at: float, target_id: str | None) -> None:
        """Durably mark ``seq`` as sent-or-about-to-be; returns once it is on disk."""
        await self._writer.submit(
            "UPDATE ops SET status = ?, attempts = attempts + 1, target_id = COALESCE(?, target_id),"
            " first_attempt_at = COALESCE(first_attempt_at, ?), last_attempt_at = ? WHERE seq = ?",
            (OpStatus.IN_FLIGHT.value, target_id, at, at, seq),
            wait=True,
        )

    async def record_outcome(self, seq: int, outcome: Outcome, *, wait: bool = False) -> None:
        """Record where ``seq`` ended (or went back to pending). Cheap: joins the next commit."""
        await self._writer.submit(
            _RECORD_OUTCOME, (*cells(outcome, OUTCOME_COLUMNS), seq), wait=wait
        )

    def queue_attempt(self, attempt: Attempt) -> None:
        """Log one request for the timeline; joins the next commit, never waits."""
        self._writer.queue(_INSERT_ATTEMPT, cells(attempt, ATTEMPT_COLUMNS))

    async def record_snapshot(self, extension_id: str, settings: dict[str, Any]) -> None:
        """Keep the first read of an extension only: that one is the before-image for undo."""
        await self._writer.submit(
            "INSERT OR IGNORE INTO snapshots (extension_id, taken_at, settings) VALUES (?, ?, ?)",
            (extension_id, time.time(), orjson.dumps(settings).decode()),
            wait=True,
        )

    async def record_run(self, started_at: float, exit_code: int, stats: dict[str, Any]) -> None:
        run = RunRecord(started_at, time.time(), exit_code, stats)
        await self._writer.submit(_INSERT_RUN, cells(run, RUN_COLUMNS), wait=True)

    async def mark_not_run(self) -> None:
        """Label pending operations of a stopped run so a report mid-way reads truthfully."""
        await self._writer.submit(
            "UPDATE ops SET status = ? WHERE status = ?",
            (OpStatus.NOT_RUN.value, OpStatus.PENDING.value),
            wait=True,
        )

    def prune_change_log(self, mark: int) -> int:
        """Delete the report change log's entries before ``mark``, the newest mark of a valid
        report cache (which needs only the entries after it); returns how many went.

        The entry at ``mark`` stays, so that new entries go on numbering after it (SQLite numbers
        a new row after the highest one left), and the meta table says how far the log was cut:
        a reader holding an older cache then knows its log is gone and writes from the state.
        """
        pruned = int(self.reader.meta().get(META_LOG_PRUNED, "0"))
        if mark - 1 <= pruned:
            return 0
        with sql_errors(self.state_dir), self._transaction() as conn:
            gone = conn.execute(f"DELETE FROM {CHANGE_LOG_TABLE} WHERE id < ?", (mark,)).rowcount
            conn.execute(_SET_META, (META_LOG_PRUNED, str(mark - 1)))
        return int(gone)

    def reset_failed(self) -> int:
        """Make failed and skipped operations pending again (``--retry-failed``)."""
        with sql_errors(self.state_dir), self._transaction() as conn:
            cur = conn.execute(
                "UPDATE ops SET status = ? WHERE status IN (?, ?)",
                (OpStatus.PENDING.value, OpStatus.FAILED.value, OpStatus.SKIPPED.value),
            )
        return cur.rowcount

    def _commit(self, batch: Batch) -> None:
        with self._transaction() as conn:
            for sql, params in batch:
                conn.execute(sql, params)
