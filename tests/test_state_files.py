"""A state directory bulkops cannot use says why and what to do: no traceback, the right code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bulkops.cli import main
from bulkops.exit_codes import EXIT_OK, EXIT_RESUMABLE, EXIT_USAGE
from bulkops.reports.results import STALE_TEMPORARY_S, clean_stale_temporaries, write_all
from bulkops.simulator import ExtensionType, generate_directory, write_directory
from bulkops.state import Checkpoint

HEADER = "action,setting_type,sub_setting_type,extension_id,name,from,to,phone_number,description,settings"
REPO = Path(__file__).resolve().parent.parent


def _job(tmp: Path, *, users: int = 2, days: int = 2) -> list[str]:
    """A small job and the flags that run it against the built-in simulator."""
    exts = generate_directory(8 * users + 16, 4)
    picked = [e for e in exts if e.type is ExtensionType.USER][:users]
    write_directory(picked, tmp / "directory.csv")
    rows = [
        f"add,holiday_hours,holiday,{u.extension_id},File Day {i},2027-07-{1 + i:02d},"
        f"2027-07-{1 + i:02d},,,"
        for u in picked
        for i in range(days)
    ]
    (tmp / "job.csv").write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return [str(tmp / "job.csv"), "--directory", str(tmp / "directory.csv"), "--simulate"]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_a_lock_or_checkpoint_that_is_a_directory_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = _job(tmp_path)
    for name in ("lock", "checkpoint.sqlite3"):
        state = tmp_path / f"state-{name}"
        (state / name).mkdir(parents=True)
        code, err = _run(["run", *job, "--state", str(state)], capsys)
        assert code == EXIT_USAGE
        assert f"{state / name}" in err and "directory" in err and "remove it" in err


def test_results_csv_that_is_a_directory_does_not_hide_the_runs_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    (state / "results.csv").mkdir(parents=True)
    code, err = _run(["run", *_job(tmp_path), "--state", str(state)], capsys)
    assert code == EXIT_OK  # the run did everything; its state has it all
    assert f"cannot write the reports in {state}" in err
    assert f"bulkops report --state {state}" in err
    shutil.rmtree(state / "results.csv")
    code, _ = _run(["report", "--state", str(state)], capsys)
    assert code == EXIT_OK and (state / "results.csv").is_file()


def test_stale_temporary_report_files_are_cleaned_and_fresh_ones_kept(tmp_path: Path) -> None:
    now = time.time()
    stale = tmp_path / ".results.csv.k2j3.tmp"
    fresh = tmp_path / ".report.html.x9q1.tmp"  # another writer's, still being written
    other = tmp_path / ".notes.txt.a1b2.tmp"  # not a report's: not ours to remove
    for path in (stale, fresh, other):
        path.write_text("partial")
    old = now - STALE_TEMPORARY_S - 1
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    assert clean_stale_temporaries(tmp_path, now=now) == [stale]
    assert not stale.exists() and fresh.exists() and other.exists()


def test_the_reports_clean_what_a_killed_writer_left(tmp_path: Path) -> None:
    state = tmp_path / "state"
    Checkpoint.open(state, job_hash="h", job_path="job.csv").close()
    left = state / ".undo.csv.zz88.tmp"
    left.write_text("half an undo file")
    os.utime(left, (1_000_000, 1_000_000))
    write_all(state)
    assert sorted(p.name for p in state.glob(".*.tmp")) == []


def _unprivileged() -> list[str]:
    """A command prefix under which permission bits apply (root ignores them)."""
    if os.geteuid() != 0:
        return []
    prefix = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]
    if shutil.which("unshare") is None or subprocess.run([*prefix, "true"]).returncode != 0:
        pytest.skip("running as root without user namespaces: permission bits do not apply")
    return prefix


def _bulkops(prefix: list[str], argv: list[str], *, limit: int | None = None) -> tuple[int, str]:
    """``bulkops argv`` in a subprocess, its files limited to ``limit`` bytes (a full disk)."""
    code = (
        "import resource, signal, sys\n"
        "limit = int(sys.argv[1])\n"
        "if limit:\n"
        "    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))\n"
        "from bulkops.cli import main\n"
        "sys.exit(main(sys.argv[2:]))\n"
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [*prefix, sys.executable, "-c", code, str(limit or 0), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stderr


@pytest.mark.slow
def test_a_read_only_state_directory_is_a_clear_error(tmp_path: Path) -> None:
    prefix = _unprivileged()
    job = _job(tmp_path)
    fresh = tmp_path / "fresh"
    fresh.mkdir(mode=0o500)
    used = tmp_path / "used"
    assert main(["run", *job, "--state", str(used)]) == EXIT_OK
    used.chmod(0o500)
    try:
        for state in (fresh, used):
            code, err = _bulkops(prefix, ["run", *job, "--state", str(state)])
            assert code == EXIT_USAGE, err
            assert str(state) in err and "writable by this user" in err, err
    finally:
        used.chmod(0o700)
        fresh.chmod(0o700)


@pytest.mark.slow
@pytest.mark.parametrize(
    "limit",
    [
        pytest.param(48_000, id="full-while-storing-the-plan"),
        pytest.param(1_200_000, id="full-mid-run"),
    ],
)
def test_a_full_disk_exits_75_without_a_traceback(tmp_path: Path, limit: int) -> None:
    job = _job(tmp_path, users=20, days=8)
    state = tmp_path / "state"
    code, err = _bulkops([], ["run", *job, "--state", str(state)], limit=limit)
    assert code == EXIT_RESUMABLE, err
    assert f"cannot write the checkpoint in {state}" in err and "run again" in err
    # With room again, the same command resumes and finishes.
    assert main(["run", *job, "--state", str(state)]) == EXIT_OK
