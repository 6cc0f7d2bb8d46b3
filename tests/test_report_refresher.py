"""The report cache during a run: the refresher thread, and what a run leaves behind."""

from __future__ import annotations

import io
import random
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from test_report_cache import _History, _same_reports

from bulkops.config import AccountPlan, Credentials
from bulkops.progress import PlainDisplay
from bulkops.reports.manifest import CACHE_DIR, MANIFEST, SUFFIX
from bulkops.reports.refresher import Refresher, refreshing
from bulkops.reports.results import REPORT_FILES, write_all
from bulkops.runner import RunSettings, run_job
from bulkops.simulator import (
    SimConfig,
    Simulator,
    generate_directory,
    run_simulator,
    write_directory,
)
from bulkops.state.reader import open_readonly

CREDS = Credentials("cache-account", "cache-client", "cache-secret")
JOB = (
    "action,setting_type,sub_setting_type,target,name,from,to\n"
    "add,holiday_hours,holiday,*,Xmas,2027-12-25,2027-12-25\n"
    "add,holiday_hours,holiday,*,Boxing,2027-12-26,2027-12-26\n"
)


async def _history(tmp: Path) -> _History:
    history = _History(tmp, random.Random(11), extensions=8, bad_ids=False)
    await history.step()
    return history


async def test_the_thread_refreshes_until_stopped_and_the_files_stay_exact(tmp_path: Path) -> None:
    history = await _history(tmp_path)
    try:
        refresher = Refresher(history.state, min_wait=0.0)
        refresher.start()
        assert refresher.refreshed.wait(30)
        assert refresher.stop()
        assert refresher.refreshes >= 1
        await history.step()
        cached = write_all(history.state, out_dir=tmp_path / "cached", keep_cache=True)
    finally:
        history.cp.close()
    _same_reports(cached, write_all(history.state, out_dir=tmp_path / "full", full=True))
    directory = history.state / CACHE_DIR
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()} == {0o600}


async def test_a_stopped_refresh_leaves_no_layer(tmp_path: Path) -> None:
    history = await _history(tmp_path)
    try:
        refresher = Refresher(history.state)
        assert refresher.stop()  # before it started: the first pause gives up
        with pytest.raises(Exception, match="stopped"):
            refresher.refresh_now()
    finally:
        history.cp.close()
    directory = history.state / CACHE_DIR
    assert not list(directory.glob(f"*{SUFFIX}")) and not list(directory.glob(".*"))
    assert not (directory / MANIFEST).exists()


def test_refreshing_disabled_starts_nothing(tmp_path: Path) -> None:
    with refreshing(tmp_path, enabled=False) as ours:
        pass
    assert not ours()
    assert not (tmp_path / CACHE_DIR).exists()


@pytest.mark.parametrize("reports", [True, False])
async def test_a_run_leaves_a_cache_that_the_next_report_reads(
    tmp_path: Path, reports: bool
) -> None:
    directory = tmp_path / "directory.csv"
    write_directory(generate_directory(12, 7), directory)
    config = SimConfig(
        directory=directory, state_file=tmp_path / "zoom.json", rate=None, credentials=CREDS
    )
    Simulator(config).save()
    job = tmp_path / "job.csv"
    job.write_text(JOB)
    state = tmp_path / "state"
    out = io.StringIO()
    async with run_simulator(config) as running:
        settings = RunSettings(
            job=job,
            directory=directory,
            state_dir=state,
            account_plan=AccountPlan.BUSINESS,
            rate=200,
            api_url=running.api_url,
            oauth_url=running.oauth_url,
            write_reports=reports,
        )
        outcome = await run_job(settings, env=CREDS.as_env(), display=PlainDisplay(out), out=out)
    assert outcome.exit_code == 0
    if not reports:  # no reports, no cache
        assert not (state / CACHE_DIR).exists()
        return
    assert (state / CACHE_DIR / MANIFEST).is_file()
    after = write_all(state, out_dir=tmp_path / "after")
    # The run's own process time is in summary.json and the page, and goes on growing.
    exact = tuple(n for n in REPORT_FILES if n not in ("summary.json", "report.html"))
    _same_reports(after, write_all(state, out_dir=tmp_path / "full", full=True), exact)
    assert after["results.csv"].read_bytes() == outcome.reports["results.csv"].read_bytes()
    with open_readonly(state) as reader:
        assert reader.changed_since(0)  # every extension the run wrote
    # The next run (nothing left to send) cuts the log the cache no longer needs, and the
    # reports stay exact.
    async with run_simulator(config) as running:
        again = replace(settings, api_url=running.api_url, oauth_url=running.oauth_url)
        second = await run_job(again, env=CREDS.as_env(), display=PlainDisplay(out), out=out)
    assert second.exit_code == 0
    with open_readonly(state) as reader:
        assert reader.changed_since(0) is None
    _same_reports(
        write_all(state, out_dir=tmp_path / "second"),
        write_all(state, out_dir=tmp_path / "second-full", full=True),
        exact,
    )
