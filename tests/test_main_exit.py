"""``python -m bulkops`` leaves as soon as the command is done: flushed output, main's exit code,
no interpreter teardown."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

import bulkops.__main__ as entry_module

REPO = Path(__file__).resolve().parent.parent


class Exited(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def test_entry_flushes_then_exits_with_mains_code(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    flushed: list[str] = []

    class Buffered(io.StringIO):
        def flush(self) -> None:
            flushed.append(self.getvalue())
            out.write(self.getvalue())

    stdout = Buffered()

    def main() -> int:
        stdout.write("summary\n")
        return 75

    def exit_now(code: int) -> None:
        raise Exited(code)

    monkeypatch.setattr(entry_module, "main", main)
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(entry_module.os, "_exit", exit_now)
    with pytest.raises(Exited) as exited:
        entry_module.entry()
    assert exited.value.code == 75
    assert flushed == ["summary\n"]  # written out before the process goes


def test_a_closed_pipe_does_not_stop_the_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    class Closed(io.StringIO):
        def flush(self) -> None:
            raise BrokenPipeError

    def exit_now(code: int) -> None:
        raise Exited(code)

    monkeypatch.setattr(entry_module, "main", lambda: 141)
    monkeypatch.setattr(sys, "stdout", Closed())
    monkeypatch.setattr(entry_module.os, "_exit", exit_now)
    with pytest.raises(Exited) as exited:
        entry_module.entry()
    assert exited.value.code == 141


def test_the_module_run_as_a_program_keeps_its_output_and_code(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bulkops", "validate", str(tmp_path / "missing.csv")],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr  # an unreadable job file, by main's own return
    assert "nothing was sent" in done.stdout + done.stderr
