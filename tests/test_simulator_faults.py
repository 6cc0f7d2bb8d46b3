"""Injected faults: 5xx before and after applying, dropped connections, slowness, conflicts,
network jitter."""

from __future__ import annotations

import asyncio
import base64
import random
import statistics
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from conftest import SimClient

from bulkops.errors import ConfigError
from bulkops.simulator import ExtensionType, Fault, SimConfig, Simulator, run_simulator
from bulkops.simulator.faults import FaultDice
from bulkops.simulator.reply import Reply

HOLIDAY = {"name": "Faulty Day", "from": "2026-09-01T00:00:00Z", "to": "2026-09-02T00:00:00Z"}
BODY = {"sub_setting_type": "holiday", "settings": HOLIDAY}


class HoldingSimulator(Simulator):
    """Can hold its next write inside the busy section, where another write meets the 409.

    The simulator reads a write's body inside that section, so holding the body read holds the
    write there for as long as the test needs, instead of racing a latency.
    """

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.hold_next = False
        self.inside = asyncio.Event()  # the held write is in its busy section
        self.go = asyncio.Event()  # let the held write finish

    async def handle_api(
        self,
        method: str,
        extension_id: str,
        setting_type: str | None,
        body: Callable[[], Any],
        query: Mapping[str, str],
        authorization: str | None,
    ) -> Reply:
        if method == "GET" or not self.hold_next:
            return await super().handle_api(
                method, extension_id, setting_type, body, query, authorization
            )
        self.hold_next = False

        async def held_body() -> Any:
            self.inside.set()
            await self.go.wait()
            return await body()

        return await super().handle_api(
            method, extension_id, setting_type, held_body, query, authorization
        )


@pytest_asyncio.fixture
async def client() -> AsyncIterator[SimClient]:
    sim = HoldingSimulator(SimConfig(rate=None, extensions=12, seed=5))
    async with run_simulator(simulator=sim) as running, aiohttp.ClientSession() as session:
        c = SimClient(running, session)
        await c.login()
        try:
            yield c
        finally:
            sim.go.set()


def user(client: SimClient) -> str:
    return next(e.extension_id for e in client.sim.extensions if e.type is ExtensionType.USER)


def names(client: SimClient, ext: str) -> list[str]:
    return [h["name"] for h in client.sim.holidays(ext)]


async def test_applied_then_dropped_really_applies(client: SimClient) -> None:
    ext = user(client)
    client.sim.configure({"applied_drop": 1.0})
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.call("POST", ext, "holiday_hours", BODY)
    assert names(client, ext).count("Faulty Day") == 1
    last = client.sim.journal.entries[-1]
    assert (last.status, last.applied, last.fault) == (None, True, "applied_drop")
    assert client.sim.stats()["by_status"]["dropped"] == 1
    # a refused request is answered normally: there is nothing applied to lose
    bad = await client.call(
        "POST", ext, "holiday_hours", {"sub_setting_type": "holiday", "settings": {}}
    )
    assert bad.status == 400
    # tests remove a fault at run time through the inspection API
    async with client.session.post(
        f"{client.running.base_url}/__sim/config", json={"applied_drop": 0}
    ) as r:
        assert r.status == 200
    assert (await client.call("POST", ext, "holiday_hours", BODY)).status == 201
    assert names(client, ext).count("Faulty Day") == 2


async def test_applied_then_5xx(client: SimClient) -> None:
    ext = user(client)
    client.sim.configure({"applied_5xx": 1.0})
    answer = await client.call("POST", ext, "holiday_hours", BODY)
    assert answer.status in (500, 503) and answer.body["code"] == answer.status
    assert answer.body["message"] and answer.headers["x-zm-trackingid"]
    assert "Faulty Day" in names(client, ext)
    last = client.sim.journal.entries[-1]
    assert (last.status, last.applied, last.fault) == (answer.status, True, "applied_5xx")


async def test_5xx_before_applying(client: SimClient) -> None:
    ext = user(client)
    before = client.sim.settings(ext)
    client.sim.configure({"error_5xx": 1.0})
    statuses = {(await client.call("POST", ext, "holiday_hours", BODY)).status for _ in range(12)}
    assert statuses <= {500, 502, 503} and len(statuses) > 1
    assert client.sim.settings(ext) == before
    assert (await client.get(ext)).status == 200  # reads are spared unless fault_reads
    client.sim.configure({"fault_reads": True})
    assert (await client.get(ext)).status >= 500


async def test_slow_answer_outlasts_the_client_timeout(client: SimClient) -> None:
    ext = user(client)
    client.sim.configure({"slow": 1.0, "slow_s": 30.0})
    with pytest.raises(asyncio.TimeoutError):
        await client.call("POST", ext, "holiday_hours", BODY, client_timeout=0.2)
    assert "Faulty Day" not in names(client, ext)  # still sleeping; shutdown wakes it


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        pytest.param({}, 429, id="429-by-default"),
        pytest.param({"conflict_status": 409}, 409, id="409-variant"),
    ],
)
async def test_concurrent_writes_to_one_extension_are_refused(
    client: SimClient, changes: dict[str, int], status: int
) -> None:
    exts = [e.extension_id for e in client.sim.extensions if e.type is ExtensionType.USER][:2]
    sim = client.sim
    assert isinstance(sim, HoldingSimulator)
    sim.configure({"conflict": 1.0, "latency_ms": 150.0, "latency_sigma": 0.0, **changes})
    sim.hold_next = True
    first = asyncio.create_task(client.call("POST", exts[0], "holiday_hours", BODY))
    # The first write is being handled when the second one arrives, however slow the machine.
    await asyncio.wait_for(sim.inside.wait(), 30)
    second = await client.call("POST", exts[0], "holiday_hours", BODY)
    sim.go.set()
    same = [await first, second]
    assert sorted(a.status for a in same) == sorted([201, status])
    refused = next(a for a in same if a.status == status)
    assert refused.body == {
        "code": status,
        "message": "Another update to this extension is in progress. Try again later.",
    }
    assert names(client, exts[0]).count("Faulty Day") == 1
    apart = await asyncio.gather(*(client.call("POST", e, "holiday_hours", BODY) for e in exts))
    assert [a.status for a in apart] == [201, 201]
    reads = await asyncio.gather(
        client.get(exts[0]), client.call("POST", exts[0], "holiday_hours", BODY)
    )
    assert [a.status for a in reads] == [200, 201]  # a read does not block a write
    assert client.sim.busy == {}


async def test_token_route_faults_only_when_asked(client: SimClient) -> None:
    client.sim.configure({"error_5xx": 1.0})
    await client.login()  # spared
    client.sim.configure({"fault_token": True})
    with pytest.raises(AssertionError):
        await client.login()


async def _statuses(seed: int) -> list[int]:
    sim = Simulator(SimConfig(rate=None, extensions=4, seed=seed, error_5xx=0.3, applied_5xx=0.2))
    creds = sim.credentials
    basic = (
        "Basic " + base64.b64encode(f"{creds.client_id}:{creds.client_secret}".encode()).decode()
    )
    token = sim.issue_token(
        basic, {"grant_type": "account_credentials", "account_id": creds.account_id}, "x"
    )
    bearer = "Bearer " + token.body["access_token"]
    ext = sim.extensions[0].extension_id

    async def body() -> bytes:
        return b'{"sub_setting_type": "holiday", "settings": {"name": "n", "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}}'

    out = []
    for _ in range(40):
        reply = await sim.handle_api("POST", ext, "holiday_hours", body, {}, bearer)
        out.append(reply.status)
    return out


async def test_faults_are_reproducible_from_the_seed() -> None:
    first, again, other = await _statuses(11), await _statuses(11), await _statuses(12)
    assert first == again and first != other
    assert {201, 500} <= set(first)


def test_latency_distribution() -> None:
    dice = FaultDice(random.Random(3))
    assert dice.latency_s(SimConfig(latency_ms=0)) == 0.0
    samples = [dice.latency_s(SimConfig(latency_ms=40)) for _ in range(2001)]
    assert 0.036 < statistics.median(samples) < 0.044
    assert max(samples) > 0.08  # a long tail, like a real network
    assert Fault.APPLIED_DROP.applies_first and not Fault.ERROR_5XX.applies_first


# ---- network jitter ----------------------------------------------------------------------------
class ArrivalWatcher(Simulator):
    """Notes when each API request came in, and when it reached the gate (tokens, the window)."""

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.came: list[float] = []
        self.gated: list[float] = []

    async def handle_api(
        self,
        method: str,
        extension_id: str,
        setting_type: str | None,
        body: Callable[[], Any],
        query: Mapping[str, str],
        authorization: str | None,
    ) -> Reply:
        self.came.append(time.monotonic())
        return await super().handle_api(
            method, extension_id, setting_type, body, query, authorization
        )

    def gate(self, authorization: str | None, method: str = "GET") -> Reply | None:
        self.gated.append(time.monotonic())
        return super().gate(authorization, method)


async def test_jitter_delays_each_request_before_the_rate_window_sees_it() -> None:
    config = SimConfig(rate=None, extensions=3, seed=5, jitter_ms=30)
    drawn = FaultDice(random.Random(5))  # the simulator's own draws, in request order
    expected = [drawn.jitter_s(config) for _ in range(4)]
    sim = ArrivalWatcher(config)
    async with run_simulator(simulator=sim) as running, aiohttp.ClientSession() as session:
        client = SimClient(running, session)
        await client.login()
        ext = user(client)
        for _ in range(4):
            assert (await client.get(ext)).status == 200
    assert len(set(expected)) == 4 and all(0.0 <= d <= 0.030 for d in expected)
    delays = [gated - came for came, gated in zip(sim.came, sim.gated, strict=True)]
    assert all(d >= e - 1e-3 for d, e in zip(delays, expected, strict=True))


def test_no_jitter_draws_nothing_so_other_faults_keep_their_sequence() -> None:
    rng = random.Random(3)
    dice = FaultDice(rng)
    state = rng.getstate()
    assert dice.jitter_s(SimConfig()) == 0.0 and rng.getstate() == state
    with pytest.raises(ConfigError):
        SimConfig(jitter_ms=-1)
