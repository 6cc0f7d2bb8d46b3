"""The state holds the plan and every before-image: 0700 directories, 0600 files, any umask."""

from __future__ import annotations

import asyncio
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bulkops.config import AccountPlan, Credentials
from bulkops.exit_codes import EXIT_OK
from bulkops.progress import PlainDisplay
from bulkops.runner import RunSettings, run_job
from bulkops.simulator import (
    ExtensionType,
    SimConfig,
    Simulator,
    generate_directory,
    run_simulator,
    write_directory,
)
from bulkops.state import Checkpoint, open_readonly
from bulkops.state.lease import lease_path

CREDS = Credentials("modes-account", "modes-client", "modes-secret-51c2")
HEADER = "action,setting_type,sub_setting_type,extension_id,name,from,to,phone_number,description,settings"


@pytest.fixture
def umask_000() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def modes_under(root: Path) -> dict[str, int]:
    found = {".": mode(root)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = mode(path)
    return found


class HeldSimulator(Simulator):
    """Holds the first write until ``release``: the state is live, its WAL and SHM open."""

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_api(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if method != "GET" and not self.holding.is_set():
            self.holding.set()
            await self.release.wait()
        return await super().handle_api(method, *args, **kwargs)


async def test_every_file_of_a_run_is_private_under_umask_000(
    tmp_path: Path, umask_000: None
) -> None:
    exts = generate_directory(24, 9)
    users = [e for e in exts if e.type is ExtensionType.USER][:2]
    jobs = tmp_path / "jobs"
    jobs.mkdir(mode=0o755)
    write_directory(users, jobs / "directory.csv")
    rows = [
        f"add,holiday_hours,holiday,{u.extension_id},Mode Day,2027-06-01,2027-06-01,,,"
        for u in users
    ]
    job = jobs / "job.csv"
    job.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    run_dir = tmp_path / "xdg"
    run_dir.mkdir()
    env = {**CREDS.as_env(), "XDG_RUNTIME_DIR": str(run_dir)}
    sim = HeldSimulator(SimConfig(directory=jobs / "directory.csv", rate=None, credentials=CREDS))
    async with run_simulator(simulator=sim) as running:
        settings = RunSettings(
            job=job,
            account_plan=AccountPlan.BUSINESS,
            rate=500,
            api_url=running.api_url,
            oauth_url=running.oauth_url,
        )
        out = io.StringIO()
        run = asyncio.create_task(run_job(settings, env=env, display=PlainDisplay(out), out=out))
        waiter = asyncio.ensure_future(sim.holding.wait())
        await asyncio.wait({waiter, run}, return_when=asyncio.FIRST_COMPLETED)
        assert sim.holding.is_set(), run.result()
        state = jobs / ".bulkops" / "job.csv"
        live = modes_under(jobs / ".bulkops")
        lease = lease_path(run_dir / "bulkops", running.api_url, CREDS.account_id)
        lease_modes = (mode(run_dir / "bulkops"), mode(lease))
        sim.release.set()
        assert (await run).exit_code == EXIT_OK
    assert {"job.csv/checkpoint.sqlite3-wal", "job.csv/checkpoint.sqlite3-shm"} <= set(live)
    assert lease_modes == (0o700, 0o600)
    finished = modes_under(jobs / ".bulkops")
    assert "job.csv/results.csv" in finished and "job.csv/report.html" in finished
    for found in (live, finished):
        dirs = {
            name: m for name, m in found.items() if name in (".", "job.csv", "job.csv/report-cache")
        }
        files = {name: m for name, m in found.items() if name not in dirs}
        assert set(dirs.values()) == {0o700}, dirs
        assert set(files.values()) == {0o600}, files
    assert mode(state) == 0o700
    assert mode(jobs) == 0o755  # the user's own directory is left alone


def test_an_existing_loose_state_is_tightened_when_opened(tmp_path: Path, umask_000: None) -> None:
    state = tmp_path / "state"
    Checkpoint.open(state, job_hash="h", job_path="job.csv").close()
    state.chmod(0o777)
    for path in state.iterdir():
        path.chmod(0o666)
    (state / "checkpoint.sqlite3-wal").write_bytes(b"")
    (state / "checkpoint.sqlite3-wal").chmod(0o666)  # as an older bulkops left it
    cp = Checkpoint.open(state, job_hash="h", job_path="job.csv")
    try:
        live = modes_under(state)
        assert live.pop(".") == 0o700
        assert set(live.values()) == {0o600}, live
    finally:
        cp.close()


@pytest.mark.parametrize("name", ["state #1", "what?", "100%"])
def test_a_state_directory_may_have_any_name(tmp_path: Path, name: str) -> None:
    state = tmp_path / name
    cp = Checkpoint.open(state, job_hash="h", job_path="job.csv")
    cp.close()
    with open_readonly(state) as reader:
        assert reader.meta()["job_path"] == "job.csv"
