"""The limiter against a strict rolling one-second window, on a virtual event-loop clock.

``run_virtual`` runs a coroutine on a fresh loop whose ``time()`` is virtual: whenever the loop
would block waiting for a timer, the clock jumps to that timer instead (aiolimiter's tests patch
``loop.time`` the same way), and every loop iteration costs ``TICK`` of virtual time, as on a real
loop (aiolimiter re-arms sub-ULP timers that would otherwise never let the clock move), and
timers can be made to fire ``lag`` late, as epoll's millisecond rounding does. Hundreds of
seconds of pacing take milliseconds of real time.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from aiolimiter import AsyncLimiter

from bulkops.run.latency import LatencyWindow
from bulkops.run.ratelimit import AdaptiveLimiter

T = TypeVar("T")
TICK = 1e-6  # virtual seconds per loop iteration


def run_virtual(main: Callable[[], Coroutine[Any, Any, T]], *, lag: float = 0.0) -> T:
    loop = asyncio.new_event_loop()
    now = [0.0]
    selector = loop._selector  # type: ignore[attr-defined]
    real_select = selector.select

    def select(timeout: float | None = None) -> Any:
        events = real_select(0)
        if not events and timeout is not None:
            now[0] += timeout + lag  # nothing to do until the next timer: jump to it
        now[0] += TICK
        return events

    selector.select = select
    loop.time = lambda: now[0]  # type: ignore[method-assign]
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """Most grants inside any closed window ``[t - window, t]`` (the strictest reading)."""
    return max(i + 1 - bisect.bisect_left(times, t - window) for i, t in enumerate(times))


async def grant_times(acquire: Callable[[], Any], total: int, workers: int = 16) -> list[float]:
    loop = asyncio.get_running_loop()
    times: list[float] = []
    remaining = iter(range(total))

    async def worker() -> None:
        for _ in remaining:
            await acquire()
            times.append(loop.time())

    async with asyncio.TaskGroup() as tg:
        for _ in range(workers):
            tg.create_task(worker())
    return times


def within_envelope(times: list[float], capacity: float, rate: float, slop: float = 1e-4) -> bool:
    """The leaky-bucket guarantee: any ``n`` grants span at least ``(n - capacity) / rate``.

    Give or take ``slop`` seconds: the caller reads the clock a little after the limiter did.
    """
    return all(
        j - i + 1 <= capacity + rate * (times[j] - times[i] + slop)
        for i in range(len(times))
        for j in range(i + 1, len(times))
    )


@pytest.mark.parametrize("lag", [pytest.param(0.0, id="punctual"), pytest.param(0.002, id="late")])
@pytest.mark.parametrize("rate", [pytest.param(r, id=f"{r:g}/s") for r in (10, 20, 40, 100)])
def test_paces_at_97_percent_or_more_without_exceeding_the_window(rate: float, lag: float) -> None:
    async def main() -> tuple[list[float], float]:
        limiter = AdaptiveLimiter(rate)
        return await grant_times(limiter.acquire, total=int(rate * 10)), limiter.capacity

    times, capacity = run_virtual(main, lag=lag)
    assert max_in_window(times) <= rate
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert achieved >= 0.97 * rate
    # No initial burst: the second grant waits all but the late-timer credit of an interval.
    assert times[1] - times[0] >= (2 - capacity) / rate - 1e-9


def test_window_check_catches_aiolimiter_default_burst() -> None:
    """The same harness rejects the naive bucket, so the test above can fail."""

    async def main() -> list[float]:
        naive = AsyncLimiter(40, 1)
        return await grant_times(naive.acquire, total=400)

    assert max_in_window(run_virtual(main)) > 70


def test_context_manager_pays_and_counts() -> None:
    async def main() -> tuple[int, float]:
        limiter = AdaptiveLimiter(10)
        for _ in range(3):
            async with limiter:
                pass
        return limiter.granted, asyncio.get_running_loop().time()

    granted, elapsed = run_virtual(main)
    assert granted == 3
    assert elapsed == pytest.approx((2 - 0.1) / 10, rel=1e-3)  # capacity 1.1 at 10/s


def test_rate_limited_halves_once_per_cooldown_down_to_the_floor() -> None:
    async def main() -> list[float]:
        limiter = AdaptiveLimiter(40, min_rate=4, decrease_factor=0.5)
        seen = []
        for _ in range(3):  # a burst of 429s from requests in flight: one decrease
            limiter.on_rate_limited()
            seen.append(limiter.current_rate)
        await asyncio.sleep(0.9)
        limiter.on_rate_limited()  # still within the cooldown
        seen.append(limiter.current_rate)
        for _ in range(4):
            await asyncio.sleep(1.0)
            limiter.on_rate_limited()
            seen.append(limiter.current_rate)
        return seen

    assert run_virtual(main) == [20, 20, 20, 20, 10, 5, 4, 4]


def test_decrease_slows_the_very_next_grants() -> None:
    async def main() -> list[float]:
        limiter = AdaptiveLimiter(40, decrease_factor=0.5)
        await limiter.acquire()
        await limiter.acquire()
        limiter.on_rate_limited()
        return await grant_times(limiter.acquire, total=20, workers=4)

    times = run_virtual(main)
    # The first grants after the cut; later ones also meet the window guard, which still counts
    # the grants made at 40/s and may hold one back, then let the bucket's credit follow it.
    gaps = [b - a for a, b in itertools.pairwise(times[:15])]
    assert min(gaps) == pytest.approx(1 / 20, rel=1e-3)
    assert max_in_window(times) <= 20


def test_success_recovers_additively_up_to_max() -> None:
    async def main() -> list[float]:
        limiter = AdaptiveLimiter(40, decrease_factor=0.5)
        limiter.on_rate_limited()  # 20/s
        rates = []
        for _ in range(12):
            await asyncio.sleep(1.0)
            limiter.on_success()
            rates.append(limiter.current_rate)
        return rates

    rates = run_virtual(main)
    assert rates[:3] == pytest.approx([22, 24, 26])  # + max_rate / 20 per clean second
    assert rates[-1] == 40  # capped


def test_success_within_a_tick_changes_nothing_and_pacing_follows_recovery() -> None:
    async def main() -> tuple[float, list[float]]:
        limiter = AdaptiveLimiter(40, decrease_factor=0.5)
        limiter.on_rate_limited()
        limiter.on_success()
        unchanged = limiter.current_rate
        await asyncio.sleep(10)
        limiter.on_success()
        return unchanged, await grant_times(limiter.acquire, total=100, workers=4)

    unchanged, times = run_virtual(main)
    assert unchanged == 20
    assert times[-1] - times[-2] == pytest.approx(1 / 40, rel=1e-3)


def test_pause_holds_every_caller_and_can_be_extended() -> None:
    async def main() -> tuple[list[float], bool]:
        limiter = AdaptiveLimiter(40)
        loop = asyncio.get_running_loop()
        limiter.pause_for(2.0)
        assert limiter.paused_until == pytest.approx(2.0, abs=1e-3)
        loop.call_at(1.0, limiter.pause_until, 3.0)  # a second Retry-After arrives meanwhile
        loop.call_at(1.5, limiter.pause_until, 2.5)  # a shorter one never shortens the pause
        times = await grant_times(limiter.acquire, total=8, workers=8)
        assert limiter.paused_until is None
        return times, within_envelope(times, limiter.capacity, limiter.pacing_rate)

    times, no_burst = run_virtual(main)
    assert times[0] == pytest.approx(3.0, abs=1e-3)
    assert no_burst  # the waiters do not rush in together when the pause ends


def test_cancelled_waiter_does_not_block_the_others() -> None:
    async def main() -> int:
        limiter = AdaptiveLimiter(10)
        await limiter.acquire()
        doomed = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0.01)
        doomed.cancel()
        await asyncio.gather(*(limiter.acquire() for _ in range(3)))
        return limiter.granted

    assert run_virtual(main) == 4


def test_must_be_created_inside_a_running_loop() -> None:
    with pytest.raises(RuntimeError):
        AdaptiveLimiter(40)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"rate": 0}, id="zero-rate"),
        pytest.param({"rate": float("inf")}, id="infinite-rate"),
        pytest.param({"rate": 10, "safety": 1.5}, id="safety-over-one"),
        pytest.param({"rate": 10, "decrease_factor": 1.0}, id="no-decrease"),
    ],
)
async def test_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AdaptiveLimiter(**kwargs)


async def test_real_clock_stays_within_the_bucket_envelope() -> None:
    """On the real loop clock: every run of grants respects ``capacity + rate * duration``."""
    limiter = AdaptiveLimiter(1000)
    times = await grant_times(limiter.acquire, total=250, workers=8)
    # Loose (2 ms, 0.8): a busy CI machine may preempt us between two clock reads.
    assert within_envelope(times, limiter.capacity, limiter.pacing_rate, slop=2e-3)
    # Throughput on the time the limiter had the CPU: a gap of more than 10 grants' worth is
    # the process being descheduled (a loaded machine), counted as 10 ms, not as slowness. A
    # limiter pacing below 800/s still fails: its every gap is over 1.25 ms.
    active = sum(min(b - a, 10e-3) for a, b in itertools.pairwise(times))
    assert (len(times) - 1) / active >= 0.8 * 1000


def test_envelope_check_catches_a_burst() -> None:
    async def main() -> list[float]:
        return await grant_times(AsyncLimiter(40, 1).acquire, total=100)

    assert not within_envelope(run_virtual(main), 1.4, 39.2)


def test_default_decrease_is_gentle() -> None:
    """A lone 429 (jitter) costs a fifth of the rate, not half; repeated ones keep cutting."""

    async def main() -> list[float]:
        limiter = AdaptiveLimiter(40)
        rates = []
        for _ in range(3):
            limiter.on_rate_limited()
            rates.append(limiter.current_rate)
            await asyncio.sleep(1.0)
        return rates

    assert run_virtual(main) == pytest.approx([32, 25.6, 20.48])


@pytest.mark.parametrize("lag", [0.0, 0.002], ids=["timers-on-time", "timers-2ms-late"])
def test_window_guard_keeps_a_margin_beyond_one_second(lag: float) -> None:
    """Even paced at the full rate, no n + 1 grants fall within 1 s + margin of each other."""

    async def main() -> list[float]:
        limiter = AdaptiveLimiter(40, safety=1.0, window_margin=0.05)
        return await grant_times(limiter.acquire, total=200)

    times = run_virtual(main, lag=lag)
    assert max_in_window(times, window=1.05) <= 40
    assert len(times) == 200


# -- the window guard sized from observed latencies ----------------------------------------------


def test_latency_window_keeps_the_lowest_and_highest_of_the_newest_values() -> None:
    rng = random.Random(3)
    window = LatencyWindow(size=8)
    assert (len(window), window.low, window.high) == (0, 0.0, 0.0)
    values: list[float] = []
    for _ in range(200):
        value = rng.choice([rng.uniform(0.05, 0.3), 0.1])  # repeats too
        window.add(value)
        values.append(value)
        newest = values[-8:]
        assert (len(window), window.low, window.high) == (len(newest), min(newest), max(newest))


def test_latency_window_needs_room_for_one_value() -> None:
    with pytest.raises(ValueError):
        LatencyWindow(size=0)


def test_margin_is_the_floor_until_answers_come_then_each_requests_extra_delay() -> None:
    async def main() -> list[float]:
        limiter = AdaptiveLimiter(40)
        seen = [limiter.margin_for(0.5)]  # nothing observed yet: the fixed floor of before
        for latency in [0.100] * 15 + [0.130]:
            limiter.observe_latency(latency)
        limiter.observe_latency(float("nan"))  # ignored, as is a negative latency
        limiter.observe_latency(-1.0)
        # Its latency above the fastest seen (0.100), plus 10 ms, within [15 ms, 50 ms].
        seen += [limiter.margin_for(x) for x in (0.100, 0.104, 0.125, 0.400)]
        seen.append(limiter.margin_for(None))  # not answered yet: the widest spread seen
        return seen

    margins = run_virtual(main)
    assert margins == pytest.approx([0.015, 0.015, 0.015, 0.035, 0.050, 0.040])


def test_each_429_that_cuts_the_rate_widens_the_margins_within_limits() -> None:
    async def main() -> list[tuple[float, float]]:
        limiter = AdaptiveLimiter(40)
        for _ in range(16):
            limiter.observe_latency(0.100)
        seen = [(limiter.margin_for(0.125), limiter.margin_for(0.400))]
        limiter.on_rate_limited()
        seen.append((limiter.margin_for(0.125), limiter.margin_for(0.400)))
        limiter.on_rate_limited()  # the same cooldown: the same signal, counted once
        seen.append((limiter.margin_for(0.125), limiter.margin_for(0.400)))
        for _ in range(20):
            await asyncio.sleep(1.0)
            limiter.on_rate_limited()
        seen.append((limiter.margin_for(0.125), limiter.margin_for(0.400)))
        return seen

    # A quick request: its delay plus a slack of 10 ms, then 15 (up to 25); a slow one: the
    # ceiling of 50 ms, then 75 (up to 250).
    seen = [m for pair in run_virtual(main) for m in pair]
    assert seen == pytest.approx([0.035, 0.050, 0.040, 0.075, 0.040, 0.075, 0.050, 0.250])


JITTER = 0.05  # seconds: each request arrives up to this much later than it was sent


def arrivals_under_jitter(
    total: int, *, seed: int = 7, server_s: float = 0.1, **limiter_options: float
) -> tuple[list[float], list[float]]:
    """Grant times, and the times the requests reach a strict window when each one's arrival
    is delayed by a uniform draw in [0, JITTER]; each answer comes ``server_s`` later and its
    latency is reported to the limiter then, as the engine's lanes do."""
    delays = random.Random(seed)

    async def main() -> tuple[list[float], list[float]]:
        limiter = AdaptiveLimiter(40, **limiter_options)
        loop = asyncio.get_running_loop()
        grants: list[float] = []
        arrivals: list[float] = []
        remaining = iter(range(total))

        async def worker() -> None:
            for _ in remaining:
                await limiter.acquire()
                granted, delay = loop.time(), delays.uniform(0.0, JITTER)
                grants.append(granted)
                arrivals.append(granted + delay)
                await asyncio.sleep(delay + server_s)
                limiter.observe_latency(loop.time() - granted)

        async with asyncio.TaskGroup() as tg:
            for _ in range(16):
                tg.create_task(worker())
        return grants, sorted(arrivals)

    return run_virtual(main)


def test_observed_jitter_keeps_arrivals_within_the_window() -> None:
    _, arrivals = arrivals_under_jitter(1200)
    assert max_in_window(arrivals) <= 40  # the strictest reading of Zoom's window: no 429
    # The fixed 15 ms guard of before lets the same jitter put 41 into one second.
    _, fixed = arrivals_under_jitter(1200, max_window_margin=0.015)
    assert max_in_window(fixed) > 40


def test_each_grant_waits_for_its_own_requests_delay_not_the_worst_case() -> None:
    grants, _ = arrivals_under_jitter(1200)
    # Faster than a margin of the whole jitter (plus the slack) on every grant: 30 windows of
    # 1.06 s; and slower than none, since the window needs it.
    assert 30 * 1.0 < grants[-1] - grants[0] < 30 * (1 + JITTER + 0.010)


def test_steady_latencies_leave_pacing_alone() -> None:
    async def main() -> list[float]:
        limiter = AdaptiveLimiter(40)
        loop = asyncio.get_running_loop()
        grants: list[float] = []
        remaining = iter(range(800))

        async def worker() -> None:
            for _ in remaining:
                await limiter.acquire()
                grants.append(loop.time())
                await asyncio.sleep(0.1)
                limiter.observe_latency(0.1)

        async with asyncio.TaskGroup() as tg:
            for _ in range(16):
                tg.create_task(worker())
        return grants

    grants = run_virtual(main)
    # The bucket paces at the full rate; the guard adds only its 15 ms floor per 40 grants.
    assert (len(grants) - 1) / (grants[-1] - grants[0]) == pytest.approx(40 / 1.015, rel=2e-3)


TYPICAL = [0.100, 0.120] * 100  # answers 100 or 120 ms after sending: typically 10 ms extra


def test_clean_seconds_forgive_more_and_more_of_the_typical_extra_delay() -> None:
    async def main() -> list[tuple[float, float, float]]:
        limiter = AdaptiveLimiter(40)
        seen = []
        limiter.on_success()
        await asyncio.sleep(5.0)
        limiter.on_success()  # no answers measured yet: nothing to probe
        seen.append((limiter.trust, limiter.margin_for(0.130), limiter.margin_for(0.105)))
        for latency in TYPICAL:
            limiter.observe_latency(latency)
        for _ in range(12):
            await asyncio.sleep(1.0)
            limiter.on_success()
            seen.append((limiter.trust, limiter.margin_for(0.130), limiter.margin_for(0.105)))
        return seen

    seen = run_virtual(main)
    assert seen[0] == (1.0, 0.015, 0.015)  # the fixed margin until answers come
    # 30 ms measured above the fastest, paid in full plus the 10 ms slack; then each clean
    # second forgives another tenth of the typical 10 ms, until a grant pays only for what its
    # request took beyond the typical (20 ms), and one faster than typical for the slack alone.
    assert seen[1] == pytest.approx((0.9, 0.039, 0.014), abs=5e-4)
    assert seen[5] == pytest.approx((0.5, 0.035, 0.010), abs=5e-4)
    assert seen[-1] == pytest.approx((0.0, 0.030, 0.010), abs=5e-4)


def test_a_429_while_probing_forgives_nothing_more_and_does_not_cut_the_rate() -> None:
    async def main() -> list[tuple[float, float, float]]:
        limiter = AdaptiveLimiter(40)
        for latency in TYPICAL:
            limiter.observe_latency(latency)
        limiter.on_success()
        await asyncio.sleep(3.0)
        limiter.on_success()
        seen = [(limiter.trust, limiter.current_rate, limiter.margin_for(0.130))]
        limiter.on_rate_limited()  # the probe went too far: pay for every measured delay again
        limiter.on_rate_limited()  # the rest of that second's 429s: the same signal
        seen.append((limiter.trust, limiter.current_rate, limiter.margin_for(0.130)))
        await asyncio.sleep(10.0)
        limiter.on_success()  # no more probing in this run
        seen.append((limiter.trust, limiter.current_rate, limiter.margin_for(0.130)))
        limiter.on_rate_limited()  # a 429 now is a pacing signal as before
        seen.append((limiter.trust, limiter.current_rate, limiter.margin_for(0.130)))
        return seen

    seen = [x for row in run_virtual(main) for x in row]
    expected = [(0.7, 40.0, 0.037), (1.0, 40.0, 0.040), (1.0, 40.0, 0.040), (1.0, 32.0, 0.045)]
    assert seen == pytest.approx([x for row in expected for x in row], abs=5e-4)


def lanes_against_a_strict_window(
    total: int, *, jitter: float, server_sigma: float, seed: int = 3, stalls: float = 0.0
) -> tuple[int, float, list[float]]:
    """The lanes' loop in small: each request reaches a strict 40/s window after a uniform
    ``[0, jitter]`` delay and is answered after a server time of 100 ms × lognormal(σ); a 429 is
    retried, a clean answer reported. (429s, the limiter's final trust, admitted arrivals.)

    With ``stalls``, the server stops every two seconds or so for a uniform 2 ms to ``stalls``
    seconds: what reaches it meanwhile is counted (and served) when it resumes."""
    draws = random.Random(seed)
    stopped: list[tuple[float, float]] = []  # (from, to) of each stall
    if stalls:
        pauses, start = random.Random(seed + 1), 0.0
        while start < total / 30:
            start += pauses.expovariate(0.5)
            stopped.append((start, start + pauses.uniform(0.002, stalls)))
    starts = [first for first, _ in stopped]

    def resumed(at: float) -> float:
        i = bisect.bisect_right(starts, at) - 1
        return stopped[i][1] if i >= 0 and at < stopped[i][1] else at

    async def main() -> tuple[int, float, list[float]]:
        limiter = AdaptiveLimiter(40)
        loop = asyncio.get_running_loop()
        admitted: list[float] = []
        limited = 0
        remaining = iter(range(total))

        async def send() -> None:
            nonlocal limited
            while True:
                await limiter.acquire()
                granted = loop.time()
                await asyncio.sleep(draws.uniform(0.0, jitter))
                await asyncio.sleep(resumed(loop.time()) - loop.time())
                arrived = loop.time()
                fits = bisect.bisect_right(admitted, arrived - 1.0) > len(admitted) - 40
                if fits:
                    admitted.append(arrived)
                await asyncio.sleep(0.1 * draws.lognormvariate(0.0, server_sigma))
                if fits:
                    limiter.observe_latency(loop.time() - granted)
                    limiter.on_success()
                    return
                limited += 1
                limiter.on_rate_limited()

        async def worker() -> None:
            for _ in remaining:
                await send()

        async with asyncio.TaskGroup() as tg:
            for _ in range(16):
                tg.create_task(worker())
        return limited, limiter.trust, admitted

    return run_virtual(main)


def test_probing_under_jitter_costs_at_most_one_429_then_pays_every_delay() -> None:
    limited, trust, admitted = lanes_against_a_strict_window(2400, jitter=JITTER, server_sigma=0)
    assert limited == 1  # the probe's: it found the delays real
    assert trust == 1.0
    assert max_in_window(admitted) <= 40


def test_probing_on_a_steady_network_stops_paying_for_the_servers_own_spread() -> None:
    # No network jitter: every request arrives as sent, and the latencies differ by server
    # time alone (σ 0.05, as the pacing benchmark's server), which the guard cannot tell apart.
    limited, trust, admitted = lanes_against_a_strict_window(2400, jitter=0.0, server_sigma=0.05)
    assert limited == 0
    assert trust == 0.0
    rate = (len(admitted) - 1) / (admitted[-1] - admitted[0])
    # The bucket's full rate less the slack and what some grants take beyond the typical; paying
    # for the whole spread (~18 ms above the fastest on average, plus the slack) would be 40/1.028.
    assert rate > 40 / 1.016


def test_server_stalls_that_hide_in_its_own_spread_meet_no_429() -> None:
    # A loaded machine: the server stops for up to 20 ms every two seconds or so. A stall no
    # longer than the server's own spread (σ 0.05: ±6 ms) hides in the latencies, and a request
    # it delayed can measure no slower than typical; the guard's 10 ms slack is what keeps such a
    # request's successor a second later out of its window (a 4 ms slack met a 429 here).
    limited, trust, admitted = lanes_against_a_strict_window(
        2200, jitter=0.0, server_sigma=0.05, seed=1, stalls=0.020
    )
    assert (limited, trust) == (0, 0.0)
    assert max_in_window(admitted) <= 40


def test_a_stall_beyond_the_ceiling_is_paid_for_when_the_next_request_was_held_too() -> None:
    # A badly loaded machine: stalls of up to 80 ms every two seconds or so. The ceiling (50 ms)
    # alone let 2-4 requests a run meet a 429 (and the rate cuts that follow); a stall held the
    # next request too, so the guard pays the whole delay: at most the probe's 429 is left.
    for seed in range(1, 5):
        limited, _, admitted = lanes_against_a_strict_window(
            2200, jitter=0.0, server_sigma=0.05, seed=seed, stalls=0.080
        )
        assert limited <= 1, seed
        assert max_in_window(admitted) <= 40


@pytest.mark.parametrize(
    ("first_two", "gap"),
    [
        # One slow answer (the next one comes 275 ms apart): paid for up to the ceiling only.
        pytest.param((0.400, 0.100), 1.050, id="one-slow-answer"),
        # Both held and answered together: a stall on the way, its whole 200 ms (+ the slack).
        pytest.param((0.300, 0.275), 1.210, id="held-together"),
    ],
)
def test_a_delay_beyond_the_ceiling_is_paid_for_only_when_the_next_request_was_held_too(
    first_two: tuple[float, float], gap: float
) -> None:
    async def main() -> list[float]:
        limiter = AdaptiveLimiter(40)
        for _ in range(150):  # a run well under way: its typical delay has settled
            limiter.observe_latency(0.100)
        loop = asyncio.get_running_loop()
        grants: list[float] = []
        latencies = iter([*first_two, *[0.100] * 100])

        async def acquire() -> None:
            await limiter.acquire()
            grants.append(loop.time())
            granted = loop.time()
            await asyncio.sleep(next(latencies))
            limiter.observe_latency(loop.time() - granted)

        await grant_times(acquire, 41, workers=41)
        return grants

    grants = run_virtual(main)
    assert grants[40] - grants[0] == pytest.approx(gap, abs=1e-3)


def test_a_wide_typical_delay_is_taken_for_the_networks_and_not_probed() -> None:
    # 0-50 ms of jitter and a server whose time varies widely (σ 0.15): typically ~60 ms extra,
    # wider than a steady server's spread.
    limited, trust, admitted = lanes_against_a_strict_window(1200, jitter=JITTER, server_sigma=0.15)
    assert (limited, trust) == (0, 1.0)
    assert max_in_window(admitted) <= 40
