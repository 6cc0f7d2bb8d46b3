from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkops.run.retry import RetryPolicy
from bulkops.zoom.answers import parse_retry_after

NOW = datetime(2026, 10, 21, 7, 27, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("", None, id="empty"),
        pytest.param("   ", None, id="blank"),
        pytest.param("2", 2.0, id="seconds"),
        pytest.param(" 7 ", 7.0, id="seconds-padded"),
        pytest.param("1.5", 1.5, id="fractional-seconds"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("-1", None, id="negative-is-garbage"),
        pytest.param("nan", None, id="nan"),
        pytest.param("inf", None, id="inf"),
        pytest.param("Wed, 21 Oct 2026 07:28:00 GMT", 30.0, id="http-date"),
        pytest.param("Wednesday, 21-Oct-26 07:28:00 GMT", 30.0, id="rfc850-date"),
        pytest.param("Wed Oct 21 07:28:00 2026", 30.0, id="asctime-date"),
        pytest.param("Wed, 21 Oct 2026 07:00:00 GMT", 0.0, id="http-date-past"),
        pytest.param("2026-10-21T07:28:00Z", 30.0, id="iso-zulu"),
        pytest.param("2026-10-21T09:28:00+02:00", 30.0, id="iso-offset"),
        pytest.param("2026-10-21T07:28:00", 30.0, id="iso-naive-is-utc"),
        pytest.param("2026-10-21T07:28:00.250Z", 30.25, id="iso-fraction"),
        pytest.param("2020-05-31T00:00:00Z", 0.0, id="iso-past"),
        pytest.param("2026-10-22T00:00:00Z", 59_550.0, id="iso-daily-reset"),
        pytest.param("soon", None, id="word"),
        pytest.param("2026-13-45T99:00:00Z", None, id="iso-invalid"),
        pytest.param("Wed, 99 Foo 2026 07:28:00 GMT", None, id="http-date-invalid"),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_naive_now_is_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert parse_retry_after("2026-10-21T07:28:00Z", now=naive) == 30.0


@given(st.text(max_size=40))
def test_parse_retry_after_never_raises_and_never_negative(value: str) -> None:
    result = parse_retry_after(value, now=NOW)
    assert result is None or result >= 0


@given(st.datetimes(timezones=st.just(UTC)))
def test_parse_retry_after_round_trips_iso(moment: datetime) -> None:
    expected = max(0.0, (moment - NOW).total_seconds())
    result = parse_retry_after(moment.isoformat(), now=NOW)
    assert result == pytest.approx(expected)


def test_backoff_is_full_jitter_within_exponential_ceiling() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)]:
        draws = [policy.backoff(attempt, rng) for _ in range(400)]
        assert min(draws) >= 0 and max(draws) <= ceiling
        # Full jitter spreads over the whole range, not just near the ceiling.
        assert min(draws) < ceiling * 0.05 and max(draws) > ceiling * 0.95


def test_backoff_is_deterministic_for_a_seed_and_survives_huge_attempts() -> None:
    policy = RetryPolicy()
    first = [policy.backoff(a, random.Random(7)) for a in range(1, 6)]
    assert first == [policy.backoff(a, random.Random(7)) for a in range(1, 6)]
    assert 0 <= policy.backoff(10_000, random.Random(7)) <= policy.max_delay


def test_delay_prefers_retry_after_capped() -> None:
    policy = RetryPolicy(max_retry_after=60.0)
    rng = random.Random(3)
    assert policy.delay(1, rng, retry_after=2.5) == 2.5
    assert policy.delay(1, rng, retry_after=timedelta(hours=1).total_seconds()) == 60.0
    assert 0 <= policy.delay(2, rng) <= 1.0


def test_can_retry_counts_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [policy.can_retry(a) for a in (1, 2, 3)] == [True, True, False]


def test_rate_limited_budget_allows_exactly_max_rate_limited_429s() -> None:
    policy = RetryPolicy(max_rate_limited=2)
    assert [policy.can_retry_rate_limited(n) for n in (1, 2, 3)] == [True, True, False]
    assert not RetryPolicy(max_rate_limited=0).can_retry_rate_limited(1)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"max_attempts": 0}, id="no-attempts"),
        pytest.param({"base_delay": 5.0, "max_delay": 1.0}, id="base-over-max"),
        pytest.param({"base_delay": -1.0}, id="negative-base"),
        pytest.param({"max_retry_after": -1.0}, id="negative-cap"),
        pytest.param({"max_rate_limited": -1}, id="negative-429-budget"),
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
