"""The rows of the result reports, shaped one way whether written in one pass (``reports.results``)
or rendered ahead into a report cache (``reports.render``): results.csv/parquet's typed columns,
failures.csv's cells, report.html's table and page, undo-notes.txt's heading.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from ..jobs.tables import CONTROL_PATTERN, neutralise, one_line, write_text
from ..model import ColumnKind, OpStatus
from ..state.reader import StateReader, statuses
from ..state.schema import OPS_COLUMNS, OpRecord
from . import html as report_html
from .changes import ChangeIndex
from .collected import Collected
from .jobrows import JOB_COLUMNS, job_row
from .summary import build_summary, latency
from .undo_out import UndoResult

CHUNK = 10_000  # rows per pass: sets the memory of the reports, whatever the job's size
TABLE_LIMIT = 5_000  # operations shown in report.html
IN_FLIGHT_MESSAGE = "outcome unknown; the next run checks it before sending again"
NOT_RUN_MESSAGE = "not run yet; run the same command again to continue"
FAILURE_COLUMNS = (*JOB_COLUMNS, "error", "http_status", "zoom_code", "source_row")

# The columns of the results files, in their order: a choice of the ops table's columns (their
# types come from there), with the record's ``row`` named ``source_row`` and the job file's path
# as ``source_file``.
FROM_STATE = (
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
    *(_RENAMED.get(c, c) for c in FROM_STATE[:2]),
    "source_file",
    *(_RENAMED.get(c, c) for c in FROM_STATE[2:]),
    *CHANGE_COLUMNS,
)
_KINDS = {_RENAMED.get(c.name, c.name): c.kind for c in OPS_COLUMNS if c.name in FROM_STATE}
_TIME_COLUMNS = ("first_attempt_at", "last_attempt_at")  # epoch seconds, shown as UTC times
_INT_COLUMNS = tuple(c for c, kind in _KINDS.items() if kind is ColumnKind.INT)
_FLOAT_COLUMNS = tuple(
    c for c, kind in _KINDS.items() if kind is ColumnKind.REAL and c not in _TIME_COLUMNS
)
_BOOL_COLUMNS = tuple(c for c, kind in _KINDS.items() if kind is ColumnKind.BOOL)
_TYPED = (*_INT_COLUMNS, *_TIME_COLUMNS, *_FLOAT_COLUMNS, *_BOOL_COLUMNS)
BAD = statuses(OpStatus.FAILED, OpStatus.SKIPPED)


def parquet_schema() -> Any:
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
    for raw in reader.op_frames(FROM_STATE, chunk=CHUNK):
        yield shape(raw, source, changes, whole=True)
    # An empty table may yield no chunk: callers write the header themselves.


def table_rows(reader: StateReader, source: str, changes: ChangeIndex) -> pd.DataFrame:
    """The operations report.html lists: failures first, then the rest, TABLE_LIMIT in all."""
    parts: list[pd.DataFrame] = []
    for which in (BAD, ~BAD):
        room = TABLE_LIMIT - sum(len(f) for f in parts)
        parts.append(shape(reader.op_frame(FROM_STATE, which, limit=room), source, changes))
    return pd.concat(parts, ignore_index=True)


def shape(
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


def typed_frame(table: Any) -> pd.DataFrame:
    """Columns of results.parquet's Arrow table as a frame typed as ``shape`` types them."""
    import pyarrow as pa

    kinds = {pa.int64(): pd.Int64Dtype(), pa.string(): pd.StringDtype()}
    frame: pd.DataFrame = table.to_pandas(types_mapper=kinds.get, coerce_temporal_nanoseconds=True)
    return frame


def failure_cells(record: OpRecord) -> list[str]:
    """A failed or skipped operation's row of failures.csv (``FAILURE_COLUMNS``)."""
    outcome = record.outcome
    row = job_row(record.op)
    row["error"] = neutralise(one_line(outcome.message) or "")
    row["http_status"] = "" if outcome.http_status is None else str(outcome.http_status)
    row["zoom_code"] = "" if outcome.zoom_code is None else str(outcome.zoom_code)
    row["source_row"] = str(record.op.row)
    return [row[c] for c in FAILURE_COLUMNS]


class Deleted:
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


def undo_heading(result: UndoResult, unfinished: int) -> str:
    """undo-notes.txt's first lines, before the notes."""
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
    return "\n".join(lines) + "\n"


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
