"""The one exception tree of bulkops, named by what the caller should do.

    BulkopsError                      root: catch this to catch everything bulkops raises
    ├── JobFileError                  the job or directory file is wrong: fix the file (exit 2)
    ├── ConfigError                   a flag, variable or credential is wrong: fix the invocation (exit 2)
    ├── ApiError                      Zoom answered something other than success
    │   ├── RetriableApiError         429, 5xx, timeouts, dropped connections: try again later
    │   │   ├── RateLimitedError      429; ``daily`` says whether to stop until ``retry_at``
    │   │   └── UnreadableAnswerError a 2xx read whose body is not the documented shape: never
    │   │                             "empty"; its extension's writes wait for a read understood
    │   └── FatalApiError             other 4xx: retrying the same request cannot help
    │       ├── AuthError             401 after a refresh, 403: stop the job (exit 77)
    │       └── ExtensionNotFoundError 404 "Extension does not exist": skip its other operations
    └── CheckpointError               the state directory cannot be used (exit 2)
        ├── StateLockedError          another run holds the lock (exit 73)
        ├── AccountBusyError          another run works on the same Zoom account (exit 73)
        ├── StateMismatchError        the state belongs to a different job file (exit 73)
        │   └── AccountMismatchError  … or to another Zoom account (exit 73)
        ├── StateDamagedError         the checkpoint lost records or is corrupt: move it aside (exit 2)
        ├── ReportWriteError          the reports could not be written (the run's code stands)
        └── CheckpointWriteError      a commit failed (disk full?): fix it, resume (exit 75)

Per-operation API errors never escape the engine: they become results in the report.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


class BulkopsError(Exception):
    """Root of every error bulkops raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One defect of an input file, located the way the user sees the file."""

    file: str
    row: int | None  # as a spreadsheet shows it: the header is row 1, the first data row is 2
    column: str | None
    value: str | None
    reason: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f":{self.row}"
        if self.column:
            where += f" [{self.column}]"
        shown = "" if self.value is None else f" {clip(self.value)!r}:"
        return f"{where}:{shown} {self.reason}"


def clip(value: str, limit: int = 80) -> str:
    """``value`` fit to quote in a message: at most ``limit`` characters, an ellipsis if cut."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


#: A problem repeated on this many rows is shown as one line; fewer are shown one by one.
GROUP_AT = 3
#: Rows a grouped line lists before it gives only the total.
GROUP_ROWS_SHOWN = 5
_DIGIT_RE = re.compile(r"[0-9]")


def _shape(value: str | None) -> str | None:
    """``8:00`` and ``9:30`` have one shape (``9:99``), ``08:00`` another: a systematic mistake
    repeats a shape, not a value."""
    return None if value is None else _DIGIT_RE.sub("9", value)


def group_problems(problems: Sequence[Problem]) -> list[tuple[str, str]]:
    """(severity, line) per problem, with a problem repeated on GROUP_AT or more rows (same
    file, column, reason and value shape) folded into one line that gives the rows and total.

    Grouping is presentation only: ``problems`` keeps every Problem. Groups stand where their
    first row stands, so the output still reads top to bottom through the file.
    """
    groups: dict[tuple[str, str, str | None, str, str | None], list[Problem]] = {}
    for p in problems:
        key = (p.severity, p.file, p.column, p.reason, _shape(p.value))
        groups.setdefault(key, []).append(p)
    lines: list[tuple[str, str]] = []
    for members in groups.values():
        rows = sorted({p.row for p in members if p.row is not None})
        if len(rows) < GROUP_AT:
            lines.extend((p.severity, str(p)) for p in members)
            continue
        first = members[0]
        where = first.file + (f" [{first.column}]" if first.column else "")
        values = {p.value for p in members}
        have = ""
        if first.value is not None:
            have = f" have {clip(first.value)!r}" + (" (or alike)" if len(values) > 1 else "")
        lines.append((first.severity, f"{where}: {_rows(rows)}{have}: {first.reason}"))
    return lines


def _rows(rows: Sequence[int]) -> str:
    """``200 rows (rows 2–201)`` when contiguous, else the first few and the total."""
    if rows[-1] - rows[0] + 1 == len(rows):
        return f"{len(rows):,} rows (rows {rows[0]}–{rows[-1]})"
    shown = ", ".join(map(str, rows[:GROUP_ROWS_SHOWN]))
    more = ", …" if len(rows) > GROUP_ROWS_SHOWN else ""
    return f"{len(rows):,} rows (rows {shown}{more})"


class JobFileError(BulkopsError):
    """The job file (or the directory file) has defects; ``problems`` lists every one."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        head = f"{len(errors)} problem(s) in the input; nothing was sent to Zoom"
        grouped = [line for _, line in group_problems(errors)]
        lines = [head, *(f"  {line}" for line in grouped[:50])]
        if len(grouped) > 50:
            lines.append(f"  … and {len(grouped) - 50} more (run `bulkops validate` to see all)")
        super().__init__("\n".join(lines))


class ConfigError(BulkopsError):
    """A flag, environment variable or credential is missing or wrong."""


class ApiError(BulkopsError):
    """Zoom answered with an error. Carries what the report needs, never a secret."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        tracking_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.tracking_id = tracking_id


class RetriableApiError(ApiError):
    """A failure that may succeed later: 429, 5xx, a timeout, a dropped connection.

    ``sent`` is False only when the request certainly never reached Zoom (connection refused),
    which is the one case where re-sending a POST is safe without checking first. ``kind`` names
    a failure without an answer the same way for every request ("connection refused", "DNS
    lookup failed"), so the circuit breaker sees an outage as one error across the account.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        tracking_id: str | None = None,
        retry_after: float | None = None,
        sent: bool = True,
        kind: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, tracking_id=tracking_id)
        self.retry_after = retry_after
        self.sent = sent
        self.kind = kind


class RateLimitedError(RetriableApiError):
    """429 from Zoom. ``daily`` means the daily quota is spent: stop and resume at ``retry_at``."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        code: int | None = None,
        tracking_id: str | None = None,
        retry_after: float | None = None,
        daily: bool = False,
        retry_at: datetime | None = None,
    ) -> None:
        super().__init__(
            message,
            status=status,
            code=code,
            tracking_id=tracking_id,
            retry_after=retry_after,
            sent=True,
        )
        self.daily = daily
        self.retry_at = retry_at


class UnreadableAnswerError(RetriableApiError):
    """A read answered 2xx with a body that is not the documented shape: HTML from a proxy, an
    empty or truncated body, JSON nested past the parser's limit, a list, wrong field types.

    Taking such an answer as "the extension is empty" would re-add what is already there, so it
    is retried like a 5xx, and the extension's writes wait until a read is understood (or fail
    with this message once the budget is spent). ``reason`` names the first defect found.
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        tracking_id: str | None = None,
    ) -> None:
        message = (
            f"Zoom's answer was not understood ({reason}); no write was sent on a guess: run the "
            "same command again later, and if this persists look for a proxy altering the answers"
        )
        super().__init__(message, status=status, tracking_id=tracking_id, sent=True)
        self.reason = reason


class FatalApiError(ApiError):
    """A 4xx that retrying cannot fix: the operation fails with Zoom's code and message."""


class AuthError(FatalApiError):
    """Credentials or permissions were refused; every further request would fail too."""


class ExtensionNotFoundError(FatalApiError):
    """Zoom does not know the extension (deleted, or a wrong id): every later request to it
    fails the same way, so its remaining operations are skipped rather than sent."""


class SyncReadError(BulkopsError):
    """A sync job could not read an extension it must converge: nothing was planned or sent, and
    the same command, run again, reads afresh."""


class CheckpointError(BulkopsError):
    """The state directory cannot be used."""


class StateLockedError(CheckpointError):
    """Another run of this job holds the state directory's lock."""


class AccountBusyError(CheckpointError):
    """Another run on this host works on the same Zoom account: two would share one rate budget,
    and the same job under two states would send its changes twice."""


class StateMismatchError(CheckpointError):
    """The state directory was made for a different job file."""


class AccountMismatchError(StateMismatchError):
    """The state directory records a run on another Zoom account than these credentials'."""


class StateDamagedError(CheckpointError):
    """The checkpoint is corrupt or lost records (a deleted write-ahead log, a truncated file, a
    missing table): resuming it would relabel the job's own changes, so it is never reused."""


class ReportWriteError(CheckpointError):
    """A report file could not be written (a full disk, a directory in its place)."""


class CheckpointWriteError(CheckpointError):
    """A commit failed during a run. Intents precede sends, so nothing unrecorded was sent."""
