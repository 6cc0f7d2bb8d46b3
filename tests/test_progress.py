"""What an operator sees: plain lines for cron (no control characters), JSON lines, the summary."""

from __future__ import annotations

import io

import orjson
import pytest

from bulkops.exit_codes import EXIT_RESUMABLE
from bulkops.model import OpStatus
from bulkops.progress import JsonDisplay, PlainDisplay, format_duration, format_summary
from bulkops.run.stats import RunResult, RunStats, StopReason


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def stats_at(clock: Clock) -> RunStats:
    stats = RunStats(total=10, already_final=2, started=clock.now)
    return stats


def test_plain_display_prints_a_line_every_interval_without_control_characters() -> None:
    clock, out = Clock(), io.StringIO()
    stats = stats_at(clock)
    display = PlainDisplay(out, clock=clock, every=5.0)
    display.start(stats)
    for _ in range(12):  # 12 seconds of ticks
        clock.now += 1.0
        stats.count(OpStatus.SUCCEEDED)
        display.update(stats)
    stats.count(OpStatus.FAILED)
    display.finish(stats)
    lines = out.getvalue().splitlines()
    assert lines[0] == "starting: 8 of 10 operations to do"
    assert len(lines) == 1 + 2 + 1  # start, two periodic lines (t=5, t=10), finish
    assert lines[-1].startswith("progress 15/10 ok=12 failed=1 rate=1.1/s")
    assert all(ch.isprintable() for line in lines for ch in line)


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
