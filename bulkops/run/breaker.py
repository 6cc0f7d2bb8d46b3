"""A circuit breaker: stop a job that is failing systematically instead of burning the quota.

Two rules, either trips it:
- the first ``first_n`` finished operations all failed with the same kind of error (a wrong
  feature flag, a missing scope, a policy refusal, Zoom out of reach: every other row would
  fail the same way);
- more than ``ratio`` of the last ``window`` finished operations failed.
A tripped breaker stops the run resumably (exit 75): fix the cause, run the same command again.

Failures are keyed by kind (:func:`failure_kind`: "HTTP 400, code 300", "connection refused"),
never by URL or extension, so one cause seen on many extensions reads as one error. A failure
that never reached Zoom left its operation pending (``left_pending``): the breaker then says
Zoom was out of reach rather than sending the operator to failures.csv, and an extension left
pending is counted even when nothing trips, so the run cannot end as if it were complete.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from ..errors import ApiError, RetriableApiError

__all__ = ["Breaker", "failure_kind"]


def failure_kind(error: ApiError) -> str:
    """What the breaker groups ``error`` by: Zoom's answer (status and code), or, with no
    answer, the kind of transport failure. Never the URL: it names the extension."""
    if error.status is not None:
        code = "" if error.code is None else f", code {error.code}"
        return f"HTTP {error.status}{code}"
    if isinstance(error, RetriableApiError) and error.kind:
        return error.kind
    return error.message


@dataclass(slots=True)
class Breaker:
    first_n: int = 20
    window: int = 100
    ratio: float = 0.5
    reason: str | None = None
    left_pending: int = 0  # operations (or whole extensions) left pending because of an outage
    _seen: int = 0
    _first_key: str | None = None
    _first_all_same: bool = True
    _recent: deque[str | None] = field(default_factory=deque)  # a failure's kind; None: success
    _kinds: Counter[str] = field(default_factory=Counter)  # failure kinds within the window
    _outage_kinds: set[str] = field(default_factory=set)  # kinds that left operations pending

    @property
    def tripped(self) -> bool:
        return self.reason is not None

    def record(self, failed: bool, key: str | None = None, *, pending: bool = False) -> bool:
        """Count one finished operation; returns True when this one tripped the breaker.

        ``pending``: the failure never reached Zoom and its operation waits for a later run.
        """
        if pending:
            self.left_pending += 1
            if key is not None:
                self._outage_kinds.add(key)
        if self.tripped:
            return False
        kind = (key or "unknown error") if failed else None
        self._seen += 1
        if self._seen <= self.first_n:
            if kind is None:
                self._first_all_same = False
            elif self._first_key is None:
                self._first_key = kind
            elif kind != self._first_key:
                self._first_all_same = False
            if self._seen == self.first_n and self._first_all_same and self.first_n > 0:
                self.reason = self._first_n_reason(self._first_key or "unknown error")
                return True
        self._recent.append(kind)
        if kind is not None:
            self._kinds[kind] += 1
        if len(self._recent) > self.window:
            gone = self._recent.popleft()
            if gone is not None:
                self._kinds[gone] -= 1
        failures = sum(self._kinds.values())
        if len(self._recent) == self.window and failures > self.ratio * self.window:
            self.reason = self._window_reason(failures)
            return True
        return False

    def pending_reason(self) -> str | None:
        """Why a run that nothing tripped must still be resumed, or None if nothing waits."""
        if not self.left_pending:
            return None
        kinds = ", ".join(sorted(self._outage_kinds)) or "no connection"
        return (
            f"Zoom could not be reached ({kinds}) for {self.left_pending} extension(s); "
            "their operations were left pending, none is marked failed. Run the same command "
            "again to send them"
        )

    def _first_n_reason(self, kind: str) -> str:
        if kind in self._outage_kinds:
            return (
                f"Zoom could not be reached: the first {self.first_n} extensions all failed "
                f'with "{kind}" and were left pending (none is marked failed). Check the '
                "network, any proxy and ZOOM_API_URL, then run the same command again"
            )
        return (
            f"the first {self.first_n} operations all failed with the same error ({kind}); "
            "fix the cause and run the same command again"
        )

    def _window_reason(self, failures: int) -> str:
        kind, _ = self._kinds.most_common(1)[0]
        if kind in self._outage_kinds:
            return (
                f"Zoom could not be reached: {failures} of the last {self.window} operations "
                f'failed, most with "{kind}"; those that never reached Zoom were left pending. '
                "Check the network, then run the same command again"
            )
        return (
            f"{failures} of the last {self.window} operations failed (most: {kind}); stopped to "
            "spare the account's quota. Look at failures.csv, fix the cause and rerun"
        )
