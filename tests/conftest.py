"""Simulator fixtures: an in-process simulator on 127.0.0.1:0, a logged-in client, a fake clock."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, settings

from bulkops.simulator import (
    HolidayNames,
    HolidayTimes,
    RunningSimulator,
    SimConfig,
    Simulator,
    run_simulator,
)
from bulkops.simulator.profile import VARIANTS

# The suite is deterministic: Hypothesis draws the same examples on every run, so a property
# fails on every machine or on none, and its timing checks (a per-example deadline, "too slow"
# generation) are off: they fail on a loaded machine, not on a bug.
# `HYPOTHESIS_PROFILE=explore make pytest` searches afresh with many more examples.
_UNTIMED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("deterministic", derandomize=True, database=None, **_UNTIMED)
settings.register_profile("explore", max_examples=1000, **_UNTIMED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

REPO = Path(__file__).resolve().parent.parent
SPEC_NAME = "zoom-phone-call-handling.openapi.json"

# Hypothesis times every example on the wall clock (a 200 ms deadline, and a health check on
# slow generation): a loaded machine that descheduled us for a moment is not a failing property.
# The examples stay random; only the timing checks go.
settings.register_profile("bulkops", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("bulkops")


class FakeClock:
    """A monotonic clock the test moves by hand, or the code under test moves by sleeping:
    ``sleep`` (an engine's injected sleep) notes the wait and adds it at once."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@dataclass
class Answer:
    status: int
    headers: Any
    body: Any  # parsed JSON, or None when the answer had no body

    @property
    def message(self) -> str | None:
        return None if not isinstance(self.body, dict) else self.body.get("message")


class SimClient:
    """A bare HTTP client for the simulator: no retries, no classification, just answers."""

    def __init__(self, running: RunningSimulator, session: aiohttp.ClientSession) -> None:
        self.running = running
        self.session = session
        self.token: str | None = None

    @property
    def sim(self) -> Simulator:
        return self.running.simulator

    def basic(self) -> str:
        c = self.running.credentials
        return "Basic " + base64.b64encode(f"{c.client_id}:{c.client_secret}".encode()).decode()

    async def login(self) -> str:
        c = self.running.credentials
        params = {"grant_type": "account_credentials", "account_id": c.account_id}
        headers = {"Authorization": self.basic()}
        async with self.session.post(self.running.oauth_url, params=params, headers=headers) as r:
            assert r.status == 200, await r.text()
            self.token = (await r.json())["access_token"]
        return self.token

    async def call(
        self,
        method: str,
        extension_id: str,
        setting_type: str | None = None,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        raw: bytes | None = None,
        client_timeout: float | None = None,
    ) -> Answer:
        url = f"{self.running.api_url}/phone/extension/{extension_id}/call_handling/settings"
        if setting_type is not None:
            url += f"/{setting_type}"
        headers = {"Authorization": f"Bearer {self.token}"}
        kwargs: dict[str, Any] = {"params": params, "headers": headers}
        if raw is not None:
            kwargs["data"] = raw
            headers["Content-Type"] = "application/json"
        elif body is not None:
            kwargs["json"] = body
        if client_timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=client_timeout)
        async with self.session.request(method, url, **kwargs) as r:
            data = await r.read()
            parsed = await r.json(content_type=None) if data else None
            return Answer(r.status, r.headers, parsed)

    async def list(self, kind: str, **params: str) -> Answer:
        """One page of a directory list, ``GET /phone/{kind}`` (users, sites, …)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        url = f"{self.running.api_url}/phone/{kind}"
        async with self.session.get(url, params=params, headers=headers) as r:
            data = await r.read()
            parsed = await r.json(content_type=None) if data else None
            return Answer(r.status, r.headers, parsed)

    async def get(self, extension_id: str) -> Answer:
        return await self.call("GET", extension_id)

    async def post(self, extension_id: str, setting: str, sub: str, settings: Any) -> Answer:
        body = {"sub_setting_type": sub, "settings": settings}
        return await self.call("POST", extension_id, setting, body)

    async def patch(self, extension_id: str, setting: str, sub: str, settings: Any) -> Answer:
        body = {"sub_setting_type": sub, "settings": settings}
        return await self.call("PATCH", extension_id, setting, body)

    async def delete(self, extension_id: str, setting: str, **params: str) -> Answer:
        return await self.call("DELETE", extension_id, setting, params=params)


#: Every behaviour the simulator can play where Zoom is silent: each way of storing a holiday
#: (simulator/storage.py) and each profile variant (simulator/profile.py VARIANTS). Zoom
#: documents none of them, so a test of the exactly-once or undo promise runs against each.
SIM_VARIANTS = [
    *(
        pytest.param({"holiday_times": times, "holiday_names": names}, id=f"{times}-{names}")
        for times in HolidayTimes
        for names in HolidayNames
    ),
    *(pytest.param(dict(changes), id=name) for name, changes in VARIANTS.items() if changes),
]


@pytest.fixture(params=SIM_VARIANTS)
def sim_variant(request: pytest.FixtureRequest) -> dict[str, Any]:
    """SimConfig fields for one simulator variant; a test that asks runs once per variant."""
    return dict(request.param)


@pytest.fixture
def sim_config() -> SimConfig:
    """Override in a test module to serve a differently configured simulator."""
    return SimConfig(rate=None, seed=7, extensions=24)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture
async def running_sim(sim_config: SimConfig) -> AsyncIterator[RunningSimulator]:
    async with run_simulator(sim_config) as running:
        yield running


@pytest_asyncio.fixture
async def sim_client(running_sim: RunningSimulator) -> AsyncIterator[SimClient]:
    async with aiohttp.ClientSession() as session:
        client = SimClient(running_sim, session)
        await client.login()
        yield client


@pytest.fixture(scope="session")
def openapi_spec_path() -> Path:
    """The official spec extract, vendored unmodified in tests/data (shared/ is its source)."""
    path = REPO / "tests" / "data" / SPEC_NAME
    assert path.exists(), f"copy ../shared/{SPEC_NAME} to {path}"
    return path
