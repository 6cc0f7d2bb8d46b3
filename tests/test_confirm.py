"""The confirmation before a run writes to a real account: on a terminal (a pseudo-terminal here)
it names the account and asks; without one it needs --yes; a confirmed state does not ask again."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bulkops.confirm import Consent, ask
from bulkops.errors import ConfigError
from bulkops.run.engine import EngineOptions
from bulkops.runner import RunSettings, run_job
from bulkops.simulator import (
    RunningSimulator,
    SimConfig,
    generate_directory,
    run_simulator,
    write_directory,
)
from bulkops.state.reader import confirmed_job

REPO = Path(__file__).resolve().parent.parent
HEADER = "action,setting_type,sub_setting_type,extension_id,name,from,to"
WRITES = frozenset({"POST", "PATCH", "DELETE"})


class Terminal(io.StringIO):
    """Typed answers on something that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _job(tmp: Path) -> tuple[Path, Path]:
    exts = generate_directory(6, 2026)
    directory = tmp / "directory.csv"
    write_directory(exts, directory)
    rows = [
        f"add,holiday_hours,holiday,{e.extension_id},Ask Day,2027-03-01,2027-03-01" for e in exts
    ]
    job = tmp / "job.csv"
    job.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return job, directory


def _writes(running: RunningSimulator) -> int:
    journal = running.simulator.journal
    return sum(1 for e in journal if e.method in WRITES and e.path.startswith("/v2/phone/"))


@pytest.mark.parametrize(
    ("typed", "agreed"),
    [
        pytest.param("y\n", True, id="y"),
        pytest.param(" YES \n", True, id="yes"),
        pytest.param("n\n", False, id="n"),
        pytest.param("\n", False, id="empty"),
        pytest.param("", False, id="eof"),
        pytest.param("yep\n", False, id="other"),
    ],
)
def test_only_y_or_yes_agrees(typed: str, agreed: bool) -> None:
    shown = io.StringIO()
    assert ask("the plan\n", "Apply? [y/N] ", io.StringIO(typed), shown) is agreed
    assert shown.getvalue().startswith("the plan\nApply? [y/N] ")


def _settings(job: Path, directory: Path, state: Path, running: RunningSimulator) -> RunSettings:
    return RunSettings(
        job=job,
        directory=directory,
        state_dir=state,
        api_url=running.api_url,
        oauth_url=running.oauth_url,
        quiet=True,
        consent=Consent.ASK,
    )


async def test_without_a_terminal_a_run_needs_yes_and_sends_nothing(tmp_path: Path) -> None:
    job, directory = _job(tmp_path)
    config = SimConfig(directory=directory, rate=None)
    async with run_simulator(config) as running:
        env = running.credentials.as_env()
        settings = _settings(job, directory, tmp_path / "state", running)
        with pytest.raises(ConfigError, match="--yes") as raised:
            await run_job(settings, env=env, stdin=io.StringIO("y\n"))
        assert running.credentials.account_id in str(raised.value)
        assert len(running.simulator.journal) == 0, "not even a token request"
        assert not (tmp_path / "state").exists()


async def test_a_confirmed_state_resumes_without_asking(tmp_path: Path) -> None:
    job, directory = _job(tmp_path)
    config = SimConfig(directory=directory, rate=None)
    state = tmp_path / "state"
    async with run_simulator(config) as running:
        env = running.credentials.as_env()
        settings = _settings(job, directory, state, running)
        answered = Terminal("y\n")
        done = await run_job(settings, env=env, stdin=answered, out=io.StringIO())
        assert done.exit_code == 0 and _writes(running) == 6
        assert answered.read() == ""  # the answer was read
        assert confirmed_job(state) is not None
        # Again with no terminal: the state says yes already, so it runs (and sends no write).
        again = await run_job(settings, env=env, stdin=io.StringIO(""), out=io.StringIO())
        assert again.exit_code == 0 and _writes(running) == 6


async def test_a_dry_run_and_a_simulated_run_never_ask(tmp_path: Path) -> None:
    job, directory = _job(tmp_path)
    async with run_simulator(SimConfig(directory=directory, rate=None)) as running:
        env = running.credentials.as_env()
        settings = _settings(job, directory, tmp_path / "state", running)
        dry = replace(settings, options=EngineOptions(dry_run=True))
        done = await run_job(dry, env=env, stdin=io.StringIO(""), out=io.StringIO())
        assert done.exit_code == 0 and _writes(running) == 0
    simulated = RunSettings(
        job=job, directory=directory, state_dir=tmp_path / "sim", simulate=True, quiet=True
    )
    simulated = replace(simulated, consent=Consent.ASK)
    done = await run_job(simulated, env={}, stdin=io.StringIO(""), out=io.StringIO())
    assert done.exit_code == 0


# -- the real thing: `python -m bulkops run` on a pseudo-terminal ------------------------------


def _settle(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


async def _read_until(master: int, marker: bytes, seen: bytearray) -> None:
    """Read the terminal's output into ``seen`` until ``marker`` shows (or the output ends)."""
    loop = asyncio.get_running_loop()
    while marker not in seen:
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(master, _settle, ready)
        try:
            await ready
        finally:
            loop.remove_reader(master)
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            return
        if not chunk:
            return
        seen += chunk


@pytest.mark.parametrize(
    ("typed", "code", "writes"),
    [
        pytest.param(b"y\n", 0, 6, id="answer-y"),
        pytest.param(b"n\n", 2, 0, id="answer-n"),
        pytest.param(b"\x04", 2, 0, id="end-of-input"),  # Ctrl-D on an empty line
    ],
)
async def test_the_question_on_a_terminal(
    tmp_path: Path, typed: bytes, code: int, writes: int
) -> None:
    job, directory = _job(tmp_path)
    async with run_simulator(SimConfig(directory=directory, rate=None)) as running:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOM_")}
        env.update(running.credentials.as_env())
        master, slave = pty.openpty()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bulkops",
                "run",
                str(job),
                "--directory",
                str(directory),
                "--state",
                str(tmp_path / "state"),
                "--api-url",
                running.api_url,
                "--oauth-url",
                running.oauth_url,
                "-q",
                cwd=REPO,
                env=env,
                stdin=slave,
                stdout=slave,
                stderr=slave,
            )
        finally:
            os.close(slave)
        seen = bytearray()
        try:
            await asyncio.wait_for(_read_until(master, b"[y/N] ", seen), 60)
            text = seen.decode()
            assert f"Zoom account {running.credentials.account_id}" in text
            assert f"client id {running.credentials.client_id}" in text
            # Zoom's token answer names the API host (the simulator's, here) but no app
            assert "names no app" in text and f"API:      {running.base_url}" in text
            assert "phone:write:admin" in text  # the scopes the token answer granted
            assert "holiday_hours" in text and "≈" in text  # counts and the estimate
            assert f"Apply 6 changes to account {running.credentials.account_id}?" in text
            assert _writes(running) == 0, "nothing is written before the answer"
            os.write(master, typed)
            await asyncio.wait_for(_read_until(master, b"\0never", seen), 60)
            assert await asyncio.wait_for(proc.wait(), 60) == code, seen.decode()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            os.close(master)
        assert _writes(running) == writes
        if code:
            assert "not confirmed: nothing was sent" in seen.decode()
