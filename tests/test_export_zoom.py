"""`bulkops export --directory zoom`: the extensions chosen from Zoom's own directory.

The pull is the one `run --directory zoom` makes (``runner.zoom_directory``): kept in a state
directory when `--state` names one, else made afresh and thrown away. The migration story of the
README with `--directory zoom` on both sides: account A exported through its pull, the file run
against account B through B's pull.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pandas as pd
import pytest
from test_export import _comparable, _customise, _env, _export, _state, _write_job

from bulkops.errors import ConfigError
from bulkops.export import export_job
from bulkops.jobs.jobfile import INFORMATIONAL_COLUMNS
from bulkops.jobs.plan import validate
from bulkops.progress import SilentDisplay
from bulkops.runner import RunSettings, run_job
from bulkops.simulator import (
    RunningSimulator,
    SimConfig,
    Simulator,
    generate_directory,
    run_simulator,
    write_directory,
)

ZOOM = Path("zoom")


def _lists(sim: Simulator) -> int:
    """How many list requests (directory pages) the simulator heard."""
    return sum(
        1 for j in sim.journal if j.path.startswith("/v2/phone/") and "/extension/" not in j.path
    )


def _config(directory: Path, seed: int) -> SimConfig:
    return SimConfig(directory=directory, rate=None, medium_rate=None, seed=seed)


async def _run_zoom(running: RunningSimulator, job: Path, state: Path) -> int:
    settings = RunSettings(
        job=job,
        directory=ZOOM,
        state_dir=state,
        api_url=running.api_url,
        oauth_url=running.oauth_url,
        quiet=True,
        write_reports=False,
        rate=1000,
    )
    done = await run_job(settings, env=_env(running), display=SilentDisplay(), out=io.StringIO())
    return done.exit_code


async def test_migration_with_zoom_directories_on_both_sides(tmp_path: Path) -> None:
    exts_a = generate_directory(10, 2026)
    # Account B: the same numbers, but every extension id is B's own.
    exts_b = [
        dataclasses.replace(e, extension_id=other.extension_id)
        for e, other in zip(exts_a, generate_directory(len(exts_a), 7), strict=True)
    ]
    dir_a, dir_b = tmp_path / "a.csv", tmp_path / "b.csv"  # what each simulator serves
    write_directory(exts_a, dir_a)
    write_directory(exts_b, dir_b)
    async with (
        run_simulator(_config(dir_a, 1)) as a,
        run_simulator(_config(dir_b, 2)) as b,
    ):
        setup = _write_job(tmp_path / "setup.csv", _customise(exts_a))
        assert await _run_zoom(a, setup, tmp_path / "s1") == 0

        out = tmp_path / "a-export.csv"
        given = {"directory": ZOOM, "address_by": "extension_number"}
        result = await export_job(_export(a, out, **given), env=_env(a))
        assert (result.chosen, result.exported, result.left_out) == (10, 10, ())
        assert _lists(a.simulator) > 0  # A's directory came from A's list endpoints
        assert not (tmp_path / ".bulkops").exists()  # no --state: the pull is not kept
        frame = pd.read_csv(out, dtype=str, keep_default_na=False)
        assert "extension_id" not in frame.columns
        assert set(frame["extension_number"]) == {str(e.extension_number) for e in exts_a}
        assert [str(p) for p in validate(out, directory=dir_b)] == []  # clean: not a warning

        assert await _run_zoom(b, out, tmp_path / "s2") == 0
        assert (tmp_path / "s2" / "zoom-directory.csv").is_file()  # B's pull, kept by the run
        state_a = await _state(a, [e.extension_id for e in exts_a])
        state_b = await _state(b, [e.extension_id for e in exts_b])
    for ea, eb in zip(exts_a, exts_b, strict=True):
        mine, theirs = _comparable(state_a[ea.extension_id]), _comparable(state_b[eb.extension_id])
        for setting in ("business_hours", "closed_hours"):
            assert theirs[setting] == mine[setting], (eb.extension_id, setting)
        assert all(h in theirs["holiday_hours"] for h in mine["holiday_hours"]), eb.extension_id


async def test_a_state_keeps_the_pull_until_refreshed(tmp_path: Path) -> None:
    exts = generate_directory(6, 2026)
    served = tmp_path / "served.csv"
    write_directory(exts, served)
    state = tmp_path / "state"
    async with run_simulator(_config(served, 3)) as running:
        given = {"directory": ZOOM, "state_dir": state, "target": "type=user"}
        first = await export_job(_export(running, tmp_path / "one.csv", **given), env=_env(running))
        pulled = _lists(running.simulator)
        again = await export_job(_export(running, tmp_path / "two.csv", **given), env=_env(running))
        assert _lists(running.simulator) == pulled  # the kept pull, not a second one
        fresh = {**given, "refresh_directory": True}
        await export_job(_export(running, tmp_path / "three.csv", **fresh), env=_env(running))
        assert _lists(running.simulator) == 2 * pulled
    users = sum(1 for e in exts if e.type.value == "user")
    assert first.chosen == again.chosen == users
    assert (state / "zoom-directory.csv").is_file() and (state / "zoom-directory.json").is_file()


async def test_refresh_without_a_state_sends_nothing(tmp_path: Path) -> None:
    async with run_simulator(SimConfig(rate=None, medium_rate=None)) as running:
        given = {"directory": ZOOM, "refresh_directory": True}
        with pytest.raises(ConfigError, match="--refresh-directory goes with --state"):
            await export_job(_export(running, tmp_path / "x.csv", **given), env=_env(running))
        assert len(running.simulator.journal) == 0


def test_the_export_columns_are_informational_and_validate_clean(tmp_path: Path) -> None:
    """The five source_* columns are read without a warning; any other unknown one still warns."""
    job = tmp_path / "job.csv"
    header = ["action", "setting_type", "sub_setting_type", "extension_id", "name", "from", "to"]
    header += [*INFORMATIONAL_COLUMNS, "sorce_email"]
    row = ["add", "holiday_hours", "holiday", "ext1", "Day", "2027-05-03", "2027-05-03"]
    row += ["oldext", "101", "a@example.com", "hol1", "", "x"]
    job.write_text(",".join(header) + "\n" + ",".join(row) + "\n")
    problems = validate(job)
    assert [(p.column, p.severity) for p in problems] == [("sorce_email", "warning")]
    assert "did you mean 'source_email'?" in problems[0].reason
