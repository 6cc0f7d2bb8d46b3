"""Typed reads of a state directory: every SELECT bulkops runs on a checkpoint is here.

``open_readonly(state_dir)`` gives a ``StateReader`` on a read-only connection that takes no lock,
so ``bulkops status`` and the reports work mid-run and after a crash; a ``Checkpoint`` reads its
own database through one too. Operations come back as ``OpRecord``s fetched ``CHUNK`` rows at a
time, or as pandas frames of chosen columns a chunk at a time (pandas is imported only then), so a
million-operation state reads in flat memory.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from ..errors import CheckpointError
from ..model import Action, OpStatus
from .attempts import TALLY, AttemptSpan, AttemptTally, BarCount, LatencyStats, tally
from .changelog import FOCUS_TABLE, ChangeLogReads
from .files import read_mark
from .integrity import check_database, inspect_files, sql_errors, vouched
from .schema import (
    DB_NAME,
    META_CONFIRMED,
    META_PLAN_LOADED,
    OPS_COLUMN_NAMES,
    RUN_COLUMN_NAMES,
    OpRecord,
    RunRecord,
)
from .schema import op_record as _op_record
from .schema import run_record as _run_record

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from numpy.typing import NDArray

CHUNK = 2_000  # rows per fetch of a streamed read
IN_MEMORY_LATENCIES = 1_000_000  # latencies sorted in memory (8 MB); more are sorted by SQLite

_SELECT_OPS = f"SELECT {', '.join(OPS_COLUMN_NAMES)} FROM ops"
Row = tuple[Any, ...]
# ``focused`` reads keep to the extensions ``StateReader.focus`` named (a temporary table).
_FOCUS = f"extension_id IN (SELECT extension_id FROM {FOCUS_TABLE})"
_OPEN_STATES = tuple(s.value for s in OpStatus if not s.final)


@dataclass(frozen=True, slots=True)
class Statuses:
    """Which operations a read selects: those whose status is one of ``values`` (``~`` inverts)."""

    values: frozenset[OpStatus]
    negate: bool = False

    def __invert__(self) -> Statuses:
        return Statuses(self.values, not self.negate)

    def where(self, *, focused: bool = False) -> tuple[str, tuple[str, ...]]:
        params = tuple(sorted(s.value for s in self.values))
        test = "NOT IN" if self.negate else "IN"
        also = f" AND {_FOCUS}" if focused else ""
        return f" WHERE status {test} ({', '.join('?' * len(params))}){also}", params


def _where(which: Statuses | None, focused: bool) -> tuple[str, tuple[str, ...]]:
    if which is not None:
        return which.where(focused=focused)
    return (f" WHERE {_FOCUS}" if focused else ""), ()


def statuses(*values: OpStatus) -> Statuses:
    return Statuses(frozenset(values))


class StateReader(ChangeLogReads):
    """Read-only queries on one checkpoint database; owns its connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        # The last tally and SQLite's data_version when it was made: kept until another
        # connection commits, as summary.json and report.html each ask for a part of it.
        self._tally: tuple[int, AttemptTally] | None = None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> StateReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def hold_one_moment(self) -> None:
        """Until ``close``, every read sees the database as the first of them found it."""
        self._conn.execute("BEGIN")

    # -- meta and runs -----------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._conn.execute("SELECT key, value FROM meta")}

    def runs(self) -> list[RunRecord]:
        """Every finished run, oldest first (a few per job: one per ``bulkops run``)."""
        rows = self._conn.execute(f"SELECT {', '.join(RUN_COLUMN_NAMES)} FROM runs ORDER BY rowid")
        return [_run_record(r) for r in rows]

    # -- operations --------------------------------------------------------------------------

    def counts(self) -> dict[OpStatus, int]:
        rows = self._conn.execute("SELECT status, COUNT(*) FROM ops GROUP BY status")
        return {OpStatus(s): int(n) for s, n in rows}

    def total(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM ops").fetchone()[0])

    def open_lanes(self, *, longest_first: bool = False) -> list[str]:
        """Extensions with unfinished operations, in the order their first operation is planned;
        ``longest_first``: those with the most unfinished operations first, ties in plan order."""
        marks = ", ".join("?" * len(_OPEN_STATES))
        order = "COUNT(*) DESC, first" if longest_first else "first"
        rows = self._conn.execute(
            f"SELECT extension_id, MIN(seq) AS first FROM ops WHERE status IN ({marks}) "
            f"GROUP BY extension_id ORDER BY {order}",
            _OPEN_STATES,
        )
        return [r[0] for r in rows]

    def lane(self, extension_id: str) -> list[OpRecord]:
        """All operations of one extension in plan order, finished ones included."""
        rows = self._conn.execute(
            f"{_SELECT_OPS} WHERE extension_id = ? ORDER BY seq", (extension_id,)
        ).fetchall()
        return [_op_record(r) for r in rows]

    def records(
        self, which: Statuses | None = None, *, newest_first: bool = False
    ) -> Iterator[OpRecord]:
        """The operations ``which`` selects (all by default), in plan order or its reverse."""
        for batch in self.raw_records(which, newest_first=newest_first):
            yield from (_op_record(r) for r in batch)

    def raw_records(
        self, which: Statuses | None = None, *, newest_first: bool = False, focused: bool = False
    ) -> Iterator[list[tuple[Any, ...]]]:
        """``records`` undecoded, ``CHUNK`` rows of ``OPS_COLUMN_NAMES`` at a time: for a pass
        that needs only a few cells of most operations (``state.schema.op_record`` reads one)."""
        where, params = _where(which, focused)
        order = " ORDER BY seq DESC" if newest_first else " ORDER BY seq"
        cur = self._conn.execute(_SELECT_OPS + where + order, params)
        try:
            while batch := cur.fetchmany(CHUNK):
                yield batch
        finally:
            cur.close()  # an abandoned read must not pin the database at its moment

    def lanes(
        self, columns: Sequence[str], *, focused: bool = False
    ) -> Iterator[tuple[str, str | None, list[Row]]]:
        """Every extension's operations as rows of ``columns``, in plan order, with the JSON text
        of its before-image (None without one): one pass over the ``ops_lane`` index beside one
        over the snapshots, both in extension order, for work done extension by extension."""
        self._frame_sql(columns, None)  # refuses a column the table does not have
        where = _where(None, focused)[0]
        cur = self._conn.execute(
            f"SELECT extension_id, {', '.join(columns)} FROM ops{where} ORDER BY extension_id, seq"
        )
        images = self._conn.execute(
            f"SELECT extension_id, settings FROM snapshots{where} ORDER BY 1"
        )
        image = images.fetchone()
        current = ""

        def image_of(extension_id: str) -> str | None:
            nonlocal image
            # SQLite orders text by its UTF-8 bytes: as Python orders str.
            while image is not None and image[0] < extension_id:
                image = images.fetchone()
            return str(image[1]) if image is not None and image[0] == extension_id else None

        lane: list[Row] = []
        try:
            for batch in iter(lambda: cur.fetchmany(CHUNK), []):
                for extension_id, *cells in batch:
                    if lane and extension_id != current:
                        yield current, image_of(current), lane
                        lane = []
                    current = extension_id
                    lane.append(tuple(cells))
            if lane:
                yield current, image_of(current), lane
        finally:
            cur.close()
            images.close()

    def op_frame(
        self, columns: Sequence[str], which: Statuses | None = None, *, limit: int
    ) -> pd.DataFrame:
        """Up to ``limit`` operations in plan order, as a frame of ``columns`` (raw cells)."""
        import pandas as pd

        sql, params = self._frame_sql(columns, which)
        return pd.read_sql_query(sql + " LIMIT ?", self._conn, params=(*params, limit))

    def op_frames(
        self, columns: Sequence[str], *, chunk: int, focused: bool = False
    ) -> Iterator[pd.DataFrame]:
        """Every operation in plan order, ``chunk`` rows per frame of ``columns`` (raw cells).

        An empty table yields no frame or one empty frame, as the pandas version has it.
        """
        import pandas as pd

        sql, params = self._frame_sql(columns, None, focused=focused)
        yield from pd.read_sql_query(sql, self._conn, params=params, chunksize=chunk)

    def _frame_sql(
        self, columns: Sequence[str], which: Statuses | None, *, focused: bool = False
    ) -> tuple[str, tuple[str, ...]]:
        unknown = [c for c in columns if c not in OPS_COLUMN_NAMES]
        if unknown:
            raise ValueError(f"the ops table has no column {', '.join(unknown)}")
        where, params = _where(which, focused)
        return f"SELECT {', '.join(columns)} FROM ops{where} ORDER BY seq", params

    def any_deleted(self) -> bool:
        """Whether any delete succeeded: most jobs have none, and then no lane need be asked."""
        row = self._conn.execute(
            "SELECT EXISTS (SELECT 1 FROM ops WHERE status = ? AND action = ?)",
            (OpStatus.SUCCEEDED.value, Action.DELETE.value),
        ).fetchone()
        return bool(row[0])

    def deleted_ids(self, extension_id: str) -> frozenset[str]:
        """The ids of the holidays and forwarding entries this job deleted on one extension."""
        rows = self._conn.execute(
            "SELECT COALESCE(target_id, holiday_id, call_forwarding_id) FROM ops "
            "WHERE extension_id = ? AND status = ? AND action = ?",
            (extension_id, OpStatus.SUCCEEDED.value, Action.DELETE.value),
        )
        return frozenset(str(item) for (item,) in rows if item is not None)

    def op_extent(self) -> tuple[int, int]:
        """How many operations, and the highest seq (0 without any)."""
        n, top = self._conn.execute("SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM ops").fetchone()
        return int(n), int(top)

    # -- before-images -----------------------------------------------------------------------

    def snapshot(self, extension_id: str) -> dict[str, Any] | None:
        """The first GET of ``extension_id`` the run stored (its before-image), if any."""
        text = self.snapshot_text(extension_id)
        return None if text is None else dict(orjson.loads(text))

    def snapshot_text(self, extension_id: str) -> str | None:
        """``snapshot`` as the JSON text stored, unparsed."""
        row = self._conn.execute(
            "SELECT settings FROM snapshots WHERE extension_id = ?", (extension_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    # -- attempts ----------------------------------------------------------------------------

    def attempt_tally(self) -> AttemptTally:
        """The attempts log counted in one pass, and counted again only once another connection
        has committed (a held moment sees the same log either way)."""
        version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        if self._tally is not None and self._tally[0] == version:
            return self._tally[1]
        counted = tally(self._conn.execute(TALLY).fetchall())
        self._tally = (version, counted)
        return counted

    def attempt_kinds(self) -> dict[str, int]:
        return dict(self.attempt_tally().kinds)

    def attempt_span(self) -> AttemptSpan:
        return self.attempt_tally().span

    def latency_stats(self) -> LatencyStats | None:
        """None before any latency is recorded."""
        return self.attempt_tally().latency

    def sorted_latencies(self, *, chunk: int) -> Iterator[NDArray[np.float64]]:
        """Every recorded latency in ascending order, ``chunk`` at a time. Up to
        ``IN_MEMORY_LATENCIES`` of them are read as they lie and sorted at once (8 bytes each);
        more are sorted by SQLite, whose sorter spills to disk, so memory stays bounded however
        many there are."""
        import numpy as np

        stats = self.latency_stats()
        if stats is None:
            return
        select = "SELECT latency_ms FROM attempts WHERE latency_ms IS NOT NULL"
        if stats.n <= IN_MEMORY_LATENCIES:  # numpy sorts a column 3× faster than SQLite its rows
            cur = self._conn.execute(select)
            try:
                values = np.fromiter(chain.from_iterable(cur), dtype=np.float64)
            finally:
                cur.close()
            values.sort()
            for start in range(0, len(values), chunk):
                yield values[start : start + chunk]
            return
        cur = self._conn.execute(select + " ORDER BY latency_ms")
        try:
            while batch := cur.fetchmany(chunk):
                yield np.fromiter(chain.from_iterable(batch), dtype=np.float64, count=len(batch))
        finally:
            cur.close()

    def attempt_seconds(self) -> tuple[int, int] | None:
        """The whole seconds of the first and the last attempt; None before any."""
        seconds = self.attempt_tally().seconds
        if not seconds:
            return None
        return min(c.bar for c in seconds), max(c.bar for c in seconds)

    def attempt_bars(self, start: int, width: int) -> list[BarCount]:
        """Attempts per kind in bars of ``width`` seconds from ``start`` (in bar and kind order),
        from the tally's seconds: at most bars × kinds rows however many requests were made."""
        bars: dict[tuple[int, str], int] = {}
        for c in self.attempt_tally().seconds:
            key = ((c.bar - start) // width, c.kind)
            bars[key] = bars.get(key, 0) + c.count
        return [BarCount(bar, kind, n) for (bar, kind), n in sorted(bars.items())]


def connect_readonly(path: Path) -> sqlite3.Connection:
    # A URI: a state directory named with "?", "#" or "%" must be quoted to stay one path.
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def open_readonly(state_dir: str | os.PathLike[str]) -> StateReader:
    """Open a state directory for reading without taking its lock (status, reports mid-run).

    The integrity checks run first (``state.integrity``): a report of a damaged state
    would present its lost records as never done. The mark is read before the database, so a
    run committing meanwhile can only put the database ahead of it. Opened by the process that
    holds the state's lock (a run's own reports), the checks that read every row are left out:
    that process checked them when it took the lock and wrote every row since.
    """
    directory = Path(state_dir)
    path = directory / DB_NAME
    mark = read_mark(directory)
    if not path.exists() and not mark:  # with a mark, it was deleted: inspect_files says so
        raise CheckpointError(f"no bulkops state in {state_dir}: run `bulkops run` first")
    with sql_errors(directory):
        files = inspect_files(path, mark)
        conn = connect_readonly(path)
        try:
            check_database(conn, directory, files, mark, rows=not vouched(directory))
        except BaseException:
            conn.close()
            raise
    return StateReader(conn)


def confirmed_job(state_dir: str | os.PathLike[str]) -> str | None:
    """The job_hash whose run on its account was agreed to in ``state_dir``
    (``Checkpoint.record_confirmation``); None without a state or an agreement."""
    directory = Path(state_dir)
    if not (directory / DB_NAME).exists():
        return None
    with open_readonly(directory) as reader:
        return reader.meta().get(META_CONFIRMED)


def stored_plan_hash(state_dir: str | os.PathLike[str]) -> str | None:
    """The job hash of the plan ``state_dir`` holds; None when it holds none (no state yet, the
    plan not stored, or a database that cannot be read).

    A hint, read without the lock and without the integrity checks: ``Checkpoint.open`` makes
    both before anything is sent, and refuses a state of other job contents or a damaged one.
    """
    path = Path(state_dir) / DB_NAME
    if not path.is_file():
        return None
    try:
        with contextlib.closing(connect_readonly(path)) as conn:
            meta = dict(
                conn.execute(
                    "SELECT key, value FROM meta WHERE key IN ('job_hash', ?)", (META_PLAN_LOADED,)
                ).fetchall()
            )
    except sqlite3.Error:
        return None
    loaded = meta.get(META_PLAN_LOADED) == "1"
    return str(meta["job_hash"]) if loaded and "job_hash" in meta else None
