"""Which fault hits a request: one seeded ``random.Random`` decides, in request order."""

from __future__ import annotations

import math
import random
from enum import StrEnum

from .config import SimConfig


class Fault(StrEnum):
    ERROR_5XX = "error_5xx"  # 500/502/503 before anything is applied
    APPLIED_5XX = "applied_5xx"  # the change is applied, then 500/503
    APPLIED_DROP = "applied_drop"  # the change is applied, then the connection is closed
    SLOW = "slow"  # wait ``slow_s`` before handling (past a client's timeout)
    CONFLICT = "conflict"  # 429/409: another write to the extension is in progress

    @property
    def applies_first(self) -> bool:
        return self in (Fault.APPLIED_5XX, Fault.APPLIED_DROP)


_DRAWN = (Fault.ERROR_5XX, Fault.APPLIED_5XX, Fault.APPLIED_DROP, Fault.SLOW)


class FaultDice:
    """Decisions from one seeded generator; a probability of 0 never consumes a draw."""

    __slots__ = ("rng",)

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, config: SimConfig) -> Fault | None:
        probs = [getattr(config, f.value) for f in _DRAWN]
        if not any(probs):
            return None
        u = self.rng.random()
        acc = 0.0
        for fault, p in zip(_DRAWN, probs, strict=True):
            acc += p
            if u < acc:
                return fault
        return None

    def conflict(self, config: SimConfig) -> bool:
        p = config.conflict
        return p >= 1.0 or (p > 0.0 and self.rng.random() < p)

    def latency_s(self, config: SimConfig) -> float:
        """Lognormal around ``latency_ms`` (its median); 0 when latency is off."""
        if config.latency_ms <= 0:
            return 0.0
        mu = math.log(config.latency_ms / 1000.0)
        return self.rng.lognormvariate(mu, config.latency_sigma)

    def jitter_s(self, config: SimConfig) -> float:
        """Uniform in ``[0, jitter_ms]``: a request's extra delay before it arrives."""
        if config.jitter_ms <= 0:
            return 0.0
        return self.rng.uniform(0.0, config.jitter_ms / 1000.0)

    def server_error(self, applied: bool) -> int:
        return self.rng.choice((500, 503) if applied else (500, 502, 503))
