"""`bulkops directory pull` and `--directory zoom`: paging, MEDIUM pacing, scopes, the pulled
file as a directory, and the CLI end to end against the simulator on loopback."""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from conftest import REPO

from bulkops.config import AccountPlan, Credentials, Endpoints
from bulkops.directory_pull import (
    COLUMNS,
    PulledDirectory,
    cached,
    medium_rate,
    pull_directory,
    pull_from,
    store,
    write_directory_file,
)
from bulkops.errors import AuthError, ConfigError
from bulkops.jobs.directory import load_directory
from bulkops.jobs.directory import parse_selector as selector
from bulkops.run.pages import PullStats
from bulkops.run.ratelimit import AdaptiveLimiter
from bulkops.run.retry import RetryPolicy
from bulkops.simulator import RunningSimulator, SimConfig, Simulator, run_simulator
from bulkops.simulator.directory import ExtensionType
from bulkops.zoom.answers import classify
from bulkops.zoom.client import ZoomClient
from bulkops.zoom.listing import ENDPOINTS

CREDS = Credentials("acct-pull", "client-pull", "secret-pull-123")
JOB = (
    "action,setting_type,sub_setting_type,target,name,from,to,timezone\n"
    "add,holiday_hours,holiday,site=London,Pull Day,2027-05-03,2027-05-03,Europe/London\n"
)


def _lists(sim: Simulator) -> list[tuple[str, dict[str, list[str]]]]:
    """The list requests the simulator heard: (path, query)."""
    return [
        (j.path.removeprefix("/v2/phone/"), parse_qs(j.query))
        for j in sim.journal
        if j.path.startswith("/v2/phone/") and "/extension/" not in j.path
    ]


async def _pull(running: RunningSimulator, rate: float, **kw: Any) -> PulledDirectory:
    endpoints = Endpoints(running.api_url, running.oauth_url)
    return await pull_from(endpoints, running.credentials, rate, **kw)


def test_the_clients_table_is_the_specs() -> None:
    spec = json.loads((REPO / "tests" / "data" / "zoom-phone-directory.openapi.json").read_text())
    for endpoint in ENDPOINTS.values():
        operation = spec["paths"][endpoint.path]["get"]
        (size,) = (p for p in operation["parameters"] if p["name"] == "page_size")
        assert endpoint.max_page_size == size["schema"]["maximum"], endpoint
        extensions = operation["x-extensions"]
        assert endpoint.scopes == (
            *extensions["x-macro-scopes"],
            *extensions["x-granular-scopes"],
        )


def test_medium_rate_is_the_plans_unless_given() -> None:
    assert medium_rate("pro", None) == 10 and medium_rate(AccountPlan.BUSINESS, None) == 20
    assert medium_rate("pro", 3.5) == 3.5
    with pytest.raises(ConfigError):
        medium_rate("pro", 0)


async def test_pages_through_every_list_at_its_largest_page() -> None:
    config = SimConfig(rate=None, medium_rate=None, extensions=450)
    async with run_simulator(config) as running:
        pulled = await _pull(running, 1000)
        sim = running.simulator
    assert len(pulled.rows) == len(sim.extensions)
    assert {r["extension_id"] for r in pulled.rows} == {e.extension_id for e in sim.extensions}
    pages = Counter(path for path, _ in _lists(sim))
    users = sum(1 for e in sim.extensions if e.type is ExtensionType.USER)
    assert pages["users"] == -(-users // 100) > 1
    for path, query in _lists(sim):
        assert query["page_size"] == [str(ENDPOINTS[path].max_page_size)]
    assert pulled.pages == sum(pages.values()) and pulled.skipped_common_areas == 3
    entity_ids = {r["id"] for r in pulled.rows}
    assert not entity_ids & {r["extension_id"] for r in pulled.rows}


async def test_no_429_at_the_plans_medium_rate() -> None:
    """The simulator's strict MEDIUM window at Pro (10/s); the pull paces at 10/s."""
    config = SimConfig(plan=AccountPlan.PRO, rate=None, extensions=1500)
    async with run_simulator(config) as running:
        pulled = await _pull(running, medium_rate("pro", None))
        stats = running.simulator.stats()
    assert pulled.pages > 10  # more than one second's worth of budget
    assert pulled.rate_limited == 0 and stats["by_status"].get("429", 0) == 0
    assert stats["max_in_medium_window"] <= 10


@pytest.mark.parametrize("retry_after", ["none", "seconds"])
async def test_429s_from_a_smaller_window_are_ridden_out(retry_after: str) -> None:
    config = SimConfig(rate=None, medium_rate=3, retry_after=retry_after, extensions=60)
    async with run_simulator(config) as running:
        limiter = AdaptiveLimiter(10)  # three times what the window admits
        stats = PullStats()
        endpoints = Endpoints(running.api_url, running.oauth_url)
        async with ZoomClient(endpoints, running.credentials, limiter) as client:
            pulled = await pull_directory(
                client, limiter, stats=stats, rng=random.Random(7), policy=RetryPolicy()
            )
        sim = running.simulator
    assert len(pulled.rows) == len(sim.extensions)
    assert stats.rate_limited > 0 and stats.retries >= stats.rate_limited
    assert limiter.current_rate < limiter.max_rate  # the 429s cut the rate


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_a_missing_scope_names_the_lists_scopes(status: int) -> None:
    scopes = "phone:read:list_call_handling_settings:admin phone:write:admin"
    config = SimConfig(rate=None, scopes=scopes, scope_status=status)
    async with run_simulator(config) as running:
        with pytest.raises(AuthError) as info:
            await _pull(running, 1000)
        heard = Counter(path for path, _ in _lists(running.simulator))
        assert set(heard.values()) == {1}  # stopped at once, nothing retried
    assert "phone:read:admin" in str(info.value) and "phone:read:list_sites:admin" in str(
        info.value
    )


def test_a_plain_403_from_a_list_names_its_scopes() -> None:
    scopes = ENDPOINTS["users"].scopes
    now = datetime.now(UTC)
    body = {"code": 2031, "message": "Zoom Phone has not been enabled for this account."}
    error = classify(403, {}, body, now=now, scopes=scopes)
    assert isinstance(error, AuthError)
    assert "phone:read:admin" in error.message and "phone:read:list_users:admin" in error.message


async def test_site_and_types_narrow_the_pull() -> None:
    async with run_simulator(SimConfig(rate=None, medium_rate=None)) as running:
        pulled = await _pull(running, 1000, types=["user", "call_queue"], site="london")
        with pytest.raises(ConfigError, match="did you mean 'London'"):
            await _pull(running, 1000, site="Londn")
        with pytest.raises(ConfigError, match="--types"):
            await _pull(running, 1000, types=["room"])
        users_query = next(q for p, q in _lists(running.simulator) if p == "users")
    assert {r["site_name"] for r in pulled.rows} == {"London"}
    assert {r["type"] for r in pulled.rows} == {"user", "call_queue"}
    assert "site_id" in users_query  # narrowed on Zoom's side, not after reading everyone


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
async def test_the_pulled_file_reads_as_a_directory(tmp_path: Path, suffix: str) -> None:
    async with run_simulator(SimConfig(rate=None, medium_rate=None)) as running:
        pulled = await _pull(running, 1000)
    path = tmp_path / f"dir{suffix}"
    write_directory_file(pulled, path)
    directory = load_directory(path)
    assert len(directory) == len(pulled.rows)
    assert set(COLUMNS) <= set(directory.frame.columns)  # extra columns kept
    london = directory.match(selector("site=London"))
    assert len(london) and set(directory.frame["site_name"].iloc[london]) == {"London"}
    zones = dict(zip(directory.frame["site_name"], directory.frame["timezone"], strict=True))
    assert zones == {
        "New York": "America/New_York",
        "London": "Europe/London",
        "Berlin": "Europe/Berlin",
    }
    assert directory.match(selector("country=DE&type=user")).size > 0


async def test_the_kept_pull_and_its_time(tmp_path: Path) -> None:
    async with run_simulator(SimConfig(rate=None, medium_rate=None)) as running:
        pulled = await _pull(running, 1000)
    assert cached(tmp_path / "state") is None
    path = store(pulled, tmp_path / "state")
    found = cached(tmp_path / "state")
    assert found == (path, pulled.pulled_at.isoformat(timespec="seconds"))
    assert oct(path.stat().st_mode & 0o777) == "0o600"


# ---- the CLI, end to end -----------------------------------------------------------------------
async def _bulkops(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bulkops",
        *args,
        cwd=REPO,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.slow
async def test_pull_then_run_with_the_file_and_with_zoom(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOM_")} | CREDS.as_env()
    job = tmp_path / "job.csv"
    job.write_text(JOB)
    dir_csv = tmp_path / "dir.csv"
    config = SimConfig(rate=None, medium_rate=None, credentials=CREDS)
    async with run_simulator(config) as running:
        sim = running.simulator
        target = ["--api-url", running.api_url, "--oauth-url", running.oauth_url]
        code, out, err = await _bulkops(env, "directory", "pull", "--out", str(dir_csv), *target)
        assert code == 0, err
        assert "skipped 3 common areas" in out and len(_lists(sim)) == 6

        run = ["run", str(job), "--yes", *target, "-q"]
        code, _, err = await _bulkops(
            env, *run, "--directory", str(dir_csv), "--state", str(tmp_path / "file")
        )
        assert code == 0, err
        london = [e for e in sim.extensions if e.site == "London"]
        assert all(
            [h["name"] for h in sim.holidays(e.extension_id)].count("Pull Day") == 1 for e in london
        )

        state = tmp_path / "zoom"
        zoom = [*run, "--directory", "zoom", "--state", str(state)]
        heard = len(_lists(sim))
        code, _, err = await _bulkops(env, *zoom)
        assert code == 0, err
        assert len(_lists(sim)) == heard + 6  # pulled once, into the state
        assert (state / "zoom-directory.csv").read_bytes() == dir_csv.read_bytes()
        code, _, err = await _bulkops(env, *zoom)  # the kept pull: no list read
        assert code == 0, err
        assert len(_lists(sim)) == heard + 6
        code, _, err = await _bulkops(env, *zoom, "--refresh-directory", "-v")
        assert code == 0, err
        assert len(_lists(sim)) == heard + 12 and "pulled Zoom's directory" in err


# ---- in process: the commands' own code, and a resumed run ------------------------------------
def _env(monkeypatch: pytest.MonkeyPatch, running: RunningSimulator) -> None:
    for name, value in running.credentials.as_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ZOOM_API_URL", running.api_url)
    monkeypatch.setenv("ZOOM_OAUTH_URL", running.oauth_url)


async def test_pull_and_plan_commands_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """main() in a worker thread (it runs its own loop) against the simulator in this one."""
    from bulkops.cli import main

    job = tmp_path / "job.csv"
    job.write_text(JOB)
    out = tmp_path / "dir.parquet"
    async with run_simulator(SimConfig(rate=None, medium_rate=None)) as running:
        _env(monkeypatch, running)
        pull = ["directory", "pull", "--out", str(out), "--types", "user", "--site", "Berlin"]
        assert await asyncio.to_thread(main, pull) == 0
        printed = capsys.readouterr().out
        assert "wrote 11 extensions" in printed and "(11 users)" in printed
        assert "skipped 1 common areas" in printed
        state = ["--state", str(tmp_path / "state")]
        plan = ["plan", str(job), "--directory", "zoom", *state]
        assert await asyncio.to_thread(main, plan) == 0
        assert "Pull Day" not in capsys.readouterr().err
        assert (
            await asyncio.to_thread(main, ["validate", str(job), "--directory", "zoom", *state])
            == 0
        )
        assert "valid" in capsys.readouterr().out
        heard = len(_lists(running.simulator))
        assert await asyncio.to_thread(main, [*plan, "--refresh-directory"]) == 0
        assert len(_lists(running.simulator)) > heard
        refused = ["plan", str(job), "--directory", str(out), "--refresh-directory"]
        assert await asyncio.to_thread(main, refused) == 2
        assert "--refresh-directory goes with --directory zoom" in capsys.readouterr().err
        assert await asyncio.to_thread(main, ["directory", "pull", "--sim", "x=1"]) == 2
    assert len(load_directory(out)) == 11


async def test_a_resumed_run_keeps_its_pull_despite_refresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bulkops.progress import SilentDisplay
    from bulkops.run.engine import Engine
    from bulkops.run.stats import StopReason
    from bulkops.runner import RunSettings, run_job

    job = tmp_path / "job.csv"
    job.write_text(JOB)
    state = tmp_path / "state"

    def stop_at_once(engine: Engine) -> None:
        asyncio.get_running_loop().call_soon(engine.request_stop, StopReason.MAX_RUNTIME)

    async with run_simulator(SimConfig(rate=None, medium_rate=None, credentials=CREDS)) as running:
        settings = RunSettings(
            job=job,
            directory=Path("zoom"),
            state_dir=state,
            api_url=running.api_url,
            oauth_url=running.oauth_url,
            refresh_directory=True,
        )
        env = CREDS.as_env()
        first = await run_job(
            settings, env=env, display=SilentDisplay(), out=io.StringIO(), engine_hook=stop_at_once
        )
        assert first.exit_code == 75
        kept = (state / "zoom-directory.csv").read_bytes()
        heard = len(_lists(running.simulator))
        with caplog.at_level("WARNING", logger="bulkops"):
            done = await run_job(settings, env=env, display=SilentDisplay(), out=io.StringIO())
        assert done.exit_code == 0
        assert len(_lists(running.simulator)) == heard  # the kept pull, not a new one
        assert "finishing it with that directory" in caplog.text
        assert (state / "zoom-directory.csv").read_bytes() == kept
        again = await run_job(settings, env=env, display=SilentDisplay(), out=io.StringIO())
        assert again.exit_code == 0 and len(_lists(running.simulator)) == heard + 6


async def test_a_dry_run_keeps_no_pull(tmp_path: Path) -> None:
    from bulkops.progress import SilentDisplay
    from bulkops.run.engine import EngineOptions
    from bulkops.runner import RunSettings, run_job

    job = tmp_path / "job.csv"
    job.write_text(JOB)
    state = tmp_path / "state"
    async with run_simulator(SimConfig(rate=None, medium_rate=None, credentials=CREDS)) as running:
        settings = RunSettings(
            job=job,
            directory=Path("zoom"),
            state_dir=state,
            api_url=running.api_url,
            oauth_url=running.oauth_url,
            options=EngineOptions(dry_run=True),
        )
        out = io.StringIO()
        outcome = await run_job(settings, env=CREDS.as_env(), display=SilentDisplay(), out=out)
        posts = [j for j in running.simulator.journal if j.method == "POST" and "/v2/" in j.path]
    assert outcome.exit_code == 0 and not posts
    assert len(_lists(running.simulator)) == 6 and "directory: Zoom's" in out.getvalue()
    assert not state.exists()  # the real state is not touched, not even by the pull


async def test_the_progress_bar_shows_the_lists_read() -> None:
    shown = io.StringIO()
    async with run_simulator(SimConfig(rate=None, medium_rate=None)) as running:
        pulled = await _pull(running, 1000, show=True, out=shown)
    text = shown.getvalue()
    assert "bulkops directory" in text and f"{pulled.pages} pages" in text
    items = len(pulled.rows) + pulled.skipped_common_areas + 3  # and the three sites
    assert f"{items}/{items}" in text
