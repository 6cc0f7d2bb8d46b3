"""What the engine does after a failed attempt: one table row per case of `decide`."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from bulkops.errors import (
    ApiError,
    AuthError,
    ExtensionNotFoundError,
    FatalApiError,
    RateLimitedError,
    RetriableApiError,
    UnreadableAnswerError,
)
from bulkops.run.decide import (
    Decision,
    ExtensionGone,
    Fail,
    History,
    Reconcile,
    Retry,
    Stop,
    TookEffect,
    decide,
)
from bulkops.run.retry import RetryPolicy
from bulkops.run.stats import StopReason

RESET = datetime(2026, 10, 22, tzinfo=UTC)
QPS = "You have reached the maximum per-second rate limit for this API. Try again later."
DAILY = "You have reached the maximum daily rate limit for this API."
GONE = "Extension does not exist: abc"
UNREADABLE = "could not read the extension's settings"
# Budgets small enough to spend in a row; backoff ceilings 1, 2, 4, 8 s.
POLICY = RetryPolicy(
    max_attempts=3, base_delay=1.0, max_delay=8.0, max_retry_after=60.0, max_rate_limited=2
)


class MaxJitter(random.Random):
    """Full jitter that always draws the longest wait, so every delay is known."""

    def uniform(self, a: float, b: float) -> float:
        return b


def qps(retry_after: float | None = None) -> RateLimitedError:
    return RateLimitedError(QPS, code=429, retry_after=retry_after)


def server(
    status: int | None = 503, *, sent: bool = True, retry_after: float | None = None
) -> RetriableApiError:
    message = f"HTTP {status}" if status else "Zoom closed the connection before answering"
    return RetriableApiError(message, status=status, sent=sent, retry_after=retry_after)


def unreadable(reason: str = "the body is empty (text/html, 0 bytes)") -> UnreadableAnswerError:
    return UnreadableAnswerError(reason, status=200)


def not_found(message: str = "Holiday does not exist.") -> FatalApiError:
    return FatalApiError(message, status=404, code=404)


def _table() -> list[object]:
    h = History
    rows: list[tuple[str, ApiError, str, History, Decision]] = [
        # -- refusals that stop the run
        ("401-on-read", AuthError("Invalid access token.", status=401, code=124), "GET", h(),
         Stop(StopReason.AUTH, "Invalid access token.")),
        ("403-on-write", AuthError("no phone", status=403, code=2031), "POST", h(),
         Stop(StopReason.AUTH, "no phone")),
        ("429-daily-with-reset", RateLimitedError(DAILY, daily=True, retry_at=RESET), "PATCH",
         h(rate_limited=1),
         Stop(StopReason.DAILY_LIMIT,
              "Zoom's daily limit was reached; it resets at 2026-10-22T00:00:00+00:00", RESET)),
        ("429-daily-without-reset", RateLimitedError(DAILY, daily=True), "GET", h(rate_limited=1),
         Stop(StopReason.DAILY_LIMIT, "Zoom's daily limit was reached")),
        ("429-daily-even-over-budget", RateLimitedError(DAILY, daily=True), "POST",
         h(rate_limited=9), Stop(StopReason.DAILY_LIMIT, "Zoom's daily limit was reached")),
        # -- per-second 429s: slow everyone down, wait as told
        ("429-retry-after", qps(2.0), "POST", h(rate_limited=1),
         Retry(2.0, slow_down=True, hold_everyone=True)),
        ("429-retry-after-capped", qps(200.0), "GET", h(rate_limited=1),
         Retry(60.0, slow_down=True, hold_everyone=True)),
        ("429-retry-after-past-backs-off", qps(0.0), "PATCH", h(rate_limited=2),
         Retry(2.0, slow_down=True)),
        ("429-no-retry-after-backs-off", qps(), "DELETE", h(rate_limited=2),
         Retry(2.0, slow_down=True)),
        ("429-over-budget-write", qps(1.0), "PATCH", h(rate_limited=3),
         Fail(f"rate limited too often: {QPS}")),
        ("429-over-budget-read", qps(), "GET", h(rate_limited=3),
         Fail(f"{UNREADABLE}: rate limited too often: {QPS}")),
        # -- retriable failures: retry within the budget of attempts
        ("5xx-read-retries", server(500), "GET", h(failures=1), Retry(1.0)),
        ("5xx-read-budget-spent", server(500), "GET", h(failures=3),
         Fail(f"{UNREADABLE}: HTTP 500")),
        ("5xx-patch-retries", server(502), "PATCH", h(failures=2), Retry(2.0)),
        ("5xx-retry-after-wins", server(503, retry_after=5.0), "PATCH", h(failures=1), Retry(5.0)),
        ("5xx-patch-gives-up", server(502), "PATCH", h(failures=3),
         Fail("gave up after 3 attempts: HTTP 502")),
        ("5xx-delete-retries-blind", server(502), "DELETE", h(failures=1, maybe_applied=True),
         Retry(1.0)),
        ("409-patch-retries", server(409), "PATCH", h(failures=1), Retry(1.0)),
        # -- a read answered 2xx with a body not understood: never "empty", retried, then failed
        ("unreadable-read-retries", unreadable(), "GET", h(failures=1), Retry(1.0)),
        ("unreadable-read-budget-spent", unreadable(), "GET", h(failures=3),
         Fail(f"{UNREADABLE}: {unreadable().message}")),
        # -- a POST whose answer was lost: read before sending again
        ("post-dropped-reconciles", server(None), "POST", h(failures=1, maybe_applied=True),
         Reconcile(Retry(1.0))),
        ("post-5xx-reconciles", server(500), "POST", h(failures=2, maybe_applied=True),
         Reconcile(Retry(2.0))),
        ("post-budget-spent-reconciles-first", server(None), "POST",
         h(failures=3, maybe_applied=True),
         Reconcile(Fail("gave up after 3 attempts: Zoom closed the connection before answering"))),
        ("post-not-sent-resends", server(None, sent=False), "POST", h(failures=1), Retry(1.0)),
        ("post-409-was-refused-resends", server(409), "POST", h(failures=1), Retry(1.0)),
        ("post-not-sent-after-a-lost-answer", server(None, sent=False), "POST",
         h(failures=2, maybe_applied=True), Reconcile(Retry(2.0))),
        # -- a POST whose earlier answer was lost may still be landing: a "busy" refusal (409,
        #    or Zoom's 429) is no proof it did not, so every resend is read for first
        ("post-409-after-a-lost-answer-reads-first", server(409), "POST",
         h(failures=2, maybe_applied=True), Reconcile(Retry(2.0))),
        ("post-429-after-a-lost-answer-reads-first", qps(2.0), "POST",
         h(failures=1, rate_limited=1, maybe_applied=True),
         Reconcile(Retry(2.0, slow_down=True, hold_everyone=True))),
        ("post-429-over-budget-after-a-lost-answer", qps(1.0), "POST",
         h(rate_limited=3, maybe_applied=True), Fail(f"rate limited too often: {QPS}")),
        ("patch-409-after-a-lost-answer-retries", server(409), "PATCH",
         h(failures=2, maybe_applied=False), Retry(2.0)),
        # -- the extension is gone
        ("extension-gone-on-read", ExtensionNotFoundError(GONE, status=404), "GET", h(),
         Fail(GONE)),
        ("extension-gone-on-post", ExtensionNotFoundError(GONE, status=404), "POST", h(),
         ExtensionGone(GONE)),
        ("extension-gone-beats-took-effect", ExtensionNotFoundError(GONE, status=404), "DELETE",
         h(maybe_applied=True, target_was_read=True), ExtensionGone(GONE)),
        # -- a DELETE's 404: did an earlier attempt do it?
        ("delete-404-after-lost-answer", not_found(), "DELETE", h(failures=1, maybe_applied=True),
         TookEffect()),
        ("delete-404-after-a-crash", not_found(), "DELETE", h(in_flight_before=True),
         TookEffect()),
        ("delete-404-target-was-read", not_found(), "DELETE", h(target_was_read=True),
         TookEffect()),
        ("delete-404-blind-first-attempt", not_found(), "DELETE", h(),
         Fail("Holiday does not exist.")),
        ("patch-404-is-a-failure", not_found(), "PATCH", h(maybe_applied=True, target_was_read=True),
         Fail("Holiday does not exist.")),
        ("read-404-is-a-failure", not_found("Not found"), "GET", h(target_was_read=True),
         Fail("Not found")),
        # -- everything else Zoom refuses
        ("400-validation", FatalApiError("Validation Failed.", status=400, code=300), "POST", h(),
         Fail("Validation Failed.")),
        ("invalid-id-nothing-sent", FatalApiError("invalid extension id 'a/b'"), "DELETE",
         h(target_was_read=True), Fail("invalid extension id 'a/b'")),
    ]  # fmt: skip
    return [pytest.param(*row[1:], id=row[0]) for row in rows]


@pytest.mark.parametrize(("error", "method", "history", "expected"), _table())
def test_decide(error: ApiError, method: str, history: History, expected: Decision) -> None:
    assert decide(error, method, history, POLICY, MaxJitter()) == expected


LONG_WAIT = (
    "Zoom asked to wait 60 min before the next request (Retry-After), longer than the 5 min "
    "bulkops waits; run the same command again after the resume time"
)


def only_429s(span: str) -> str:
    return (
        f"Zoom has answered nothing but 429s for {span} (another app may be using the "
        "account's quota); run the same command again after the resume time"
    )


def _stall_table() -> list[object]:
    h = History
    rows: list[tuple[str, ApiError, History, float, Decision]] = [
        ("retry-after-beyond-max-stall-stops-at-once", qps(3600.0), h(rate_limited=1), 0.0,
         Stop(StopReason.RATE_LIMITED, LONG_WAIT, resume_in=3600.0)),
        ("retry-after-up-to-max-stall-is-waited", qps(300.0), h(rate_limited=1), 0.0,
         Retry(60.0, slow_down=True, hold_everyone=True)),
        ("a-wait-past-max-stall-stops", qps(60.0), h(rate_limited=1), 250.0,
         Stop(StopReason.RATE_LIMITED, only_429s("4 min"), resume_in=250.0)),
        ("a-wait-up-to-max-stall-is-waited", qps(60.0), h(rate_limited=1), 240.0,
         Retry(60.0, slow_down=True, hold_everyone=True)),
        ("backoff-past-max-stall-stops", qps(), h(rate_limited=4), 295.0,
         Stop(StopReason.RATE_LIMITED, only_429s("5 min"), resume_in=295.0)),
        ("retry-after-past-backs-off-then-stops", qps(0.0), h(rate_limited=1), 300.0,
         Stop(StopReason.RATE_LIMITED, only_429s("5 min"), resume_in=300.0)),
        ("a-stall-stops-rather-than-fail-over-budget", qps(), h(rate_limited=9), 299.0,
         Stop(StopReason.RATE_LIMITED, only_429s("5 min"), resume_in=299.0)),
        ("a-short-stall-in-seconds", qps(250.0), h(rate_limited=1), 100.0,
         Stop(StopReason.RATE_LIMITED, only_429s("100 s"), resume_in=250.0)),
        ("a-day-long-retry-after-in-hours", qps(86400.0), h(rate_limited=1), 0.0,
         Stop(StopReason.RATE_LIMITED, LONG_WAIT.replace("60 min", "24.0 h"), resume_in=86400.0)),
        ("the-daily-limit-wins", RateLimitedError(DAILY, daily=True), h(rate_limited=1), 900.0,
         Stop(StopReason.DAILY_LIMIT, "Zoom's daily limit was reached")),
    ]  # fmt: skip
    return [pytest.param(*row[1:], id=row[0]) for row in rows]


@pytest.mark.parametrize(("error", "history", "stalled", "expected"), _stall_table())
def test_decide_bounds_the_wait_on_rate_limits(
    error: ApiError, history: History, stalled: float, expected: Decision
) -> None:
    """``stalled``: seconds of nothing but 429s, run-wide; max_stall is the default 300 s."""
    assert decide(error, "POST", history, POLICY, MaxJitter(), stalled=stalled) == expected


@pytest.mark.parametrize(
    ("error", "method", "expected"),
    [
        pytest.param(unreadable(), "GET", History(failures=1), id="unreadable-is-a-failure"),
        pytest.param(qps(), "POST", History(rate_limited=1), id="429-counts-refusals-only"),
        pytest.param(server(500), "POST", History(failures=1, maybe_applied=True), id="post-5xx"),
        pytest.param(server(None), "DELETE", History(failures=1, maybe_applied=True), id="delete"),
        pytest.param(server(None), "PATCH", History(failures=1), id="patch-is-idempotent"),
        pytest.param(server(None, sent=False), "POST", History(failures=1), id="post-not-sent"),
        pytest.param(server(409), "DELETE", History(failures=1), id="409-was-refused"),
        pytest.param(not_found(), "DELETE", History(), id="fatal-changes-nothing"),
    ],
)
def test_history_after_one_answer(error: ApiError, method: str, expected: History) -> None:
    assert History().after(error, method) == expected


def test_history_keeps_a_lost_answer_and_what_was_known_before() -> None:
    before = History(in_flight_before=True, target_was_read=True)
    history = before.after(server(None), "POST").after(server(None, sent=False), "POST")
    assert history == History(
        failures=2, maybe_applied=True, in_flight_before=True, target_was_read=True
    )


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
def test_the_attempt_budget_is_the_policys(method: str) -> None:
    """Attempts 1 .. max_attempts - 1 retry; the last one fails (after a POST's reconcile)."""
    policy = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0)
    history = History()
    decisions = []
    for _ in range(4):
        history = history.after(server(503, sent=False), method)
        decisions.append(decide(server(503, sent=False), method, history, policy, MaxJitter()))
    assert decisions[:3] == [Retry(0.0)] * 3
    assert isinstance(decisions[3], Fail)


def test_jitter_comes_from_the_rng_given() -> None:
    """Two decisions with equally seeded generators agree; the wait stays under the ceiling."""
    history = History(failures=2)
    first = decide(server(503), "PATCH", history, POLICY, random.Random(11))
    second = decide(server(503), "PATCH", history, POLICY, random.Random(11))
    assert first == second
    assert isinstance(first, Retry) and 0.0 <= first.after <= 2.0
