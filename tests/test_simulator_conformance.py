"""The simulator against Zoom's official OpenAPI extract, checked by openapi-core.

Every exchange below goes over HTTP to the simulator; the request and the real answer are then
validated by openapi-core against ``zoom-phone-call-handling.openapi.json`` (vendored unmodified
in tests/data). One known defect of the spec is worked around, as zoom-api.md describes: the POST
201 body is a ``oneOf`` of two variants with no ``required`` fields, so ``{"holiday_id": …}``
matches both and a strict ``oneOf`` rejects every valid answer. For that body we validate "the
variant chosen by the key present validates" with openapi-schema-validator's OAS 3.0 validator.
(Request bodies need no workaround: their variants differ by the ``sub_setting_type`` enum.)
The 409 variant of a refused concurrent write is not in the spec (its default, 429, is).

The directory's six list endpoints are checked the same way against
``zoom-phone-directory.openapi.json`` (also vendored unmodified): every page, both paging sizes,
the documented 400 for a forged page token and the MEDIUM window's 429.

The spec's GET schema has no ``required`` and no ``additionalProperties``, so this check passes
any shape of answer: test_simulator_contract.py holds the GET to a strict reading of it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from conftest import REPO, SimClient
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator, validate

from bulkops.simulator import ExtensionType, SimConfig, run_simulator
from bulkops.simulator.listing import ENDPOINTS

# openapi-core warns once per request that it cannot check the spec's oauth2 scheme.
pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")

ZOOM = "https://api.zoom.us"
SETTINGS = "/phone/extension/{extensionId}/call_handling/settings"
DIRECTORY_SPEC = "zoom-phone-directory.openapi.json"  # vendored unmodified beside SPEC_NAME
HOLIDAY = {"name": "Spec Day", "from": "2026-05-01T00:00:00Z", "to": "2026-05-02T00:00:00Z"}


@pytest.fixture(scope="module")
def spec_dict(openapi_spec_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(openapi_spec_path.read_text())
    return data


@pytest.fixture(scope="module")
def openapi(openapi_spec_path: Path) -> OpenAPI:
    return OpenAPI.from_file_path(str(openapi_spec_path))


@pytest_asyncio.fixture
async def client() -> AsyncIterator[SimClient]:
    async with (
        run_simulator(SimConfig(rate=None)) as running,  # the samples/directory.csv account
        aiohttp.ClientSession() as session,
    ):
        c = SimClient(running, session)
        await c.login()
        yield c


class Checker:
    def __init__(self, client: SimClient, openapi: OpenAPI, spec: dict[str, Any]) -> None:
        self.client, self.openapi, self.spec = client, openapi, spec
        self.checked: set[tuple[str, int]] = set()

    def documented(self, method: str, setting: str | None) -> set[int]:
        path = SETTINGS + ("" if setting is None else "/{settingType}")
        return {int(s) for s in self.spec["paths"][path][method.lower()]["responses"]}

    async def exchange(
        self,
        method: str,
        ext: str,
        setting: str | None = None,
        body: Any = None,
        params: dict[str, str] | None = None,
        *,
        request_valid: bool = True,
    ) -> Any:
        answer = await self.client.call(method, ext, setting, body, params=params)
        path = f"/v2/phone/extension/{ext}/call_handling/settings"
        if setting is not None:
            path += f"/{setting}"
        data = None if body is None else json.dumps(body).encode()
        request = MockRequest(
            ZOOM,
            method.lower(),
            path,
            args=params or {},
            headers={"Authorization": "Bearer t"},
            data=data,
            content_type="application/json" if data else None,
        )
        if request_valid:
            self.openapi.validate_request(request)
        else:
            with pytest.raises(Exception) as info:
                self.openapi.validate_request(request)
            assert type(info.value).__module__.startswith("openapi_core")
            return answer
        assert answer.status in self.documented(method, setting), answer
        assert answer.headers["x-zm-trackingid"]
        raw = b"" if answer.body is None else json.dumps(answer.body).encode()
        if (method, answer.status) == ("POST", 201):
            self._post_created(answer.body)
        else:
            ctype = answer.headers.get("Content-Type")
            self.openapi.validate_response(
                request, MockResponse(raw, status_code=answer.status, content_type=ctype)
            )
        if answer.status == 204:
            assert answer.body is None
        self.checked.add((method, answer.status))
        return answer

    def _post_created(self, body: dict[str, Any]) -> None:
        """The spec's ambiguous oneOf: the variant named by the one key present must validate."""
        schema = self.spec["paths"][SETTINGS + "/{settingType}"]["post"]["responses"]["201"]
        variants = schema["content"]["application/json"]["schema"]["oneOf"]
        (key,) = body
        variant = next(v for v in variants if f"{v['title']}_id" == key)
        validate(body, variant, cls=OAS30Validator)
        assert isinstance(body[key], str) and body[key]


async def test_all_four_operations_conform(
    client: SimClient, openapi: OpenAPI, spec_dict: dict[str, Any]
) -> None:
    check = Checker(client, openapi, spec_dict)
    exts = {t: next(e for e in client.sim.extensions if e.type is t) for t in ExtensionType}
    user = exts[ExtensionType.USER].extension_id
    queue = exts[ExtensionType.CALL_QUEUE].extension_id

    def body(sub: str, settings: dict[str, Any]) -> dict[str, Any]:
        return {"sub_setting_type": sub, "settings": settings}

    # POST: both 201 variants, then 400 and 404
    hid = (await check.exchange("POST", user, "holiday_hours", body("holiday", HOLIDAY))).body[
        "holiday_id"
    ]
    fwd = {"phone_number": "+14155550123", "description": "desk"}
    fid = (await check.exchange("POST", user, "business_hours", body("call_forwarding", fwd))).body[
        "call_forwarding_id"
    ]
    await check.exchange(
        "POST", user, "holiday_hours", body("call_forwarding", {**fwd, "holiday_id": hid})
    )
    await check.exchange(
        "POST", user, "holiday_hours", body("holiday", {**HOLIDAY, "to": "2026-04-01T00:00:00Z"})
    )
    await check.exchange(
        "POST", "nNGsNx2zRDyiIXWVI23FCQ", "holiday_hours", body("holiday", HOLIDAY)
    )

    # PATCH: every variant answers 204; then 400 and 404
    target = exts[ExtensionType.AUTO_RECEPTIONIST].extension_id
    handling = {
        "call_not_answer_action": 6,
        "forward_to_extension_id": target,
        "ring_mode": "sequential",
        "max_wait_time": 40,
        "busy_on_another_call_action": 21,
    }
    await check.exchange("PATCH", user, "business_hours", body("call_handling", handling))
    await check.exchange(
        "PATCH",
        user,
        "closed_hours",
        body("call_handling", {"call_not_answer_action": 10, "phone_number": "+442071234567"}),
    )
    await check.exchange(
        "PATCH",
        user,
        "holiday_hours",
        body("call_handling", {"holiday_id": hid, "call_not_answer_action": 11}),
    )
    await check.exchange(
        "PATCH", user, "holiday_hours", body("holiday", {"holiday_id": hid, "name": "Spec Day 2"})
    )
    hours = {
        "type": 2,
        "custom_hours_settings": [{"weekday": 1, "type": 2, "from": "08:00", "to": "12:00"}],
    }
    await check.exchange(
        "PATCH",
        queue,
        "business_hours",
        body("custom_hours", {**hours, "allow_members_to_reset": True}),
    )
    await check.exchange(
        "PATCH",
        queue,
        "business_hours",
        body(
            "call_handling",
            {
                "max_wait_time": 600,
                "wrap_up_time": 60,
                "call_distribution": {"ring_mode": "longest_idle", "ring_duration": 20},
            },
        ),
    )
    toggle = {
        "require_press_1_before_connecting": True,
        "call_forwarding_settings": [{"id": fid, "enable": False}],
    }
    await check.exchange("PATCH", user, "business_hours", body("call_forwarding", toggle))
    await check.exchange(
        "PATCH", user, "business_hours", body("call_handling", {"ring_mode": "sequential"})
    )
    await check.exchange(
        "PATCH",
        user,
        "business_hours",
        body("call_forwarding", {"call_forwarding_settings": [{"id": "gone"}]}),
    )

    # GET: every kind of extension, after the writes above
    for ext in exts.values():
        await check.exchange("GET", ext.extension_id)
    await check.exchange("GET", "nNGsNx2zRDyiIXWVI23FCQ")

    # DELETE: 204 and 404
    await check.exchange("DELETE", user, "business_hours", params={"call_forwarding_id": fid})
    await check.exchange("DELETE", user, "holiday_hours", params={"holiday_id": hid})
    await check.exchange("DELETE", user, "holiday_hours", params={"holiday_id": hid})

    # 429 for all four operations
    client.sim.configure({"rate": 1})
    client.sim.window.try_admit(client.sim.clock())  # fill the window
    await check.exchange("GET", user)
    await check.exchange("POST", user, "holiday_hours", body("holiday", HOLIDAY))
    await check.exchange("PATCH", user, "holiday_hours", body("holiday", {"holiday_id": hid}))
    await check.exchange("DELETE", user, "holiday_hours", params={"holiday_id": hid})

    assert check.checked == {
        ("GET", 200), ("GET", 404), ("GET", 429),
        ("POST", 201), ("POST", 400), ("POST", 404), ("POST", 429),
        ("PATCH", 204), ("PATCH", 400), ("PATCH", 404), ("PATCH", 429),
        ("DELETE", 204), ("DELETE", 404), ("DELETE", 429),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("method", "setting", "body"),
    [
        pytest.param("POST", "bogus_hours", {"sub_setting_type": "holiday", "settings": HOLIDAY}, id="setting-type-enum"),
        pytest.param("PATCH", "business_hours", {"sub_setting_type": "bogus", "settings": {}}, id="sub-setting-enum"),
        pytest.param("PATCH", "business_hours", {"sub_setting_type": "custom_hours", "settings": {"type": 3}}, id="custom-hours-type"),
        pytest.param("PATCH", "business_hours", {"sub_setting_type": "custom_hours", "settings": {"custom_hours_settings": [{"weekday": 8, "type": 1}]}}, id="weekday"),
        pytest.param("PATCH", "business_hours", {"sub_setting_type": "custom_hours", "settings": {"custom_hours_settings": [{"weekday": 1, "type": 1}] * 8}}, id="max-items-7"),
        pytest.param("PATCH", "closed_hours", {"sub_setting_type": "call_forwarding", "settings": {"call_forwarding_settings": [{"id": "a"}] * 11}}, id="max-items-10"),
        pytest.param("PATCH", "closed_hours", {"sub_setting_type": "call_handling", "settings": {"call_not_answer_action": 13}}, id="action-enum"),
        pytest.param("PATCH", "closed_hours", {"sub_setting_type": "call_handling", "settings": {"max_wait_time": 12}}, id="wait-enum"),
        pytest.param("PATCH", "closed_hours", {"sub_setting_type": "call_handling", "settings": {"connect_to_operator": "yes"}}, id="boolean-type"),
        pytest.param("POST", "holiday_hours", {"sub_setting_type": "holiday", "settings": {**HOLIDAY, "from": "May 1st"}}, id="date-time-format"),
    ],
)  # fmt: skip
async def test_requests_the_spec_rejects_are_rejected(
    client: SimClient,
    openapi: OpenAPI,
    spec_dict: dict[str, Any],
    method: str,
    setting: str,
    body: dict[str, Any],
) -> None:
    ext = next(e.extension_id for e in client.sim.extensions if e.type is ExtensionType.USER)
    before = client.sim.settings(ext)
    check = Checker(client, openapi, spec_dict)
    answer = await check.exchange(method, ext, setting, body, request_valid=False)
    assert answer.status == 400 and answer.body["code"] in (300, 400, 405)
    assert client.sim.settings(ext) == before


# ---- the directory's list endpoints (zoom-phone-directory.openapi.json) ----------------------
LISTS = (
    "users",
    "call_queues",
    "auto_receptionists",
    "shared_line_groups",
    "sites",
    "common_areas",
)


@pytest.fixture(scope="module")
def directory_spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPO / "tests" / "data" / DIRECTORY_SPEC).read_text())
    return data


@pytest.fixture(scope="module")
def directory_openapi() -> OpenAPI:
    return OpenAPI.from_file_path(str(REPO / "tests" / "data" / DIRECTORY_SPEC))


async def _list_exchange(
    client: SimClient, openapi: OpenAPI, spec: dict[str, Any], kind: str, **params: str
) -> Any:
    answer = await client.list(kind, **params)
    request = MockRequest(
        ZOOM, "get", f"/v2/phone/{kind}", args=params, headers={"Authorization": "Bearer t"}
    )
    openapi.validate_request(request)
    documented = {int(s) for s in spec["paths"][f"/phone/{kind}"]["get"]["responses"]}
    assert answer.status in documented, answer
    assert answer.headers["x-zm-trackingid"]
    raw = json.dumps(answer.body).encode()
    ctype = answer.headers.get("Content-Type")
    openapi.validate_response(
        request, MockResponse(raw, status_code=answer.status, content_type=ctype)
    )
    return answer


@pytest.mark.parametrize("kind", LISTS)
async def test_every_list_page_conforms(
    client: SimClient, directory_openapi: OpenAPI, directory_spec: dict[str, Any], kind: str
) -> None:
    """Every page of every list, read at the spec's largest page size and at a small one."""
    operation = directory_spec["paths"][f"/phone/{kind}"]["get"]
    (size,) = (p for p in operation["parameters"] if p["name"] == "page_size")
    largest = size["schema"]["maximum"]
    assert ENDPOINTS[kind].max_page_size == largest  # the simulator's table, against the spec
    for page_size in (largest, 7):
        token, seen = "", 0
        while True:
            params = {"page_size": str(page_size)} | ({"next_page_token": token} if token else {})
            answer = await _list_exchange(client, directory_openapi, directory_spec, kind, **params)
            assert answer.status == 200
            items = answer.body[ENDPOINTS[kind].items]
            assert len(items) <= page_size and answer.body["page_size"] == page_size
            seen += len(items)
            token = answer.body["next_page_token"]
            if not token:
                break
        assert seen == answer.body["total_records"] > 0


async def test_list_refusals_conform(
    client: SimClient, directory_openapi: OpenAPI, directory_spec: dict[str, Any]
) -> None:
    """The documented 400 (a token that is not one of Zoom's) and the MEDIUM window's 429."""
    client.sim.configure({"medium_rate": 1})  # so the second request falls in the same second
    bad = await _list_exchange(
        client, directory_openapi, directory_spec, "users", next_page_token="forged"
    )
    assert (bad.status, bad.body["code"]) == (400, 400)
    refused = await _list_exchange(client, directory_openapi, directory_spec, "sites")
    assert refused.status == 429 and refused.body["code"] == 429
    assert refused.headers["X-RateLimit-Category"] == "Medium"
