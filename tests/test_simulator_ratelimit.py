"""The strict one-second LIGHT window, the daily cap and the 429 variants."""

from __future__ import annotations

import asyncio
import re
from collections import deque
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
import pytest
from conftest import FakeClock, SimClient
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkops.config import AccountPlan
from bulkops.simulator import RetryAfter, SimConfig, Simulator, run_simulator
from bulkops.simulator.ratelimit import StrictWindow

QPS_BODY = {
    "code": 429,
    "message": "You have reached the maximum per-second rate limit for this API. Try again later.",
}
WALL = datetime(2026, 11, 27, 13, 30, 15, tzinfo=UTC).timestamp()


def test_window_boundaries() -> None:
    w = StrictWindow(2)
    assert [w.try_admit(t) for t in (0.0, 0.5, 0.9, 1.0, 1.4, 1.5)] == [
        True, True, False, True, False, True,
    ]  # fmt: skip
    assert w.max_in_window == 2


@settings(max_examples=200, deadline=None)
@given(
    rate=st.integers(1, 6),
    gaps=st.lists(st.floats(0, 0.6, allow_nan=False), min_size=1, max_size=80),
)
def test_window_never_admits_more_than_rate_in_any_second(rate: int, gaps: list[float]) -> None:
    w, t, admitted = StrictWindow(rate), 0.0, []
    for gap in gaps:
        t += gap
        if w.try_admit(t):
            admitted.append(t)
    recent: deque[float] = deque()
    for a in admitted:  # any window (a - 1, a] ending at an admitted request
        recent.append(a)
        while recent[0] <= a - 1.0:
            recent.popleft()
        assert len(recent) <= rate
    assert w.max_in_window <= rate


async def _client(running: object, session: aiohttp.ClientSession) -> SimClient:
    client = SimClient(running, session)  # type: ignore[arg-type]
    await client.login()
    return client


async def test_business_plan_admits_40_of_60_concurrent(fake_clock: FakeClock) -> None:
    sim = Simulator(SimConfig(plan=AccountPlan.BUSINESS), clock=fake_clock)
    async with run_simulator(simulator=sim) as running, aiohttp.ClientSession() as session:
        client = await _client(running, session)
        ext = sim.extensions[0].extension_id
        answers = await asyncio.gather(*(client.get(ext) for _ in range(60)))
        assert sorted(a.status for a in answers).count(200) == 40
        refused = [a for a in answers if a.status == 429]
        assert len(refused) == 20
        for a in refused:
            assert a.body == QPS_BODY
            assert a.headers["X-RateLimit-Category"] == "Light"
            assert a.headers["X-RateLimit-Type"] == "QPS"
            assert "Retry-After" not in a.headers and a.headers["x-zm-trackingid"]
        fake_clock.advance(0.999)
        assert (await client.get(ext)).status == 429  # the window is strict, not per wall second
        fake_clock.advance(0.001)
        assert (await client.get(ext)).status == 200
        stats = sim.stats()
        assert stats["rate_limited"] == 21 and stats["max_in_window"] == 40


async def test_window_holds_on_the_real_clock() -> None:
    async with run_simulator(SimConfig(rate=25)) as running, aiohttp.ClientSession() as session:
        client = await _client(running, session)
        ext = running.simulator.extensions[0].extension_id
        answers = await asyncio.gather(*(client.get(ext) for _ in range(60)))
        assert sum(a.status == 200 for a in answers) <= 25
        times = [
            e.t for e in running.simulator.journal if e.status == 200 and e.path != "/oauth/token"
        ]
        assert all(sum(1 for u in times if t - 1.0 < u <= t) <= 25 for t in times)
        assert running.simulator.stats()["max_in_window"] <= 25


@pytest.mark.parametrize(
    ("mode", "pattern"),
    [
        pytest.param(RetryAfter.SECONDS, r"^\d+$", id="seconds"),
        pytest.param(RetryAfter.ISO, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", id="iso"),
        pytest.param(RetryAfter.HTTP_DATE, r"GMT$", id="http-date"),
    ],
)
async def test_retry_after_modes(fake_clock: FakeClock, mode: RetryAfter, pattern: str) -> None:
    sim = Simulator(SimConfig(rate=1, retry_after=mode), clock=fake_clock, wall_clock=lambda: WALL)
    async with run_simulator(simulator=sim) as running, aiohttp.ClientSession() as session:
        client = await _client(running, session)
        ext = sim.extensions[0].extension_id
        assert (await client.get(ext)).status == 200
        refused = await client.get(ext)
        value = refused.headers["Retry-After"]
        assert refused.status == 429 and re.search(pattern, value)
        if mode is RetryAfter.HTTP_DATE:
            assert parsedate_to_datetime(value).timestamp() == int(WALL) + 1
        if mode is RetryAfter.SECONDS:
            assert value == "1"


async def test_daily_limit_and_headerless_variant(fake_clock: FakeClock) -> None:
    sim = Simulator(SimConfig(rate=None, daily_limit=3), clock=fake_clock, wall_clock=lambda: WALL)
    async with run_simulator(simulator=sim) as running, aiohttp.ClientSession() as session:
        client = await _client(running, session)
        ext = sim.extensions[0].extension_id
        statuses = [(await client.get(ext)).status for _ in range(3)]
        refused = await client.get(ext)
        assert statuses == [200, 200, 200] and refused.status == 429
        assert refused.body == {
            "code": 429,
            "message": "You have reached the maximum daily rate limit for this API. "
            "Refer to the response header for details on when you can make another request.",
        }
        assert refused.headers["X-RateLimit-Type"] == "Daily-limit"
        assert refused.headers["X-RateLimit-Category"] == "Light"
        assert refused.headers["Retry-After"] == "2026-11-28T00:00:00Z"
        sim.configure({"no_headers_429": True})
        bare = await client.get(ext)
        assert bare.status == 429 and bare.body["code"] == 429
        assert not [h for h in bare.headers if h.lower().startswith(("x-ratelimit", "retry-after"))]
        sim.configure({"daily_limit": None, "rate": 1})
        fake_clock.advance(1.0)  # the three admitted reads leave the window
        assert (await client.get(ext)).status == 200
        qps = await client.get(ext)
        assert (qps.status, qps.body) == (429, QPS_BODY)
        assert "X-RateLimit-Type" not in qps.headers


async def test_token_route_is_not_rate_limited(fake_clock: FakeClock) -> None:
    sim = Simulator(SimConfig(rate=1), clock=fake_clock)
    async with run_simulator(simulator=sim) as running, aiohttp.ClientSession() as session:
        client = await _client(running, session)
        for _ in range(5):
            await client.login()
        assert sim.stats()["rate_limited"] == 0
