"""Reading job files: encodings, damaged files, limits, and a file with a dozen defects."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bulkops.errors import JobFileError, Problem
from bulkops.jobs.intake import MAX_FIELD_CHARS
from bulkops.jobs.jobfile import load
from bulkops.jobs.plan import build_plan, validate
from bulkops.jobs.tables import read_table

HEADER = ["action", "setting_type", "sub_setting_type", "extension_id", "name", "from", "to"]
GOOD = ["add", "holiday_hours", "holiday", "ext1", "Fête nationale", "2027-07-14", "2027-07-14"]


def csv_text(rows: list[list[str]], header: list[str] = HEADER) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write(tmp_path: Path, data: bytes | str, name: str = "job.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def only_problem(path: Path, **kwargs: str) -> Problem:
    with pytest.raises(JobFileError) as caught:
        load(path, **kwargs)
    assert len(caught.value.problems) == 1, caught.value.problems
    problem = caught.value.problems[0]
    assert problem.file == str(path)
    return problem


def test_utf8_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbf" + csv_text([GOOD]).encode())
    job = load(path)
    assert job.problems == [] and job.specs[0].holiday_name == "Fête nationale"


def test_other_encoding_needs_the_argument(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text([GOOD]).encode("cp1252"))
    problem = only_problem(path)
    assert "not valid utf-8-sig" in problem.reason and "encoding" in problem.reason
    assert load(path, encoding="cp1252").specs[0].holiday_name == "Fête nationale"


def test_utf16_with_the_argument(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text([GOOD]).encode("utf-16"))
    assert only_problem(path).row is not None
    assert load(path, encoding="utf-16").specs[0].holiday_name == "Fête nationale"


def test_unknown_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text([GOOD]))
    assert "unknown encoding" in only_problem(path, encoding="klingon").reason


def test_nul_bytes(tmp_path: Path) -> None:
    text = csv_text([GOOD, [*GOOD[:4], "Bad\x00Day", "2027-01-01", "2027-01-01"]])
    problem = only_problem(write(tmp_path, text))
    assert "NUL" in problem.reason and problem.row == 3


def test_giant_field(tmp_path: Path) -> None:
    text = csv_text([GOOD, [*GOOD[:4], "x" * 200000, "2027-01-01", "2027-01-01"]])
    problem = only_problem(write(tmp_path, text))
    assert (problem.row, problem.column) == (3, "name")
    assert f"{MAX_FIELD_CHARS:,}" in problem.reason and problem.value == "x" * 40


@pytest.mark.parametrize(
    ("cell", "refused"), [("é" * MAX_FIELD_CHARS, False), ("é" * (MAX_FIELD_CHARS + 1), True)]
)
def test_the_cell_limit_counts_characters_not_bytes(
    tmp_path: Path, cell: str, refused: bool
) -> None:
    """Cells are measured by their bytes first: a cell over the limit in bytes (two per 'é') is
    measured again in characters."""
    text = csv_text([GOOD, [*GOOD[:4], cell, "2027-01-01", "2027-01-01"]])
    problems = [p for p in validate(write(tmp_path, text)) if "characters" in p.reason]
    assert [(p.row, p.column) for p in problems] == ([(3, "name")] if refused else [])


def test_binary_junk(tmp_path: Path) -> None:
    junk = random.Random(7).randbytes(4096)
    assert only_problem(write(tmp_path, junk)).severity == "error"


def test_png_is_not_csv(tmp_path: Path) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    assert only_problem(write(tmp_path, data, "job.csv")).reason.startswith("the job file")


@pytest.mark.parametrize(
    "data",
    [pytest.param(b"", id="empty"), pytest.param(b"\xef\xbb\xbf\r\n", id="bom-only")],
)
def test_empty(tmp_path: Path, data: bytes) -> None:
    assert "empty" in only_problem(write(tmp_path, data)).reason


def test_header_only_is_a_job_with_nothing_to_do(tmp_path: Path) -> None:
    """A failures.csv of a run where nothing failed must rerun as a no-op, not as an error."""
    rows = load(write(tmp_path, csv_text([])))
    assert rows.specs == []
    [problem] = rows.problems
    assert problem.severity == "warning" and "no rows" in problem.reason and problem.row == 1
    assert len(build_plan(rows.path)) == 0


def test_missing_columns(tmp_path: Path) -> None:
    text = csv_text([["add", "x"]], header=["action", "name"])
    problem = only_problem(write(tmp_path, text))
    assert "setting_type" in problem.reason and "extension_id or extension_number" in problem.reason


def test_duplicate_column(tmp_path: Path) -> None:
    text = csv_text([[*GOOD, "x"]], header=[*HEADER, "Name"])
    assert "appears twice" in only_problem(write(tmp_path, text)).reason


def test_too_many_fields(tmp_path: Path) -> None:
    text = csv_text([GOOD, [*GOOD, "extra", "more"]])
    problem = only_problem(write(tmp_path, text))
    assert problem.row == 3 and "9 fields but the header names 7" in problem.reason


def test_semicolon_separated(tmp_path: Path) -> None:
    text = ";".join(HEADER) + "\n" + ";".join(GOOD) + "\n"
    assert "';'-separated" in only_problem(write(tmp_path, text)).reason


def test_missing_file(tmp_path: Path) -> None:
    assert "cannot read" in only_problem(tmp_path / "nope.csv").reason


def test_blank_lines_keep_row_numbers_and_headers_are_lenient(tmp_path: Path) -> None:
    header = [" Action ", "SETTING_TYPE", *HEADER[2:]]
    bad = [*GOOD[:5], "2027-07-15", "2027-07-14"]
    text = csv_text([GOOD, [""] * 7, bad], header=header)
    job = load(write(tmp_path, text))
    assert [p.row for p in job.problems] == [4]
    assert job.rows == 2


def test_unknown_column_is_a_warning(tmp_path: Path) -> None:
    text = csv_text([[*GOOD, "note"]], header=[*HEADER, "comment"])
    job = load(write(tmp_path, text))
    assert [(p.severity, p.column, p.row) for p in job.problems] == [("warning", "comment", 1)]
    assert len(job.specs) == 1


def test_cells_are_never_coerced(tmp_path: Path) -> None:
    header = ["action", "setting_type", "sub_setting_type", "extension_id", "phone_number"]
    text = csv_text([["add", "closed_hours", "call_forwarding", "0042", "1.20589E+10"]], header)
    job = load(write(tmp_path, text))
    (problem,) = job.problems
    assert (problem.column, problem.value) == ("phone_number", "1.20589E+10")
    assert "scientific" in problem.reason


def parquet(tmp_path: Path, table: pa.Table, name: str = "job.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(table, path)
    return path


def test_parquet_with_struct_settings(tmp_path: Path) -> None:
    table = pa.table(
        {
            "action": ["update", "update"],
            "setting_type": ["business_hours", "closed_hours"],
            "sub_setting_type": ["custom_hours", "call_handling"],
            "extension_id": pa.array(["e1", "e2"]).dictionary_encode(),
            "settings": [
                {"type": 1, "call_not_answer_action": None},
                {"type": None, "call_not_answer_action": 1},
            ],
        }
    )
    job = load(parquet(tmp_path, table, "job.pq"))
    assert job.problems == []
    assert [s.settings for s in job.specs] == [{"type": 1}, {"call_not_answer_action": 1}]


def test_parquet_by_magic_bytes(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "action": ["add"],
            "setting_type": ["closed_hours"],
            "sub_setting_type": ["call_forwarding"],
            "extension_id": ["e1"],
            "phone_number": ["+12125550100"],
        }
    )
    source = tmp_path / "x.parquet"
    frame.to_parquet(source)
    path = write(tmp_path, source.read_bytes(), "job.dat")
    assert load(path).specs[0].phone_number == "+12125550100"


def test_parquet_wrong_column_type(tmp_path: Path) -> None:
    table = pa.table(
        {"action": ["add"], "setting_type": ["closed_hours"], "extension_number": [1101]}
    )
    problem = only_problem(parquet(tmp_path, table))
    assert "extension_number" in problem.reason and "int64" in problem.reason


def test_truncated_parquet(tmp_path: Path) -> None:
    table = pa.table(
        {
            "action": ["add"] * 100,
            "setting_type": ["closed_hours"] * 100,
            "extension_id": ["e"] * 100,
        }
    )
    whole = parquet(tmp_path, table, "whole.parquet").read_bytes()
    problem = only_problem(write(tmp_path, whole[: len(whole) // 2], "job.parquet"))
    assert "not a readable Parquet file" in problem.reason


def test_read_table_gives_text_with_spreadsheet_rows(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, csv_text([GOOD, GOOD])))
    assert list(table.frame.index) == [2, 3]
    assert table.frame.map(lambda v: isinstance(v, str)).all().all()


DOZEN = [
    # row 2: fine
    [
        "add",
        "holiday_hours",
        "holiday",
        "ext1",
        "",
        "New Year",
        "2027-01-01",
        "2027-01-01",
        "",
        "",
        "",
    ],
    # row 3: bad action
    ["insert", "holiday_hours", "holiday", "ext1", "", "A", "2027-01-01", "2027-01-01", "", "", ""],
    # row 4: path traversal in the extension id
    [
        "add",
        "holiday_hours",
        "holiday",
        "../../users/me",
        "",
        "B",
        "2027-01-01",
        "2027-01-01",
        "",
        "",
        "",
    ],
    # row 5: US date
    ["add", "holiday_hours", "holiday", "ext1", "", "C", "12/25/2027", "2027-12-25", "", "", ""],
    # row 6: Excel phone number
    ["add", "closed_hours", "call_forwarding", "ext1", "", "", "", "", "1.20589E+10", "", ""],
    # row 7: unsupported combination
    ["delete", "business_hours", "custom_hours", "ext1", "", "", "", "", "", "", ""],
    # row 8: to before from
    ["add", "holiday_hours", "holiday", "ext1", "", "D", "2027-05-02", "2027-05-01", "", "", ""],
    # row 9: two targets
    [
        "add",
        "holiday_hours",
        "holiday",
        "ext1",
        "1101",
        "E",
        "2027-01-01",
        "2027-01-01",
        "",
        "",
        "",
    ],
    # row 10: custom hours weekday 9
    [
        "update",
        "business_hours",
        "custom_hours",
        "ext1",
        "",
        "",
        "",
        "",
        "",
        json.dumps({"type": 2, "custom_hours_settings": [{"weekday": 9, "type": 1}]}),
        "",
    ],
    # row 11: bad enum in call handling
    [
        "update",
        "closed_hours",
        "call_handling",
        "ext1",
        "",
        "",
        "",
        "",
        "",
        json.dumps({"call_not_answer_action": 99}),
        "",
    ],
    # row 12: unknown time zone
    [
        "add",
        "holiday_hours",
        "holiday",
        "ext1",
        "",
        "F",
        "2027-01-01",
        "2027-01-01",
        "",
        "",
        "Europe/Atlantis",
    ],
    # row 13: settings not JSON
    ["update", "closed_hours", "call_handling", "ext1", "", "", "", "", "", "{oops", ""],
    # row 14: Cyrillic look-alike in the id
    ["delete", "holiday_hours", "holiday", "ext1", "", "", "", "", "", "", ""],
]
DOZEN_HEADER = [
    "action",
    "setting_type",
    "sub_setting_type",
    "extension_id",
    "extension_number",
    "name",
    "from",
    "to",
    "phone_number",
    "settings",
    "timezone",
]


def test_a_dozen_defects_are_all_reported(tmp_path: Path) -> None:
    rows = [list(r) for r in DOZEN]
    rows[12][3] = "ext\u0430"
    rows[12][5] = "Old"
    path = write(tmp_path, csv_text(rows, DOZEN_HEADER))
    problems = [p for p in validate(path) if p.severity == "error"]
    found = {(p.row, p.column) for p in problems}
    assert found == {
        (3, "action"),
        (4, "extension_id"),
        (5, "from"),
        (6, "phone_number"),
        (7, "sub_setting_type"),
        (8, "to"),
        (9, "extension_number"),
        (10, "settings"),
        (11, "settings"),
        (12, "timezone"),
        (13, "settings"),
        (14, "extension_id"),
    }, [str(p) for p in problems]
    by_row = {p.row: p for p in problems}
    assert by_row[4].value == "../../users/me"
    assert by_row[6].value == "1.20589E+10"
    assert by_row[14].value == "ext\u0430"
    assert all(str(path) in str(p) for p in problems)


@pytest.mark.parametrize("size", [10, 5 * 1024 * 1024])
def test_the_job_file_is_hashed_beside_the_checks_to_the_same_digest(size: int) -> None:
    import hashlib

    from bulkops.jobs import intake

    data = bytes(range(256)) * (size // 256 + 1)
    wait = intake.job_digest_beside(data)
    assert wait().hexdigest() == hashlib.sha256(data).hexdigest()
    assert (len(data) >= intake.BESIDE_BYTES) == (size > 1024)


def test_a_digest_taken_beside_raises_what_hashing_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    from bulkops.jobs import intake

    def fail(data: bytes) -> None:
        raise MemoryError("no room")

    monkeypatch.setattr(intake, "job_digest", fail)
    wait = intake.job_digest_beside(b"x" * intake.BESIDE_BYTES)
    with pytest.raises(MemoryError, match="no room"):
        wait()


def test_a_large_job_file_plans_to_the_hash_of_its_bytes(tmp_path: Path) -> None:
    from bulkops.jobs.intake import BESIDE_BYTES, job_hash

    rows = ["action,setting_type,sub_setting_type,extension_id,name,from,to"]
    rows += [
        f"add,holiday_hours,holiday,ext{i:019d},Xmas,2027-12-25,2027-12-25" for i in range(70_000)
    ]
    path = tmp_path / "big.csv"
    path.write_text("\n".join(rows) + "\n")
    assert path.stat().st_size >= BESIDE_BYTES
    plan = build_plan(path)
    assert plan.job_hash == job_hash(path.read_bytes(), None, None, None)
