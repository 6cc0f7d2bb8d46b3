"""Cron habits: a job file that changed after its last run finished starts a new generation in
the same state directory (the finished one kept under ``generations/<n>/``); a changed job
whose run is unfinished is still refused (exit 73) with what to do instead."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bulkops.cli import main
from bulkops.errors import ConfigError, StateMismatchError
from bulkops.exit_codes import EXIT_OK, EXIT_RESUMABLE
from bulkops.model import OpStatus
from bulkops.progress import SilentDisplay
from bulkops.reports.results import REPORT_FILES
from bulkops.run.engine import Engine
from bulkops.run.stats import StopReason
from bulkops.runner import RunOutcome, RunSettings, run_job
from bulkops.state import generations
from bulkops.state.checkpoint import Checkpoint
from bulkops.state.reader import open_readonly
from bulkops.state.schema import DB_NAME

USER = "VVr6DbYmXjlkaEc6oRoggD"  # a user of the default seeded directory
HEADER = "action,setting_type,sub_setting_type,extension_id,name,from,to"


def _row(name: str, day: str) -> str:
    return f"add,holiday_hours,holiday,{USER},{name},{day},{day}"


def _write(job: Path, rows: list[str]) -> Path:
    job.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return job


async def _run(settings: RunSettings, hook: Callable[[Engine], None] | None = None) -> RunOutcome:
    return await run_job(settings, engine_hook=hook, display=SilentDisplay(), out=io.StringIO())


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """main() configures the "bulkops" logger; give later tests theirs back."""
    logger = logging.getLogger("bulkops")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


def test_a_changed_job_after_a_finished_run_is_a_new_generation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = _write(tmp_path / "nightly.csv", [_row("Gen Day A", "2027-03-01")])
    state = tmp_path / "state"
    command = ["run", str(job), "--state", str(state), "--simulate", "-q"]
    assert main(command) == EXIT_OK
    first = json.loads((state / "summary.json").read_text())
    assert first["generation"] == 1

    # The nightly file grew (a new row): the same command, the same state directory.
    _write(job, [_row("Gen Day A", "2027-03-01"), _row("Gen Day B", "2027-03-02")])
    assert main(command) == EXIT_OK
    capsys.readouterr()

    kept = state / "generations" / "1"
    assert (kept / DB_NAME).exists()
    assert {p.name for p in kept.iterdir()} >= set(REPORT_FILES)
    assert json.loads((kept / "summary.json").read_text()) == first  # kept as it was
    with open_readonly(kept) as old:
        assert old.counts() == {OpStatus.SUCCEEDED: 1}
        assert old.meta()["job_hash"] == first["job_hash"]
    assert (state / "simulator.json").exists()  # the (fake) account is not the run's record

    now = json.loads((state / "summary.json").read_text())
    assert now["generation"] == 2 and now["job_hash"] != first["job_hash"]
    assert now["exit_code"] == 0 and [r["exit_code"] for r in now["runs"]] == [0]
    # The row done in generation 1 is found in place, not added twice.
    assert now["counts"]["already_present"] == 1 and now["counts"]["succeeded"] == 1

    assert main(["status", "--state", str(state)]) == EXIT_OK
    text = capsys.readouterr().out
    assert (
        f"generation 2 (the finished runs of earlier job files are in {state / 'generations'})"
        in (text)
    )
    assert "2 of 2 operations finished" in text
    assert main(["status", "--state", str(state), "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["generation"] == 2

    # The new generation's checkpoint is whole: a rerun opens it (its commit count starts
    # afresh, not at the archived one's) and finds nothing to do.
    assert main(command) == EXIT_OK
    assert json.loads((state / "summary.json").read_text())["generation"] == 2


async def test_a_changed_job_with_an_unfinished_run_is_refused_with_what_to_do(
    tmp_path: Path,
) -> None:
    rows = [_row("Stop Day A", "2027-04-01"), _row("Stop Day B", "2027-04-02")]
    job = _write(tmp_path / "job.csv", rows)
    state = tmp_path / "state"
    settings = RunSettings(job=job, state_dir=state, simulate=True)

    def stop_at_once(engine: Engine) -> None:
        engine.request_stop(StopReason.BREAKER, "the first 20 operations all failed")

    stopped = await _run(settings, stop_at_once)
    assert stopped.exit_code == EXIT_RESUMABLE

    _write(job, [*rows, _row("Stop Day C", "2027-04-03")])  # "fixed" after the breaker stop
    with pytest.raises(StateMismatchError) as refused:
        await _run(settings)
    message = str(refused.value)
    assert "2 operation(s) not done" in message and "changed since that run started" in message
    assert "Put the previous file back" in message and "another --state DIR" in message
    assert not (state / "generations").exists()  # an unfinished run is never archived

    # What the message says works: finish the old job, then the changed one starts afresh.
    _write(job, rows)
    assert (await _run(settings)).exit_code == EXIT_OK
    _write(job, [*rows, _row("Stop Day C", "2027-04-03")])
    again = await _run(settings)
    assert again.exit_code == EXIT_OK and again.generation == 2
    assert again.result.counts == {OpStatus.ALREADY_PRESENT: 2, OpStatus.SUCCEEDED: 1}


def test_archiving_keeps_everything_the_finished_run_committed(tmp_path: Path) -> None:
    """The checkpoint's WAL is folded in before the move: the archived file is complete."""
    moved: list[Path] = []

    def archive(state_dir: Path) -> None:
        moved.append(generations.archive(state_dir, ["report.html"]))

    (tmp_path / "report.html").write_text("<p>old</p>")
    (tmp_path / "simulator.json").write_text("{}")
    first = Checkpoint.open(tmp_path, job_hash="h1", job_path="job.csv", archive=archive)
    first.close()  # no operations: a finished (empty) job
    same = Checkpoint.open(tmp_path, job_hash="h1", job_path="job.csv", archive=archive)
    same.close()  # the same job: nothing to archive
    assert not moved

    second = Checkpoint.open(tmp_path, job_hash="h2", job_path="job.csv", archive=archive)
    try:
        assert second.reader.meta()["job_hash"] == "h2"
    finally:
        second.close()
    assert moved == [tmp_path / "generations" / "1"]
    assert (moved[0] / "report.html").read_text() == "<p>old</p>"
    assert (tmp_path / "simulator.json").exists() and not (tmp_path / "report.html").exists()
    with open_readonly(moved[0]) as old:
        assert old.meta()["job_hash"] == "h1"
    assert generations.current(tmp_path) == 2
    assert [p.name for p in generations.archived(tmp_path)] == ["1"]


def test_generation_numbers_follow_the_archives(tmp_path: Path) -> None:
    assert generations.current(tmp_path) == 1 and generations.archived(tmp_path) == []
    (tmp_path / "generations" / "2").mkdir(parents=True)
    (tmp_path / "generations" / "10").mkdir()
    (tmp_path / "generations" / "notes").mkdir()  # not a generation
    assert [p.name for p in generations.archived(tmp_path)] == ["2", "10"]
    assert generations.archive(tmp_path, []) == tmp_path / "generations" / "11"
    assert generations.current(tmp_path) == 12


def test_pruning_keeps_the_newest_and_never_the_current_state(tmp_path: Path) -> None:
    root = tmp_path / "generations"
    for n in (1, 2, 3, 9, 10):
        (root / str(n)).mkdir(parents=True)
        (root / str(n) / DB_NAME).write_text(str(n))
    (root / "notes").mkdir()  # not a generation: never touched
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "0").symlink_to(elsewhere)  # not one bulkops made: left alone
    (tmp_path / DB_NAME).write_text("current")

    gone = generations.prune(tmp_path, 2)
    assert [p.name for p in gone] == ["1", "2", "3"]
    assert [p.name for p in generations.archived(tmp_path)] == ["0", "9", "10"]
    assert (root / "notes").is_dir() and elsewhere.is_dir()
    assert (tmp_path / DB_NAME).read_text() == "current"
    assert generations.current(tmp_path) == 11  # the numbering goes on
    assert generations.prune(tmp_path, 2) == []
    with pytest.raises(ValueError):
        generations.prune(tmp_path, 0)


@pytest.mark.parametrize(
    ("given", "env", "expected"),
    [
        pytest.param(None, {}, generations.DEFAULT_KEEP, id="default"),
        pytest.param(None, {"BULKOPS_KEEP_GENERATIONS": " 7 "}, 7, id="env"),
        pytest.param(3, {"BULKOPS_KEEP_GENERATIONS": "7"}, 3, id="flag-wins"),
        pytest.param(None, {"BULKOPS_KEEP_GENERATIONS": "0"}, "at least 1", id="env-zero"),
        pytest.param(None, {"BULKOPS_KEEP_GENERATIONS": "many"}, "'many'", id="env-word"),
    ],
)
def test_how_many_generations_are_kept(
    given: int | None, env: dict[str, str], expected: int | str
) -> None:
    if isinstance(expected, int):
        assert generations.resolve_keep(given, env) == expected
    else:
        with pytest.raises(ConfigError, match=expected):
            generations.resolve_keep(given, env)


async def test_a_nightly_job_keeps_only_its_last_generations(tmp_path: Path) -> None:
    job = tmp_path / "nightly.csv"
    state = tmp_path / "state"
    settings = RunSettings(job=job, state_dir=state, simulate=True, keep_generations=2)
    rows: list[str] = []
    for night in range(1, 6):  # a file that changes every night: each run archives the last
        rows.append(_row(f"Night {night}", f"2027-03-{night:02d}"))
        _write(job, rows)
        done = await _run(settings)
        assert done.exit_code == EXIT_OK and done.generation == night
    assert [p.name for p in generations.archived(state)] == ["3", "4"]
    with open_readonly(state / "generations" / "4") as last:
        assert last.counts() == {OpStatus.ALREADY_PRESENT: 3, OpStatus.SUCCEEDED: 1}
    with open_readonly(state) as now:  # the current state is whole
        assert now.counts() == {OpStatus.ALREADY_PRESENT: 4, OpStatus.SUCCEEDED: 1}


def test_the_run_flag_refuses_zero(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    job = _write(tmp_path / "job.csv", [_row("Day", "2027-03-01")])
    with pytest.raises(SystemExit) as exited:
        main(["run", str(job), "--simulate", "--keep-generations", "0"])
    assert exited.value.code == 2
    assert "--keep-generations: must be at least 1" in capsys.readouterr().err
