"""A resumed run takes its plan from the checkpoint; a stopped run leaves without the reports.

The first run of each test is stopped by the engine hook before it sends anything (the plan is
stored, every operation pending): the state a SIGTERM leaves. The second run is where the fast
paths show, asserted by what was called and what was written, never by how long it took.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_engine import ENV, FAST_RETRY, _setup, holiday_rows, serving, write_job
from test_import_cost import HEAVY, REPO, modules_in

from bulkops.errors import ConfigError, StateMismatchError
from bulkops.jobs import plan as planner
from bulkops.jobs.intake import job_hash_of
from bulkops.jobs.plan import Plan, build_plan
from bulkops.model import OpStatus
from bulkops.progress import PlainDisplay
from bulkops.reports.results import REPORT_FILES
from bulkops.run.engine import Engine, EngineOptions
from bulkops.run.stats import StopReason
from bulkops.run_plan import stored_plan
from bulkops.runner import RunOutcome, RunSettings, run_job
from bulkops.simulator import RunningSimulator
from bulkops.state.checkpoint import Checkpoint
from bulkops.state.reader import stored_plan_hash


def _stop_at_once(engine: Engine) -> None:
    engine.request_stop(StopReason.SIGNAL, "SIGTERM")


async def _run(
    running: RunningSimulator,
    job: Path,
    state: Path,
    *,
    directory: Path | None = None,
    stop: bool = False,
    json_log: bool = False,
) -> tuple[RunOutcome, str]:
    settings = RunSettings(
        job=job,
        directory=directory,
        state_dir=state,
        rate=500,
        options=EngineOptions(retry=FAST_RETRY),
        api_url=running.api_url,
        oauth_url=running.oauth_url,
        log_format="json" if json_log else "text",
    )
    out = io.StringIO()
    outcome = await run_job(
        settings,
        env=ENV,
        display=PlainDisplay(out),
        out=out,
        engine_hook=_stop_at_once if stop else None,
    )
    return outcome, out.getvalue()


def _refuse_to_plan(*args: object, **kwargs: object) -> Plan:
    raise AssertionError("a resumed run of an unchanged job must not read the job file")


async def test_a_resumed_run_takes_its_plan_from_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = _setup(tmp_path, users=3)
    job = write_job(tmp_path, holiday_rows(setup.users, 2))
    state = tmp_path / "state"
    async with serving(setup) as running:
        stopped, _ = await _run(running, job, state, directory=setup.directory, stop=True)
        assert stopped.exit_code == 75
        assert stored_plan_hash(state) == job_hash_of(job, directory=setup.directory)

        monkeypatch.setattr(planner, "build_plan", _refuse_to_plan)
        resumed, text = await _run(running, job, state, directory=setup.directory)
    assert resumed.exit_code == 0, text
    assert resumed.result.counts == {OpStatus.SUCCEEDED: 6}
    assert set(resumed.reports) == set(REPORT_FILES)
    assert all(path.is_file() for path in resumed.reports.values())


async def test_a_changed_job_file_is_read_again_and_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = _setup(tmp_path, users=2)
    job = write_job(tmp_path, holiday_rows(setup.users, 2))
    state = tmp_path / "state"
    built: list[Path] = []

    def counting(path: Path, **kwargs: object) -> Plan:
        built.append(Path(path))
        return build_plan(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(planner, "build_plan", counting)
    async with serving(setup) as running:
        await _run(running, job, state, stop=True)
        assert built == [job]
        write_job(tmp_path, holiday_rows(setup.users, 3))  # same path, other contents
        with pytest.raises(StateMismatchError, match="other contents"):
            await _run(running, job, state)
    assert built == [job, job], "a changed file is planned (and checked) afresh"


async def test_the_directory_file_is_part_of_what_must_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = _setup(tmp_path, users=2)
    job = write_job(tmp_path, holiday_rows(setup.users, 1))
    state = tmp_path / "state"
    async with serving(setup) as running:
        await _run(running, job, state, directory=setup.directory, stop=True)
        # Without the directory the same job file has another identity: it must be planned.
        assert stored_plan(RunSettings(job=job, state_dir=state)) is None
        assert stored_plan(RunSettings(job=job, directory=setup.directory, state_dir=state)) == (
            stored_plan_hash(state),
            setup.directory,
        )
        job.unlink()  # unreadable now: planning says so with its own message
        assert stored_plan(RunSettings(job=job, directory=setup.directory, state_dir=state)) is None


def test_no_stored_plan_without_a_readable_state(tmp_path: Path) -> None:
    assert stored_plan_hash(tmp_path / "none") is None
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "checkpoint.sqlite3").write_bytes(b"not a database at all" * 100)
    assert stored_plan_hash(tmp_path / "junk") is None


async def test_a_stopped_run_leaves_the_reports_for_later(tmp_path: Path) -> None:
    setup = _setup(tmp_path, users=2)
    job = write_job(tmp_path, holiday_rows(setup.users, 2))
    state = tmp_path / "state"
    async with serving(setup) as running:
        stopped, text = await _run(running, job, state, stop=True)
        assert stopped.exit_code == 75, text
        assert stopped.reports == {}
        assert not any((state / name).exists() for name in REPORT_FILES)
        assert f"bulkops report --state {state}" in text

        finished, text = await _run(running, job, state)
    assert finished.exit_code == 0, text
    assert all((state / name).is_file() for name in REPORT_FILES)


async def test_a_stopped_run_logs_where_the_reports_are_in_json(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    setup = _setup(tmp_path, users=1)
    job = write_job(tmp_path, holiday_rows(setup.users, 1))
    async with serving(setup) as running:
        stopped, text = await _run(running, job, tmp_path / "state", stop=True, json_log=True)
    assert stopped.exit_code == 75
    assert "bulkops report --state" not in text
    assert any("bulkops report --state" in r.getMessage() for r in caplog.records)


def test_the_stored_plan_reads_back_as_the_planned_operations(tmp_path: Path) -> None:
    """Stored a chunk at a time, column by column: categoricals with missing values, ints and
    text come back as the very operations the plan holds."""
    setup = _setup(tmp_path, users=3)
    rows = holiday_rows(setup.users, 2)
    rows.append(f"delete,holiday_hours,holiday,{setup.users[0]},Engine Day 9,2027-01-10,,,,")
    plan = build_plan(write_job(tmp_path, rows), directory=setup.directory)
    assert plan.frame["holiday_to"].isna().any()  # a missing cell in a categorical column
    checkpoint = Checkpoint.open(tmp_path / "state", job_hash=plan.job_hash, job_path="job.csv")
    try:
        checkpoint.load_plan(plan.frame, chunk=2)
        stored = [record.op for record in checkpoint.reader.records()]
    finally:
        checkpoint.close()
    assert stored == list(plan.iter_operations())


async def test_a_resumed_run_loads_no_dataframe_library(tmp_path: Path) -> None:
    """The CLI resuming a stored plan: no pandas, pyarrow or numpy load for the plan (a stop by
    --max-runtime writes no reports, which would load them)."""
    setup = _setup(tmp_path, users=2)
    job = write_job(tmp_path, holiday_rows(setup.users, 4))
    state = tmp_path / "state"
    async with serving(setup) as running:
        await _run(running, job, state, directory=setup.directory, stop=True)
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-X", "importtime", "-m", "bulkops", "run", str(job)),
            *("--directory", str(setup.directory), "--state", str(state)),
            *("--api-url", running.api_url, "--oauth-url", running.oauth_url),
            *("--rate", "1", "--max-runtime", "0.5", "--yes"),  # 8 operations need 7 s
            cwd=REPO,
            env={**os.environ, **ENV},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 75, out.decode() + err.decode()[-2000:]
    loaded = modules_in(err.decode())
    assert "bulkops.run.engine" in loaded  # the parse saw the run's own imports
    assert not {name for name in loaded if name.split(".")[0] in HEAVY}
    assert "bulkops report --state" in out.decode()


async def test_refresh_directory_without_zoom_is_refused_on_resume_too(tmp_path: Path) -> None:
    """A resumed run takes its plan from the state, but its flags are still checked."""
    setup = _setup(tmp_path, users=2)
    job = write_job(tmp_path, holiday_rows(setup.users, 1))
    state = tmp_path / "state"
    async with serving(setup) as running:
        await _run(running, job, state, directory=setup.directory, stop=True)
        assert stored_plan(RunSettings(job=job, directory=setup.directory, state_dir=state))
        settings = RunSettings(
            job=job, directory=setup.directory, state_dir=state, refresh_directory=True
        )
        with pytest.raises(ConfigError, match="--refresh-directory goes with --directory zoom"):
            await run_job(settings, env=ENV, out=io.StringIO())


def test_the_planners_libraries_are_parked_outside_the_collector_on_first_load() -> None:
    """The first plan of a process loads pandas, pyarrow and numpy, and parks what that made
    outside the collector, so the full collection before the engine starts does not go through
    it again; a second plan freezes nothing more (whatever it left stays collectable)."""
    probe = (
        "import gc\n"
        "from bulkops.run_plan import _planner\n"
        "before = gc.get_freeze_count()\n"
        "_planner()\n"
        "import pandas\n"
        "frozen = gc.get_freeze_count()\n"
        "tracked = any(o is vars(pandas) for o in gc.get_objects())\n"
        "_planner()\n"
        "print(before, frozen > 0, tracked, gc.get_freeze_count() == frozen)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["0", "True", "False", "True"]
