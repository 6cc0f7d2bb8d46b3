"""Result reports, regenerated from a state directory at any time (mid-run and after a crash too).

``write_all(state_dir, out_dir=None)`` reads the checkpoint read-only, without its lock, inside
one read transaction (so every file describes the same moment), and writes atomically, mode 0600:

- ``results.csv`` / ``results.parquet``: one row per planned operation, in plan order, streamed
  in chunks. ``status`` is final or ``not_run`` (the checkpoint's transient ``pending`` and
  ``in_flight`` read as ``not_run``; an ``in_flight`` one says its outcome is unknown).
- ``summary.json`` (``bulkops.report_summary``): counts by status and by operation kind (equal
  to the rows of results), the runs, their duration, rate, 429s, retries, reconciliations,
  lookups and exit code.
- ``failures.csv``: the failed and skipped operations as a job file (``bulkops.jobrows.job_row``)
  plus ``error``, ``http_status``, ``zoom_code``, ``source_row``: fix the cause, then
  ``bulkops run failures.csv``.
- ``undo.csv`` + ``undo-notes.txt``: a job file that reverses what succeeded, and what it cannot
  reverse (``bulkops.undo`` explains both).
- ``report.html``: one self-contained page (``bulkops.report_html``).

Memory does not grow with the job: every output streams ``CHUNK`` rows at a time, undo.csv row
by row, the latency figures and the timeline come from SQL (``bulkops.report_summary``,
``bulkops.report_html``), and the page's table is fetched with ``LIMIT``.

CSV cells that a spreadsheet would run as formulas are prefixed with ``'`` (``bulkops.csvsafe``);
in failures.csv and undo.csv only the ``error`` column can be so changed: a holiday name or
description that looks like a formula moves into the ``settings`` JSON instead, so it reaches
Zoom unchanged. JSON and Parquet keep raw values.
"""

from __future__ import annotations

import csv
import functools
import re
import shutil
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ..jobs.tables import (
    CONTROL_PATTERN,
    atomic_file,
    atomic_path,
    neutralise,
    neutralise_frame,
    one_line,
    write_text,
)
from ..model import OpStatus
from ..state.checkpoint import open_readonly
from .jobrows import JOB_COLUMNS, iter_ops, job_row
from .summary import STATUSES as STATUSES
from .summary import build_summary, latency
from .undo import UndoBuilder

CHUNK = 10_000  # rows per pass: sets the memory of the reports, whatever the job's size
TABLE_LIMIT = 5_000  # operations shown in report.html
EXAMPLES = 3
IN_FLIGHT_MESSAGE = "outcome unknown; the next run checks it before sending again"
NOT_RUN_MESSAGE = "not run yet; run the same command again to continue"
FAILURE_COLUMNS = (*JOB_COLUMNS, "error", "http_status", "zoom_code", "source_row")
UNDO_COLUMNS = (*JOB_COLUMNS, "note", "source_row")

RESULT_COLUMNS = (
    "seq",
    "op_id",
    "source_file",
    "source_row",
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
_RESULTS_SQL = (
    "SELECT seq, op_id, row AS source_row, action, extension_id, extension_number, "
    "extension_name, setting_type, sub_setting_type, holiday_name, holiday_from, holiday_to, "
    "phone_number, status, http_status, zoom_code, message, created_id, attempts, "
    "first_attempt_at, last_attempt_at, latency_ms, tracking_id, reconciled FROM ops"
)
_BAD = "status IN ('failed', 'skipped')"
_INT_COLUMNS = ("seq", "source_row", "http_status", "zoom_code", "attempts")
_TIME_COLUMNS = ("first_attempt_at", "last_attempt_at")
_ID_LIKE = re.compile(r"[A-Za-z0-9_-]{16,}|\+[1-9][0-9]{1,14}")


def _parquet_schema() -> Any:
    import pyarrow as pa

    types = {c: pa.string() for c in RESULT_COLUMNS}
    types.update({c: pa.int64() for c in _INT_COLUMNS})
    types.update({c: pa.timestamp("ms", tz="UTC") for c in _TIME_COLUMNS})
    types.update(latency_ms=pa.float64(), reconciled=pa.bool_())
    return pa.schema([(c, types[c]) for c in RESULT_COLUMNS])


@dataclass(slots=True)
class FailureGroup:
    status: str
    http_status: int | None
    zoom_code: int | None
    message: str
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class Collected:
    """What one pass over the results gathers for summary.json and report.html."""

    total: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    by_operation: dict[str, Counter[str]] = field(default_factory=dict)
    groups: dict[tuple[Any, ...], FailureGroup] = field(default_factory=dict)


# --- results -------------------------------------------------------------------------------


def _results_chunks(conn: sqlite3.Connection, source: str) -> Iterator[pd.DataFrame]:
    for raw in pd.read_sql_query(_RESULTS_SQL + " ORDER BY seq", conn, chunksize=CHUNK):
        yield _shape(raw, source)
    # ``read_sql_query`` yields nothing for an empty table: callers still write a header.


def table_rows(conn: sqlite3.Connection, source: str) -> pd.DataFrame:
    """The operations report.html lists: failures first, then the rest, TABLE_LIMIT in all."""
    parts: list[pd.DataFrame] = []
    for where in (_BAD, f"NOT {_BAD}"):
        room = TABLE_LIMIT - sum(len(f) for f in parts)
        sql = f"{_RESULTS_SQL} WHERE {where} ORDER BY seq LIMIT ?"
        parts.append(_shape(pd.read_sql_query(sql, conn, params=(room,)), source))
    return pd.concat(parts, ignore_index=True)


def _shape(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    frame = raw.copy()
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
    frame["latency_ms"] = pd.to_numeric(frame["latency_ms"]).astype("float64")
    frame["reconciled"] = frame["reconciled"].astype(bool)
    for name in RESULT_COLUMNS:
        if name not in _INT_COLUMNS + _TIME_COLUMNS + ("latency_ms", "reconciled"):
            frame[name] = frame[name].astype("string")
    return frame.loc[:, list(RESULT_COLUMNS)]


def _csv_view(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for name in _TIME_COLUMNS:
        out[name] = out[name].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str.slice(0, 23) + "Z"
    out["reconciled"] = out["reconciled"].map({True: "true", False: "false"})
    return neutralise_frame(out)


def _collect(acc: Collected, frame: pd.DataFrame) -> None:
    acc.total += len(frame)
    for status, n in frame["status"].value_counts().items():
        acc.counts[str(status)] += int(n)
    kind = frame["action"] + " " + frame["setting_type"] + "/" + frame["sub_setting_type"]
    pairs: list[tuple[Any, Any, Any]] = list(
        frame.groupby([kind.astype(str), frame["status"]])
        .size()
        .reset_index()
        .itertuples(index=False, name=None)
    )
    for k, status, n in pairs:
        acc.by_operation.setdefault(str(k), Counter())[str(status)] += int(n)
    bad = frame[frame["status"].isin(["failed", "skipped"])]
    if len(bad):
        _group_failures(acc, bad)


def _group_failures(acc: Collected, bad: pd.DataFrame) -> None:
    shown = ["seq", "source_row", "extension_id", "action", "setting_type", "sub_setting_type"]
    for rec in bad.to_dict("records"):
        message = rec["message"] if isinstance(rec["message"], str) else ""
        http = None if pd.isna(rec["http_status"]) else int(rec["http_status"])
        code = None if pd.isna(rec["zoom_code"]) else int(rec["zoom_code"])
        key = (rec["status"], http, code, _ID_LIKE.sub("…", message))
        group = acc.groups.get(key)
        if group is None:
            group = acc.groups[key] = FailureGroup(str(rec["status"]), http, code, key[3])
        group.count += 1
        if len(group.examples) < EXAMPLES:
            example = {k: _plain(rec[k]) for k in shown}
            example["message"] = message
            group.examples.append(example)


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def write_results(
    conn: sqlite3.Connection, source: str, csv_path: Path, parquet_path: Path
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
        for frame in _results_chunks(conn, source):
            _csv_view(frame).to_csv(fh, header=False, index=False, lineterminator="\n")
            writer.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
            _collect(acc, frame)
    return acc


# --- failures and undo ---------------------------------------------------------------------


def write_failures(conn: sqlite3.Connection, path: Path) -> int:
    """failures.csv; returns the number of rows."""
    n = 0
    with atomic_file(path) as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(FAILURE_COLUMNS)
        for op in iter_ops(conn, "status IN ('failed', 'skipped')", "seq"):
            row = job_row(op)
            row["error"] = neutralise(one_line(op.message) or "")
            row["http_status"] = "" if op.http_status is None else str(op.http_status)
            row["zoom_code"] = "" if op.zoom_code is None else str(op.zoom_code)
            row["source_row"] = str(op.row)
            out.writerow([row[c] for c in FAILURE_COLUMNS])
            n += 1
    return n


class _Deleted:
    """``(extension_id, id) in deleted``: did this job delete that holiday or forwarding entry?

    Asked of SQLite one extension at a time (the ``ops_lane`` index), the last few thousand
    extensions cached: the set is never held whole.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._any = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM ops WHERE status = 'succeeded' AND action = 'delete')"
        ).fetchone()[0]
        self._of = functools.lru_cache(maxsize=4096)(self._load)

    def _load(self, extension_id: str) -> frozenset[str]:
        return frozenset(
            str(item)
            for (item,) in self._conn.execute(
                "SELECT COALESCE(target_id, holiday_id, call_forwarding_id) FROM ops "
                "WHERE extension_id = ? AND status = 'succeeded' AND action = 'delete'",
                (extension_id,),
            )
            if item is not None
        )

    def __contains__(self, key: object) -> bool:
        if not self._any or not isinstance(key, tuple):
            return False
        extension_id, item = key
        return item in self._of(extension_id)


def write_undo(conn: sqlite3.Connection, path: Path, notes_path: Path) -> dict[str, int]:
    """undo.csv row by row as the builder makes them; its notes wait in a temporary file."""

    def snapshot(extension_id: str) -> dict[str, Any] | None:
        row = conn.execute(
            "SELECT settings FROM snapshots WHERE extension_id = ?", (extension_id,)
        ).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    with (
        atomic_file(path) as fh,
        tempfile.TemporaryFile("w+", encoding="utf-8", dir=notes_path.parent) as notes,
    ):
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(UNDO_COLUMNS)
        builder = UndoBuilder(
            snapshot,
            _Deleted(conn),
            lambda row: out.writerow([row[c] for c in UNDO_COLUMNS]),
            lambda line: notes.write(line + "\n"),
        )
        for op in iter_ops(conn, "status = 'succeeded'", "seq DESC"):
            builder.add(op)
        unfinished = conn.execute(
            "SELECT COUNT(*) FROM ops WHERE status IN ('in_flight', 'pending', 'not_run')"
        ).fetchone()[0]
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
        "unfinished": int(unfinished),
    }


# --- entry point ---------------------------------------------------------------------------


def write_all(state_dir: Path, *, out_dir: Path | None = None) -> dict[str, Path]:
    """Write every report of ``state_dir`` into ``out_dir`` (default: the state directory)."""
    from . import html as report_html

    state_dir = Path(state_dir)
    out = Path(out_dir) if out_dir is not None else state_dir
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = {
        name: out / name
        for name in (
            "results.csv",
            "results.parquet",
            "summary.json",
            "failures.csv",
            "undo.csv",
            "undo-notes.txt",
            "report.html",
        )
    }
    conn = open_readonly(state_dir)
    try:
        conn.execute("BEGIN")  # one snapshot of the database for every file
        found = conn.execute("SELECT value FROM meta WHERE key = 'job_path'").fetchone()
        source = "" if found is None else str(found[0])
        acc = write_results(conn, source, paths["results.csv"], paths["results.parquet"])
        failures = write_failures(conn, paths["failures.csv"])
        undo = write_undo(conn, paths["undo.csv"], paths["undo-notes.txt"])
        lat = latency(conn)
        summary = build_summary(conn, state_dir, acc, lat)
        summary["failures_csv_rows"] = failures
        summary["undo"] = undo
        summary["files"] = {k: str(v) for k, v in paths.items()}
        timeline = report_html.timeline(conn)
        table = table_rows(conn, source)
    finally:
        conn.close()
    write_text(paths["summary.json"], orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    html = report_html.render(summary, acc, timeline, lat, table)
    write_text(paths["report.html"], html)
    return paths
