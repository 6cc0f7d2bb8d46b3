"""A circuit breaker: stop a job that is failing systematically instead of burning the quota.

Two rules, either trips it:
- the first ``first_n`` finished operations all failed with the same error (a wrong feature
  flag, a missing scope, a policy refusal: every other row will fail the same way);
- more than ``ratio`` of the last ``window`` finished operations failed.
A tripped breaker stops the run resumably (exit 75): fix the cause, run the same command again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class Breaker:
    first_n: int = 20
    window: int = 100
    ratio: float = 0.5
    reason: str | None = None
    _seen: int = 0
    _first_key: str | None = None
    _first_all_same: bool = True
    _recent: deque[bool] = field(default_factory=deque)
    _failures: int = 0

    @property
    def tripped(self) -> bool:
        return self.reason is not None

    def record(self, failed: bool, key: str | None = None) -> bool:
        """Count one finished operation; returns True when this one tripped the breaker."""
        if self.tripped:
            return False
        self._seen += 1
        if self._seen <= self.first_n:
            if not failed:
                self._first_all_same = False
            elif self._first_key is None:
                self._first_key = key
            elif key != self._first_key:
                self._first_all_same = False
            if self._seen == self.first_n and self._first_all_same and self.first_n > 0:
                self.reason = (
                    f"the first {self.first_n} operations all failed with the same error "
                    f"({self._first_key}); fix the cause and run the same command again"
                )
                return True
        self._recent.append(failed)
        self._failures += failed
        if len(self._recent) > self.window:
            self._failures -= self._recent.popleft()
        if len(self._recent) == self.window and self._failures > self.ratio * self.window:
            self.reason = (
                f"{self._failures} of the last {self.window} operations failed; stopped to "
                "spare the account's quota. Look at failures.csv, fix the cause and rerun"
            )
            return True
        return False
