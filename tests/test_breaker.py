from __future__ import annotations

import pytest

from bulkops.errors import ApiError, FatalApiError, RetriableApiError
from bulkops.run.breaker import Breaker, failure_kind


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


REFUSED = "could not connect to Zoom: connection refused (ClientConnectorError; not sent)"
KIND_CASES = [
    pytest.param(
        FatalApiError("Validation Failed.", status=400, code=300),
        "HTTP 400, code 300",
        id="zoom-said-no",
    ),
    pytest.param(RetriableApiError("HTTP 503", status=503), "HTTP 503", id="5xx-without-code"),
    pytest.param(
        RetriableApiError(REFUSED, sent=False, kind="connection refused"),
        "connection refused",
        id="refused",
    ),
    pytest.param(
        RetriableApiError("cannot reach the token endpoint", sent=False, kind="DNS lookup failed"),
        "DNS lookup failed",
        id="dns",
    ),
    pytest.param(
        FatalApiError("invalid extension id 'a/b'"),
        "invalid extension id 'a/b'",
        id="nothing-sent-no-kind",
    ),
]


@pytest.mark.parametrize(("error", "kind"), KIND_CASES)
def test_failures_are_keyed_by_kind(error: ApiError, kind: str) -> None:
    assert failure_kind(error) == kind


def test_one_outage_seen_on_many_extensions_is_one_kind() -> None:
    """The same refusal on different URLs: the key names the failure, never the extension."""
    errors = [
        RetriableApiError(
            f"could not connect to Zoom: connection refused (GET /phone/extension/{ext}/…)",
            sent=False,
            kind="connection refused",
        )
        for ext in ("ext-a", "ext-b", "ext-c")
    ]
    assert {failure_kind(e) for e in errors} == {"connection refused"}
    b = Breaker(first_n=3, window=100)
    assert [b.record(True, failure_kind(e), pending=True) for e in errors] == [False, False, True]
    assert b.reason is not None and b.reason.startswith("Zoom could not be reached")
    assert '"connection refused"' in b.reason and "none is marked failed" in b.reason
    assert b.left_pending == 3


def test_the_window_rule_names_the_commonest_kind() -> None:
    b = Breaker(first_n=0, window=4, ratio=0.5)
    for failed, key in [(True, "HTTP 400, code 300"), (False, None), (True, "HTTP 400, code 300")]:
        b.record(failed, key)
    assert b.record(True, "HTTP 404, code 404")
    assert b.reason is not None and "3 of the last 4" in b.reason
    assert "most: HTTP 400, code 300" in b.reason and "failures.csv" in b.reason


def test_an_outage_mid_run_trips_the_window_and_says_so() -> None:
    b = Breaker(first_n=2, window=4, ratio=0.5)
    b.record(False)
    b.record(False)
    b.record(True, "connect timeout", pending=True)
    b.record(True, "connect timeout", pending=True)
    assert not b.tripped  # half, not more
    assert b.record(True, "connect timeout", pending=True)
    assert b.reason is not None and b.reason.startswith(
        "Zoom could not be reached: 3 of the last 4"
    )
    assert "left pending" in b.reason and "failures.csv" not in b.reason


def test_work_left_pending_is_reported_even_when_nothing_trips() -> None:
    b = Breaker(first_n=20, window=100)
    assert b.pending_reason() is None
    b.record(False)
    b.record(True, "connection refused", pending=True)
    assert not b.tripped
    reason = b.pending_reason()
    assert reason is not None and "(connection refused) for 1 extension(s)" in reason
    assert "Run the same command again" in reason
