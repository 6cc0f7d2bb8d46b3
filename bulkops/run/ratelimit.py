"""The account-wide request budget: a burst-free, adaptive (AIMD) wrapper around aiolimiter.

Zoom counts LIGHT requests per account in a strict one-second window (Pro 20/s, Business 40/s).
``aiolimiter.AsyncLimiter(40, 1)`` is a leaky bucket of 40 tokens: it admits 40 requests at once
and then drips, so a strict window can see up to 79 requests in one second and answer 429.

The bucket of :class:`AdaptiveLimiter` holds just over **one** token:
``AsyncLimiter(1 + slack, (1 + slack) / pacing_rate)`` with ``pacing_rate = current_rate *
safety`` (``safety = 1.0`` by default) and ``slack = 0.01 * max_rate`` (0.4 token at 40/s). The
slack lets a grant whose timer fired late (epoll rounds timeouts up to a millisecond, and
aiolimiter re-arms a timer that fired a hair early) be caught up by the next one, up to
``slack / pacing_rate`` = 10 ms at any rate. A bucket of exactly one token keeps no credit and
loses that latency on every grant: measured 91.5% of nominal at 40/s on a real loop.

So: no initial burst (the first two grants are ``(1 - slack) / pacing_rate`` apart, then
``1 / pacing_rate``) and full nominal throughput from the bucket alone. A leaky bucket admits up
to ``capacity + pacing_rate * T`` in any window ``T``, 41.4 in one second at 40/s: the window
guard below is what keeps Zoom's strict window at 40, and its margin is all the run pays for
safety (it was a fixed 2% off the bucket's rate before, on top of the guard's margin).

A last guard keeps a log of the newest grants: the ``n + 1``-th grant of any ``n = floor(rate)``
comes at least ``1 s + margin`` after the first of them. Zoom counts a request when it *arrives*,
not when we send it: if the first of those ``n + 1`` requests took ``d`` seconds longer to arrive
than the last, the window sees them ``d`` closer together. So the margin a grant needs is how late
its request may have arrived, and the run measures that: every clean answer's send-to-answer latency
(:meth:`observe_latency`) is matched to its grant, and the grant's margin is its latency minus
the lowest recent latency (the fastest request arrived with no extra delay), plus a 10 ms slack,
between ``window_margin`` (15 ms) and ``max_window_margin`` (50 ms). A grant whose answer has
not come back yet counts with the widest recent spread (highest minus lowest). Until the run
has seen a few answers every grant counts with ``window_margin`` (15 ms), the fixed margin of
before, which keeps a stall on either side of the wire (a GC pause, a busy server loop) from
packing 41 requests into the strict window. Each per-second 429 that cuts the rate says
requests reached Zoom closer together than their latencies said: it also adds 5 ms to the slack
(up to 25 ms) and 25 ms to the ceiling (up to 250 ms), which then covers the longer stalls a
loaded machine or network has.

Probing. A grant's measured delay is an upper bound: server time that varies from request to
request looks the same as network jitter from here (σ 0.05 around 120 ms is about 18 ms above
the fastest, on average), and paying for it costs ~2% of the rate. So once the run has seen a
few answers, and while the typical extra delay is narrow (at most 30 ms; a wider one is most
likely the network's), each clean second forgives another ``_TRUST_STEP`` (10%) of the
*typical* extra delay (the moving average of the latencies, minus the lowest): after ten
seconds a grant pays only for what its request took beyond the typical, plus the slack (the
15 ms floor is forgiven alike). A
request delayed beyond the typical (a stall on either side of the wire) is still paid for in
full. The first per-second 429 while probing says the typical delays were real: nothing is
forgiven for the rest of the run, and that one 429 costs its retry but not a rate cut (any
further 429 cuts as usual). With 50 ms of jitter (typically ~40 ms extra: no probing) the guard
holds each grant back by its own request's delay, where a fixed 50 ms would cost every grant
50 ms; on a steady network it settles near the slack.

Stalls. The ceiling keeps one slow answer (Zoom's server time, not the way there) from
holding every grant behind it. But a stall on the way (a busy server, a loaded machine, a
congested link) can hold a request longer than the ceiling, and then a request a second later
meets a 429: traced on a loaded machine, two requests granted 25 ms apart both reached the
window after a ~55 ms stall, and the first one's margin was the ceiling, 3 ms short. A stall
shows in what it does to the request granted next: held too, it is let in with the first and
answered about when the first is (within ``_TOGETHER``, 20 ms, of it), where one slow answer
comes alone. So on a steady network (typical extra delay at most 30 ms, once 150 answers
have settled its average) a grant whose delay
is beyond the ceiling and whose successor was answered with it pays for its whole delay (plus
the slack, up to 250 ms). With jitter the ceiling stays its bound, as before.

On top, AIMD: :meth:`on_rate_limited` multiplies the rate by ``decrease_factor`` (0.8; floor
``min_rate``) at most once per ``cooldown`` so the 429s of requests already in flight count as
one signal, and a run of 429s (another app on the account taking its share) keeps cutting it
every second; :meth:`on_success` adds ``max_rate / 20`` per second of clean traffic back, up to
``max_rate``. A lone 429 from jitter thus costs about two seconds at 80%, not the ten seconds a
halving would; a Retry-After still stops everyone for as long as Zoom asks. :meth:`pause_until`
holds every caller (a ``Retry-After``), not just the one that saw it.

Create the limiter inside the running loop: aiolimiter binds to it, and so does the clock.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
from types import TracebackType

from aiolimiter import AsyncLimiter

from .latency import LatencyWindow

__all__ = ["AdaptiveLimiter"]

logger = logging.getLogger(__name__)

_INCREASE_TICK = 0.25  # apply additive increase in steps of at least this many seconds
_MIN_ANSWERS = 16  # answers seen before their latencies size the window guard
# A grant's margin is its request's extra delay plus a slack, at most a ceiling. The estimate
# is exact only if the request a second later comes no faster than the fastest seen; one that
# does, by more than the slack, meets a 429, and so does a request delayed beyond the ceiling
# (a stalled loop on either side). Each 429 that cuts the rate raises both, within limits.
_SLACK = 0.010
_TRUST_STEP = 0.1  # share of the typical measured delay forgiven per clean second
# Probe only a typical extra delay this narrow: a steady server's own spread (σ 0.05 around
# 120 ms is ~18 ms). A wider one is most likely the network's, which the probe would only find
# by a 429; the run then pays for it all, as without probing.
_PROBE_SPREAD = 0.030
_MEAN_WEIGHT = 0.02  # of each new latency in their moving average (~50 answers, ~1 s at 40/s)
_CREDIT = 0.01  # of max_rate: the bucket's credit for late timers (0.4 token at 40/s)
_SLACK_STEP, _SLACK_LIMIT = 0.005, 0.025
# Two requests granted one after the other and answered within this of each other were held
# and let in together (see "Stalls" above): a steady server's own spread, and then some.
_TOGETHER = 0.020
# Answers before the moving average (and so the typical extra delay) has settled: its first
# value then weighs 5%. A jittery network's first answers can look narrow.
_SETTLED = round(3 / _MEAN_WEIGHT)
_CEILING_STEP, _CEILING_LIMIT = 0.025, 0.250


class _Grant:
    """One grant in the guard's log: when, and its request's latency once answered."""

    __slots__ = ("at", "latency")

    def __init__(self, at: float) -> None:
        self.at = at
        self.latency: float | None = None


class AdaptiveLimiter:
    """``async with limiter:`` (or ``await limiter.acquire()``) pays for one request."""

    def __init__(
        self,
        rate: float,
        *,
        safety: float = 1.0,
        min_rate: float = 1.0,
        decrease_factor: float = 0.8,
        increase_per_second: float | None = None,
        cooldown: float = 1.0,
        window_margin: float = 0.015,
        max_window_margin: float = 0.05,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive number of requests per second, not {rate}")
        if not 0 < safety <= 1:
            raise ValueError(f"safety must be in (0, 1], not {safety}")
        if not 0 < decrease_factor < 1:
            raise ValueError(f"decrease_factor must be in (0, 1), not {decrease_factor}")
        self._loop = asyncio.get_running_loop()  # RuntimeError outside a loop, on purpose
        self._max_rate = float(rate)
        self._safety = safety
        self._min_rate = min(float(min_rate), self._max_rate)
        self._factor = decrease_factor
        self._step = rate / 20 if increase_per_second is None else increase_per_second
        self._cooldown = cooldown
        self._rate = self._max_rate
        self._lock = asyncio.Lock()  # one caller at a time inside the bucket: FIFO, no stale rate
        # Credit for late timers; the window guard, not a rate margin, keeps the window.
        self._capacity = 1.0 + _CREDIT * self._max_rate
        self._bucket_rate = self.pacing_rate
        self._bucket = AsyncLimiter(self._capacity, self._capacity / self._bucket_rate)
        self._last_grant = -math.inf
        self._not_before = -math.inf
        self._last_decrease = -math.inf
        self._last_increase = self._loop.time()
        self._granted = 0
        self._margin = window_margin
        self._max_margin = max(window_margin, max_window_margin)
        self._latencies = LatencyWindow()
        self._slack = _SLACK
        self._trust = 1.0  # share of the typical measured delay the guard pays for
        self._mean_latency = 0.0  # moving average of the observed latencies
        self._probing = True  # until a 429 says the measured delays were real
        self._last_probe = self._loop.time()
        self._recent: collections.deque[_Grant] = collections.deque(
            maxlen=max(1, math.floor(self._max_rate))
        )

    @property
    def max_rate(self) -> float:
        """The configured budget (requests per second)."""
        return self._max_rate

    @property
    def current_rate(self) -> float:
        """The AIMD rate now in force (≤ ``max_rate``), before the safety margin."""
        return self._rate

    @property
    def pacing_rate(self) -> float:
        """The rate grants are actually spaced at: ``current_rate * safety``."""
        return self._rate * self._safety

    @property
    def capacity(self) -> float:
        """Bucket size in requests: one plus the late-timer credit (see the module docstring)."""
        return self._capacity

    @property
    def granted(self) -> int:
        """How many acquisitions have been granted so far (one per HTTP attempt)."""
        return self._granted

    @property
    def paused_until(self) -> float | None:
        """Loop time before which nothing is granted, or None when not paused."""
        return self._not_before if self._not_before > self._loop.time() else None

    async def acquire(self) -> None:
        """Wait for the right to send one request."""
        loop = self._loop
        async with self._lock:
            while True:
                delay = self._not_before - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                    continue  # the pause may have been extended meanwhile
                bucket = await self._current_bucket()
                await bucket.acquire()
                if loop.time() >= self._not_before:  # not paused while we waited
                    break
            await self._window_guard()
            self._last_grant = loop.time()
            self._granted += 1

    async def _window_guard(self) -> None:
        """Never let ``floor(rate) + 1`` grants fall within ``1 s`` plus the first one's margin
        (how late its request may have arrived) of each other.

        The log keeps ``floor(max_rate)`` grants whatever the rate now: after a cut, the rate
        climbing back must meet the grants made before it, not an emptied log."""
        cap = max(1, math.floor(self._rate))
        recent = self._recent
        if len(recent) >= cap:
            first = recent[-cap]
            margin = self.margin_for(first.latency)
            if cap > 1 and margin >= self._max_margin:
                margin = max(margin, self._stall_margin(first, recent[-cap + 1]))
            wait = first.at + 1.0 + margin - self._loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        recent.append(_Grant(self._loop.time()))

    def _stall_margin(self, first: _Grant, second: _Grant) -> float:
        """The margin behind ``first`` when a stall held its request beyond the ceiling (see
        "Stalls" above): its whole measured delay plus the slack, up to ``_CEILING_LIMIT``;
        0 when nothing says so."""
        seen = self._latencies
        if first.latency is None or second.latency is None or len(seen) < _SETTLED:
            return 0.0
        if self._mean_latency - seen.low > _PROBE_SPREAD:
            return 0.0  # a jittery network: the ceiling is its bound, as before
        if abs((first.at + first.latency) - (second.at + second.latency)) > _TOGETHER:
            return 0.0  # answered apart: one slow answer, not two requests let in at once
        return min(_CEILING_LIMIT, first.latency - seen.low + self._slack)

    def margin_for(self, latency: float | None) -> float:
        """The guard's margin behind a grant whose request took ``latency`` seconds to be
        answered (None: not answered yet), from the latencies observed so far."""
        seen = self._latencies
        if len(seen) < _MIN_ANSWERS:
            return self._margin
        extra = (seen.high if latency is None else latency) - seen.low
        # Probing forgives up to the typical extra delay (the server's own spread, if that is
        # what it is); a request delayed beyond it (a stall) is still paid for in full.
        forgiven = (1.0 - self._trust) * max(0.0, self._mean_latency - seen.low)
        # The fixed margin stays a floor until probing forgives it too: without probing, the
        # guard is what it was before it (and the 429s it kept away stay away).
        floor = self._trust * self._margin
        return min(self._max_margin, max(floor, max(0.0, extra - forgiven) + self._slack))

    @property
    def trust(self) -> float:
        """The share (0 to 1) of the typical measured extra delay the guard now pays for."""
        return self._trust

    def observe_latency(self, latency: float) -> None:
        """A request granted here was answered ``latency`` seconds after it was sent.

        Call it right when the answer is in: the request is matched to the newest grant made
        before ``now - latency``."""
        if not (latency >= 0 and math.isfinite(latency)):
            return
        self._latencies.add(latency)
        if len(self._latencies) == 1:
            self._mean_latency = latency
        self._mean_latency += _MEAN_WEIGHT * (latency - self._mean_latency)
        sent_at = self._loop.time() - latency
        for grant in reversed(self._recent):  # answers come back about in order: a short walk
            if grant.at <= sent_at:
                if grant.latency is None:
                    grant.latency = latency
                return

    async def _current_bucket(self) -> AsyncLimiter:
        """The bucket for the current rate, swapped in without losing the last grant's spacing."""
        pacing = self.pacing_rate
        if pacing != self._bucket_rate:
            capacity = self._capacity
            bucket = AsyncLimiter(capacity, capacity / pacing)
            # A fresh bucket is empty. Charge it as if the old one had been full at the last
            # grant, so the next grant comes no sooner than ``last_grant + 1 / pacing``.
            since = self._loop.time() - self._last_grant
            charge = min(capacity, max(0.0, capacity - since * pacing))
            await bucket.acquire(charge)  # never waits: a fresh bucket has room for it all
            self._bucket, self._bucket_rate = bucket, pacing
        return self._bucket

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def on_rate_limited(self) -> None:
        """A per-second 429 arrived: cut the rate to ``decrease_factor`` of itself (80% by
        default, never below ``min_rate``) unless a cut already happened this cooldown.

        Daily-limit 429s are not a pacing signal: don't call it for those.
        """
        now = self._loop.time()
        if now - self._last_decrease < self._cooldown:
            return
        if self._probing and self._trust < 1.0:
            # The guard forgave too much of the measured delays: they were real. Pay for all of
            # them from now on; this 429 is the probe's price, not a sign of a lower rate.
            self._trust, self._probing = 1.0, False
            self._last_decrease = now  # the 429s of requests already in flight count as this one
            logger.info("rate limited by Zoom: the window guard pays for every measured delay now")
            return
        old = self._rate
        self._rate = max(self._min_rate, self._rate * self._factor)
        self._last_decrease = self._last_increase = now
        # Requests reached Zoom closer together than the latencies said: widen the margins.
        self._slack = min(_SLACK_LIMIT, self._slack + _SLACK_STEP)
        self._max_margin = max(
            self._max_margin, min(_CEILING_LIMIT, self._max_margin + _CEILING_STEP)
        )
        if self._rate != old:
            logger.warning("rate limited by Zoom: pacing down from %.1f to %.1f/s", old, self._rate)

    def on_success(self) -> None:
        """A request was answered without a 429: recover additively toward ``max_rate``, and
        probe whether the guard can pay for less of the measured delays."""
        now = self._loop.time()
        self._probe(now)
        if self._rate >= self._max_rate:
            return
        elapsed = now - self._last_increase
        if elapsed < _INCREASE_TICK:
            return
        self._rate = min(self._max_rate, self._rate + self._step * elapsed)
        self._last_increase = now
        logger.debug("pacing up to %.1f/s", self._rate)

    def _probe(self, now: float) -> None:
        """Forgive another ``_TRUST_STEP`` of the typical measured delay per clean second,
        counted from when enough answers are in to measure them."""
        seen = self._latencies
        if (
            not self._probing
            or len(seen) < _MIN_ANSWERS
            or self._mean_latency - seen.low > _PROBE_SPREAD
        ):
            self._last_probe = now
            return
        elapsed = now - self._last_probe
        if elapsed >= _INCREASE_TICK:
            self._trust = max(0.0, self._trust - _TRUST_STEP * elapsed)
            self._last_probe = now

    def pause_until(self, deadline: float) -> None:
        """Grant nothing before ``deadline`` on the loop clock (pauses only ever extend).

        The loop clock is ``time.monotonic`` on asyncio's default loops; :meth:`pause_for`
        avoids the question.
        """
        if deadline > self._not_before:
            self._not_before = deadline
            logger.info("pausing all requests for %.2fs", deadline - self._loop.time())

    def pause_for(self, seconds: float) -> None:
        """Grant nothing for the next ``seconds`` (e.g. a capped ``Retry-After``)."""
        self.pause_until(self._loop.time() + max(0.0, seconds))

    def __repr__(self) -> str:
        return (
            f"<AdaptiveLimiter rate={self._rate:.2f}/{self._max_rate:.2f} "
            f"safety={self._safety} granted={self._granted}>"
        )
