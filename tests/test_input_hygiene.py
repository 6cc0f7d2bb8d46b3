"""Bad files and bad states: each one exit 2 with one clear sentence, no traceback, no hang.

Special files are refused from their ``stat`` (a FIFO would block, /dev/zero never ends), wide
headers before pandas parses anything, and Parquet cells pass the checks CSV cells pass.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bulkops.cli import main
from bulkops.config import resolve_rate
from bulkops.errors import ConfigError, JobFileError, Problem
from bulkops.jobs import parquet as parquet_module
from bulkops.jobs.intake import MAX_COLUMNS, MAX_HEADER_CHARS
from bulkops.jobs.jobfile import load
from bulkops.jobs.plan import validate

REPO = Path(__file__).resolve().parent.parent
HEADER = "action,setting_type,sub_setting_type,extension_id,name,from,to"
ROW = "add,holiday_hours,holiday,ext1,Company Day,2027-03-01,2027-03-01"


def only_problem(path: Path) -> Problem:
    with pytest.raises(JobFileError) as caught:
        load(path)
    assert len(caught.value.problems) == 1, caught.value.problems
    return caught.value.problems[0]


def write(tmp_path: Path, text: str, name: str = "job.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- only regular files ----------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "job.csv"
    os.mkfifo(fifo)  # nobody ever writes to it: opening it for reading would block forever
    problem = only_problem(fifo)
    assert "is a named pipe (FIFO), not a regular file" in problem.reason


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_dev_zero_is_refused_without_reading_it() -> None:
    assert "is a character device, not a regular file" in only_problem(Path("/dev/zero")).reason


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert "is a directory, not a regular file" in only_problem(tmp_path).reason


def test_a_symlink_to_a_job_file_is_read(tmp_path: Path) -> None:
    target = write(tmp_path, f"{HEADER}\n{ROW}\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    assert load(link).specs[0].holiday_name == "Company Day"


def test_a_file_over_the_size_limit_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bulkops.jobs import intake

    monkeypatch.setattr(intake, "MAX_FILE_BYTES", 64)
    problem = only_problem(write(tmp_path, f"{HEADER}\n{ROW}\n"))
    assert "the limit is 64" in problem.reason and "split it" in problem.reason


def test_the_cli_exits_2_for_a_fifo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    fifo = tmp_path / "job.csv"
    os.mkfifo(fifo)
    assert main(["plan", str(fifo)]) == 2
    err = capsys.readouterr().err
    assert "not a regular file" in err and "Traceback" not in err


# --- wide and long headers: refused before parsing, in bounded memory --------------------------


def test_a_million_column_header_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    header = ",".join(f"c{i}" for i in range(1_000_000))  # 6.9 MB on one line
    path = write(tmp_path, header + "\n" + "x," * 10 + "\n")
    tracemalloc.start()
    try:
        problem = only_problem(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f"longer than {MAX_HEADER_CHARS:,} characters" in problem.reason
    assert len(str(problem)) < 300, "the message never quotes the header"
    assert peak < 100 * 1024 * 1024, f"peak {peak:,} bytes"  # before: about 4 GB


def test_more_columns_than_the_limit(tmp_path: Path) -> None:
    header = HEADER + "".join(f",x{i}" for i in range(MAX_COLUMNS))
    problem = only_problem(write(tmp_path, header + "\n" + ROW + "\n"))
    assert f"has {MAX_COLUMNS + 7:,} columns; the limit is {MAX_COLUMNS:,}" in problem.reason


def test_a_million_field_first_row_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "\n" + ",".join(["x"] * 1_000_000) + "\n")
    tracemalloc.start()
    try:
        problem = only_problem(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert problem.row == 2 and "or more fields but the header names 7 columns" in problem.reason
    assert peak < 100 * 1024 * 1024, f"peak {peak:,} bytes"


# --- rows with more fields than the header -------------------------------------------------


def test_surplus_fields_in_the_first_row_name_that_row(tmp_path: Path) -> None:
    """pandas takes a first row's surplus fields as an index: every column would shift."""
    problem = only_problem(write(tmp_path, f"{HEADER}\n{ROW},oops\n{ROW}\n"))
    assert problem.row == 2 and problem.reason.startswith("row 2 has 8 fields")


def test_surplus_fields_are_counted_by_record_not_line(tmp_path: Path) -> None:
    quoted = 'add,holiday_hours,holiday,ext1,"Two\nLines",2027-03-01,2027-03-01'
    problem = only_problem(write(tmp_path, f"{HEADER}\n{quoted}\n{ROW},a,b\n"))
    assert problem.row == 3 and "row 3 has 9 fields" in problem.reason


def test_a_short_row_is_still_fine(tmp_path: Path) -> None:
    """Missing trailing cells are empty cells, as a spreadsheet writes them."""
    job = load(write(tmp_path, f"{HEADER},description\n{ROW}\n"))
    assert [p for p in job.problems if p.severity == "error"] == []


# --- what errors quote ----------------------------------------------------------------------


def test_a_file_that_is_not_a_job_file_is_never_quoted(tmp_path: Path) -> None:
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
    path = write(tmp_path, key, "id_ed25519")
    problem = only_problem(path)
    assert "names none of the columns" in problem.reason and "not shown" in problem.reason
    assert "OPENSSH" not in str(problem) and "b3Bl" not in str(problem)
    problems = validate(path)
    assert not [p for p in problems if "OPENSSH" in str(p)]


def test_a_job_file_with_a_missing_column_quotes_its_header_clipped(tmp_path: Path) -> None:
    header = "action,extension_id," + ",".join(f"long_column_name_{i}" for i in range(200))
    problem = only_problem(write(tmp_path, header + "\nadd,e1\n"))
    assert "lacks column(s) setting_type" in problem.reason
    assert "its header is action, extension_id" in problem.reason
    assert len(problem.reason) < 400


def test_a_semicolon_header_is_quoted_clipped(tmp_path: Path) -> None:
    header = ";".join([*HEADER.split(","), *(f"column{i}" for i in range(100))])
    problem = only_problem(write(tmp_path, header + "\n" + ROW.replace(",", ";") + "\n"))
    assert "';'-separated" in problem.reason
    assert problem.value is not None and len(problem.value) <= 80


def test_a_long_conflicting_value_is_clipped(tmp_path: Path) -> None:
    long_name = "N" * 5000
    settings = '"{""name"": ""' + long_name + '""}"'
    header = HEADER + ",settings"
    job = load(write(tmp_path, f"{header}\n{ROW},{settings}\n"))
    [problem] = [p for p in job.problems if "conflicts with settings.name" in p.reason]
    assert len(problem.reason) < 200
    assert problem.value == "Company Day"


# --- Parquet: the same cell checks as CSV, a wrong type is exit 2 every time -----------------


def _parquet(tmp_path: Path, columns: dict[str, pa.Array | list[object]]) -> Path:
    path = tmp_path / "job.parquet"
    pq.write_table(pa.table(columns), path)
    return path


def _job_columns(**override: object) -> dict[str, object]:
    columns: dict[str, object] = {
        "action": ["add", "add"],
        "setting_type": ["holiday_hours"] * 2,
        "sub_setting_type": ["holiday"] * 2,
        "extension_id": ["ext1", "ext2"],
        "name": ["Company Day", "Company Day"],
        "from": ["2027-03-01"] * 2,
        "to": ["2027-03-01"] * 2,
    }
    columns.update(override)
    return columns


@pytest.mark.parametrize(
    ("cell", "said"),
    [
        pytest.param("Bad\x00Day", "NUL bytes", id="nul"),
        pytest.param("Bad\x07Day", "control character '\\x07'", id="bell"),
    ],
)
def test_parquet_cells_get_the_csv_checks(tmp_path: Path, cell: str, said: str) -> None:
    path = _parquet(tmp_path, _job_columns(name=["Company Day", cell]))
    problem = only_problem(path)
    assert (problem.row, problem.column) == (3, "name") and said in problem.reason


def test_parquet_text_that_is_not_utf8(tmp_path: Path) -> None:
    offsets = pa.py_buffer(b"\x00\x00\x00\x00\x04\x00\x00\x00\x06\x00\x00\x00")
    broken = pa.Array.from_buffers(pa.string(), 2, [None, offsets, pa.py_buffer(b"ext1\xff\xfe")])
    problem = only_problem(_parquet(tmp_path, _job_columns(extension_id=broken)))
    assert (problem.row, problem.column) == (3, "extension_id") and "UTF-8" in problem.reason


def test_parquet_wrong_type_is_refused_before_reading_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _parquet(tmp_path, _job_columns(**{"from": [20270301, 20270302]}))

    def no_rows(*args: object, **kwargs: object) -> None:
        raise AssertionError("the rows were read")

    monkeypatch.setattr(pq.ParquetFile, "read", no_rows)
    problem = only_problem(path)
    assert "column 'from' has Parquet type int64" in problem.reason


def test_parquet_rows_are_read_without_arrow_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arrow's pool threads still starting when the interpreter exits abort it (exit 134)."""
    path = _parquet(tmp_path, _job_columns())
    calls: list[object] = []
    read = pq.ParquetFile.read

    def spy(self: pq.ParquetFile, *args: object, **kwargs: object) -> pa.Table:
        calls.append(kwargs.get("use_threads"))
        return read(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pq.ParquetFile, "read", spy)
    assert len(load(path).specs) == 2
    assert calls == [False]


def test_parquet_wrong_type_exits_2_in_a_real_process(tmp_path: Path) -> None:
    path = _parquet(tmp_path, _job_columns(extension_id=[1101, 1102]))
    proc = subprocess.run(
        [sys.executable, "-m", "bulkops", "validate", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "column 'extension_id' has Parquet type int64" in proc.stdout
    assert "Traceback" not in proc.stderr and "terminate" not in proc.stderr


def test_parquet_too_many_columns(tmp_path: Path) -> None:
    columns = _job_columns(**{f"x{i}": ["", ""] for i in range(MAX_COLUMNS)})
    problem = only_problem(_parquet(tmp_path, columns))
    assert f"the limit is {MAX_COLUMNS:,}" in problem.reason


def test_a_huge_parquet_footer_is_refused_before_parsing(tmp_path: Path) -> None:
    footer = (parquet_module.MAX_FOOTER_BYTES + 1).to_bytes(4, "little")
    path = tmp_path / "job.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 64 + footer + b"PAR1")
    assert "Parquet footer is" in only_problem(path).reason


def test_parquet_data_over_the_limit_once_uncompressed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parquet_module, "MAX_FILE_BYTES", 16)
    problem = only_problem(_parquet(tmp_path, _job_columns()))
    assert "once uncompressed; the limit is 16" in problem.reason


def test_parquet_settings_json_cannot_carry(tmp_path: Path) -> None:
    settings = pa.array([{"blob": b"\x00\x01"}, None], pa.struct([("blob", pa.binary())]))
    columns = _job_columns(
        action=["update", "update"],
        setting_type=["closed_hours"] * 2,
        sub_setting_type=["call_handling"] * 2,
        name=["", ""],
        **{"from": ["", ""], "to": ["", ""]},
        settings=settings,
    )
    problem = only_problem(_parquet(tmp_path, columns))
    assert (problem.row, problem.column) == (2, "settings")
    assert "JSON cannot carry" in problem.reason


def test_a_damaged_parquet_message_is_clipped(tmp_path: Path) -> None:
    path = tmp_path / "job.parquet"
    path.write_bytes(b"PAR1" + b"x" * 5000)
    problem = only_problem(path)
    assert "not a readable Parquet file" in problem.reason and len(problem.reason) < 300


# --- every case through the CLI: exit 2, one message, no traceback --------------------------


def _bad_file(tmp_path: Path, case: str) -> Path:
    if case == "fifo":
        path = tmp_path / "job.csv"
        os.mkfifo(path)
        return path
    if case == "dev-zero":
        return Path("/dev/zero")
    if case == "directory":
        return tmp_path
    if case == "parquet-nul":
        return _parquet(tmp_path, _job_columns(name=["A\x00", "B"]))
    if case == "parquet-int":
        return _parquet(tmp_path, _job_columns(extension_id=[1, 2]))
    texts = {
        "wide-header": ",".join(f"c{i}" for i in range(200_000)) + "\n",
        "surplus-fields": f"{HEADER}\n{ROW},x\n",
        "year-overflow": f"{HEADER},timezone\n{ROW.replace('2027-03-01', '0001-01-01')},Asia/Tokyo\n",
        "blank-name": f"{HEADER}\n{ROW.replace('Company Day', '   ')}\n",
        "not-a-job-file": "root:x:0:0:root:/root:/bin/bash\n",
    }
    return write(tmp_path, texts[case])


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            "fifo", marks=pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
        ),
        pytest.param(
            "dev-zero",
            marks=pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero"),
        ),
        "directory",
        "wide-header",
        "surplus-fields",
        "parquet-nul",
        "parquet-int",
        "year-overflow",
        "blank-name",
        "not-a-job-file",
    ],
)
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_every_bad_input_exits_2_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, command: str
) -> None:
    path = _bad_file(tmp_path, case)
    assert main([command, str(path)]) == 2
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text and "nothing was sent" in text
    assert max(len(line) for line in text.splitlines()) < 400
    assert "root:x" not in text


# --- --rate --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rate",
    [
        pytest.param(math.inf, id="inf"),
        pytest.param(math.nan, id="nan"),
        pytest.param(-5.0, id="negative"),
        pytest.param(0.0, id="zero"),
    ],
)
def test_a_rate_that_is_no_rate_is_refused(rate: float) -> None:
    with pytest.raises(ConfigError, match="positive, finite number"):
        resolve_rate("pro", rate)


def test_a_real_rate_wins_over_the_plan() -> None:
    assert resolve_rate("pro", 7.5) == 7.5


@pytest.mark.parametrize("rate", ["inf", "nan", "-1"])
def test_plan_with_a_bad_rate_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rate: str
) -> None:
    job = write(tmp_path, f"{HEADER}\n{ROW}\n")
    assert main(["plan", str(job), f"--rate={rate}"]) == 2
    assert "--rate must be a positive, finite number" in capsys.readouterr().err
