"""The command line: exit codes and messages of validate, run and status."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bulkops import cli
from bulkops.cli import main
from bulkops.config import Credentials
from bulkops.errors import (
    AuthError,
    BulkopsError,
    CheckpointError,
    CheckpointWriteError,
    ConfigError,
    JobFileError,
    RetriableApiError,
    StateLockedError,
    StateMismatchError,
)
from bulkops.exit_codes import EXIT_TABLE, exit_code, exit_row
from bulkops.model import OpStatus
from bulkops.run.stats import RunResult, RunStats, StopReason
from bulkops.simulator import SimConfig, generate_directory, run_simulator, write_directory

REPO = Path(__file__).resolve().parent.parent
CREDS = Credentials("cli-account", "cli-client", "cli-secret-77aa")
USER = "VVr6DbYmXjlkaEc6oRoggD"  # a user of the default seeded directory (samples/directory.csv)
HEADER = "action,setting_type,sub_setting_type,extension_id,name,from,to"
BAD_ROWS = [
    f"add,holiday_hours,holiday,{USER},Fine Day,2027-01-01,2027-01-01",
    f"add,holiday_hours,holiday,{USER},Bad Day,2027-13-01,2027-13-01",
    f"frobnicate,holiday_hours,holiday,{USER},Odd Day,2027-02-01,2027-02-01",
]


def _bulkops(*args: str) -> subprocess.CompletedProcess[bytes]:
    """`python -m bulkops ARGS` in a subprocess (a run installs signal handlers and displays)."""
    return subprocess.run(
        [sys.executable, "-m", "bulkops", *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """main() configures the "bulkops" logger for a terminal; give later tests theirs back."""
    logger = logging.getLogger("bulkops")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


@pytest.fixture
def no_zoom_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ZOOM_"):
            monkeypatch.delenv(name)


def test_validate_reports_every_bad_cell_by_row_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = _write(tmp_path / "bad.csv", BAD_ROWS)
    assert main(["validate", str(job)]) == 2
    out = capsys.readouterr().out
    assert f"{job}:3 [from]: '2027-13-01'" in out
    assert f"{job}:4 [action]: 'frobnicate'" in out
    assert "error(s); nothing was sent" in out


def test_validate_accepts_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = _write(tmp_path / "good.csv", BAD_ROWS[:1])
    assert main(["validate", str(job)]) == 0
    assert f"{job}: valid" in capsys.readouterr().out


async def test_run_of_a_bad_file_sends_nothing_and_exits_2(tmp_path: Path) -> None:
    job = _write(tmp_path / "bad.csv", BAD_ROWS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOM_")}
    env.update(
        ZOOM_ACCOUNT_ID=CREDS.account_id,
        ZOOM_CLIENT_ID=CREDS.client_id,
        ZOOM_CLIENT_SECRET=CREDS.client_secret,
    )
    directory = tmp_path / "directory.csv"
    write_directory(generate_directory(6, 2026), directory)
    config = SimConfig(directory=directory, rate=None, credentials=CREDS)
    async with run_simulator(config) as running:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bulkops",
            "run",
            str(job),
            "--state",
            str(tmp_path / "state"),
            "--api-url",
            running.api_url,
            "--oauth-url",
            running.oauth_url,
            "--yes",
            cwd=REPO,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 2, err
        assert b"[from]" in err and b"[action]" in err
        assert len(running.simulator.journal) == 0, "not even a token request"
    assert not (tmp_path / "state").exists()


def test_run_without_credentials_names_the_variables(
    tmp_path: Path, no_zoom_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = _write(tmp_path / "job.csv", BAD_ROWS[:1])
    assert main(["run", str(job), "--state", str(tmp_path / "state")]) == 2
    err = capsys.readouterr().err
    for name in ("ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET"):
        assert name in err
    assert "--simulate" in err
    assert not (tmp_path / "state").exists(), "no state is made for a run that cannot start"


def test_status_before_during_and_after_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        f"add,holiday_hours,holiday,{USER},CLI Day {i},2027-04-{i + 1:02d},2027-04-{i + 1:02d}"
        for i in range(12)
    ]
    job = _write(tmp_path / "job.csv", rows)
    state = tmp_path / "state"
    directory = str(REPO / "samples" / "directory.csv")
    base = ["run", str(job), "--directory", directory, "--state", str(state), "--simulate"]

    assert main(["status", "--state", str(state)]) == 2  # nothing run yet
    assert "run `bulkops run` first" in capsys.readouterr().err

    # Stopped early by --max-runtime: resumable, and status says how to go on.
    slow = ["--sim", "latency_ms=150", "--sim", "latency_sigma=0.01", "--max-runtime", "0.5s"]
    assert _bulkops(*base, *slow).returncode == 75
    assert main(["status", "--state", str(state)]) == 0
    text = capsys.readouterr().out
    assert f"job        {job}" in text
    assert "operations finished" in text and "not_run" in text
    assert "last run   exit code 75 (1 run(s) so far)" in text
    assert "resume     run the same `bulkops run` command again" in text

    assert _bulkops(*base).returncode == 0
    assert main(["status", "--state", str(state), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["total"] == status["finished"] == 12 and status["remaining"] == 0
    assert status["counts"] == {"succeeded": 12}
    assert status["runs"] == 2 and status["last_run"]["exit_code"] == 0
    assert status["running_now"] is False
    assert main(["status", "--state", str(state)]) == 0
    text = capsys.readouterr().out
    assert "12 of 12 operations finished, 0 to go" in text and "resume" not in text


def test_failures_csv_of_a_clean_run_reruns_as_a_no_op(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = _write(tmp_path / "job.csv", BAD_ROWS[:1])
    state = tmp_path / "state"
    code = main(["run", str(job), "--state", str(state), "--simulate"])
    assert code == 0, capsys.readouterr()
    failures = state / "failures.csv"
    assert failures.read_text().count("\n") == 1  # the header alone: nothing failed
    assert main(["validate", str(failures)]) == 0
    assert main(["run", str(failures), "--state", str(tmp_path / "again"), "--simulate"]) == 0
    assert "total operations  0" in capsys.readouterr().out


ERROR_CASES = [
    pytest.param(JobFileError([]), 2, id="job-file"),
    pytest.param(ConfigError("bad flag"), 2, id="config"),
    pytest.param(CheckpointError("not a checkpoint"), 2, id="checkpoint"),
    pytest.param(StateLockedError("busy"), 73, id="locked"),
    pytest.param(StateMismatchError("other job"), 73, id="other-job"),
    pytest.param(CheckpointWriteError("disk full"), 75, id="disk-full"),
    pytest.param(RetriableApiError("Zoom's lists kept failing"), 75, id="directory-pull-retriable"),
    pytest.param(AuthError("no scope", status=401), 77, id="auth"),
]


@pytest.mark.parametrize(("error", "code"), ERROR_CASES)
def test_errors_map_to_exit_codes(
    error: Exception, code: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(ns: object) -> int:
        raise error

    monkeypatch.setitem(cli._COMMANDS, "status", fail)
    assert main(["status", "--state", "x"]) == code
    assert capsys.readouterr().err.startswith("bulkops: ")


def test_a_refused_authentication_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(ns: object) -> int:
        raise AuthError("no scope", status=401)

    monkeypatch.setitem(cli._COMMANDS, "status", fail)
    assert main(["status", "--state", "x"]) == 77
    assert capsys.readouterr().err == "bulkops: authentication refused: no scope\n"


def _result(stop: StopReason | None = None, *, dry_run: bool = False, **counts: int) -> RunResult:
    return RunResult(
        stop_reason=stop,
        stop_detail=None if stop is None else "why",
        resume_at=None,
        counts={OpStatus(status): n for status, n in counts.items()},
        stats=RunStats(),
        duration=1.0,
        dry_run=dry_run,
    )


RESULT_CASES = [
    pytest.param(_result(succeeded=3, already_present=1, already_absent=1), 0, id="clean"),
    pytest.param(_result(), 0, id="nothing-to-do"),
    pytest.param(_result(succeeded=2, failed=1), 1, id="failed"),
    pytest.param(_result(succeeded=2, skipped=1), 1, id="skipped"),
    pytest.param(_result(skipped=3, dry_run=True), 0, id="dry-run-skips-mean-not-sent"),
    pytest.param(_result(failed=1, skipped=2, dry_run=True), 1, id="dry-run-failure"),
    pytest.param(_result(StopReason.AUTH, not_run=2), 77, id="stopped-auth"),
    pytest.param(_result(StopReason.SIGNAL, succeeded=1, not_run=2), 75, id="stopped-signal"),
    pytest.param(_result(StopReason.MAX_RUNTIME, not_run=2), 75, id="stopped-max-runtime"),
    pytest.param(_result(StopReason.DAILY_LIMIT, not_run=2), 75, id="stopped-daily-limit"),
    pytest.param(_result(StopReason.BREAKER, failed=20), 75, id="stopped-breaker"),
]


@pytest.mark.parametrize(("result", "code"), RESULT_CASES)
def test_run_results_map_to_exit_codes(result: RunResult, code: int) -> None:
    assert exit_code(result) == code


def test_every_row_of_the_exit_table_is_pinned_and_every_stop_has_one() -> None:
    endings = [case.values[0] for case in ERROR_CASES + RESULT_CASES]
    assert {exit_row(ending) for ending in endings} == set(EXIT_TABLE)
    for reason in StopReason:
        assert exit_code(_result(reason)) in (75, 77), reason
    assert exit_row(BulkopsError("anything else")).code == 2


# -- cron habits: global flags anywhere, --quiet, a JSON summary event, `| head` ---------------


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["-v", "-q", "--log-format", "json", "status", "--state", "s"], id="before"),
        pytest.param(
            ["status", "--state", "s", "-v", "--quiet", "--log-format", "json"], id="after"
        ),
        pytest.param(
            ["--verbose", "status", "-q", "--state", "s", "--log-format=json"], id="mixed"
        ),
    ],
)
def test_global_flags_go_before_or_after_the_command(argv: list[str]) -> None:
    ns = cli.build_parser(simulator_flags=False).parse_args(argv)
    assert (ns.verbose, ns.quiet, ns.log_format) == (True, True, "json")


@pytest.mark.parametrize("command", ["validate", "plan", "run", "status", "report", "simulate"])
def test_global_flags_have_their_defaults_on_every_command(command: str) -> None:
    argv = {"validate": ["x.csv"], "plan": ["x.csv"], "run": ["x.csv"]}.get(command, [])
    ns = cli.build_parser(simulator_flags=False).parse_args([command, *argv])
    assert (ns.verbose, ns.quiet, ns.log_format) == (False, False, "text")


def test_verbose_after_the_command_takes_effect(tmp_path: Path) -> None:
    job = _write(tmp_path / "good.csv", BAD_ROWS[:1])
    assert main(["validate", str(job), "-v"]) == 0
    assert logging.getLogger("bulkops").level == logging.INFO


def test_a_json_log_ends_with_a_summary_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = _write(tmp_path / "job.csv", BAD_ROWS[:1])
    state = tmp_path / "state"
    argv = ["run", str(job), "--state", str(state), "--simulate", "--log-format", "json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out == ""  # the summary table is for people
    events = [json.loads(line) for line in captured.err.splitlines()]
    assert events[0]["event"] == "start" and events[-1]["event"] == "summary"
    summary = events[-1]
    assert summary["command"] == "run" and summary["exit_code"] == 0 and summary["stop"] is None
    assert summary["counts"] == {"succeeded": 1} and summary["generation"] == 1
    assert summary["state_dir"] == str(state)
    assert summary["reports"]["report.html"] == str(state / "report.html")
    assert summary["message"] == "finished: 1 operations, 0 failed (exit 0)"


def test_a_json_log_ends_with_a_summary_event_after_an_error_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--log-format", "json", "status", "--state", str(tmp_path / "none")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["event"] == "summary" and event["command"] == "status"
    assert event["exit_code"] == 2 and "run `bulkops run` first" in event["error"]


def test_quiet_says_nothing_when_all_is_well_and_the_summary_when_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = _write(tmp_path / "job.csv", BAD_ROWS[:1])
    assert main(["-q", "run", str(job), "--state", str(tmp_path / "ok"), "--simulate"]) == 0
    assert capsys.readouterr() == ("", "")

    bad = tmp_path / "bad.csv"  # an update of a holiday that does not exist: Zoom says 404
    bad.write_text(
        "action,setting_type,sub_setting_type,extension_id,holiday_id,name,from,to\n"
        f"update,holiday_hours,holiday,{USER},nosuchholiday1,Gone Day,2027-01-04,2027-01-04\n"
    )
    assert main(["run", str(bad), "--state", str(tmp_path / "bad"), "--simulate", "-q"]) == 1
    out = capsys.readouterr().out
    assert "failed" in out and "exit code         1" in out and "failures.csv" in out


def test_output_cut_short_by_head_ends_quietly(tmp_path: Path) -> None:
    """`bulkops validate big.csv | head -1`: no traceback, the shell's SIGPIPE code."""
    # Each action a different word: alike problems are grouped into one line, these are not.
    words = ["".join(chr(97 + int(d)) for d in str(i)) for i in range(3000)]
    rows = [f"x{w},holiday_hours,holiday,{USER},Bad Day,2027-12-01,2027-12-01" for w in words]
    job = _write(tmp_path / "big.csv", rows)
    with subprocess.Popen(
        [sys.executable, "-m", "bulkops", "validate", str(job)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # what `head -1` does after its line
        err = proc.stderr.read()
        code = proc.wait(timeout=60)
    assert first.startswith(b"error: ")
    assert err == b"" and code == cli.EXIT_PIPE == 141
