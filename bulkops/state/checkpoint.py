"""The durable record of a run: the plan, each operation's state, attempts and before-images.

One SQLite database in WAL mode per state directory. Writes go through a single writer thread
that commits in groups (``synchronous=FULL``): a worker's intent is on disk before its request
leaves, and many workers share one fsync. A crash at any point leaves every operation either
final, pending, or ``in_flight`` — the last meaning "sent, outcome unknown", which the engine
reconciles with a read before it sends anything again.

The state directory is guarded by an OS file lock (``fcntl.flock``): the kernel drops it when the
process dies, so a SIGKILLed run never leaves a stale lock behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from ..errors import CheckpointError, CheckpointWriteError, StateLockedError, StateMismatchError
from ..jobs.plan import PLAN_COLUMNS
from ..model import Action, Operation, OpStatus, Outcome, SettingType, SubSettingType

SCHEMA_VERSION = 1
DB_NAME = "checkpoint.sqlite3"
LOCK_NAME = "lock"


_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ops (
    seq INTEGER PRIMARY KEY,
    op_id TEXT NOT NULL UNIQUE,
    row INTEGER NOT NULL,
    action TEXT NOT NULL,
    extension_id TEXT NOT NULL,
    setting_type TEXT NOT NULL,
    sub_setting_type TEXT NOT NULL,
    settings TEXT NOT NULL,
    holiday_id TEXT, call_forwarding_id TEXT,
    holiday_name TEXT, holiday_from TEXT, holiday_to TEXT, phone_number TEXT,
    extension_number TEXT, extension_name TEXT,
    status TEXT NOT NULL DEFAULT '{OpStatus.PENDING.value}',
    attempts INTEGER NOT NULL DEFAULT 0,
    http_status INTEGER, zoom_code INTEGER, message TEXT,
    created_id TEXT, target_id TEXT, tracking_id TEXT,
    reconciled INTEGER NOT NULL DEFAULT 0,
    first_attempt_at REAL, last_attempt_at REAL, latency_ms REAL
);
CREATE INDEX IF NOT EXISTS ops_lane ON ops (extension_id, seq);
CREATE INDEX IF NOT EXISTS ops_status ON ops (status);
CREATE TABLE IF NOT EXISTS snapshots (
    extension_id TEXT PRIMARY KEY, taken_at REAL NOT NULL, settings TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
    at REAL NOT NULL, seq INTEGER, method TEXT NOT NULL, http_status INTEGER,
    kind TEXT NOT NULL, latency_ms REAL
);
CREATE TABLE IF NOT EXISTS runs (
    started_at REAL NOT NULL, ended_at REAL, exit_code INTEGER, stats TEXT
);
"""

_OPEN_STATES = (OpStatus.PENDING.value, OpStatus.IN_FLIGHT.value, OpStatus.NOT_RUN.value)


@dataclass(frozen=True, slots=True)
class LaneOp:
    """An operation as the engine resumes it: the plan's values plus what is already known."""

    op: Operation
    status: OpStatus
    attempts: int
    target_id: str | None  # the id resolved by a lookup, or created by this op's add


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP request the engine made, for the throughput timeline of the report."""

    at: float  # wall-clock seconds
    seq: int | None  # None for a lookup that serves a whole extension
    method: str
    http_status: int | None
    kind: str  # "ok", "rate_limited", "retry", "error", "lookup", "reconcile"
    latency_ms: float | None


def default_state_dir(job_path: str | os.PathLike[str]) -> Path:
    """``jobs/rollout.csv`` keeps its state in ``jobs/.bulkops/rollout.csv/``, so cron resumes."""
    path = Path(job_path).resolve()
    return path.parent / ".bulkops" / path.name


class Checkpoint:
    """Owns the state directory of one job: its lock, its database and its writer."""

    def __init__(self, state_dir: Path, conn: sqlite3.Connection, lock_fd: int) -> None:
        self.state_dir = state_dir
        self._conn = conn  # writes; used by one thread at a time (the writer, or setup code)
        # Reads on the loop thread get their own connection: they see committed data only and
        # never interleave with a transaction the writer thread has open.
        self._reader = sqlite3.connect(state_dir / DB_NAME, check_same_thread=False)
        self._lock_fd = lock_fd
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._wake: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, state_dir: str | os.PathLike[str], *, job_hash: str, job_path: str) -> Checkpoint:
        """Lock and open (or create) the state directory for the job with ``job_hash``.

        Raises StateLockedError when another process holds it, StateMismatchError when it was
        made for other job contents.
        """
        directory = Path(state_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise CheckpointError(
                f"cannot create the state directory {directory}: {exc.strerror}; "
                "pass --state DIR with a writable directory"
            ) from None
        lock_fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise StateLockedError(
                f"another bulkops run is using {directory}; wait for it to finish "
                "(`bulkops status --state DIR` shows its progress)"
            ) from None
        try:
            conn = _connect(directory / DB_NAME)
            existing = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if existing and existing.get("job_hash") != job_hash:
                raise StateMismatchError(
                    f"{directory} holds the state of {existing.get('job_path')!r} with other "
                    "contents; the job file (or its directory file) changed since that run. "
                    "Use a new --state DIR for the changed job, or finish the old one first"
                )
            if not existing:
                with conn:
                    conn.executemany(
                        "INSERT INTO meta (key, value) VALUES (?, ?)",
                        [
                            ("schema_version", str(SCHEMA_VERSION)),
                            ("job_hash", job_hash),
                            ("job_path", job_path),
                            ("created_at", str(time.time())),
                        ],
                    )
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(directory, conn, lock_fd)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._reader.close()
            self._conn.close()
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)

    # -- the plan ------------------------------------------------------------------------

    @property
    def has_plan(self) -> bool:
        return self._meta("plan_loaded") == "1"

    def load_plan(self, frame: pd.DataFrame, *, chunk: int = 50_000) -> None:
        """Store the plan once; a resumed run keeps the stored copy."""
        if self.has_plan:
            return
        cols = ", ".join(PLAN_COLUMNS)
        marks = ", ".join("?" * len(PLAN_COLUMNS))
        sql = f"INSERT INTO ops ({cols}) VALUES ({marks})"
        data = frame.loc[:, list(PLAN_COLUMNS)]
        with self._conn:
            for start in range(0, len(data), chunk):
                part = data.iloc[start : start + chunk]
                rows = part.astype(object).where(part.notna(), None).itertuples(index=False)
                self._conn.executemany(sql, (tuple(_plain(v) for v in r) for r in rows))
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('plan_loaded', '1')")

    def meta(self) -> dict[str, str]:
        return dict(self._conn.execute("SELECT key, value FROM meta").fetchall())

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._conn:
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- reading -------------------------------------------------------------------------

    def open_lanes(self) -> list[str]:
        """Extensions with unfinished operations, in the order their first operation is planned."""
        rows = self._reader.execute(
            "SELECT extension_id, MIN(seq) AS first FROM ops WHERE status IN (?, ?, ?) "
            "GROUP BY extension_id ORDER BY first",
            _OPEN_STATES,
        )
        return [r[0] for r in rows]

    def lane(self, extension_id: str) -> list[LaneOp]:
        """All operations of one extension in plan order, finished ones included."""
        rows = self._reader.execute(
            f"SELECT {', '.join(PLAN_COLUMNS)}, status, attempts, target_id "
            "FROM ops WHERE extension_id = ? ORDER BY seq",
            (extension_id,),
        ).fetchall()
        n = len(PLAN_COLUMNS)
        return [
            LaneOp(
                op=_operation(r[:n]),
                status=OpStatus(r[n]),
                attempts=int(r[n + 1]),
                target_id=r[n + 2],
            )
            for r in rows
        ]

    def counts(self) -> dict[OpStatus, int]:
        rows = self._reader.execute("SELECT status, COUNT(*) FROM ops GROUP BY status")
        return {OpStatus(s): int(c) for s, c in rows}

    def total(self) -> int:
        return int(self._reader.execute("SELECT COUNT(*) FROM ops").fetchone()[0])

    def snapshot(self, extension_id: str) -> dict[str, Any] | None:
        row = self._reader.execute(
            "SELECT settings FROM snapshots WHERE extension_id = ?", (extension_id,)
        ).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def iter_rows(self, sql: str, params: Sequence[Any] = ()) -> Iterator[sqlite3.Row]:
        """Read-only access for reports; ``sql`` is the caller's own constant query."""
        cur = self._reader.cursor()
        cur.row_factory = sqlite3.Row
        yield from cur.execute(sql, params)

    # -- writing (grouped commits) ---------------------------------------------------------

    async def start(self) -> None:
        """Start the writer; call inside the running loop that will record outcomes."""
        self._wake = asyncio.Event()
        self._writer = asyncio.create_task(self._write_loop(), name="bulkops-checkpoint")

    async def flush(self) -> None:
        """Return once everything recorded so far is committed."""
        if self._writer is None or self._wake is None:
            return
        self._check_writer()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._wake.set()
        await fut

    async def stop_writer(self) -> None:
        """Flush everything queued and stop the writer; the database stays open for reading."""
        if self._writer is not None:
            self._closing = True
            assert self._wake is not None
            self._wake.set()
            await self._writer
            self._writer = None
            self._closing = False

    async def record_intent(self, seq: int, *, at: float, target_id: str | None) -> None:
        """Durably mark ``seq`` as sent-or-about-to-be; returns once it is on disk."""
        await self._submit(
            "UPDATE ops SET status = ?, attempts = attempts + 1, target_id = COALESCE(?, target_id),"
            " first_attempt_at = COALESCE(first_attempt_at, ?), last_attempt_at = ? WHERE seq = ?",
            (OpStatus.IN_FLIGHT.value, target_id, at, at, seq),
            wait=True,
        )

    async def record_outcome(self, seq: int, outcome: Outcome, *, wait: bool = False) -> None:
        """Record where ``seq`` ended (or went back to pending). Cheap: joins the next commit."""
        o = outcome
        await self._submit(
            "UPDATE ops SET status = ?, http_status = ?, zoom_code = ?, message = ?,"
            " created_id = COALESCE(?, created_id), target_id = COALESCE(?, target_id),"
            " tracking_id = COALESCE(?, tracking_id), reconciled = MAX(reconciled, ?),"
            " latency_ms = COALESCE(?, latency_ms) WHERE seq = ?",
            (
                o.status.value,
                o.http_status,
                o.zoom_code,
                o.message,
                o.created_id,
                o.target_id,
                o.tracking_id,
                int(o.reconciled),
                o.latency_ms,
                seq,
            ),
            wait=wait,
        )

    def queue_attempt(self, attempt: Attempt) -> None:
        """Log one request for the timeline; joins the next commit, never waits."""
        self._queue(
            "INSERT INTO attempts (at, seq, method, http_status, kind, latency_ms)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                attempt.at,
                attempt.seq,
                attempt.method,
                attempt.http_status,
                attempt.kind,
                attempt.latency_ms,
            ),
        )

    async def record_snapshot(self, extension_id: str, settings: dict[str, Any]) -> None:
        """Keep the first read of an extension only: that one is the before-image for undo."""
        await self._submit(
            "INSERT OR IGNORE INTO snapshots (extension_id, taken_at, settings) VALUES (?, ?, ?)",
            (extension_id, time.time(), orjson.dumps(settings).decode()),
            wait=True,
        )

    async def record_run(self, started_at: float, exit_code: int, stats: dict[str, Any]) -> None:
        await self._submit(
            "INSERT INTO runs (started_at, ended_at, exit_code, stats) VALUES (?, ?, ?, ?)",
            (started_at, time.time(), exit_code, orjson.dumps(stats).decode()),
            wait=True,
        )

    async def mark_not_run(self) -> None:
        """Label pending operations of a stopped run so a report mid-way reads truthfully."""
        await self._submit(
            "UPDATE ops SET status = ? WHERE status = ?",
            (OpStatus.NOT_RUN.value, OpStatus.PENDING.value),
            wait=True,
        )

    def reset_failed(self) -> int:
        """Make failed and skipped operations pending again (``--retry-failed``)."""
        with self._conn:
            cur = self._conn.execute(
                "UPDATE ops SET status = ? WHERE status IN (?, ?)",
                (OpStatus.PENDING.value, OpStatus.FAILED.value, OpStatus.SKIPPED.value),
            )
        return cur.rowcount

    def _check_writer(self) -> None:
        """A writer that died (disk full, I/O error) must fail callers, not leave them waiting."""
        if self._writer is not None and self._writer.done():
            exc = None if self._writer.cancelled() else self._writer.exception()
            raise CheckpointWriteError(f"the checkpoint writer stopped: {exc}")

    def _queue(self, sql: str, params: tuple[Any, ...]) -> None:
        if self._writer is None or self._wake is None:
            raise CheckpointError("checkpoint writer is not running; call start() first")
        self._check_writer()
        self._pending.append((sql, params))
        self._wake.set()

    async def _submit(self, sql: str, params: tuple[Any, ...], *, wait: bool) -> None:
        self._queue(sql, params)
        if wait:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            await fut

    async def _write_loop(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            waiters, self._waiters = self._waiters, []
            if batch:
                try:
                    await asyncio.to_thread(self._commit, batch)
                except Exception as exc:
                    error = CheckpointWriteError(
                        f"cannot write the checkpoint in {self.state_dir}: {exc}; nothing more "
                        "was sent. Free the disk or fix the directory, then run again to resume"
                    )
                    for fut in waiters:
                        if not fut.done():
                            fut.set_exception(error)
                    raise error from exc
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)
            if self._closing and not self._pending:
                return
            if self._pending:
                self._wake.set()

    def _commit(self, batch: list[tuple[str, tuple[Any, ...]]]) -> None:
        with self._conn:
            for sql, params in batch:
                self._conn.execute(sql, params)


def _connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level="DEFERRED")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(_SCHEMA)
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)
    except sqlite3.DatabaseError as exc:
        raise CheckpointError(f"{path} is not a usable bulkops checkpoint: {exc}") from None
    return conn


def open_readonly(state_dir: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open a state directory for reading without taking its lock (status, reports mid-run)."""
    path = Path(state_dir) / DB_NAME
    if not path.exists():
        raise CheckpointError(f"no bulkops state in {state_dir}: run `bulkops run` first")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _plain(value: Any) -> Any:
    """SQLite takes Python scalars, not numpy ones."""
    if value is None or isinstance(value, str | int | float):
        return value
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def _operation(r: Sequence[Any]) -> Operation:
    return Operation(
        seq=int(r[0]),
        op_id=r[1],
        row=int(r[2]),
        action=Action(r[3]),
        extension_id=r[4],
        setting_type=SettingType(r[5]),
        sub_setting_type=SubSettingType(r[6]),
        settings=dict(orjson.loads(r[7])) if r[7] else {},
        holiday_id=r[8],
        call_forwarding_id=r[9],
        holiday_name=r[10],
        holiday_from=r[11],
        holiday_to=r[12],
        phone_number=r[13],
        extension_number=r[14],
        extension_name=r[15],
    )
