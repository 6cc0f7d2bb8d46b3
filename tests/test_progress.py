"""What an operator sees: plain lines for cron (no control characters), JSON lines, the summary."""

from __future__ import annotations

import io
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from bulkops.exit_codes import EXIT_OK, EXIT_RESUMABLE
from bulkops.model import OpStatus
from bulkops.progress import (
    JsonDisplay,
    PlainDisplay,
    SilentDisplay,
    choose_display,
    format_duration,
    format_summary,
    stop_record,
    summary_record,
    verdict,
)
from bulkops.run.stats import RunResult, RunStats, StopReason

CET = timezone(timedelta(hours=1))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def stats_at(clock: Clock) -> RunStats:
    stats = RunStats(total=10, already_final=2, started=clock.now)
    return stats


def test_plain_display_prints_a_timestamped_line_every_interval_without_control_characters() -> (
    None
):
    clock, out = Clock(), io.StringIO()
    start = datetime(2026, 12, 24, 2, 0, 0, tzinfo=CET)
    stats = stats_at(clock)
    display = PlainDisplay(
        out, clock=clock, every=5.0, wall=lambda: start + timedelta(seconds=clock.now - 100.0)
    )
    display.start(stats)
    for _ in range(12):  # 12 seconds of ticks
        clock.now += 1.0
        stats.count(OpStatus.SUCCEEDED)
        display.update(stats)
    stats.count(OpStatus.FAILED)
    display.finish(stats)
    lines = out.getvalue().splitlines()
    assert lines[0] == "2026-12-24T02:00:00+01:00 starting: 8 of 10 operations to do"
    assert len(lines) == 1 + 2 + 1  # start, two periodic lines (t=5, t=10), finish
    assert lines[1].startswith("2026-12-24T02:00:05+01:00 progress ")
    assert lines[-1].startswith(
        "2026-12-24T02:00:12+01:00 progress 15/10 ok=12 failed=1 rate=1.1/s"
    )
    assert all(ch.isprintable() for line in lines for ch in line)


def test_quiet_shows_nothing_while_the_run_goes() -> None:
    out = io.StringIO()
    for log_format in ("text", "json"):
        display = choose_display(log_format, out, quiet=True)
        assert isinstance(display, SilentDisplay)
        stats = RunStats(total=3)
        display.start(stats)
        stats.count(OpStatus.SUCCEEDED)
        display.update(stats)
        display.finish(stats)
    assert out.getvalue() == ""
    assert isinstance(choose_display("text", out), PlainDisplay)  # not a terminal
    assert isinstance(choose_display("json", out), JsonDisplay)


def test_json_display_writes_one_object_per_line() -> None:
    clock, out = Clock(), io.StringIO()
    stats = stats_at(clock)
    display = JsonDisplay(out, clock=clock, every=1.0)
    display.start(stats)
    clock.now += 2
    stats.count(OpStatus.ALREADY_PRESENT)
    display.update(stats)
    display.finish(stats)
    events = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["start", "progress", "finish"]
    assert events[-1]["finished"] == {"already_present": 1} and events[-1]["rate"] == 0.5


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "?"), (0.4, "0m00s"), (61, "1m01s"), (3725, "1h02m05s")],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_summary_names_the_stop_and_the_exit_code() -> None:
    stats = RunStats(requests=50, writes=40, lookups=10, rate_limited=1, retries=2)
    result = RunResult(
        stop_reason=StopReason.MAX_RUNTIME,
        stop_detail=None,
        resume_at=None,
        counts={OpStatus.SUCCEEDED: 40, OpStatus.NOT_RUN: 5},
        stats=stats,
        duration=2.0,
    )
    text = format_summary(result, EXIT_RESUMABLE)
    assert "succeeded         40" in text and "not_run           5" in text
    assert "25.0 requests/s" in text and "stopped           max_runtime" in text
    assert text.rstrip().endswith("exit code         75")


def _stopped_by_the_daily_limit() -> RunResult:
    return RunResult(
        stop_reason=StopReason.DAILY_LIMIT,
        stop_detail="Zoom's daily limit was reached",
        resume_at=datetime(2026, 12, 25, tzinfo=UTC),
        counts={OpStatus.SUCCEEDED: 7, OpStatus.NOT_RUN: 3},
        stats=RunStats(total=10, requests=9, writes=7, lookups=2),
        duration=4.0,
    )


def test_a_stop_is_one_line_with_its_reason_and_when_to_resume() -> None:
    result = _stopped_by_the_daily_limit()
    assert verdict(result, EXIT_RESUMABLE) == (
        "stopped (daily_limit): Zoom's daily limit was reached; run the same command again "
        "after 2026-12-25T00:00:00+00:00 to resume (exit 75)"
    )
    told = replace(
        result, stop_reason=StopReason.BREAKER, stop_detail="…; run the same command again"
    )
    assert verdict(told, EXIT_RESUMABLE) == (
        "stopped (breaker): …; run the same command again (exit 75)"
    )
    refused = replace(result, stop_reason=StopReason.AUTH, stop_detail="no scope", resume_at=None)
    assert verdict(refused, 77) == "stopped (auth): no scope (exit 77)"  # no resume: fix it first
    assert stop_record(result) == {
        "reason": "daily_limit",
        "detail": "Zoom's daily limit was reached",
        "resume_at": "2026-12-25T00:00:00+00:00",
    }
    finished = RunResult(None, None, None, {OpStatus.SUCCEEDED: 2}, RunStats(), 1.0)
    assert stop_record(finished) is None
    assert verdict(finished, EXIT_OK) == "finished: 2 operations, 0 failed (exit 0)"


def test_the_summary_event_carries_the_exit_code_the_stop_and_the_counts() -> None:
    record = summary_record(_stopped_by_the_daily_limit(), EXIT_RESUMABLE)
    assert record["event"] == "summary" and record["exit_code"] == 75
    assert record["stop"]["reason"] == "daily_limit"
    assert record["counts"] == {"succeeded": 7, "not_run": 3}
    assert record["requests"] == 9 and record["duration_s"] == 4.0
    assert record["message"].startswith("stopped (daily_limit)")
    orjson.dumps(record)  # serialisable as it is


def test_the_summary_tells_the_whole_process_beside_the_sending_span() -> None:
    stats = RunStats(requests=50, writes=40, lookups=10, process_started_at=1000.0, pid=7)
    result = RunResult(None, None, None, {OpStatus.SUCCEEDED: 40}, stats, duration=2.0)
    text = format_summary(result, EXIT_OK, now=1004.0)
    assert "duration          0m02s" in text and "25.0 requests/s" in text  # the sending span
    assert "whole process     0m04s, 12.5 requests/s (start-up included)" in text
    unknown = replace(result, stats=RunStats(requests=50))
    assert "whole process" not in format_summary(unknown, EXIT_OK)


def test_the_summary_event_counts_from_the_start_of_the_process() -> None:
    record = summary_record(_stopped_by_the_daily_limit(), EXIT_RESUMABLE)
    assert record["process_duration_s"] is None  # the run did not say when its process began
    stats = RunStats(requests=9, process_started_at=time.time() - 60.0, pid=7)
    record = summary_record(replace(_stopped_by_the_daily_limit(), stats=stats), EXIT_RESUMABLE)
    assert record["process_duration_s"] >= 60.0 and record["duration_s"] == 4.0
    assert record["pid"] == 7
