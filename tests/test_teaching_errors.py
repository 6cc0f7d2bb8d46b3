"""Errors that teach: repeated problems grouped, "did you mean" suggestions, implied values, and
.xlsx job files read like CSV (other binary spreadsheets refused in one sentence)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pytest

from bulkops.cli import main
from bulkops.errors import JobFileError, Problem, group_problems
from bulkops.jobs.checks import parse_timezone
from bulkops.jobs.jobfile import load
from bulkops.jobs.plan import _job_hash, build_plan, format_summary
from bulkops.jobs.rules import check_row

USER = "VVr6DbYmXjlkaEc6oRoggD"
HOURS_HEADER = "action,setting_type,extension_id,hours"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """main() configures the "bulkops" logger for a terminal; give later tests theirs back."""
    logger = logging.getLogger("bulkops")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:], logger.level = handlers, level


def _problems(rows: list[int], value: str = "8:00", reason: str = "write 08:00") -> list[Problem]:
    return [Problem("j.csv", row, "hours", value, reason) for row in rows]


def test_a_repeated_problem_is_one_line_with_its_rows_and_total() -> None:
    lines = group_problems(_problems(list(range(2, 202))))
    assert lines == [("error", "j.csv [hours]: 200 rows (rows 2–201) have '8:00': write 08:00")]


def test_scattered_rows_list_the_first_few_and_the_total() -> None:
    rows = [2, 5, 9, 11, 20, 31, 40]
    [(_, line)] = group_problems(_problems(rows))
    assert "7 rows (rows 2, 5, 9, 11, 20, …)" in line


def test_values_of_one_shape_group_and_say_so() -> None:
    problems = _problems([2, 3]) + _problems([4], value="9:30")
    [(_, line)] = group_problems(problems)
    assert "3 rows (rows 2–4) have '8:00' (or alike)" in line


def test_a_few_problems_stay_one_line_each() -> None:
    problems = _problems([2, 3]) + _problems([4], reason="another reason")
    assert [line for _, line in group_problems(problems)] == [str(p) for p in problems]


def test_severities_and_columns_never_merge() -> None:
    problems = _problems([2, 3, 4]) + [
        Problem("j.csv", r, "hours", "8:00", "write 08:00", "warning") for r in (5, 6, 7)
    ]
    assert [s for s, _ in group_problems(problems)] == ["error", "warning"]


def test_the_run_error_message_is_grouped_and_keeps_every_problem() -> None:
    err = JobFileError(_problems(list(range(2, 102))))
    assert len(err.problems) == 100
    assert str(err).splitlines() == [
        "100 problem(s) in the input; nothing was sent to Zoom",
        "  j.csv [hours]: 100 rows (rows 2–101) have '8:00': write 08:00",
    ]


def test_a_200_row_file_with_one_mistake_prints_a_handful_of_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = tmp_path / "hours.csv"
    rows = [f"update,business_hours,{USER},Mon-Fri 8:00-18:00" for _ in range(200)]
    job.write_text(HOURS_HEADER + "\n" + "\n".join(rows) + "\n")
    assert main(["validate", str(job)]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) <= 3
    assert "200 rows (rows 2–201)" in lines[0]
    assert "write 08:00" in lines[0]


def test_plan_shows_each_rows_hours_in_words(tmp_path: Path) -> None:
    job = tmp_path / "hours.csv"
    job.write_text(
        HOURS_HEADER + f"\nupdate,business_hours,{USER},Mon-Fri 08:00-18:00\n"
        f"update,business_hours,other,24/7\n"
    )
    summary = format_summary(build_plan(job).summary(10))
    assert "row 2: Mon–Fri 08:00–18:00, Sat–Sun closed" in summary
    assert "row 3: 24/7" in summary


@pytest.mark.parametrize(
    ("column", "value", "suggestion"),
    [
        ("action", "updte", "did you mean 'update'?"),
        ("setting_type", "buisness_hours", "did you mean 'business_hours'?"),
        ("sub_setting_type", "custom_hour", "did you mean 'custom_hours'?"),
        ("timezone", "europe/berlin", "did you mean 'Europe/Berlin'?"),
        ("timezone", "Europe/Berln", "did you mean 'Europe/Berlin'?"),
    ],
)
def test_enum_and_zone_values_get_a_suggestion(column: str, value: str, suggestion: str) -> None:
    cells = {
        "action": "update",
        "setting_type": "business_hours",
        "sub_setting_type": "custom_hours",
        "extension_id": "ext1",
        "settings": '{"type": 1}',
        column: value,
    }
    _, problems = check_row(cells, file="j.csv", row=2)
    assert any(p.column == column and suggestion in p.reason for p in problems)


def test_a_value_far_from_any_gets_no_guess() -> None:
    assert "did you mean" not in (parse_timezone("Mars/Olympus")[1] or "")


def test_an_unknown_column_gets_a_suggestion(tmp_path: Path) -> None:
    job = tmp_path / "j.csv"
    job.write_text(HOURS_HEADER + ",timezon\nupdate,business_hours,ext1,24/7,Europe/Berlin\n")
    [problem] = load(job).problems
    assert problem.column == "timezon"
    assert "unknown column, ignored (did you mean 'timezone'?); known:" in problem.reason


def test_a_misspelt_required_column_is_named_with_its_fix(tmp_path: Path) -> None:
    job = tmp_path / "j.csv"
    job.write_text(f"acton,setting_type,extenson_id\nupdate,business_hours,{USER}\n")
    with pytest.raises(JobFileError) as caught:
        load(job)
    (problem,) = caught.value.problems
    assert problem.row == 1
    assert "did you mean 'action' for 'acton', 'extension_id' for 'extenson_id'?" in problem.reason
    far = tmp_path / "far.csv"
    far.write_text(f"verb,setting_type,extension_id\nupdate,business_hours,{USER}\n")
    with pytest.raises(JobFileError) as caught:
        load(far)
    assert "did you mean" not in caught.value.problems[0].reason


def test_a_holiday_row_implies_its_only_sub_setting() -> None:
    cells = {
        "action": "update",
        "setting_type": "holiday_hours",
        "extension_id": "ext1",
        "name": "New Year",
        "from": "2027-01-01",
        "to": "2027-01-01",
    }
    spec, problems = check_row(cells, file="j.csv", row=2)
    assert problems == [] and spec is not None and spec.sub_setting_type == "holiday"


def test_a_row_that_could_mean_two_things_still_asks() -> None:
    cells = {
        "action": "update",
        "setting_type": "holiday_hours",
        "extension_id": "ext1",
        "name": "New Year",
        "phone_number": "+14155550123",
    }
    _, problems = check_row(cells, file="j.csv", row=2)
    assert any(p.column == "sub_setting_type" and "is required" in p.reason for p in problems)


# --- .xlsx ---------------------------------------------------------------------------------


def _workbook(path: Path, rows: list[list[object]], *, extra_sheet: bool = False) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Job"
    for row in rows:
        sheet.append(row)
    if extra_sheet:
        book.create_sheet("Notes").append(["not a job"])
    book.save(path)
    return path


HOLIDAY_HEADER = [
    "action",
    "setting_type",
    "sub_setting_type",
    "extension_id",
    "name",
    "from",
    "to",
]


def test_an_xlsx_job_reads_like_csv(tmp_path: Path) -> None:
    day = datetime(2027, 12, 25)
    job = _workbook(
        tmp_path / "job.xlsx",
        [HOLIDAY_HEADER, ["add", "holiday_hours", "holiday", USER, "Christmas", day, day]],
    )
    loaded = load(job)
    assert loaded.problems == []
    [spec] = loaded.specs
    # A date cell stays a date: `to` is the whole day, as in CSV.
    assert spec.settings["from"] == "2027-12-25T00:00:00Z"
    assert spec.settings["to"] == "2027-12-25T23:59:59Z"


def test_an_xlsx_number_is_text_and_reported_not_repaired(tmp_path: Path) -> None:
    header = ["action", "setting_type", "sub_setting_type", "extension_id", "phone_number"]
    job = _workbook(
        tmp_path / "job.xlsx",
        [header, ["add", "business_hours", "call_forwarding", USER, 14155550123]],
    )
    [problem] = load(job).problems
    assert problem.value == "14155550123"
    assert "'+' is missing" in problem.reason


def test_a_workbook_with_more_sheets_says_which_it_read(tmp_path: Path) -> None:
    job = _workbook(
        tmp_path / "job.xlsx",
        [
            ["action", "setting_type", "extension_id", "hours"],
            ["update", "business_hours", USER, "24/7"],
        ],
        extra_sheet=True,
    )
    [warning] = load(job).problems
    assert warning.severity == "warning"
    assert "only the first, 'Job', was read ('Notes' ignored)" in warning.reason


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("job.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64),
        ("job.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64),
        ("job.ods", b"PK\x03\x04 not really"),
    ],
)
def test_other_spreadsheets_are_refused_in_one_sentence(
    tmp_path: Path, name: str, data: bytes
) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(JobFileError) as err:
        load(tmp_path / name)
    [problem] = err.value.problems
    assert "spreadsheet format bulkops does not read: save it as .xlsx or as UTF-8 CSV" in str(
        problem
    )
    assert "encoding" not in problem.reason


def test_a_damaged_xlsx_says_to_save_it_again(tmp_path: Path) -> None:
    (tmp_path / "job.xlsx").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(JobFileError) as err:
        load(tmp_path / "job.xlsx")
    assert "not a readable .xlsx workbook" in str(err.value)


def test_an_xlsx_cell_beyond_the_header_is_an_error(tmp_path: Path) -> None:
    job = _workbook(
        tmp_path / "job.xlsx",
        [
            ["action", "setting_type", "extension_id", "hours"],
            ["update", "business_hours", USER, "24/7", "x"],
        ],
    )
    with pytest.raises(JobFileError) as err:
        load(job)
    assert "row 2 has a value beyond the last named column" in str(err.value)


@pytest.mark.parametrize(
    ("target", "suggestion"),
    [
        ("site=Lodnon", "site=lodnon (did you mean 'London'?)"),
        ("type=call_queu", "type=call_queu (did you mean 'call_queue'?)"),
        ("sitte=London", "uses column 'sitte' (did you mean 'site'?)"),
    ],
)
def test_sites_types_and_directory_columns_get_a_suggestion(
    tmp_path: Path, target: str, suggestion: str
) -> None:
    directory = tmp_path / "dir.csv"
    directory.write_text("extension_id,type,site\ne1,user,London\ne2,call_queue,Berlin\n")
    job = tmp_path / "j.csv"
    job.write_text(f"action,setting_type,target,hours\nupdate,business_hours,{target},24/7\n")
    with pytest.raises(JobFileError) as err:
        build_plan(job, directory=directory)
    assert suggestion in str(err.value)


def test_sheet_names_the_sheet_to_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    book = openpyxl.Workbook()
    book.active.title = "Readme"
    book.active.append(["this workbook's job is on the sheet Job"])
    job_sheet = book.create_sheet("Job")
    job_sheet.append(["action", "setting_type", "extension_id", "hours"])
    job_sheet.append(["update", "business_hours", USER, "Mon-Fri 08:00-18:00"])
    path = tmp_path / "job.xlsx"
    book.save(path)
    loaded = load(path, sheet="Job")
    assert loaded.problems == [] and len(loaded.specs) == 1
    assert main(["validate", str(path), "--sheet", "Job"]) == 0
    assert main(["validate", str(path), "--sheet", "Jbo"]) == 2
    assert "has no sheet 'Jbo'; its sheets: 'Readme', 'Job'" in capsys.readouterr().out
    # The sheet is part of the job's identity, like the encoding: another sheet is another job.
    hashes = {_job_hash(path.read_bytes(), None, None, None, sheet) for sheet in (None, "Job")}
    assert len(hashes) == 2


def test_sheet_on_a_csv_is_refused(tmp_path: Path) -> None:
    job = tmp_path / "j.csv"
    job.write_text(HOURS_HEADER + f"\nupdate,business_hours,{USER},24/7\n")
    with pytest.raises(JobFileError) as err:
        load(job, sheet="Job")
    assert "--sheet reads an .xlsx workbook" in str(err.value)
