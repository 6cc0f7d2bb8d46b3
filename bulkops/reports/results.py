"""Result reports, regenerated from a state directory at any time (mid-run and after a crash too).

``write_all(state_dir, out_dir=None)`` reads the checkpoint read-only, without its lock, inside
one read transaction (so every file describes the same moment), and writes atomically, mode 0600:

- ``results.csv`` / ``results.parquet``: one row per planned operation, in plan order, streamed
  in chunks. ``status`` is final or ``not_run`` (the checkpoint's transient ``pending`` and
  ``in_flight`` read as ``not_run``; an ``in_flight`` one says its outcome is unknown).
- ``summary.json`` (``reports.summary``): counts by status and by operation kind (equal
  to the rows of results), the runs, their duration, rate, 429s, retries, reconciliations,
  lookups and exit code.
- ``failures.csv``: the failed and skipped operations as a job file (``reports.jobrows.job_row``)
  plus ``error``, ``http_status``, ``zoom_code``, ``source_row``: fix the cause, then
  ``bulkops run failures.csv``.
- ``undo.csv`` + ``undo-notes.txt``: a job file that reverses what succeeded, and what it cannot
  reverse (``reports.undo`` explains both).
- ``report.html``: one self-contained page (``reports.html``).

During a run the reports are rendered ahead, extension by extension, into a cache in the state
directory (``reports.layers``): the final pass renders only what changed since and assembles the
files from the cache, byte for byte what a pass over the whole state writes (``full=True``).

Memory does not grow with the job: every output streams ``CHUNK`` rows at a time (undo.csv's
rows checked by the job-file rules a frame at a time, ``reports.undo``), the before/after words
are worked out once per distinct extension's operations and joined by seq range
(``reports.changes.ChangeIndex``), the latency figures and the timeline are computed by SQLite
(``state.reader``), and the page's table is fetched with ``LIMIT``.

CSV cells that a spreadsheet would run as formulas are prefixed with ``'`` (``jobs.csvsafe``);
in failures.csv and undo.csv only the ``error`` column can be so changed: a holiday name or
description that looks like a formula moves into the ``settings`` JSON instead, so it reaches
Zoom unchanged. JSON and Parquet keep raw values.
"""

from __future__ import annotations

import contextlib
import csv
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from ..errors import ReportWriteError
from ..jobs.tables import atomic_file, atomic_path
from ..model import OpStatus
from ..state.reader import StateReader, open_readonly, statuses
from .assemble import cached_reports
from .beforeafter import section_html
from .changes import ChangeIndex
from .collected import Collected, collect
from .csvtext import csv_text
from .resultrows import (
    BAD,
    CHUNK,
    FAILURE_COLUMNS,
    IN_FLIGHT_MESSAGE,
    NOT_RUN_MESSAGE,
    RESULT_COLUMNS,
    TABLE_LIMIT,
    Deleted,
    failure_cells,
    parquet_schema,
    results_chunks,
    table_rows,
    undo_heading,
    write_page,
)
from .summary import STATUSES as STATUSES
from .undo import UndoBuilder
from .undo_out import UNDO_COLUMNS

__all__ = [
    "CHUNK",
    "FAILURE_COLUMNS",
    "IN_FLIGHT_MESSAGE",
    "NOT_RUN_MESSAGE",
    "REPORT_FILES",
    "RESULT_COLUMNS",
    "STALE_TEMPORARY_S",
    "STATUSES",
    "TABLE_LIMIT",
    "UNDO_COLUMNS",
    "clean_stale_temporaries",
    "results_chunks",
    "table_rows",
    "write_all",
    "write_page",
]

# A temporary report file untouched this long was left by a writer that died (SIGKILL, power
# cut); a live writer touches its file with every chunk, and another writer may share the
# directory (`bulkops report` mid-run), so a fresh one is never taken for stale.
STALE_TEMPORARY_S = 15 * 60
REPORT_FILES = (
    "results.csv",
    "results.parquet",
    "summary.json",
    "failures.csv",
    "undo.csv",
    "undo-notes.txt",
    "report.html",
)


# --- results -------------------------------------------------------------------------------


def write_results(
    reader: StateReader, source: str, csv_path: Path, parquet_path: Path, changes: ChangeIndex
) -> Collected:
    import pyarrow as pa
    import pyarrow.parquet as pq

    acc = Collected()
    schema = parquet_schema()
    with (
        atomic_file(csv_path) as fh,
        atomic_path(parquet_path) as tmp,
        pq.ParquetWriter(tmp, schema) as writer,
    ):
        fh.write(",".join(RESULT_COLUMNS) + "\n")
        for frame in results_chunks(reader, source, changes):
            table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
            fh.write(csv_text(table))
            writer.write_table(table)
            collect(acc, frame)
    return acc


# --- failures and undo ---------------------------------------------------------------------


def write_failures(reader: StateReader, path: Path) -> int:
    """failures.csv; returns the number of rows."""
    n = 0
    with atomic_file(path) as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(FAILURE_COLUMNS)
        for record in reader.records(BAD):
            out.writerow(failure_cells(record))
            n += 1
    return n


def write_undo(reader: StateReader, path: Path, notes_path: Path) -> dict[str, int]:
    """undo.csv in the builder's batches (its rows checked a frame at a time); its notes wait in a
    temporary file."""
    with (
        atomic_file(path) as fh,
        tempfile.TemporaryFile("w+", encoding="utf-8", dir=notes_path.parent) as notes,
    ):
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(UNDO_COLUMNS)
        builder = UndoBuilder(
            reader.snapshot,
            Deleted(reader),
            lambda row: out.writerow([row[c] for c in UNDO_COLUMNS]),
            lambda line: notes.write(line + "\n"),
            batch=CHUNK,
            on_cells=out.writerow,
        )
        for batch in reader.raw_records(statuses(OpStatus.SUCCEEDED), newest_first=True):
            for raw in batch:
                builder.add_raw(raw)
        builder.finish()
        unfinished = sum(n for status, n in reader.counts().items() if not status.final)
        result = builder.result
        notes.seek(0)
        with atomic_file(notes_path) as page:
            page.write(undo_heading(result, unfinished))
            shutil.copyfileobj(notes, page)
    return {
        "rows": result.rows,
        "reversible": result.reversible,
        "not_reversible": result.not_reversible,
        "unfinished": unfinished,
    }


# --- entry point ---------------------------------------------------------------------------


def clean_stale_temporaries(out: Path, *, now: float | None = None) -> list[Path]:
    """Remove the temporary report files (``.<name>.*.tmp``) that dead writers left in ``out``."""
    cutoff = (time.time() if now is None else now) - STALE_TEMPORARY_S
    removed = []
    for name in REPORT_FILES:
        for path in out.glob(f".{name}.*.tmp"):
            with contextlib.suppress(OSError):  # gone meanwhile: its writer finished
                if path.lstat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path)
    return removed


def write_all(
    state_dir: Path,
    *,
    out_dir: Path | None = None,
    full: bool = False,
    keep_cache: bool = False,
) -> dict[str, Path]:
    """Write every report of ``state_dir`` into ``out_dir`` (default: the state directory).

    From the report cache when it is valid (``reports.layers``), rendering only what changed
    since; ``full``: from the state alone, as if there were no cache. ``keep_cache``: the caller
    holds the state's lock (the run), so what is rendered now joins the cache.

    Raises ReportWriteError when a file cannot be written (a full disk, a directory in its
    place), and the checkpoint's errors when the state cannot be read.
    """
    state_dir = Path(state_dir)
    out = Path(out_dir) if out_dir is not None else state_dir
    try:
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
        clean_stale_temporaries(out)
        return _write_all(state_dir, out, full=full, keep_cache=keep_cache)
    except OSError as exc:
        raise ReportWriteError(
            f"cannot write the reports in {out}: {exc}; the run's results are safe in its "
            f"state. Fix that, then run `bulkops report --state {state_dir}`"
        ) from None


def _write_all(state_dir: Path, out: Path, *, full: bool, keep_cache: bool) -> dict[str, Path]:
    paths = {name: out / name for name in REPORT_FILES}
    with open_readonly(state_dir) as reader:
        reader.hold_one_moment()  # every file describes the same moment
        done = None if full else cached_reports(reader, state_dir, paths, keep_cache=keep_cache)
        if done is not None:
            undo = done.undo
            if undo is None:  # a note the cache cannot keep (``reports.render``): from the state
                undo = write_undo(reader, paths["undo.csv"], paths["undo-notes.txt"])
            write_summary_and_page(
                reader, state_dir, paths, done.acc, done.table, done.failures, undo
            )
            return paths
        with ChangeIndex(reader) as changes:
            return _write_files(reader, state_dir, paths, changes)


def _write_files(
    reader: StateReader, state_dir: Path, paths: dict[str, Path], changes: ChangeIndex
) -> dict[str, Path]:
    source = reader.meta().get("job_path", "")
    acc = write_results(reader, source, paths["results.csv"], paths["results.parquet"], changes)
    failures = write_failures(reader, paths["failures.csv"])
    undo = write_undo(reader, paths["undo.csv"], paths["undo-notes.txt"])
    table = table_rows(reader, source, changes)
    write_summary_and_page(reader, state_dir, paths, acc, table, failures, undo)
    return paths


def write_summary_and_page(
    reader: StateReader,
    state_dir: Path,
    paths: dict[str, Path],
    acc: Collected,
    table: pd.DataFrame,
    failures: int,
    undo: dict[str, int],
) -> None:
    extra = {
        "failures_csv_rows": failures,
        "undo": undo,
        "files": {k: str(v) for k, v in paths.items()},
    }
    before_after = section_html(table, preview=False, total=acc.total)
    write_page(reader, state_dir, acc, table, before_after, paths, extra)
