"""Showing a run to an operator: a live bar on a terminal, plain lines for cron, JSON for machines.

All of them read the engine's live ``RunStats``; none of them changes what the engine does.
Plain lines carry a timestamp (a cron mail has no other clock); ``--quiet`` shows nothing while
the run goes. The end of a run is told the same way in every format: :func:`summary_rows` for
the table, :func:`summary_record` for the JSON summary event, :func:`verdict` for one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TextIO

import orjson

from .exit_codes import EXIT_RESUMABLE
from .model import OpStatus
from .run.stats import RunResult, RunStats

_GOOD = (OpStatus.SUCCEEDED, OpStatus.ALREADY_PRESENT, OpStatus.ALREADY_ABSENT)


class Display(Protocol):
    def start(self, stats: RunStats) -> None: ...
    def update(self, stats: RunStats) -> None: ...
    def finish(self, stats: RunStats) -> None: ...


def _rate(stats: RunStats, now: float) -> float:
    elapsed = now - stats.started
    return stats.done / elapsed if elapsed > 0 else 0.0


def _eta(stats: RunStats, now: float) -> float | None:
    rate = _rate(stats, now)
    remaining = stats.total - stats.already_final - stats.done
    return remaining / rate if rate > 0 else None


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def local_now() -> datetime:
    return datetime.now().astimezone()


def timestamp(moment: datetime) -> str:
    """``2026-12-24T02:00:05+01:00``: local time with its offset, to the second."""
    return moment.isoformat(timespec="seconds")


def _would(stats: RunStats) -> str:
    """A dry run's writes it would send, under the status word the summary and diff.csv use."""
    n = stats.finished.get(OpStatus.WOULD_CHANGE, 0)
    return f" {OpStatus.WOULD_CHANGE.value}={n}" if n else ""


def progress_line(stats: RunStats, now: float) -> str:
    done = stats.already_final + stats.done
    good = sum(stats.finished.get(s, 0) for s in _GOOD)
    failed = stats.finished.get(OpStatus.FAILED, 0) + stats.finished.get(OpStatus.SKIPPED, 0)
    return (
        f"progress {done}/{stats.total} ok={good}{_would(stats)} failed={failed} "
        f"rate={_rate(stats, now):.1f}/s 429s={stats.rate_limited} retries={stats.retries} "
        f"eta={format_duration(_eta(stats, now))}"
    )


class _Periodic:
    """Emits at most every ``every`` seconds; the subclasses say what."""

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        every: float = 5.0,
    ) -> None:
        self.out = out or sys.stderr  # looked up now: tests and callers may swap sys.stderr
        self.clock = clock
        self.every = every
        self._last = 0.0

    def _due(self) -> bool:
        now = self.clock()
        if now - self._last < self.every:
            return False
        self._last = now
        return True


class PlainDisplay(_Periodic):
    """One timestamped line every ``every`` seconds and no control characters: what cron mails
    should hold. ``wall`` gives the time printed (injected in tests)."""

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        every: float = 5.0,
        wall: Callable[[], datetime] = local_now,
    ) -> None:
        super().__init__(out, clock=clock, every=every)
        self.wall = wall

    def _print(self, line: str) -> None:
        print(f"{timestamp(self.wall())} {line}", file=self.out, flush=True)

    def start(self, stats: RunStats) -> None:
        self._last = self.clock()
        self._print(
            f"starting: {stats.total - stats.already_final} of {stats.total} operations to do"
        )

    def update(self, stats: RunStats) -> None:
        if self._due():
            self._print(progress_line(stats, self.clock()))

    def finish(self, stats: RunStats) -> None:
        self._print(progress_line(stats, self.clock()))


class SilentDisplay:
    """``--quiet``: nothing while the run goes (warnings and the outcome still reach stderr)."""

    def start(self, stats: RunStats) -> None:
        pass

    def update(self, stats: RunStats) -> None:
        pass

    def finish(self, stats: RunStats) -> None:
        pass


class JsonDisplay(_Periodic):
    """One JSON object per line: ``{"event": "progress", ...}``."""

    def _emit(self, event: str, stats: RunStats) -> None:
        record: dict[str, Any] = {"event": event, "at": time.time(), **stats.as_dict()}
        record["rate"] = round(_rate(stats, self.clock()), 3)
        self.out.write(orjson.dumps(record).decode() + "\n")
        self.out.flush()

    def start(self, stats: RunStats) -> None:
        self._last = self.clock()
        self._emit("start", stats)

    def update(self, stats: RunStats) -> None:
        if self._due():
            self._emit("progress", stats)

    def finish(self, stats: RunStats) -> None:
        self._emit("finish", stats)


class RichDisplay:
    """A live progress bar for a terminal (rich)."""

    def __init__(self, out: TextIO | None = None) -> None:
        out = out or sys.stderr
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]bulkops"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeRemainingColumn(),
            console=Console(file=out),
            transient=False,
        )
        self._task: Any = None

    def start(self, stats: RunStats) -> None:
        self._progress.start()
        self._task = self._progress.add_task(
            "run", total=stats.total, completed=stats.already_final, detail=""
        )

    def update(self, stats: RunStats) -> None:
        now = time.monotonic()
        good = sum(stats.finished.get(s, 0) for s in _GOOD)
        failed = stats.finished.get(OpStatus.FAILED, 0) + stats.finished.get(OpStatus.SKIPPED, 0)
        self._progress.update(
            self._task,
            completed=stats.already_final + stats.done,
            detail=f"ok {good}{_would(stats)} · failed {failed} · {_rate(stats, now):.1f}/s · "
            f"429s {stats.rate_limited}",
        )

    def finish(self, stats: RunStats) -> None:
        self.update(stats)
        self._progress.stop()


def choose_display(log_format: str, out: TextIO | None = None, *, quiet: bool = False) -> Display:
    out = out or sys.stderr
    if quiet:
        return SilentDisplay()
    if log_format == "json":
        return JsonDisplay(out)
    if out.isatty():
        return RichDisplay(out)
    return PlainDisplay(out)


@contextlib.asynccontextmanager
async def showing(display: Display, stats: RunStats, *, tick: float = 0.5) -> Any:
    """Refresh ``display`` from ``stats`` in the background while the body runs."""

    async def refresh() -> None:
        while True:
            await asyncio.sleep(tick)
            display.update(stats)

    display.start(stats)
    task = asyncio.create_task(refresh())
    try:
        yield display
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        display.finish(stats)


def whole_process(stats: RunStats, now: float | None = None) -> float | None:
    """Seconds since the process that ran ``stats`` started (start-up, planning and reports
    count, not only the sending), or None when it did not say."""
    if stats.process_started_at is None:
        return None
    return max(0.0, (time.time() if now is None else now) - stats.process_started_at)


def summary_rows(
    result: RunResult, exit_code: int, *, now: float | None = None
) -> list[tuple[str, str]]:
    """The end-of-run summary as label/value pairs, shared by the text and JSON outputs."""
    stats = result.stats
    rows: list[tuple[str, str]] = []
    for status in OpStatus:
        count = result.counts.get(status, 0)
        if count:
            rows.append((status.value, f"{count:,}"))
    rows.append(("total operations", f"{sum(result.counts.values()):,}"))
    rows.append(("duration", format_duration(result.duration)))
    sent = stats.requests
    achieved = sent / result.duration if result.duration > 0 else 0.0
    rows.append(("requests sent", f"{sent:,} ({stats.writes:,} writes, {stats.lookups:,} reads)"))
    rows.append(("achieved rate", f"{achieved:.1f} requests/s"))
    whole = whole_process(stats, now)
    if whole:
        rate = f"{sent / whole:.1f} requests/s"
        rows.append(("whole process", f"{format_duration(whole)}, {rate} (start-up included)"))
    rows.append(("429s", f"{stats.rate_limited:,}"))
    rows.append(("retries", f"{stats.retries:,}"))
    rows.append(("reconciliations", f"{stats.reconciliations:,}"))
    if result.stop_reason is not None:
        rows.append(("stopped", f"{result.stop_reason.value}: {result.stop_detail or ''}".strip()))
    if result.resume_at is not None:
        rows.append(("resume after", result.resume_at.isoformat()))
    rows.append(("exit code", str(exit_code)))
    return rows


def stop_record(result: RunResult) -> dict[str, str | None] | None:
    """Why the run stopped, as the checkpoint, summary.json and the JSON summary keep it."""
    if result.stop_reason is None:
        return None
    return {
        "reason": result.stop_reason.value,
        "detail": result.stop_detail,
        "resume_at": None if result.resume_at is None else result.resume_at.isoformat(),
    }


def verdict(result: RunResult, exit_code: int) -> str:
    """How the run ended, in one line: a stop names its reason and says how to resume."""
    if result.stop_reason is None:
        done = sum(n for s, n in result.counts.items() if s.final)
        failed = result.counts.get(OpStatus.FAILED, 0)
        return f"finished: {done:,} operations, {failed:,} failed (exit {exit_code})"
    detail = result.stop_detail or ""
    hint = ""
    if exit_code == EXIT_RESUMABLE and "run the same command again" not in detail.lower():
        when = "" if result.resume_at is None else f" after {result.resume_at.isoformat()}"
        hint = f"; run the same command again{when} to resume"
    detail = f": {detail}" if detail else ""
    return f"stopped ({result.stop_reason.value}){detail}{hint} (exit {exit_code})"


def summary_record(result: RunResult, exit_code: int) -> dict[str, Any]:
    """The end of a run as one JSON object: the ``summary`` event of ``--log-format json``."""
    stats = result.stats
    whole = whole_process(stats)
    return {
        "event": "summary",
        "at": time.time(),
        "exit_code": exit_code,
        "message": verdict(result, exit_code),
        "stop": stop_record(result),
        "counts": {s.value: n for s, n in result.counts.items() if n},  # the whole job
        "duration_s": round(result.duration, 3),  # the engine's run: the sending span
        **stats.as_dict(),  # this run's counters
        "process_duration_s": None if whole is None else round(whole, 3),
    }


def format_summary(result: RunResult, exit_code: int, *, now: float | None = None) -> str:
    rows = summary_rows(result, exit_code, now=now)
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label:<{width}}  {value}" for label, value in rows)
