"""`bulkops init`: example jobs that validate as written and never overwrite by surprise."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkops.cli import main
from bulkops.jobs.plan import build_plan, validate
from bulkops.jobs.templates import TEMPLATES

REPO = Path(__file__).resolve().parent.parent
JOBS = [name for name in TEMPLATES if name.endswith(".csv")]


def test_init_writes_jobs_that_validate_against_its_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "start"
    assert main(["init", str(folder)]) == 0
    assert "README.txt" in capsys.readouterr().out
    directory = folder / "directory.csv"
    assert directory.read_text("utf-8") == (REPO / "samples" / "directory.csv").read_text("utf-8")
    assert sorted(JOBS) == [
        "business-hours.csv",
        "call-forwarding.csv",
        "cleanup.csv",
        "holiday-rollout.csv",
    ]
    readme = (folder / "README.txt").read_text("utf-8")
    for name in JOBS:
        assert validate(folder / name, directory=directory) == [], name
        assert name in readme  # each example is explained beside it
    kinds = {
        (str(action), str(setting))
        for name in JOBS
        for action, setting in build_plan(folder / name, directory=directory)
        .frame[["action", "setting_type"]]
        .itertuples(index=False)
    }
    assert {
        ("add", "holiday_hours"),
        ("update", "business_hours"),
        ("add", "closed_hours"),
        ("update", "closed_hours"),
        ("delete", "holiday_hours"),
    } <= kinds


def test_init_refuses_to_overwrite_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    mine = folder / "cleanup.csv"
    mine.write_text("my own job\n", "utf-8")
    assert main(["init", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "cleanup.csv" in err and "--force" in err
    assert mine.read_text("utf-8") == "my own job\n"
    assert not (folder / "README.txt").exists()  # nothing written at all
    assert main(["init", str(folder), "--force"]) == 0
    assert mine.read_text("utf-8") == TEMPLATES["cleanup.csv"]
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_init_into_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("x", "utf-8")
    assert main(["init", str(target)]) == 2
    assert "is a file" in capsys.readouterr().err
