"""The final pass from the report cache: render what changed since its newest layer, then put
the files together from the layers (``reports.layers``).

The layers are read in plan order, ``CHUNK`` rows at a time (results.parquet's row groups are
those of a pass over the state), the newest layer's row of each seq: results.csv takes their
lines, results.parquet their typed columns, failures.csv their failure lines, and the counts
and failure groups of summary.json and report.html (``Collected``) and the page's table come
from the same rows. undo.csv and undo-notes.txt go newest first: each chunk's pieces are
spooled, reversed, to a temporary file and written back in reverse chunk order. The latency
figures and the timeline stay SQL (``reports.results``).
"""

from __future__ import annotations

import csv
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd

from ..errors import CheckpointError
from ..jobs.tables import atomic_file, atomic_path
from ..state.reader import StateReader
from .collected import COLUMNS_READ, Collected, collect
from .layers import merged, rechunk, refresh
from .manifest import cache_dir, cache_key, valid_cache
from .render import COUNT_COLUMNS, CSV, FAILURE, NOTES, UNDO, UNDO_COUNTS, no_pause, render
from .resultrows import (
    BAD,
    CHUNK,
    FAILURE_COLUMNS,
    RESULT_COLUMNS,
    TABLE_LIMIT,
    parquet_schema,
    typed_frame,
    undo_heading,
)
from .undo_out import UNDO_COLUMNS, UndoResult

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Assembled:
    """What the page and summary.json need of the files the cache wrote."""

    acc: Collected
    table: pd.DataFrame  # report.html's operations: failures first, TABLE_LIMIT in all
    failures: int  # failures.csv's rows
    undo: dict[str, int] | None  # None: undo.csv is to be written from the state


def cached_reports(
    reader: StateReader, state_dir: Path, paths: dict[str, Path], *, keep_cache: bool
) -> Assembled | None:
    """The report files from the cache and what changed since (``keep_cache``: the caller
    holds the lock, and the rendering joins the cache); None when there is no valid cache to
    use: the caller writes them from the state."""
    import pyarrow as pa

    mark = reader.change_mark()
    if mark is None:
        return None
    directory = cache_dir(state_dir)
    try:
        if keep_cache:
            manifest = refresh(reader, state_dir, pause=no_pause, compact=False)
            if manifest is None:
                return None
            return _assemble(reader, paths, manifest.paths(directory), manifest.undo_exact)
        found = valid_cache(reader, directory, cache_key(reader), mark)
        if found is None:
            return None
        manifest, changed = found
        files, exact = manifest.paths(directory), manifest.undo_exact
        with tempfile.TemporaryDirectory(prefix="bulkops-report-") as scratch:
            if changed:  # rendered for this report only: the cache is the run's to write
                rest = Path(scratch) / "rest.arrow"
                exact = render(reader, changed, rest).undo_exact and exact
                files = [*files, rest]
            return _assemble(reader, paths, files, exact)
    except (OSError, ValueError, KeyError, CheckpointError, pa.ArrowException) as exc:
        # Whatever is wrong with the cache, the state has it all: never a wrong file.
        log.info(
            "report cache in %s not used (%s): writing the reports from the state", directory, exc
        )
        return None


def _assemble(
    reader: StateReader, paths: dict[str, Path], files: Sequence[Path], undo_exact: bool
) -> Assembled:
    where = paths["undo.csv"].parent
    with tempfile.TemporaryFile(dir=where) as undo, tempfile.TemporaryFile(dir=where) as notes:
        spool = _Spool(undo, notes)
        acc, shown, failures = _write_results(reader, paths, files, spool)
        made = _write_undo(reader, paths, spool) if undo_exact else None
    return Assembled(acc, shown.frame(), failures, made)


def _write_results(
    reader: StateReader, paths: dict[str, Path], files: Sequence[Path], spool: _Spool
) -> tuple[Collected, _Shown, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    acc, shown, failures = Collected(), _Shown(), 0
    schema = parquet_schema()
    with (
        atomic_file(paths["results.csv"]) as fh,
        atomic_path(paths["results.parquet"]) as tmp,
        pq.ParquetWriter(tmp, schema) as writer,
        atomic_file(paths["failures.csv"]) as bad,
    ):
        fh.write(",".join(RESULT_COLUMNS) + "\n")
        csv.writer(bad, lineterminator="\n").writerow(FAILURE_COLUMNS)
        for table in rechunk(merged(files, span=CHUNK), CHUNK):
            fh.write(_text(table[CSV]))
            typed = table.select(list(RESULT_COLUMNS))
            writer.write_table(typed.combine_chunks())  # the row groups of a pass over the state
            bad.write(_text(table[FAILURE]))
            failures += len(table) - table[FAILURE].null_count
            collect(acc, typed_frame(typed.select(list(COLUMNS_READ))))
            shown.add(typed)
            spool.add(table)
            # Each chunk's copies are freed, but Arrow's allocator keeps their pages for reuse:
            # handed back, the final pass is not the run's peak (200k operations: -25 MB).
            pa.default_memory_pool().release_unused()
        if acc.total != reader.op_extent()[0]:  # a layer short of rows: not these files
            raise ValueError(f"the cache holds {acc.total} of the operations")
    return acc, shown, failures


class _Shown:
    """report.html's operations: the first failed or skipped ones, then the first others."""

    def __init__(self) -> None:
        self._parts: dict[bool, list[Any]] = {True: [], False: []}
        self._rows = {True: 0, False: 0}

    def add(self, typed: Any) -> None:
        import pyarrow.compute as pc

        failed = pc.is_in(typed["status"], value_set=_bad_values())
        for which, mask in ((True, failed), (False, pc.invert(failed))):
            room = TABLE_LIMIT - self._rows[which]
            if room > 0:
                part = typed.filter(mask).slice(0, room)
                self._parts[which].append(part)
                self._rows[which] += part.num_rows

    def frame(self) -> pd.DataFrame:
        import pyarrow as pa

        parts = list(self._parts[True])
        if self._parts[False]:  # the others fill what room the failed ones leave
            room = TABLE_LIMIT - self._rows[True]
            parts.append(pa.concat_tables(self._parts[False]).slice(0, room))
        if not parts:
            return typed_frame(parquet_schema().empty_table())
        return typed_frame(pa.concat_tables(parts))


def _bad_values() -> Any:
    import pyarrow as pa

    return pa.array(sorted(s.value for s in BAD.values), pa.string())


class _Spool:
    """undo.csv's lines and undo-notes' notes, a chunk at a time in plan order, each chunk's
    reversed: read back chunk by chunk from the last, they are newest first."""

    def __init__(self, undo: IO[bytes], notes: IO[bytes]) -> None:
        self._files = (undo, notes)
        self.spans: list[tuple[tuple[int, int], tuple[int, int]]] = []
        self.counts = [0] * len(UNDO_COUNTS)

    def add(self, table: Any) -> None:
        import numpy as np
        import pyarrow.compute as pc

        span = []
        newest_first = np.arange(table.num_rows - 1, -1, -1)
        for name, out in zip((UNDO, NOTES), self._files, strict=True):
            text = _text(pc.take(table[name], newest_first)).encode()
            start = out.tell()
            out.write(text)
            span.append((start, start + len(text)))
        self.spans.append((span[0], span[1]))
        for i, column in enumerate(COUNT_COLUMNS):
            self.counts[i] += int(pc.sum(table[column]).as_py() or 0)

    def copy(self, which: int, into: IO[str]) -> None:
        source = self._files[which]
        for spans in reversed(self.spans):
            start, end = spans[which]
            source.seek(start)
            into.write(source.read(end - start).decode())


def _text(column: Any) -> str:
    """A string column's cells run together (a null is empty): their bytes straight from Arrow,
    no Python object per cell."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    cells = pc.fill_null(column, "")
    if isinstance(cells, pa.ChunkedArray):
        cells = cells.combine_chunks()
    if not len(cells):
        return ""
    _, offsets, data = cells.buffers()
    at = np.frombuffer(offsets, dtype=np.int32)[cells.offset : cells.offset + len(cells) + 1]
    return memoryview(data)[int(at[0]) : int(at[-1])].tobytes().decode()


def _write_undo(reader: StateReader, paths: dict[str, Path], spool: _Spool) -> dict[str, int]:
    """undo.csv and undo-notes.txt from the spool, as ``results.write_undo`` writes them."""
    result = UndoResult(*spool.counts)
    unfinished = sum(n for status, n in reader.counts().items() if not status.final)
    with atomic_file(paths["undo.csv"]) as fh:
        csv.writer(fh, lineterminator="\n").writerow(UNDO_COLUMNS)
        spool.copy(0, fh)
    with atomic_file(paths["undo-notes.txt"]) as page:
        page.write(undo_heading(result, unfinished))
        spool.copy(1, page)
    return {
        "rows": result.rows,
        "reversible": result.reversible,
        "not_reversible": result.not_reversible,
        "unfinished": unfinished,
    }
