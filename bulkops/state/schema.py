"""The checkpoint's tables, and the records their rows are read back as.

The ``ops`` table holds one ``OpRecord`` per planned operation: the ``Operation``'s columns, the
latest ``Outcome``'s, then the run's progress. ``attempts`` holds ``Attempt``s and ``runs``
``RunRecord``s. Every column list (the DDL here, the statements in ``checkpoint`` and ``reader``)
is derived from those dataclasses through ``bulkops.model.columns_of``, so a field added to one of
them reaches the table, the readers and the writer at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..model import (
    OPERATION_COLUMNS,
    OUTCOME_COLUMNS,
    Cell,
    Column,
    ColumnKind,
    Operation,
    OpStatus,
    Outcome,
    columns_of,
    field_reader,
    record_of,
)

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 1
DB_NAME = "checkpoint.sqlite3"
LOCK_NAME = "lock"
TABLES = ("meta", "ops", "snapshots", "attempts", "runs")

# Keys of the ``meta`` table besides the job's identity (job_hash, job_path, created_at).
META_PLAN_LOADED = "plan_loaded"  # "1" once the plan is stored
META_PLAN_ROWS = "plan_rows"  # how many operations the stored plan has
META_COMMITS = "commits"  # transactions committed so far; the lock file's mark follows it
META_OPEN = "open"  # "1" while a run has the state open, "0" once it closed it
META_ACCOUNT = "account_id"  # the Zoom account the state's runs were made on
# The report change log's entries up to this id were deleted (``Checkpoint.prune_change_log``).
META_LOG_PRUNED = "report_log_pruned_through"
# The job_hash a person (or --yes) agreed to apply to the account: a resumed run does not ask
# again. In meta, not in ``runs``: a run row is written at the end, and a run killed after the
# answer must not ask twice.
META_CONFIRMED = "confirmed_job"


@dataclass(frozen=True, slots=True)
class OpRecord:
    """One row of ``ops``: the planned operation, where it stands, and what the run saw of it."""

    op: Operation
    outcome: Outcome  # the latest: final, or why it went back to pending
    attempts: int  # intents recorded (requests sent, or about to be)
    first_attempt_at: float | None  # wall-clock seconds
    last_attempt_at: float | None

    @property
    def status(self) -> OpStatus:
        return self.outcome.status


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP request the engine made, for the throughput timeline of the report."""

    at: float  # wall-clock seconds
    seq: int | None  # None for a lookup that serves a whole extension
    method: str
    http_status: int | None
    kind: str  # "ok", "rate_limited", "retry", "error", "lookup", "reconcile"
    latency_ms: float | None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One ``bulkops run`` that reached its end (a crashed run leaves none)."""

    started_at: float
    ended_at: float | None
    exit_code: int | None
    stats: dict[str, Any] | None  # the engine's counters (requests, retries, 429s, …)


PROGRESS_COLUMNS = columns_of(OpRecord, skip=("op", "outcome"))
OPS_COLUMNS: tuple[Column, ...] = (*OPERATION_COLUMNS, *OUTCOME_COLUMNS, *PROGRESS_COLUMNS)
OPS_COLUMN_NAMES = tuple(c.name for c in OPS_COLUMNS)
ATTEMPT_COLUMNS = columns_of(Attempt)
RUN_COLUMNS = columns_of(RunRecord)
RUN_COLUMN_NAMES = tuple(c.name for c in RUN_COLUMNS)

_SQL_TYPES = {
    ColumnKind.INT: "INTEGER",
    ColumnKind.REAL: "REAL",
    ColumnKind.BOOL: "INTEGER",
    ColumnKind.TEXT: "TEXT",
    ColumnKind.JSON_OBJECT: "TEXT",
}
# What the fields' types cannot say: keys, and the values a freshly planned row starts with.
_OPS_CONSTRAINTS = {
    "seq": "PRIMARY KEY",
    "op_id": "UNIQUE",
    "status": f"DEFAULT '{OpStatus.PENDING.value}'",
    "reconciled": "DEFAULT 0",
    "attempts": "DEFAULT 0",
}


def _ddl(table: str, columns: Sequence[Column], constraints: Mapping[str, str]) -> str:
    lines = []
    for c in columns:
        line = f"{c.name} {_SQL_TYPES[c.kind]}" + ("" if c.nullable else " NOT NULL")
        if c.name in constraints:
            line += " " + constraints[c.name]
        lines.append(line)
    return f"CREATE TABLE IF NOT EXISTS {table} (\n    " + ",\n    ".join(lines) + "\n);"


#: The reports' change log: every write to an operation or a before-image notes its extension,
#: whatever code path makes it (engine, reconcile, reset_failed, mark_not_run, sync), so a report
#: cache (``reports.layers``) knows exactly which extensions to render again. Not in ``TABLES``:
#: a checkpoint made before it gains it the next time a run opens it. No INSERT trigger on
#: ``ops``: a plan is inserted once, in bulk, and the cache's key counts its operations.
CHANGE_LOG_TABLE = "report_dirty"
_LOGGED = (("ops", ("UPDATE", "DELETE")), ("snapshots", ("INSERT", "UPDATE", "DELETE")))
CHANGE_LOG = (
    f"CREATE TABLE IF NOT EXISTS {CHANGE_LOG_TABLE} "
    "(id INTEGER PRIMARY KEY, extension_id TEXT NOT NULL);\n"
    + "\n".join(
        f"CREATE TRIGGER IF NOT EXISTS {table}_{event.lower()}_logged AFTER {event} ON {table} "
        f"BEGIN INSERT INTO {CHANGE_LOG_TABLE} (extension_id) "
        f"VALUES ({'OLD' if event == 'DELETE' else 'NEW'}.extension_id); END;"
        for table, events in _LOGGED
        for event in events
    )
)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
{_ddl("ops", OPS_COLUMNS, _OPS_CONSTRAINTS)}
CREATE INDEX IF NOT EXISTS ops_lane ON ops (extension_id, seq);
CREATE INDEX IF NOT EXISTS ops_status ON ops (status);
CREATE TABLE IF NOT EXISTS snapshots (
    extension_id TEXT PRIMARY KEY, taken_at REAL NOT NULL, settings TEXT NOT NULL
);
{_ddl("attempts", ATTEMPT_COLUMNS, {})}
{_ddl("runs", RUN_COLUMNS, {})}
{CHANGE_LOG}
"""


# SQLite gives INTEGER, REAL and TEXT cells back typed; only enums, JSON and booleans need work.
_NATIVE = (ColumnKind.INT, ColumnKind.REAL, ColumnKind.TEXT)
_read_ops_row = field_reader(OPS_COLUMNS, native=_NATIVE)
_OUTCOME_AT = len(OPERATION_COLUMNS)
_PROGRESS_AT = _OUTCOME_AT + len(OUTCOME_COLUMNS)
_read_run_row = field_reader(RUN_COLUMNS, native=_NATIVE)


def op_record(row: Sequence[Any]) -> OpRecord:
    """A row of ``SELECT <OPS_COLUMN_NAMES> FROM ops`` as a record."""
    values = _read_ops_row(row)
    return OpRecord(
        Operation(*values[:_OUTCOME_AT]),
        Outcome(*values[_OUTCOME_AT:_PROGRESS_AT]),
        *values[_PROGRESS_AT:],
    )


def run_record(row: Sequence[Any]) -> RunRecord:
    """A row of ``SELECT <RUN_COLUMN_NAMES> FROM runs`` as a record."""
    return RunRecord(*_read_run_row(row))


def insert_sql(table: str, columns: Sequence[Column]) -> str:
    names = ", ".join(c.name for c in columns)
    return f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"


def cells(value: Any, columns: Sequence[Column]) -> tuple[Cell, ...]:
    """``value``'s fields as the parameters of ``insert_sql(table, columns)``."""
    return tuple(record_of(value, columns).values())


def column_cells(column: pd.Series) -> list[Any]:
    """A plan column as SQLite parameters: Python scalars, None for a missing value."""
    import numpy as np
    import pandas as pd

    if isinstance(column.dtype, pd.CategoricalDtype):
        # One Python object per category, not per row: the codes pick them (-1, missing: None).
        choices = np.array([*column.cat.categories.tolist(), None], dtype=object)
        return list(choices[column.cat.codes.to_numpy()])
    if column.hasnans:
        return column.astype(object).where(column.notna(), None).tolist()
    return column.tolist()
