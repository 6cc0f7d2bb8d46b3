"""One operation record: the columns derived from the values, and the checkpoint round trip.

``load(dump(x)) == x`` for any ``Operation`` written to the plan table and read back through the
typed reader, and for any ``Outcome`` recorded against it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkops.model import (
    OPERATION_COLUMN_NAMES,
    OPERATION_COLUMNS,
    OUTCOME_COLUMNS,
    Action,
    ColumnKind,
    Operation,
    OpStatus,
    Outcome,
    SettingType,
    SubSettingType,
    columns_of,
    field_reader,
    operation_from_record,
    record_of,
)
from bulkops.state import Checkpoint, open_readonly
from bulkops.state.schema import DB_NAME, OPS_COLUMN_NAMES

CI = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_INT64 = st.integers(-(2**63), 2**63 - 1)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | _INT64
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
_TEXT_OR_NONE = st.none() | st.text()


@st.composite
def operations(draw: st.DrawFn, seq: int, op_id: str) -> Operation:
    return Operation(
        seq=seq,
        op_id=op_id,
        row=draw(st.integers(1, 2**62)),
        action=draw(st.sampled_from(Action)),
        extension_id=draw(st.text()),
        setting_type=draw(st.sampled_from(SettingType)),
        sub_setting_type=draw(st.sampled_from(SubSettingType)),
        settings=draw(st.dictionaries(st.text(), _JSON, max_size=4)),
        holiday_id=draw(_TEXT_OR_NONE),
        call_forwarding_id=draw(_TEXT_OR_NONE),
        holiday_name=draw(_TEXT_OR_NONE),
        holiday_from=draw(_TEXT_OR_NONE),
        holiday_to=draw(_TEXT_OR_NONE),
        phone_number=draw(_TEXT_OR_NONE),
        extension_number=draw(_TEXT_OR_NONE),
        extension_name=draw(_TEXT_OR_NONE),
    )


@st.composite
def plans(draw: st.DrawFn) -> list[Operation]:
    seqs = draw(st.lists(st.integers(0, 2**62), max_size=8, unique=True))
    ids = draw(st.lists(st.text(min_size=1), min_size=len(seqs), max_size=len(seqs), unique=True))
    ops = [draw(operations(seq, op_id)) for seq, op_id in zip(seqs, ids, strict=True)]
    return sorted(ops, key=lambda op: op.seq)


_FLOATS = st.none() | st.floats(allow_nan=False, allow_infinity=False)
outcomes = st.builds(
    Outcome,
    status=st.sampled_from(OpStatus),
    http_status=st.none() | _INT64,
    zoom_code=st.none() | _INT64,
    message=_TEXT_OR_NONE,
    created_id=_TEXT_OR_NONE,
    target_id=_TEXT_OR_NONE,
    tracking_id=_TEXT_OR_NONE,
    reconciled=st.booleans(),
    latency_ms=_FLOATS,
)


def same(got: object, want: object) -> bool:
    """Equal, field by field of the same type: ``Action.ADD == "add"`` and ``True == 1`` in
    Python, but a record that read back the plain value would be wrong."""
    names = [f.name for f in fields(want)]  # type: ignore[arg-type]
    return got == want and all(type(getattr(got, n)) is type(getattr(want, n)) for n in names)


def plan_frame(ops: list[Operation]) -> pd.DataFrame:
    """A plan frame as ``jobs.plan`` hands it to the checkpoint: one record per operation."""
    records = [record_of(op, OPERATION_COLUMNS) for op in ops]
    return pd.DataFrame(records, columns=list(OPERATION_COLUMN_NAMES))


# --- the definition ----------------------------------------------------------------------------


def test_columns_are_the_fields_of_the_values() -> None:
    assert tuple(f.name for f in fields(Operation)) == OPERATION_COLUMN_NAMES
    assert tuple(c.name for c in OUTCOME_COLUMNS) == tuple(f.name for f in fields(Outcome))
    kinds = {c.name: (c.kind, c.nullable, c.enum) for c in OPERATION_COLUMNS + OUTCOME_COLUMNS}
    assert kinds["seq"] == (ColumnKind.INT, False, None)
    assert kinds["action"] == (ColumnKind.TEXT, False, Action)
    assert kinds["settings"] == (ColumnKind.JSON_OBJECT, False, None)
    assert kinds["holiday_id"] == (ColumnKind.TEXT, True, None)
    assert kinds["status"] == (ColumnKind.TEXT, False, OpStatus)
    assert kinds["reconciled"] == (ColumnKind.BOOL, False, None)
    assert kinds["latency_ms"] == (ColumnKind.REAL, True, None)


def test_the_ops_table_has_exactly_the_record_columns(tmp_path: Path) -> None:
    Checkpoint.open(tmp_path, job_hash="h", job_path="job.csv").close()
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        table = tuple(r[1] for r in db.execute("PRAGMA table_info(ops)"))
    assert table == OPS_COLUMN_NAMES
    assert table[: len(OPERATION_COLUMN_NAMES)] == OPERATION_COLUMN_NAMES


def test_a_field_of_an_unknown_type_is_refused_at_definition() -> None:
    @dataclass(frozen=True, slots=True)
    class Odd:
        ids: list[str]

    with pytest.raises(TypeError, match=r"ids: .* has no column kind"):
        columns_of(Odd)


def test_a_missing_required_cell_is_an_error_not_a_none() -> None:
    record = record_of(Operation(0, "a", 2, Action.ADD, "e", SettingType.CLOSED_HOURS,
                                 SubSettingType.CALL_HANDLING), OPERATION_COLUMNS)  # fmt: skip
    del record["extension_id"]
    with pytest.raises(ValueError, match="extension_id column has no value"):
        operation_from_record(record)


def test_cells_must_match_the_columns() -> None:
    with pytest.raises(ValueError, match="2 cells for 9 columns"):
        field_reader(OUTCOME_COLUMNS)(["succeeded", 201])


def test_a_plan_frame_missing_value_reads_as_none() -> None:
    """pandas marks a missing categorical as NaN; an empty ``settings`` is an empty body."""
    record = record_of(Operation(0, "a", 2, Action.ADD, "e", SettingType.CLOSED_HOURS,
                                 SubSettingType.CALL_HANDLING), OPERATION_COLUMNS)  # fmt: skip
    op = operation_from_record({**record, "holiday_id": float("nan"), "settings": ""})
    assert op.holiday_id is None and op.settings == {}


# --- round trips -------------------------------------------------------------------------------


@CI
@given(plans())
def test_an_operation_survives_its_record(ops: list[Operation]) -> None:
    for op in ops:
        assert same(operation_from_record(record_of(op, OPERATION_COLUMNS)), op)


@CI
@given(outcomes)
def test_an_outcome_survives_its_record(outcome: Outcome) -> None:
    cells = record_of(outcome, OUTCOME_COLUMNS).values()
    assert same(Outcome(*field_reader(OUTCOME_COLUMNS)(list(cells))), outcome)


async def _store(state: Path, ops: list[Operation], results: list[Outcome]) -> None:
    cp = Checkpoint.open(state, job_hash="h", job_path="job.csv")
    try:
        cp.load_plan(plan_frame(ops))
        await cp.start()
        for op, outcome in zip(ops, results, strict=False):
            await cp.record_outcome(op.seq, outcome)
        await cp.stop_writer()
    finally:
        cp.close()


@CI
@given(plans(), st.lists(outcomes, max_size=8))
def test_the_checkpoint_gives_back_what_it_was_given(
    ops: list[Operation], results: list[Outcome]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_store(Path(tmp), ops, results))
        with open_readonly(tmp) as reader:
            records = list(reader.records())
    assert len(records) == len(ops)
    assert all(same(r.op, op) for r, op in zip(records, ops, strict=True))
    recorded = dict(zip((op.seq for op in ops), results, strict=False))
    for record in records:
        assert same(record.outcome, recorded.get(record.op.seq, Outcome(OpStatus.PENDING)))
        assert (record.attempts, record.first_attempt_at, record.last_attempt_at) == (0, None, None)


# --- light imports ------------------------------------------------------------------------------


def test_state_and_status_load_without_pandas() -> None:
    code = (
        "import sys, bulkops.state, bulkops.reports.status\n"
        "heavy = sorted(m for m in ('pandas', 'pyarrow', 'bulkops.jobs') if m in sys.modules)\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_bulkops_status_loads_no_pandas(tmp_path: Path) -> None:
    ops = [Operation(0, "a", 2, Action.ADD, "e", SettingType.CLOSED_HOURS, SubSettingType.HOLIDAY)]
    asyncio.run(_store(tmp_path, ops, [Outcome(OpStatus.SUCCEEDED, 201)]))
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bulkops", "status", "--state", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "1 of 1 operations finished" in done.stdout
    assert [line for line in done.stderr.splitlines() if "pandas" in line] == []
