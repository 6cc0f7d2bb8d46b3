"""Reports from a hand-built checkpoint: results, summary, failures.csv, undo.csv, CSV safety."""

from __future__ import annotations

import csv
import io
import json
import stat
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest

from bulkops.jobs.plan import build_plan, validate
from bulkops.model import OpStatus, Outcome
from bulkops.reports.results import IN_FLIGHT_MESSAGE, RESULT_COLUMNS, STATUSES, write_all
from bulkops.state.checkpoint import Attempt, Checkpoint

JOB = """\
action,setting_type,sub_setting_type,extension_id,target,name,from,to,holiday_id,phone_number,description,call_forwarding_id,settings
add,holiday_hours,holiday,extA,,Xmas,2027-12-25,2027-12-25,,,,,
add,business_hours,call_forwarding,extA,,,,,,+14155550100,Desk,,
update,business_hours,custom_hours,extA,,,,,,,,,"{""type"": 1}"
update,holiday_hours,holiday,extA,,New Name,2027-07-04,2027-07-04,HOLD1,,,,
delete,holiday_hours,holiday,extB,,,,,HOLB,,,,
delete,business_hours,call_forwarding,extB,,,,,,,,FWB,
update,business_hours,call_handling,extB,,,,,,,,,"{""call_not_answer_action"": 11, ""max_call_in_queue"": 5}"
update,business_hours,call_forwarding,extB,,,,,,,=HYPERLINK(x),FWB2,"{""enable"": false}"
add,holiday_hours,holiday,extC,,=SUM(A1),2027-01-01,2027-01-01,,,,,
update,closed_hours,call_handling,extC,,,,,,,,,"{""call_not_answer_action"": 1}"
add,holiday_hours,holiday,extD,,Boxing,2027-12-26,2027-12-26,,,,,
delete,holiday_hours,holiday,extD,,Old,,,,,,,
add,holiday_hours,call_forwarding,extA,,Xmas,2027-12-25,,,+14155550111,,,
add,closed_hours,call_forwarding,,site=London,,,,,+14155550122,@home,,
"""
DIRECTORY = """\
extension_id,extension_number,name,site
extA,101,Ann,Paris
extB,102,Bob,Paris
extC,103,=cmd|' /C calc'!A0,London
extD,104,Dee,London
"""


def _apps(prefix: str) -> dict[str, Any]:
    return {
        "require_press_1_before_connecting": False,
        "call_forwarding_settings": [
            {"id": f"{prefix}APP", "description": "Zoom Mobile Apps", "enable": True}
        ],
    }


DAYS = [
    {"weekday": 1, "type": 0},
    *({"weekday": d, "type": 2, "from": "09:00", "to": "17:00"} for d in range(2, 7)),
    {"weekday": 7, "type": 0},
]
SNAP_A = {
    "business_hours": [
        {
            "sub_setting_type": "custom_hours",
            "settings": {"type": 2, "custom_hours_settings": DAYS},
        },
        {"sub_setting_type": "call_handling", "settings": {"routing": {"action": 1}}},
        {"sub_setting_type": "call_forwarding", "settings": _apps("A")},
    ],
    "closed_hours": [],
    "holiday_hours": [
        {
            "holiday_id": "HOLD1",
            "details": [
                {
                    "sub_setting_type": "holiday",
                    "settings": {
                        "name": "Old Name",
                        "from": "2026-07-04T00:00:00Z",
                        "to": "2026-07-04T23:59:00Z",
                    },
                }
            ],
        }
    ],
}
SNAP_B = {
    "business_hours": [
        {"sub_setting_type": "call_handling", "settings": {"routing": {"action": 1}}},
        {
            "sub_setting_type": "call_forwarding",
            "settings": {
                "require_press_1_before_connecting": False,
                "call_forwarding_settings": [
                    {"id": "BAPP", "description": "Zoom Mobile Apps", "enable": True},
                    {
                        "id": "FWB",
                        "description": "old",
                        "enable": True,
                        "phone_number": "+441234567",
                    },
                    {
                        "id": "FWB2",
                        "description": "desk",
                        "enable": True,
                        "phone_number": "+4498765",
                    },
                ],
            },
        },
    ],
    "closed_hours": [],
    "holiday_hours": [
        {
            "holiday_id": "HOLB",
            "details": [
                {
                    "sub_setting_type": "holiday",
                    "settings": {
                        "name": "-Gone",
                        "from": "2026-10-03T00:00:00Z",
                        "to": "2026-10-03T23:59:00Z",
                    },
                },
                {
                    "sub_setting_type": "call_forwarding",
                    "settings": {
                        "call_forwarding_settings": [
                            {
                                "id": "HF1",
                                "description": "hol",
                                "enable": True,
                                "phone_number": "+3312345",
                            }
                        ]
                    },
                },
            ],
        }
    ],
}
SNAP_C = {"business_hours": [], "closed_hours": [], "holiday_hours": []}

# seq -> (status, http, code, message, created_id, target_id)
OUTCOMES: dict[int, tuple[Any, ...]] = {
    0: (OpStatus.SUCCEEDED, 201, None, None, "NEWHOL", "NEWHOL"),
    1: (
        OpStatus.FAILED,
        400,
        400,
        "Request failed because the feature is not enabled.",
        None,
        None,
    ),
    2: (OpStatus.SUCCEEDED, 204, None, None, None, None),
    3: (OpStatus.SUCCEEDED, 204, None, None, None, "HOLD1"),
    4: (OpStatus.SUCCEEDED, 204, None, None, None, "HOLB"),
    5: (OpStatus.SUCCEEDED, 204, None, None, None, "FWB"),
    6: (OpStatus.SUCCEEDED, 204, None, None, None, None),
    7: (OpStatus.SUCCEEDED, 204, None, None, None, "FWB2"),
    8: (OpStatus.FAILED, 400, 300, "=bad\x07 value\nsecond line " + "x" * 900, None, None),
    9: (OpStatus.SKIPPED, None, None, "skipped: =bad value", None, None),
    10: (OpStatus.IN_FLIGHT, None, None, None, None, None),
    # 11 stays pending
    12: (OpStatus.ALREADY_PRESENT, None, None, None, None, "EXISTINGFWD"),
    13: (OpStatus.SUCCEEDED, 201, None, None, "NEWFWDC", "NEWFWDC"),
    14: (OpStatus.FAILED, 404, 404, "Extension does not exist: extD", None, None),
}


async def build_state(tmp: Path) -> tuple[Path, Path, Path]:
    """A state directory as a run that stopped part-way would leave it."""
    job, directory = tmp / "job.csv", tmp / "dir.csv"
    job.write_text(JOB)
    directory.write_text(DIRECTORY)
    plan = build_plan(job, directory=directory)
    state = tmp / "state"
    cp = Checkpoint.open(state, job_hash=plan.job_hash, job_path=str(job))
    cp.load_plan(plan.frame)
    await cp.start()
    for ext, snap in (("extA", SNAP_A), ("extB", SNAP_B), ("extC", SNAP_C)):
        await cp.record_snapshot(ext, snap)
    t0 = 1_800_000_000.0
    for seq, (status, http, code, msg, created, target) in OUTCOMES.items():
        at = t0 + seq * 0.5
        if status is not OpStatus.ALREADY_PRESENT and status is not OpStatus.SKIPPED:
            await cp.record_intent(seq, at=at, target_id=target)
            if seq == 1:  # one 429 first, then the failure
                cp.queue_attempt(Attempt(at, seq, "POST", 429, "rate_limited", 12.0))
                await cp.record_intent(seq, at=at + 1, target_id=None)
            kind = "ok" if status is OpStatus.SUCCEEDED else "error"
            cp.queue_attempt(Attempt(at, seq, "POST", http, kind, 40.0 + seq))
        if status is not OpStatus.IN_FLIGHT:
            outcome = Outcome(
                status=status,
                http_status=http,
                zoom_code=code,
                message=msg,
                created_id=created,
                target_id=target,
                tracking_id=f"v=2.0;rid={seq}" if http else None,
                latency_ms=40.0 + seq if http else None,
            )
            await cp.record_outcome(seq, outcome)
    cp.queue_attempt(Attempt(t0, None, "GET", 200, "lookup", 30.0))
    await cp.record_run(t0, 75, {"requests": 15, "rate_limited": 1, "lookups": 3, "retries": 0})
    await cp.stop_writer()
    cp.close()
    return state, job, directory


@pytest.fixture
async def state(tmp_path: Path) -> Path:
    return (await build_state(tmp_path))[0]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


async def test_write_all_names_paths_in_order(state: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    paths = write_all(state, out_dir=out)
    assert list(paths) == [
        "results.csv",
        "results.parquet",
        "summary.json",
        "failures.csv",
        "undo.csv",
        "undo-notes.txt",
        "report.html",
    ]
    for path in paths.values():
        assert path.parent == out and path.exists()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert write_all(state)["results.csv"].parent == state


async def test_results_one_row_per_operation_in_plan_order(state: Path) -> None:
    paths = write_all(state)
    frame = pd.read_parquet(paths["results.parquet"])
    assert list(frame.columns) == list(RESULT_COLUMNS)
    assert frame["seq"].tolist() == list(range(15))
    assert set(frame["status"]) <= set(STATUSES)
    by_seq = frame.set_index("seq")
    assert by_seq.at[10, "status"] == "not_run"
    assert by_seq.at[10, "message"] == IN_FLIGHT_MESSAGE
    assert (
        by_seq.at[11, "status"] == "not_run" and "run the same command" in by_seq.at[11, "message"]
    )
    assert by_seq.at[0, "created_id"] == "NEWHOL" and by_seq.at[0, "http_status"] == 201
    assert by_seq.at[1, "attempts"] == 2 and by_seq.at[1, "zoom_code"] == 400
    assert by_seq.at[13, "extension_number"] == "103" and by_seq.at[13, "source_row"] == 15
    assert str(by_seq.at[0, "first_attempt_at"]) == "2027-01-15 08:00:00+00:00"
    message = by_seq.at[8, "message"]
    assert "\n" not in message and "\x07" not in message and len(message) <= 500
    assert message.startswith("=bad value second line")
    rows = read_csv(paths["results.csv"])
    assert [int(r["seq"]) for r in rows] == list(range(15))
    assert rows[0]["first_attempt_at"] == "2027-01-15T08:00:00.000Z"


async def test_csv_neutralises_formulas_and_changes_nothing_else(state: Path) -> None:
    paths = write_all(state)
    raw = pq.read_table(paths["results.parquet"]).to_pylist()
    rows = read_csv(paths["results.csv"])
    changed = 0
    for rec, row in zip(raw, rows, strict=True):
        for column in RESULT_COLUMNS:
            value = rec[column]
            if value is None:
                assert row[column] == ""
                continue
            if column in ("first_attempt_at", "last_attempt_at", "reconciled", "latency_ms"):
                continue
            text = str(value)
            if text[:1] in ("=", "+", "-", "@", "\t", "\r", "\0"):
                assert row[column] == "'" + text
                changed += 1
            else:
                assert row[column] == text, column
    assert changed >= 4  # phone numbers, =SUM(A1), =cmd…, =bad
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r", "\0"))


async def test_summary_counts_equal_results(state: Path) -> None:
    paths = write_all(state)
    summary = json.loads(paths["summary.json"].read_text())
    frame = pd.read_parquet(paths["results.parquet"])
    assert summary["counts"] == {s: int((frame["status"] == s).sum()) for s in STATUSES}
    assert summary["counts"] == {
        "succeeded": 8,
        "already_present": 1,
        "already_absent": 0,
        "failed": 3,
        "skipped": 1,
        "not_run": 2,
    }
    assert summary["operations"] == 15 and not summary["complete"]
    assert sum(v["total"] for v in summary["by_operation"].values()) == 15
    assert summary["by_operation"]["add closed_hours/call_forwarding"] == {
        "total": 2,
        "succeeded": 1,
        "failed": 1,
    }
    assert summary["rate_limited"] == 1 and summary["lookups"] == 3
    assert summary["exit_code"] == 75 and len(summary["runs"]) == 1
    assert summary["attempts_by_kind"]["rate_limited"] == 1
    assert summary["failures_csv_rows"] == 4
    assert summary["job"].endswith("job.csv")


async def test_failures_csv_is_a_valid_job_of_exactly_the_failures(
    state: Path, tmp_path: Path
) -> None:
    paths = write_all(state)
    problems = validate(paths["failures.csv"])
    assert [p for p in problems if p.severity == "error"] == []
    assert {p.column for p in problems} == {"error", "http_status", "zoom_code", "source_row"}
    rows = read_csv(paths["failures.csv"])
    assert [r["source_row"] for r in rows] == ["3", "10", "11", "15"]
    assert rows[1]["error"].startswith("'=bad value")
    assert rows[3]["extension_id"] == "extD" and rows[3]["http_status"] == "404"
    # The formula-looking name went into settings, unchanged, not into a mangled column.
    assert rows[1]["name"] == "" and orjson.loads(rows[1]["settings"]) == {"name": "=SUM(A1)"}
    assert (
        rows[3]["description"] == "" and orjson.loads(rows[3]["settings"])["description"] == "@home"
    )
    replanned = build_plan(paths["failures.csv"]).frame
    original = pd.read_parquet(paths["results.parquet"])
    failed = original[original["status"].isin(["failed", "skipped"])]
    plan = build_plan(tmp_path / "job.csv", directory=tmp_path / "dir.csv").frame
    for column in ("action", "extension_id", "setting_type", "sub_setting_type", "settings",
                   "holiday_name", "holiday_from", "holiday_to", "phone_number", "holiday_id",
                   "call_forwarding_id"):  # fmt: skip
        want = plan.loc[failed["seq"].to_numpy(), column].astype(object).tolist()
        got = replanned[column].astype(object).tolist()
        assert [None if pd.isna(x) else x for x in got] == [
            None if pd.isna(x) else x for x in want
        ], column


async def test_undo_csv_reverses_what_succeeded(state: Path) -> None:
    paths = write_all(state)
    assert [p for p in validate(paths["undo.csv"]) if p.severity == "error"] == []
    rows = read_csv(paths["undo.csv"])
    got = [
        (r["source_row"], r["action"], r["setting_type"], r["sub_setting_type"], r["extension_id"])
        for r in rows
    ]
    assert got == [
        ("15", "delete", "closed_hours", "call_forwarding", "extC"),
        ("9", "update", "business_hours", "call_forwarding", "extB"),
        ("8", "update", "business_hours", "call_handling", "extB"),
        ("7", "add", "business_hours", "call_forwarding", "extB"),
        ("6", "add", "holiday_hours", "holiday", "extB"),
        ("6", "add", "holiday_hours", "call_forwarding", "extB"),
        ("5", "update", "holiday_hours", "holiday", "extA"),
        ("4", "update", "business_hours", "custom_hours", "extA"),
        ("2", "delete", "holiday_hours", "holiday", "extA"),
    ]
    assert rows[0]["call_forwarding_id"] == "NEWFWDC"
    assert orjson.loads(rows[1]["settings"]) == {
        "call_forwarding_settings": [
            {"description": "desk", "enable": True, "id": "FWB2", "phone_number": "+4498765"}
        ]
    }
    assert orjson.loads(rows[2]["settings"]) == {"call_not_answer_action": 1}
    assert "max_call_in_queue" in rows[2]["note"]
    assert (rows[3]["phone_number"], rows[3]["description"]) == ("+441234567", "old")
    # A holiday name starting with '-' travels in settings, so it is not mangled.
    assert orjson.loads(rows[4]["settings"]) == {"name": "-Gone"}
    assert rows[5]["phone_number"] == "+3312345"
    assert (rows[6]["holiday_id"], rows[6]["name"]) == ("HOLD1", "Old Name")
    assert orjson.loads(rows[7]["settings"]) == {"type": 2, "custom_hours_settings": DAYS}
    assert rows[8]["holiday_id"] == "NEWHOL"
    notes = paths["undo-notes.txt"].read_text()
    assert "2 operation(s) have not finished" in notes
    assert "partly reversed" in notes and "max_call_in_queue" in notes
    summary = json.loads(paths["summary.json"].read_text())
    assert summary["undo"]["rows"] == 9 and summary["undo"]["reversible"] == 8


async def test_reports_while_a_run_holds_the_lock(state: Path, tmp_path: Path) -> None:
    job = tmp_path / "job.csv"
    plan = build_plan(job, directory=tmp_path / "dir.csv")
    holder = Checkpoint.open(state, job_hash=plan.job_hash, job_path=str(job))
    try:
        await holder.start()
        await holder.record_outcome(11, Outcome(status=OpStatus.ALREADY_ABSENT))
        await holder.flush()
        paths = write_all(state, out_dir=tmp_path / "mid")
        summary = json.loads(paths["summary.json"].read_text())
        assert summary["counts"]["already_absent"] == 1 and summary["counts"]["not_run"] == 1
        await holder.stop_writer()
    finally:
        holder.close()


async def test_empty_state_writes_headers(tmp_path: Path) -> None:
    Checkpoint.open(tmp_path / "s", job_hash="h", job_path="j.csv").close()
    paths = write_all(tmp_path / "s")
    assert paths["results.csv"].read_text().startswith("seq,op_id,")
    assert len(pd.read_parquet(paths["results.parquet"])) == 0
    summary = json.loads(paths["summary.json"].read_text())
    assert summary["operations"] == 0 and summary["exit_code"] is None
    assert read_csv(paths["undo.csv"]) == [] and read_csv(paths["failures.csv"]) == []


def test_missing_state_is_a_clear_error(tmp_path: Path) -> None:
    from bulkops.errors import CheckpointError

    with pytest.raises(CheckpointError, match="run `bulkops run` first"):
        write_all(tmp_path)


def test_csv_dict_reader_sanity() -> None:
    assert list(csv.DictReader(io.StringIO("a,b\n1,2\n"))) == [{"a": "1", "b": "2"}]


async def test_results_stream_in_chunks_with_the_same_content(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = write_all(state, out_dir=tmp_path / "whole")
    monkeypatch.setattr("bulkops.reports.resultrows.CHUNK", 4)  # 15 operations: four chunks
    chunked = write_all(state, out_dir=tmp_path / "chunked")
    assert chunked["results.csv"].read_bytes() == whole["results.csv"].read_bytes()
    assert pq.read_table(chunked["results.parquet"]).equals(pq.read_table(whole["results.parquet"]))
    one = json.loads(whole["summary.json"].read_text())
    many = json.loads(chunked["summary.json"].read_text())
    assert (one["counts"], one["by_operation"]) == (many["counts"], many["by_operation"])
