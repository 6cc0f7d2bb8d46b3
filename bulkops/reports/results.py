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
import functools
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from ..errors import ReportWriteError
from ..jobs.tables import (
    CONTROL_PATTERN,
    atomic_file,
    atomic_path,
    neutralise,
    one_line,
    write_text,
)
from ..model import ColumnKind, OpStatus
from ..state.reader import StateReader, open_readonly, statuses
from ..state.schema import OPS_COLUMNS
from . import html as report_html
from .beforeafter import section_html
from .changes import ChangeIndex
from .collected import Collected, collect
from .csvtext import csv_text
from .jobrows import JOB_COLUMNS, job_row
from .summary import STATUSES as STATUSES
from .summary import build_summary, latency
from .undo import UndoBuilder
from .undo_out import UNDO_COLUMNS

CHUNK = 10_000  # rows per pass: sets the memory of the reports, whatever the job's size
# A temporary report file untouched this long was left by a writer that died (SIGKILL, power
# cut); a live writer touches its file with every chunk, and another writer may share the
# directory (`bulkops report` mid-run), so a fresh one is never taken for stale.
STALE_TEMPORARY_S = 15 * 60
TABLE_LIMIT = 5_000  # operations shown in report.html
IN_FLIGHT_MESSAGE = "outcome unknown; the next run checks it before sending again"
NOT_RUN_MESSAGE = "not run yet; run the same command again to continue"
FAILURE_COLUMNS = (*JOB_COLUMNS, "error", "http_status", "zoom_code", "source_row")
REPORT_FILES = (
    "results.csv",
    "results.parquet",
    "summary.json",
    "failures.csv",
    "undo.csv",
    "undo-notes.txt",
    "report.html",
)

# The columns of the results files, in their order: a choice of the ops table's columns (their
# types come from there), with the record's ``row`` named ``source_row`` and the job file's path
# as ``source_file``.
_FROM_STATE = (
    "seq",
    "op_id",
    "row",
    "action",
    "extension_id",
    "extension_number",
    "extension_name",
    "setting_type",
    "sub_setting_type",
    "holiday_name",
    "holiday_from",
    "holiday_to",
    "phone_number",
    "status",
    "http_status",
    "zoom_code",
    "message",
    "created_id",
    "attempts",
    "first_attempt_at",
    "last_attempt_at",
    "latency_ms",
    "tracking_id",
    "reconciled",
)
_RENAMED = {"row": "source_row"}
# Appended last (the order above is a public format): what the operation found and left, in
# words (``reports.changes``).
CHANGE_COLUMNS = ("before", "after")
RESULT_COLUMNS = (
    *(_RENAMED.get(c, c) for c in _FROM_STATE[:2]),
    "source_file",
    *(_RENAMED.get(c, c) for c in _FROM_STATE[2:]),
    *CHANGE_COLUMNS,
)
_KINDS = {_RENAMED.get(c.name, c.name): c.kind for c in OPS_COLUMNS if c.name in _FROM_STATE}
_TIME_COLUMNS = ("first_attempt_at", "last_attempt_at")  # epoch seconds, shown as UTC times
_INT_COLUMNS = tuple(c for c, kind in _KINDS.items() if kind is ColumnKind.INT)
_FLOAT_COLUMNS = tuple(
    c for c, kind in _KINDS.items() if kind is ColumnKind.REAL and c not in _TIME_COLUMNS
)
_BOOL_COLUMNS = tuple(c for c, kind in _KINDS.items() if kind is ColumnKind.BOOL)
_TYPED = (*_INT_COLUMNS, *_TIME_COLUMNS, *_FLOAT_COLUMNS, *_BOOL_COLUMNS)
_BAD = statuses(OpStatus.FAILED, OpStatus.SKIPPED)


def _parquet_schema() -> Any:
    import pyarrow as pa

    types = {c: pa.string() for c in RESULT_COLUMNS}
    types.update({c: pa.int64() for c in _INT_COLUMNS})
    types.update({c: pa.timestamp("ms", tz="UTC") for c in _TIME_COLUMNS})
    types.update({c: pa.float64() for c in _FLOAT_COLUMNS})
    types.update({c: pa.bool_() for c in _BOOL_COLUMNS})
    return pa.schema([(c, types[c]) for c in RESULT_COLUMNS])


# --- results -------------------------------------------------------------------------------


def results_chunks(
    reader: StateReader, source: str, changes: ChangeIndex
) -> Iterator[pd.DataFrame]:
    """The rows of results.csv in plan order, ``CHUNK`` at a time (typed as results.parquet)."""
    for raw in reader.op_frames(_FROM_STATE, chunk=CHUNK):
        yield _shape(raw, source, changes, whole=True)
    # An empty table may yield no chunk: callers write the header themselves.


def table_rows(reader: StateReader, source: str, changes: ChangeIndex) -> pd.DataFrame:
    """The operations report.html lists: failures first, then the rest, TABLE_LIMIT in all."""
    parts: list[pd.DataFrame] = []
    for which in (_BAD, ~_BAD):
        room = TABLE_LIMIT - sum(len(f) for f in parts)
        parts.append(_shape(reader.op_frame(_FROM_STATE, which, limit=room), source, changes))
    return pd.concat(parts, ignore_index=True)


def _shape(
    raw: pd.DataFrame, source: str, changes: ChangeIndex, *, whole: bool = False
) -> pd.DataFrame:
    """``whole``: ``raw`` holds every operation from its first seq to its last (a chunk of a
    read in plan order), so their words come in one range read, in the same order."""
    frame = raw.rename(columns=_RENAMED)
    seqs = frame["seq"].tolist()
    if whole and seqs:
        found_seqs, before, after = changes.between(seqs[0], seqs[-1])
        if found_seqs == seqs:
            frame["before"], frame["after"] = before, after
            return _typed(frame, source)
    found = changes.of(seqs)
    for name in CHANGE_COLUMNS:
        frame[name] = [getattr(found[s], name) if s in found else None for s in seqs]
    return _typed(frame, source)


def _typed(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    frame.insert(2, "source_file", source)
    state = frame["status"].astype(str)
    msg = frame["message"].astype("string")
    in_flight = state.eq(OpStatus.IN_FLIGHT.value)
    waiting = state.isin([OpStatus.PENDING.value, OpStatus.NOT_RUN.value])
    last = ("; last error: " + msg).fillna("")
    msg = msg.mask(in_flight, IN_FLIGHT_MESSAGE + last).mask(waiting, NOT_RUN_MESSAGE + last)
    msg = msg.str.replace(CONTROL_PATTERN, " ", regex=True).str.strip()
    too_long = msg.str.len().gt(500).fillna(False)
    frame["message"] = msg.mask(too_long, msg.str.slice(0, 499) + "…")
    frame["status"] = state.mask(in_flight | waiting, OpStatus.NOT_RUN.value)
    for name in _INT_COLUMNS:
        frame[name] = pd.to_numeric(frame[name]).astype("Int64")
    for name in _TIME_COLUMNS:
        frame[name] = pd.to_datetime(frame[name], unit="s", utc=True).dt.floor("ms")
    for name in _FLOAT_COLUMNS:
        frame[name] = pd.to_numeric(frame[name]).astype("float64")
    for name in _BOOL_COLUMNS:
        frame[name] = frame[name].astype(bool)
    for name in RESULT_COLUMNS:
        if name not in _TYPED:
            frame[name] = frame[name].astype("string")
    return frame.loc[:, list(RESULT_COLUMNS)]


def write_results(
    reader: StateReader, source: str, csv_path: Path, parquet_path: Path, changes: ChangeIndex
) -> Collected:
    import pyarrow as pa
    import pyarrow.parquet as pq

    acc = Collected()
    schema = _parquet_schema()
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
        for record in reader.records(_BAD):
            outcome = record.outcome
            row = job_row(record.op)
            row["error"] = neutralise(one_line(outcome.message) or "")
            row["http_status"] = "" if outcome.http_status is None else str(outcome.http_status)
            row["zoom_code"] = "" if outcome.zoom_code is None else str(outcome.zoom_code)
            row["source_row"] = str(record.op.row)
            out.writerow([row[c] for c in FAILURE_COLUMNS])
            n += 1
    return n


class _Deleted:
    """``(extension_id, id) in deleted``: did this job delete that holiday or forwarding entry?

    Asked of the state one extension at a time (the ``ops_lane`` index), the last few thousand
    extensions cached: the set is never held whole.
    """

    def __init__(self, reader: StateReader) -> None:
        self._any = reader.any_deleted()
        self._of = functools.lru_cache(maxsize=4096)(reader.deleted_ids)

    def __contains__(self, key: object) -> bool:
        if not self._any or not isinstance(key, tuple):
            return False
        extension_id, item = key
        return item in self._of(extension_id)


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
            _Deleted(reader),
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
        lines = [
            "undo.csv reverses the operations that succeeded, newest first.",
            f"{result.rows} undo row(s) for {result.reversible} operation(s); "
            f"{result.not_reversible} succeeded operation(s) cannot be reversed (listed below).",
            "Already-present/already-absent operations changed nothing and need no undo.",
            "Re-added holidays and forwarding numbers get new ids.",
        ]
        if unfinished:
            lines.append(
                f"{unfinished} operation(s) have not finished (not run, or outcome unknown): "
                "they are not in undo.csv; finish or rerun the job, then regenerate the reports."
            )
        lines.append("")
        if not result.notes:
            lines.append("Nothing that succeeded is lost.")
        notes.seek(0)
        with atomic_file(notes_path) as page:
            page.write("\n".join(lines) + "\n")
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


def write_all(state_dir: Path, *, out_dir: Path | None = None) -> dict[str, Path]:
    """Write every report of ``state_dir`` into ``out_dir`` (default: the state directory).

    Raises ReportWriteError when a file cannot be written (a full disk, a directory in its
    place), and the checkpoint's errors when the state cannot be read.
    """
    state_dir = Path(state_dir)
    out = Path(out_dir) if out_dir is not None else state_dir
    try:
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
        clean_stale_temporaries(out)
        return _write_all(state_dir, out)
    except OSError as exc:
        raise ReportWriteError(
            f"cannot write the reports in {out}: {exc}; the run's results are safe in its "
            f"state. Fix that, then run `bulkops report --state {state_dir}`"
        ) from None


def _write_all(state_dir: Path, out: Path) -> dict[str, Path]:
    paths = {name: out / name for name in REPORT_FILES}
    with open_readonly(state_dir) as reader:
        reader.hold_one_moment()  # every file describes the same moment
        with ChangeIndex(reader) as changes:
            return _write_files(reader, state_dir, paths, changes)


def _write_files(
    reader: StateReader, state_dir: Path, paths: dict[str, Path], changes: ChangeIndex
) -> dict[str, Path]:
    source = reader.meta().get("job_path", "")
    acc = write_results(reader, source, paths["results.csv"], paths["results.parquet"], changes)
    failures = write_failures(reader, paths["failures.csv"])
    undo = write_undo(reader, paths["undo.csv"], paths["undo-notes.txt"])
    extra = {"failures_csv_rows": failures, "undo": undo}
    extra["files"] = {k: str(v) for k, v in paths.items()}
    table = table_rows(reader, source, changes)
    before_after = section_html(table, preview=False, total=acc.total)
    write_page(reader, state_dir, acc, table, before_after, paths, extra)
    return paths


def write_page(
    reader: StateReader,
    state_dir: Path,
    acc: Collected,
    table: pd.DataFrame,
    before_after: str,
    paths: dict[str, Path],
    extra: dict[str, Any],
) -> None:
    """summary.json (with ``extra``) and report.html, the page with ``before_after`` in it."""
    lat = latency(reader)
    summary = build_summary(reader, state_dir, acc, lat) | extra
    write_text(paths["summary.json"], orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    timeline = report_html.timeline(reader)
    html = report_html.render(summary, acc, timeline, lat, table, before_after)
    write_text(paths["report.html"], html)
