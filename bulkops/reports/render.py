"""Render the report rows of some extensions ahead of the final pass: one layer of the report
cache (``reports.layers``).

Everything a report row says about an operation depends on its own extension alone: its ops
rows, its before-image, and its other operations (the before/after replay, the undo builder's
re-adds and deletions). So a set of extensions renders on its own, by today's code for the
whole state (``resultrows.shape``, ``failure_cells``, ``UndoBuilder``, a ``ChangeIndex``
focused on the set), into an Arrow IPC file: per operation, in plan order, its results row
(typed as results.parquet, and its results.csv line), its failures.csv line if it failed or was
skipped, its undo.csv lines and undo-notes lines in the order the builder made them, and the
undo counts it added.

Two things cross extensions, and are kept out of a layer's rows: the job file's path (the cache
is keyed by it), and the number an undo row refused by the job-file rules gets in undo.csv (a
layer that made one says so; the final pass then writes the undo files from the state).

Each pandas or Arrow call takes at most ``RENDER_CHUNK`` operations, and ``pause`` is called
between them: a render in a background thread during a run keeps every pause of the event loop
short (``reports.refresher``), and can be stopped there.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model import OpStatus
from ..state.reader import StateReader, statuses
from ..state.schema import op_record
from ..state.scratch import SeqTable
from .changes import ChangeIndex
from .csvtext import csv_lines
from .resultrows import BAD, FROM_STATE, Deleted, failure_cells, parquet_schema, shape
from .undo import UndoBuilder
from .undo_out import UNDO_COLUMNS, UndoResult

RENDER_CHUNK = 2_000  # operations per pandas/Arrow call: a short hold of the GIL each
CSV, FAILURE, UNDO, NOTES = "_csv", "_failure", "_undo", "_notes"
#: Per operation, what it added to ``UndoResult``'s counts (and to the heading of the notes).
UNDO_COUNTS = ("rows", "notes", "reversible", "not_reversible")
COUNT_COLUMNS = tuple(f"_undo_{name}" for name in UNDO_COUNTS)


def layer_schema() -> Any:
    """A layer file's columns: results.parquet's, then the pieces of the other files."""
    import pyarrow as pa

    extra = [(CSV, pa.string()), (FAILURE, pa.string()), (UNDO, pa.string()), (NOTES, pa.string())]
    extra += [(name, pa.int64()) for name in COUNT_COLUMNS]
    return pa.schema([*parquet_schema(), *(pa.field(n, t) for n, t in extra)])


@dataclass(frozen=True, slots=True)
class Rendered:
    rows: int  # operations rendered
    undo_exact: bool  # False: an undo note names its row's number in undo.csv (see above)


def no_pause() -> None:
    """A render that nobody stops and that needs no pause (the final pass)."""


def render(
    reader: StateReader,
    extensions: Collection[str] | None,
    path: Path,
    *,
    pause: Callable[[], object] = no_pause,
) -> Rendered:
    """Write the layer of ``extensions`` (None: every one) to ``path``, as ``reader`` sees the
    state (hold one moment for a consistent layer)."""
    focused = extensions is not None
    if extensions is not None:
        reader.focus(extensions)
    undo = SeqTable(2 + len(UNDO_COUNTS))
    try:
        exact = _render_undo(reader, undo, focused, pause)
        rows = _render_rows(reader, undo, path, focused, pause)
    finally:
        undo.close()
    return Rendered(rows, exact)


def _render_rows(
    reader: StateReader,
    undo: SeqTable,
    path: Path,
    focused: bool,
    pause: Callable[[], object],
) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    schema, layer = parquet_schema(), layer_schema()
    source = reader.meta().get("job_path", "")
    failures = _failure_lines(reader, focused)
    failure = next(failures, None)
    rows = 0
    with (
        ChangeIndex(reader, focused=focused, pause=pause) as changes,
        pa.OSFile(str(path), "wb") as sink,
        pa.ipc.new_file(sink, layer) as out,
    ):
        for raw in reader.op_frames(FROM_STATE, chunk=RENDER_CHUNK, focused=focused):
            if raw.empty:
                continue
            frame = shape(raw, source, changes, whole=not focused)
            table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
            seqs = [int(s) for s in frame["seq"].tolist()]
            lines: list[str | None] = []
            for seq in seqs:  # both in plan order: a merge, not a lookup
                if failure is not None and failure[0] < seq:  # never, in one moment
                    raise ValueError(f"operation {failure[0]} failed but was not read")
                if failure is not None and failure[0] == seq:
                    lines.append(failure[1])
                    failure = next(failures, None)
                else:
                    lines.append(None)
            pieces = {row[0]: row[1:] for row in undo.between(seqs[0], seqs[-1])}
            empty = (None, None, *(0 for _ in UNDO_COUNTS))
            made = list(zip(*(pieces.get(seq, empty) for seq in seqs), strict=True))
            ended = pc.binary_join_element_wise(csv_lines(table), "", "\n")  # each line + "\n"
            columns = [*table.columns, ended, pa.array(lines, pa.string())]
            columns += [pa.array(made[0], pa.string()), pa.array(made[1], pa.string())]
            columns += [pa.array(cells, pa.int64()) for cells in made[2:]]
            out.write_table(pa.Table.from_arrays(columns, schema=layer))
            rows += len(seqs)
            pause()
    return rows


def _failure_lines(reader: StateReader, focused: bool) -> Iterator[tuple[int, str]]:
    """(seq, failures.csv line) of the failed and skipped operations, in plan order."""
    text = io.StringIO()
    out = csv.writer(text, lineterminator="\n")
    for batch in reader.raw_records(BAD, focused=focused):
        for raw in batch:
            record = op_record(raw)
            out.writerow(failure_cells(record))
            yield record.op.seq, text.getvalue()
            text.seek(0)
            text.truncate()


class _PerOperation:
    """What the undo builder hands on, cut at each operation's start (its ``on_op``) into that
    operation's lines, notes and counts."""

    def __init__(self, table: SeqTable) -> None:
        self._table = table
        self.text = io.StringIO()
        self.writer = csv.writer(self.text, lineterminator="\n")
        self.notes: list[str] = []
        self.result = UndoResult()
        self._seq: int | None = None
        self._counted = (0, 0, 0, 0)
        self._done: list[tuple[Any, ...]] = []

    def _counts(self) -> tuple[int, int, int, int]:
        r = self.result
        return r.rows, r.notes, r.reversible, r.not_reversible

    def start(self, seq: int) -> None:
        self.close()
        self._seq = seq

    def close(self) -> None:
        counts = self._counts()
        if self._seq is not None:
            added = (now - before for now, before in zip(counts, self._counted, strict=True))
            self._done.append((self._seq, self.text.getvalue(), "".join(self.notes), *added))
            self.text.seek(0)
            self.text.truncate()
            self.notes.clear()
            self._seq = None
        self._counted = counts
        if len(self._done) >= RENDER_CHUNK:
            self.flush()

    def flush(self) -> None:
        self._table.insert(self._done)
        self._done.clear()


def _render_undo(
    reader: StateReader, table: SeqTable, focused: bool, pause: Callable[[], object]
) -> bool:
    """Each succeeded operation's undo pieces into ``table``; whether none depends on others."""
    ops = _PerOperation(table)
    builder = UndoBuilder(
        reader.snapshot,
        Deleted(reader),
        lambda row: ops.writer.writerow([row[c] for c in UNDO_COLUMNS]),
        lambda line: ops.notes.append(line + "\n"),
        batch=RENDER_CHUNK,
        on_cells=ops.writer.writerow,
        on_op=ops.start,
    )
    ops.result = builder.result
    succeeded = statuses(OpStatus.SUCCEEDED)
    for batch in reader.raw_records(succeeded, newest_first=True, focused=focused):
        for raw in batch:
            builder.add_raw(raw)
        pause()
    builder.finish()
    ops.close()
    ops.flush()
    return builder.result.refused == 0
