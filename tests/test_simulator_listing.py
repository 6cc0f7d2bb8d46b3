"""The simulator's directory lists: both ids, sites with zones and countries, paging limits,
scopes and the MEDIUM window (apart from LIGHT)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from conftest import SimClient

from bulkops.simulator import SimConfig, run_simulator
from bulkops.simulator.directory import ExtensionType
from bulkops.simulator.listing import ENDPOINTS

ZOOM_ID = re.compile(r"[A-Za-z0-9_-]{22}")


@pytest_asyncio.fixture
async def client(request: pytest.FixtureRequest) -> AsyncIterator[SimClient]:
    config = getattr(request, "param", SimConfig(rate=None, medium_rate=None))
    async with run_simulator(config) as running, aiohttp.ClientSession() as session:
        c = SimClient(running, session)
        await c.login()
        yield c


async def _all(client: SimClient, kind: str, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        page = await client.list(kind, **params, **({"next_page_token": token} if token else {}))
        assert page.status == 200, page
        items += page.body[ENDPOINTS[kind].items]
        token = page.body["next_page_token"]
        if not token:
            return items


async def test_sites_have_zones_countries_and_main_receptionists(client: SimClient) -> None:
    sites = await _all(client, "sites")
    receptionists = {a["id"]: a for a in await _all(client, "auto_receptionists")}
    zones = {
        s["name"]: (s["country"]["code"], receptionists[s["main_auto_receptionist"]["id"]])
        for s in sites
    }
    assert {name: (code, ar["timezone"]) for name, (code, ar) in zones.items()} == {
        "New York": ("US", "America/New_York"),
        "London": ("GB", "Europe/London"),
        "Berlin": ("DE", "Europe/Berlin"),
    }
    # The generated account's New York had no auto receptionist: Zoom makes one with each site,
    # and it is a real extension of the account.
    main = zones["New York"][1]
    assert client.sim.state.extension(main["extension_id"]) is not None
    assert (await client.get(main["extension_id"])).status == 200


async def test_every_entity_has_two_distinct_ids(client: SimClient) -> None:
    for kind in ("users", "call_queues", "auto_receptionists", "shared_line_groups"):
        for item in await _all(client, kind):
            assert ZOOM_ID.fullmatch(item["id"]) and ZOOM_ID.fullmatch(item["extension_id"])
            assert item["id"] != item["extension_id"]
            assert client.sim.state.extension(item["extension_id"]) is not None
            assert client.sim.state.extension(item["id"]) is None
    users = await _all(client, "users")
    assert all(u["email"].endswith("@example.com") and u["status"] for u in users)
    areas = await _all(client, "common_areas")
    assert len(areas) == 3 and all("extension_id" not in a for a in areas)
    kinds = ("users", "call_queues", "auto_receptionists", "shared_line_groups")
    listed = [len(await _all(client, k)) for k in kinds]
    assert sum(listed) == len(client.sim.extensions)


async def test_paging_default_largest_and_too_large(client: SimClient) -> None:
    first = await client.list("users")
    assert first.body["page_size"] == 30 and len(first.body["users"]) == 30
    assert first.body["total_records"] == sum(
        1 for e in client.sim.extensions if e.type is ExtensionType.USER
    )
    assert (await client.list("shared_line_groups", page_size="300")).status == 200
    too_big = await client.list("users", page_size="101")
    assert (too_big.status, too_big.body["code"]) == (400, 300)
    assert too_big.body["errors"][0]["field"] == "page_size"
    assert (await client.list("users", page_size="0")).status == 400
    # A token belongs to its list and its filter: replayed elsewhere it is refused.
    token = first.body["next_page_token"]
    assert (await client.list("call_queues", next_page_token=token)).status == 400
    resumed = await client.list("users", next_page_token=token)
    assert resumed.body["users"][0]["id"] not in {u["id"] for u in first.body["users"]}


async def test_site_filters(client: SimClient) -> None:
    (london,) = await _all(client, "sites", site_name="london")
    users = await _all(client, "users", site_id=london["id"])
    assert users and {u["site"]["name"] for u in users} == {"London"}
    assert {
        a["site"]["name"] for a in await _all(client, "common_areas", site_id=london["id"])
    } == {"London"}


@pytest.mark.parametrize(
    "client",
    [pytest.param(SimConfig(scopes="phone:read:list_users:admin"), id="granular")],
    indirect=True,
)
async def test_each_list_has_its_own_scope(client: SimClient) -> None:
    assert (await client.list("users")).status == 200
    refused = await client.list("sites")
    assert refused.status == 400 and refused.body["code"] == 4711
    assert "phone:read:list_sites:admin" in refused.body["message"]
    assert "phone:read:admin" in refused.body["message"]


@pytest.mark.parametrize(
    "client",
    [pytest.param(SimConfig(rate=1, medium_rate=1, retry_after="seconds"), id="tight")],
    indirect=True,
)
async def test_medium_window_is_its_own_budget_with_light_shaped_429s(client: SimClient) -> None:
    ext = client.sim.extensions[0].extension_id
    assert (await client.list("users")).status == 200
    medium = await client.list("users")
    assert (await client.get(ext)).status == 200  # LIGHT still had its one request
    light = await client.get(ext)
    assert (medium.status, light.status) == (429, 429)
    assert medium.body == light.body
    assert set(medium.headers) >= {"X-RateLimit-Type", "X-RateLimit-Limit", "Retry-After"}
    assert (medium.headers["X-RateLimit-Category"], light.headers["X-RateLimit-Category"]) == (
        "Medium",
        "Light",
    )
    assert client.sim.stats()["max_in_medium_window"] == 1
