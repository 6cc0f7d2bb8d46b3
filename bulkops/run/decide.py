"""What to do after an attempt failed: a pure function of the error and the request's history.

The engine sends a request; when the answer is an error it adds it to the request's
:class:`History`, asks :func:`decide`, and carries out the :data:`Decision`, nothing more. A
*read* is the GET of an extension's settings, a *write* a POST, PATCH or DELETE. The first
matching row wins:

    answer                                    read                    write
    401 after a token refresh, 403            stop (auth)             stop (auth)
    429 daily limit                           stop until the reset    stop until the reset
    429 whose wait would stall the run        stop (rate_limited) until the wait is over
      (a Retry-After over max_stall, or only
      429s for max_stall with this wait)
    429 per second, within the 429 budget     retry: slow everyone down; wait Retry-After
                                              (holding every request) or a backoff
    429 over the budget                       fail                    fail
    no connection (refused, DNS, TLS,         retry after a backoff
      connect timeout): never reached Zoom
      … the budget of attempts spent          defer: pending again    defer: pending again
    5xx, 409, timeout, dropped connection,    retry after a backoff (or the 5xx's Retry-After)
    2xx read not understood (wrong shape)
      … the budget of attempts spent          fail                    fail
      … a POST that may have taken effect                             reconcile, then as above
    any retry of a POST whose earlier answer                          reconcile (after the wait),
      was lost (a 409 or 429 "busy" included)                         then resend if absent
    404 "Extension does not exist"            fail                    extension gone
    404 to a DELETE that may have worked                              took effect
    any other 4xx                             fail                    fail

A failed read fails the operations of the extension that remain (the engine cannot resolve
them without it); a failed write fails its own operation. A read answered with something other
than the documented shape is never taken as "empty": its extension's writes wait for a read
that is understood, and fail with the reason when none comes. A deferred request failed only
because Zoom could not be reached, which says nothing about the operation: it stays pending for
a later run, and the breaker, which sees the same kind of failure on every extension, stops the
run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime

from ..errors import (
    ApiError,
    AuthError,
    ExtensionNotFoundError,
    RateLimitedError,
    RetriableApiError,
)
from .retry import RetryPolicy
from .stats import StopReason

__all__ = [
    "Decision",
    "Defer",
    "ExtensionGone",
    "Fail",
    "History",
    "Reconcile",
    "Retry",
    "Stop",
    "TookEffect",
    "decide",
]

READ = "GET"
UNREADABLE = "could not read the extension's settings"


@dataclass(frozen=True, slots=True)
class Retry:
    """Send the same request again after ``after`` seconds."""

    after: float
    slow_down: bool = False  # a per-second 429: cut the shared rate (AIMD)
    hold_everyone: bool = False  # Zoom named the wait: no lane sends before it ends


@dataclass(frozen=True, slots=True)
class Fail:
    """The request failed for good; ``message`` says why, for the report."""

    message: str


@dataclass(frozen=True, slots=True)
class Reconcile:
    """The POST may have created its item though its answer was lost. Read the extension: an
    item found by its natural key means the operation succeeded; otherwise carry out ``then``
    (sending again is safe once the read shows the item absent)."""

    then: Retry | Fail


@dataclass(frozen=True, slots=True)
class TookEffect:
    """An earlier attempt did the job though its answer was lost: the operation succeeded."""


@dataclass(frozen=True, slots=True)
class ExtensionGone:
    """The extension does not exist: this operation fails, its later ones are skipped unsent."""

    message: str


@dataclass(frozen=True, slots=True)
class Stop:
    """Nothing more can be sent now: stop the run (resumably) for ``reason``."""

    reason: StopReason
    detail: str
    resume_at: datetime | None = None  # a daily limit's reset, when Zoom said
    resume_in: float | None = None  # or: seconds from now (the engine knows the time)


@dataclass(frozen=True, slots=True)
class Defer:
    """The request never reached Zoom, however often it was tried: Zoom is unreachable from
    here. The operation stays pending for a later run, its extension's later operations wait
    behind it (plan order), and the breaker counts the failure by its kind."""

    message: str


Decision = Retry | Reconcile | TookEffect | Fail | ExtensionGone | Stop | Defer


def _may_have_applied(error: RetriableApiError) -> bool:
    # Reached Zoom, and not a 409 (a concurrent write refused: nothing was applied).
    return error.sent and error.status != 409


@dataclass(frozen=True, slots=True)
class History:
    """What one request went through so far, and what was known before it was first sent."""

    failures: int = 0  # retriable failures other than 429s
    rate_limited: int = 0  # 429s
    # A POST or DELETE of this run reached Zoom but its answer was lost. (A PATCH is idempotent:
    # sending it again settles it, whatever the lost attempt did.)
    maybe_applied: bool = False
    in_flight_before: bool = False  # an earlier run sent it and never learnt the outcome
    target_was_read: bool = False  # the extension was read before sending: the target was there

    def after(self, error: ApiError, method: str) -> History:
        """This history with ``error``, the latest answer to a ``method`` request, added."""
        if isinstance(error, RateLimitedError):
            return replace(self, rate_limited=self.rate_limited + 1)
        if isinstance(error, RetriableApiError):
            lost = method in ("POST", "DELETE") and _may_have_applied(error)
            return replace(
                self, failures=self.failures + 1, maybe_applied=self.maybe_applied or lost
            )
        return self


def decide(
    error: ApiError,
    method: str,
    history: History,
    policy: RetryPolicy,
    rng: random.Random,
    *,
    stalled: float = 0.0,
) -> Decision:
    """What to do after ``error`` answered a ``method`` request; ``history`` already has it.

    ``stalled`` is how long the whole run has had nothing but 429s: seconds since the first
    429 after its last successful request (0 when this is that first 429). ``rng`` draws the
    backoff's jitter: pass a seeded one for a repeatable decision.
    """
    read = method == READ
    if isinstance(error, AuthError):
        return Stop(StopReason.AUTH, error.message)
    if isinstance(error, RateLimitedError):
        return _read_first(
            _after_rate_limit(error, read, history, policy, rng, stalled), method, history
        )
    if isinstance(error, RetriableApiError) and _never_reached_zoom(error):
        return _read_first(_after_no_connection(error, history, policy, rng), method, history)
    if isinstance(error, RetriableApiError):
        then = _after_failure(error, read, history, policy, rng)
        if method == "POST" and (_may_have_applied(error) or history.maybe_applied):
            return Reconcile(then)
        return then
    if isinstance(error, ExtensionNotFoundError):
        return Fail(error.message) if read else ExtensionGone(error.message)
    if method == "DELETE" and error.status == 404 and _delete_may_have_worked(history):
        return TookEffect()
    return Fail(error.message)


def _read_first(decision: Decision, method: str, history: History) -> Decision:
    """A resend of a POST whose earlier answer was lost waits, reads, and goes only if the item
    is absent: that attempt may still be landing, and a refusal now ("busy": a 409, or Zoom's
    429) is no proof it did not."""
    if method == "POST" and history.maybe_applied and isinstance(decision, Retry):
        return Reconcile(decision)
    return decision


def _after_rate_limit(
    error: RateLimitedError,
    read: bool,
    history: History,
    policy: RetryPolicy,
    rng: random.Random,
    stalled: float,
) -> Stop | Fail | Retry:
    if error.daily:
        when = f"; it resets at {error.retry_at.isoformat()}" if error.retry_at else ""
        detail = f"Zoom's daily limit was reached{when}"
        return Stop(StopReason.DAILY_LIMIT, detail, resume_at=error.retry_at)
    # A Retry-After of 0 (or a moment past) says nothing about how long to wait: back off.
    asked = error.retry_after if error.retry_after is not None and error.retry_after > 0 else None
    wait = asked if asked is not None else policy.backoff(history.rate_limited, rng)
    if stalled + wait > policy.max_stall:
        return _stall(asked, wait, stalled, policy)
    if not policy.can_retry_rate_limited(history.rate_limited):
        message = f"rate limited too often: {error.message}"
        return Fail(f"{UNREADABLE}: {message}" if read else message)
    if asked is None:
        return Retry(wait, slow_down=True)
    return Retry(min(asked, policy.max_retry_after), slow_down=True, hold_everyone=True)


def _stall(asked: float | None, wait: float, stalled: float, policy: RetryPolicy) -> Stop:
    """Stop rather than wait past ``max_stall``: come back once Zoom's wait (or one as long
    as the stall so far) is over."""
    again = "run the same command again after the resume time"
    if asked is not None and asked > policy.max_stall:
        detail = (
            f"Zoom asked to wait {_span(asked)} before the next request (Retry-After), longer "
            f"than the {_span(policy.max_stall)} bulkops waits; {again}"
        )
    else:
        detail = (
            f"Zoom has answered nothing but 429s for {_span(stalled)} (another app may be using "
            f"the account's quota); {again}"
        )
    return Stop(StopReason.RATE_LIMITED, detail, resume_in=max(wait, stalled))


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _after_failure(
    error: RetriableApiError,
    read: bool,
    history: History,
    policy: RetryPolicy,
    rng: random.Random,
) -> Retry | Fail:
    if policy.can_retry(history.failures):
        return Retry(policy.delay(history.failures, rng, error.retry_after))
    if read:
        return Fail(f"{UNREADABLE}: {error.message}")
    return Fail(f"gave up after {history.failures} attempts: {error.message}")


def _never_reached_zoom(error: RetriableApiError) -> bool:
    # No connection, so no answer: a status would mean Zoom answered.
    return not error.sent and error.status is None


def _after_no_connection(
    error: RetriableApiError, history: History, policy: RetryPolicy, rng: random.Random
) -> Retry | Defer:
    # Within the budget this is a blip worth riding out; past it, Zoom is out of reach and
    # failing the operation would only make the rerun skip it (nothing was sent, nothing lost).
    if policy.can_retry(history.failures):
        return Retry(policy.delay(history.failures, rng, error.retry_after))
    return Defer(f"Zoom could not be reached ({history.failures} attempts): {error.message}")


def _delete_may_have_worked(history: History) -> bool:
    # A 404 after a lost answer, or after a crash mid-request, is that request's doing. With a
    # read first, the item was there when read: the HTTP library itself resends an idempotent
    # DELETE whose kept-alive connection dropped (aiohttp does), so a 404 is the same story even
    # on what looks like the first attempt.
    return history.maybe_applied or history.in_flight_before or history.target_was_read
