"""The fast report writer against a straightforward reference, on states with every status and
action: undo.csv built one operation at a time with each row checked by the job-file rules, and
every operation's before/after replayed lane by lane with no cache."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from test_report import build_state

from bulkops.jobs.plan import build_plan
from bulkops.jobs.tables import neutralise_frame
from bulkops.model import Action, OpStatus, Outcome
from bulkops.reports.changes import Change, ChangeIndex, lane_changes
from bulkops.reports.jobrows import JOB_COLUMNS, Row, accepted_rows, row_problem
from bulkops.reports.results import RESULT_COLUMNS, UNDO_COLUMNS, results_chunks, write_all
from bulkops.reports.undo import UndoBuilder
from bulkops.reports.undo_out import added_holiday_undo
from bulkops.state.checkpoint import Checkpoint
from bulkops.state.reader import open_readonly, statuses

EXTENSIONS = 40
JOB = """\
action,setting_type,sub_setting_type,target,name,from,to,phone_number,description,settings
add,holiday_hours,holiday,*,Xmas,2027-12-25,2027-12-25,,,
add,business_hours,call_forwarding,*,,,,+14155550100,Desk,
update,business_hours,call_handling,*,,,,,,"{""call_not_answer_action"": 11}"
delete,holiday_hours,holiday,*,Old,2026-05-01,,,,
add,holiday_hours,holiday,*,=Formula,2027-01-01,2027-01-01,,,
add,holiday_hours,holiday,*,"New Year, Eve",2027-12-31,2027-12-31,,,
"""
# Zoom's messages as results.csv must quote or guard them (a name above needs quotes too).
MESSAGES = ("plain", "a, comma", 'a "quote"', "=HYPERLINK(1)", "-1 left", "+x", "@me", "tab\there")


def _snapshot(i: int) -> dict[str, Any]:
    old = {"name": "Old", "from": "2026-05-01T00:00:00Z", "to": "2026-05-01T23:59:00Z"}
    return {
        "business_hours": [
            {"sub_setting_type": "call_handling", "settings": {"call_not_answer_action": 1}},
        ],
        "closed_hours": [],
        "holiday_hours": [
            {"holiday_id": f"OLD{i}", "details": [{"sub_setting_type": "holiday", "settings": old}]}
        ],
    }


def _outcome(seq: int, action: str, extension: int) -> Outcome | None:
    """Mostly successes, some of every other status; None: left pending."""
    kind = seq % 11
    if kind == 3:
        message = f"{MESSAGES[seq // 11 % len(MESSAGES)]} {seq}"
        return Outcome(OpStatus.FAILED, http_status=409, zoom_code=300, message=message)
    if kind == 5:
        return Outcome(OpStatus.SKIPPED, message="skipped: its extension failed")
    if kind == 7:
        return Outcome(OpStatus.ALREADY_PRESENT, target_id=f"HAD{seq}")
    if kind == 8:
        return Outcome(OpStatus.IN_FLIGHT)
    if kind == 9:
        return None
    created = f"N{seq}" if seq % 13 else f"bad id {seq}"  # Zoom's id unfit for a job row
    if action == Action.ADD.value:
        return Outcome(OpStatus.SUCCEEDED, http_status=201, created_id=created, target_id=created)
    target = f"OLD{extension}" if action == Action.DELETE.value and extension % 3 == 0 else None
    return Outcome(OpStatus.SUCCEEDED, http_status=204, target_id=target)


async def _fan_out_state(tmp: Path) -> Path:
    job, directory = tmp / "job.csv", tmp / "dir.csv"
    job.write_text(JOB)
    directory.write_text(
        "extension_id,extension_number,name,site\n"
        + "".join(f"ext{i:02d},{100 + i},Person {i},Paris\n" for i in range(EXTENSIONS))
    )
    plan = build_plan(job, directory=directory)
    assert len(plan) == 6 * EXTENSIONS
    state = tmp / "state"
    cp = Checkpoint.open(state, job_hash=plan.job_hash, job_path=str(job))
    cp.load_plan(plan.frame)
    await cp.start()
    for i in range(0, EXTENSIONS, 3):
        await cp.record_snapshot(f"ext{i:02d}", _snapshot(i))
    ops = plan.frame.loc[:, ["seq", "action", "extension_id"]].itertuples(index=False)
    for seq, action, extension_id in ops:
        outcome = _outcome(int(seq), str(action), int(str(extension_id)[3:]))
        if outcome is None:
            continue
        if outcome.status is not OpStatus.SKIPPED:
            await cp.record_intent(int(seq), at=1.8e9 + int(seq), target_id=outcome.target_id)
        if outcome.status is not OpStatus.IN_FLIGHT:
            await cp.record_outcome(int(seq), outcome)
    await cp.stop_writer()
    cp.close()
    return state


def _reference_changes(state: Path) -> dict[int, Change]:
    with open_readonly(state) as reader:
        lanes = {r.op.extension_id for r in reader.records()}
        return {
            seq: change
            for extension_id in lanes
            for seq, change in lane_changes(
                reader.snapshot(extension_id), reader.lane(extension_id)
            )
        }


def _reference_undo(state: Path) -> tuple[str, list[str]]:
    """undo.csv's bytes and the notes, one operation at a time, every row checked by the rules."""
    with open_readonly(state) as reader:
        done = list(reader.records(statuses(OpStatus.SUCCEEDED), newest_first=True))
        deleted = {
            (r.op.extension_id, str(r.outcome.target_id or r.op.holiday_id))
            for r in done
            if r.op.action is Action.DELETE
        }
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(UNDO_COLUMNS)
        notes: list[str] = []
        builder = UndoBuilder(
            reader.snapshot,
            deleted,
            lambda row: writer.writerow([row[c] for c in UNDO_COLUMNS]),
            notes.append,
        )
        for record in done:
            builder.add(record.op, record.outcome)
    return out.getvalue(), notes


def _reference_results_csv(state: Path) -> str:
    """results.csv as pandas' writer made it (the writer before Arrow's): the typed chunks, times
    formatted, booleans in words, text guarded by ``neutralise_frame``, then ``DataFrame.to_csv``."""
    out = io.StringIO()
    out.write(",".join(RESULT_COLUMNS) + "\n")
    with open_readonly(state) as reader, ChangeIndex(reader) as changes:
        source = reader.meta().get("job_path", "")
        for frame in results_chunks(reader, source, changes):
            view = frame.copy()
            for name in ("first_attempt_at", "last_attempt_at"):
                text = view[name].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str.slice(0, 23)
                view[name] = text + "Z"
            view["reconciled"] = view["reconciled"].map({True: "true", False: "false"})
            neutralise_frame(view).to_csv(out, header=False, index=False, lineterminator="\n")
    return out.getvalue()


@pytest.mark.parametrize("shape", ["hand-built", "fan-out"])
async def test_reports_equal_the_reference(shape: str, tmp_path: Path) -> None:
    if shape == "fan-out":
        state = await _fan_out_state(tmp_path)
    else:
        state = (await build_state(tmp_path))[0]
    paths = write_all(state, out_dir=tmp_path / "out")

    written = paths["results.csv"].read_text(encoding="utf-8")
    assert written == _reference_results_csv(state)
    if shape == "fan-out":  # the cells the Arrow writer must quote and guard are there
        assert all(m in written for m in ('"a, comma', '"a ""quote""', "'=HYPERLINK", "'-1"))
        assert '"New Year, Eve"' in written and "'=Formula" in written

    expected_undo, notes = _reference_undo(state)
    assert paths["undo.csv"].read_text(encoding="utf-8") == expected_undo
    page = paths["undo-notes.txt"].read_text(encoding="utf-8")
    assert page.endswith("".join(f"{n}\n" for n in notes))

    table = pq.read_table(paths["results.parquet"]).to_pylist()
    reference = _reference_changes(state)
    assert len(table) == len(reference)
    for row in table:
        change = reference[row["seq"]]
        assert (row["before"], row["after"]) == (change.before, change.after), row["seq"]
    if shape == "fan-out":  # the cases the test is for are there
        assert "would not be a valid job row" in page
        assert {r["status"] for r in table} >= {s.value for s in OpStatus if s.final} - {
            OpStatus.ALREADY_ABSENT.value,
            OpStatus.WOULD_CHANGE.value,
        }


async def test_made_holiday_undo_rows_pass_the_job_rules(tmp_path: Path) -> None:
    """The rows ``added_holiday_undo`` makes without the rules' check: the rules accept them."""
    state = await _fan_out_state(tmp_path)
    made: list[Row] = []
    with open_readonly(state) as reader:
        for batch in reader.raw_records(statuses(OpStatus.SUCCEEDED)):
            made.extend(row for raw in batch if (row := added_holiday_undo(raw)) is not None)
    assert len(made) > 20
    for number, row in enumerate(made, start=2):
        assert row_problem(row, file="undo.csv", number=number) is None, row


def test_rows_checked_by_columns_agree_with_the_rules() -> None:
    """``accepted_rows`` accepts only rows the per-row rules accept (it may leave some to them)."""
    good = dict.fromkeys(JOB_COLUMNS, "") | {
        "action": "delete",
        "setting_type": "business_hours",
        "sub_setting_type": "call_forwarding",
        "extension_id": "ext1",
        "call_forwarding_id": "F1",
    }
    rows = [
        good | {"call_forwarding_id": f"F{i}"} if i % 4 else good | {"call_forwarding_id": "a b"}
        for i in range(100)
    ]
    rows.append(good | {"settings": '{"enable": true}', "action": "update"})
    accepted = accepted_rows(rows)
    for number, (row, ok) in enumerate(zip(rows, accepted, strict=True), start=2):
        problem = row_problem(row, file="undo.csv", number=number)
        assert not ok or problem is None, row
        if row["call_forwarding_id"] == "a b":
            assert problem is not None and not ok
    assert sum(accepted) == 75  # the plain valid rows, checked by columns
