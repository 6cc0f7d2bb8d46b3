"""Exit codes: what ended a command, an error or a run's result, mapped to the process's code.

One table, read top to bottom, first match wins. The CLI applies it to the error that reached
it or to the run's result; the runner applies it too, to record each run's code in the
checkpoint, where ``bulkops status`` and the reports read it back. (It sits here rather than in
cli.py because the CLI imports the runner: the runner importing the CLI would close a circle.)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import (
    AccountBusyError,
    AuthError,
    BulkopsError,
    CheckpointWriteError,
    JobFileError,
    RetriableApiError,
    StateLockedError,
    StateMismatchError,
    SyncReadError,
)
from .model import OpStatus
from .run.stats import RunResult, StopReason

__all__ = [
    "EXIT_AUTH",
    "EXIT_FAILURES",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_RESUMABLE",
    "EXIT_TABLE",
    "EXIT_USAGE",
    "Completion",
    "ExitRow",
    "completion_of",
    "exit_code",
    "exit_row",
]

EXIT_OK = 0  # everything succeeded or was already in place
EXIT_FAILURES = 1  # finished, with failed (or skipped) operations
EXIT_USAGE = 2  # invalid invocation, job file or configuration: nothing was sent
EXIT_LOCKED = 73  # another run holds the state or the account; the state is another job's
EXIT_RESUMABLE = 75  # stopped early: run the same command again to resume
EXIT_AUTH = 77  # authentication or permission refused


class Completion(StrEnum):
    """How a run that was not stopped ended."""

    CLEAN = "clean"  # every operation succeeded or was already in place
    WITH_FAILURES = "with_failures"  # some failed, or were skipped because of a failure


#: What can end a command: an error that reached the CLI, or a run's result.
Ending = BulkopsError | RunResult


@dataclass(frozen=True, slots=True)
class ExitRow:
    """One row of the table: errors match by class, results by stop reason or completion."""

    code: int
    errors: tuple[type[BulkopsError], ...] = ()
    results: tuple[StopReason | Completion, ...] = ()
    prefix: str = ""  # put before the error's message on stderr

    def matches(self, ending: Ending) -> bool:
        if isinstance(ending, RunResult):
            return completion_of(ending) in self.results
        return isinstance(ending, self.errors)


#: What ended a command → its exit code; the first row that matches wins.
EXIT_TABLE: tuple[ExitRow, ...] = (
    ExitRow(EXIT_USAGE, errors=(JobFileError,)),
    ExitRow(EXIT_LOCKED, errors=(StateLockedError, AccountBusyError, StateMismatchError)),
    ExitRow(EXIT_AUTH, errors=(AuthError,), prefix="authentication refused: "),
    # a pull of Zoom's directory that kept hearing 5xx or 429s: nothing was written, try later
    ExitRow(EXIT_RESUMABLE, errors=(CheckpointWriteError, SyncReadError, RetriableApiError)),
    # configuration, an unusable or damaged state directory (StateDamagedError), …
    ExitRow(EXIT_USAGE, errors=(BulkopsError,)),
    ExitRow(EXIT_AUTH, results=(StopReason.AUTH,)),
    ExitRow(
        EXIT_RESUMABLE,
        results=(
            StopReason.SIGNAL,
            StopReason.MAX_RUNTIME,
            StopReason.DAILY_LIMIT,
            StopReason.RATE_LIMITED,
            StopReason.BREAKER,
        ),
    ),
    ExitRow(EXIT_FAILURES, results=(Completion.WITH_FAILURES,)),
    ExitRow(EXIT_OK, results=(Completion.CLEAN,)),
)


def completion_of(result: RunResult) -> StopReason | Completion:
    """Why the run stopped, or, when it ran to the end, whether it did everything."""
    if result.stop_reason is not None:
        return result.stop_reason
    failed = result.counts.get(OpStatus.FAILED, 0)
    # A dry run's "skipped" only means "not sent".
    skipped = 0 if result.dry_run else result.counts.get(OpStatus.SKIPPED, 0)
    return Completion.WITH_FAILURES if failed or skipped else Completion.CLEAN


def exit_row(ending: Ending) -> ExitRow:
    """The table's row for ``ending``; every error and every result has one."""
    for row in EXIT_TABLE:
        if row.matches(ending):
            return row
    raise LookupError(f"no exit code for {ending!r}")  # a StopReason added without a row


def exit_code(ending: Ending) -> int:
    return exit_row(ending).code
