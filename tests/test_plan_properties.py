"""Hypothesis: any valid table plans to one operation per (row, target), stably and in order;
any bytes as a job file give problems, never a traceback."""

from __future__ import annotations

import csv
import io
import string
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkops.errors import JobFileError, Problem
from bulkops.jobs.checks import check_id
from bulkops.jobs.plan import build_plan, validate

CI = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SITES = ("New York", "London", "Berlin")
TYPES = ("user", "call_queue", "auto_receptionist", "shared_line_group")
SELECTORS = ("*", "site=New York", "site=london,BERLIN", "type=user", "type=call_queue&site=London")
HEADER = [
    "action",
    "setting_type",
    "sub_setting_type",
    "extension_id",
    "extension_number",
    "target",
    "name",
    "from",
    "to",
    "phone_number",
    "settings",
]


@st.composite
def directories(draw: st.DrawFn) -> list[dict[str, str]]:
    ids = draw(
        st.lists(
            st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=22),
            min_size=1,
            max_size=12,
            unique=True,
        )
    )
    return [
        {
            "extension_id": ext,
            "extension_number": str(1000 + i),
            "name": f"Person {i}",
            "type": draw(st.sampled_from(TYPES)),
            "site": draw(st.sampled_from(SITES)),
        }
        for i, ext in enumerate(ids)
    ]


def selected(directory: list[dict[str, str]], selector: str) -> list[str]:
    """The reference matcher, written independently of bulkops.jobs.directory."""
    if selector == "*":
        return [d["extension_id"] for d in directory]
    clauses = [c.split("=") for c in selector.split("&")]
    return [
        d["extension_id"]
        for d in directory
        if all(
            d[col].casefold() in {v.casefold() for v in vals.split(",")} for col, vals in clauses
        )
    ]


@st.composite
def jobs(draw: st.DrawFn) -> tuple[list[dict[str, str]], list[dict[str, str]], list[list[str]]]:
    directory = draw(directories())
    rows: list[dict[str, str]] = []
    expected: list[list[str]] = []
    for i in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["extension_id", "extension_number", "target"]))
        cells: dict[str, str]
        if kind == "target":
            selector = draw(st.sampled_from(SELECTORS))
            hits = selected(directory, selector)
            if not hits:
                continue
            cells = {"target": selector}
        else:
            entry = draw(st.sampled_from(directory))
            cells = {kind: entry[kind]}
            hits = [entry["extension_id"]]
        # Forwarding entries are for users only (jobs.kinds): a row sends them only where it may.
        users = {d["extension_id"] for d in directory if d["type"] == "user"}
        kinds = ["holiday", "handling"] + (["forwarding"] if set(hits) <= users else [])
        what = draw(st.sampled_from(kinds))
        if what == "holiday":
            cells |= {
                "action": "add",
                "setting_type": "holiday_hours",
                "sub_setting_type": "holiday",
                "name": f"H{i}",
                "from": f"2027-01-{i + 1:02d}",
                "to": f"2027-01-{i + 1:02d}",
            }
        elif what == "forwarding":
            cells |= {
                "action": "add",
                "setting_type": "closed_hours",
                "sub_setting_type": "call_forwarding",
                "phone_number": f"+1212555{i:04d}",
            }
        else:
            cells |= {
                "action": "update",
                "setting_type": "holiday_hours",
                "sub_setting_type": "call_handling",
                "name": f"H{i}",
                "settings": '{"call_not_answer_action": 11}',
            }
        rows.append(cells)
        expected.append(hits)
    return directory, rows, expected


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header)
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


@CI
@given(jobs())
def test_valid_tables_plan_one_operation_per_row_and_target(
    job: tuple[list[dict[str, str]], list[dict[str, str]], list[list[str]]],
) -> None:
    directory, rows, expected = job
    if not rows:
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dir_path = write_csv(
            folder / "dir.csv",
            ["extension_id", "extension_number", "name", "type", "site"],
            directory,
        )
        job_path = write_csv(folder / "job.csv", HEADER, rows)
        assert [p for p in validate(job_path, directory=dir_path) if p.severity == "error"] == []
        plan = build_plan(job_path, directory=dir_path)
        again = build_plan(job_path, directory=dir_path)

    pd.testing.assert_frame_equal(plan.frame, again.frame)
    frame = plan.frame
    want = [(i + 2, ext) for i, hits in enumerate(expected) for ext in hits]
    assert list(zip(frame["row"].tolist(), frame["extension_id"].tolist(), strict=True)) == want
    assert frame["seq"].tolist() == list(range(len(want)))
    assert frame["op_id"].is_unique
    for _, group in frame.groupby("extension_id", sort=False):
        assert group["row"].is_monotonic_increasing and group["seq"].is_monotonic_increasing


def check_no_traceback(path: Path) -> None:
    problems = validate(path)
    assert all(isinstance(p, Problem) for p in problems)
    try:
        build_plan(path)
    except JobFileError as exc:
        assert exc.problems
    else:
        assert not [p for p in problems if p.severity == "error"]


@CI
@given(st.binary(max_size=2048), st.sampled_from(["job.csv", "job.parquet", "job"]))
def test_arbitrary_bytes_give_problems_not_tracebacks(data: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        check_no_traceback(path)


@CI
@given(
    st.sampled_from(
        [
            b"action,setting_type,sub_setting_type,extension_id,name,from,to,settings\n",
            b"PAR1",
            b"\xef\xbb\xbfaction,setting_type,target\n",
        ]
    ),
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
            st.sampled_from(
                [
                    b",",
                    b"\n",
                    b'"',
                    b"add,holiday_hours,holiday,e1,X,2027-01-01,2027-01-01,{}\n",
                    b"*",
                    b'{"type": 2}',
                ]
            ),
        ),
        max_size=30,
    ),
)
def test_damaged_but_plausible_files(head: bytes, parts: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "job.csv"
        path.write_bytes(head + b"".join(parts))
        check_no_traceback(path)


ALLOWED_ID_CHARS = set(string.ascii_letters + string.digits + "-_")


@CI
@given(st.text(max_size=70))
def test_id_allow_list_is_exact(value: str) -> None:
    ok = 1 <= len(value) <= 64 and set(value) <= ALLOWED_ID_CHARS
    assert (check_id(value) is None) == ok


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "cp1252"])
def test_text_in_other_encodings_is_problems_not_tracebacks(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "job.csv"
    path.write_bytes("action,setting_type,extension_id\nadd,x,é\n".encode(encoding))
    check_no_traceback(path)
