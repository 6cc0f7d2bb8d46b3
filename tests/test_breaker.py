from __future__ import annotations

import pytest

from bulkops.run.breaker import Breaker


def test_first_n_same_error_trips() -> None:
    b = Breaker(first_n=5, window=100)
    tripped = [b.record(True, "HTTP 400, code 400") for _ in range(5)]
    assert tripped == [False, False, False, False, True]
    assert b.tripped and "first 5" in (b.reason or "")


@pytest.mark.parametrize(
    "outcomes",
    [
        pytest.param([(True, "a")] * 4 + [(False, None)], id="one-success"),
        pytest.param([(True, "a")] * 4 + [(True, "b")], id="different-errors"),
    ],
)
def test_first_n_mixed_does_not_trip(outcomes: list[tuple[bool, str | None]]) -> None:
    b = Breaker(first_n=5, window=100)
    assert not any(b.record(f, k) for f, k in outcomes)
    assert not b.tripped


def test_window_ratio_trips_only_over_half() -> None:
    b = Breaker(first_n=0, window=10, ratio=0.5)
    for i in range(10):
        b.record(i >= 5, "x")  # exactly half fail: not over the ratio
    assert not b.tripped
    b.record(True, "x")  # a success leaves the window: 6 failures of 10
    assert b.tripped


def test_records_after_trip_are_ignored() -> None:
    b = Breaker(first_n=1, window=10)
    assert b.record(True, "x")
    assert not b.record(True, "x")
