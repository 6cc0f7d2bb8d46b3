"""The simulator's routes, shapes, validation, tokens, persistence and inspection API."""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

import aiohttp
import pytest
from conftest import REPO, FakeClock, SimClient

import bulkops.simulator as simulator_pkg
from bulkops.config import Credentials
from bulkops.errors import ConfigError, JobFileError
from bulkops.simulator import (
    ExtensionType,
    RetryAfter,
    SimConfig,
    Simulator,
    add_arguments,
    config_from_args,
    generate_directory,
    load_directory,
    run_simulator,
    write_directory,
)

HOLIDAY = {"name": "Summer Break", "from": "2026-08-01T00:00:00Z", "to": "2026-08-02T00:00:00Z"}


def first(client: SimClient, kind: ExtensionType) -> str:
    return next(e.extension_id for e in client.sim.extensions if e.type is kind)


def test_exports_match_all() -> None:
    public = {n for n in dir(simulator_pkg) if not n.startswith("_")}
    modules = {"answers", "app", "config", "directory", "faults", "journal", "ratelimit"}
    modules |= {
        "profile",
        "server",
        "shown",
        "simulator",
        "state",
        "storage",
        "validation",
        "listing",
        "reply",
        "writes",
    }
    modules |= {"annotations"}
    assert sorted(public - modules) == sorted(simulator_pkg.__all__)


# ---- directory ---------------------------------------------------------------------------------
def test_generator_is_deterministic_and_sample_file_is_stable() -> None:
    assert generate_directory(60, 2026) == generate_directory(60, 2026)
    assert generate_directory(60, 2026) != generate_directory(60, 1)
    sample = load_directory(REPO / "samples" / "directory.csv")
    assert sample == generate_directory(60, 2026)  # the job-file samples are written against it
    assert {e.site for e in sample} == {"New York", "London", "Berlin"}
    assert {e.type for e in sample} == set(ExtensionType)
    assert all(len(e.extension_id) == 22 and e.extension_id.isalnum() for e in sample)
    assert all((e.email is not None) == (e.type is ExtensionType.USER) for e in sample)
    assert len({e.extension_number for e in sample}) == 60


@pytest.mark.parametrize(
    "suffix", [pytest.param(".csv", id="csv"), pytest.param(".parquet", id="parquet")]
)
def test_directory_file_round_trip(tmp_path: Path, suffix: str) -> None:
    exts = generate_directory(9, 3)
    path = tmp_path / f"dir{suffix}"
    write_directory(exts, path)
    assert load_directory(path) == exts
    sim = Simulator(SimConfig(directory=path))
    assert sim.extensions == exts


def test_directory_file_problems_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "extension_id,extension_number,name,email,type,site\n"
        "a,1,A,,robot,X\n"
        "a,x,B,,user,X\n"
        ",2,C,,user,X\n"
    )
    with pytest.raises(JobFileError) as info:
        load_directory(path)
    reasons = [(p.row, p.column) for p in info.value.problems]
    assert reasons == [
        (2, "type"),
        (3, "extension_id"),
        (3, "extension_number"),
        (4, "extension_id"),
    ]
    (tmp_path / "cols.csv").write_text("extension_id,name\n")
    with pytest.raises(JobFileError, match="missing column"):
        load_directory(tmp_path / "cols.csv")


# ---- OAuth -------------------------------------------------------------------------------------
async def test_token_route_shape_and_errors(sim_client: SimClient) -> None:
    running, session = sim_client.running, sim_client.session
    c = running.credentials
    form = {"grant_type": "account_credentials", "account_id": c.account_id}
    async with session.post(
        running.oauth_url, data=form, headers={"Authorization": sim_client.basic()}
    ) as r:
        body = await r.json()
        assert r.status == 200 and r.headers["x-zm-trackingid"]
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "api_url"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["api_url"] == running.base_url
    wrong = "Basic " + base64.b64encode(f"{c.client_id}:nope".encode()).decode()
    async with session.post(running.oauth_url, data=form, headers={"Authorization": wrong}) as r:
        assert r.status == 401
        assert await r.json() == {
            "reason": "Invalid client_id or client_secret",
            "error": "invalid_client",
        }
    bad_account = {**form, "account_id": "other"}
    async with session.post(
        running.oauth_url, data=bad_account, headers={"Authorization": sim_client.basic()}
    ) as r:
        assert r.status == 400 and (await r.json())["error"] == "invalid_request"
    bad_grant = {**form, "grant_type": "password"}
    async with session.post(
        running.oauth_url, params=bad_grant, headers={"Authorization": sim_client.basic()}
    ) as r:
        assert r.status == 400 and (await r.json())["error"] == "unsupported_grant_type"


async def test_token_expires_on_the_injected_clock(fake_clock: FakeClock) -> None:
    sim = Simulator(SimConfig(token_ttl=60, rate=None), clock=fake_clock)
    async with run_simulator(simulator=sim) as running, aiohttp.ClientSession() as session:
        client = SimClient(running, session)
        await client.login()
        ext = sim.extensions[0].extension_id
        fake_clock.advance(59.9)
        assert (await client.get(ext)).status == 200
        fake_clock.advance(0.1)
        expired = await client.get(ext)
        assert (expired.status, expired.body) == (
            401,
            {"code": 124, "message": "Access token is expired."},
        )
        client.token = "made-up"
        invalid = await client.get(ext)
        assert (invalid.status, invalid.body) == (
            401,
            {"code": 124, "message": "Invalid access token."},
        )
        await client.login()
        assert (await client.get(ext)).status == 200


# ---- reads and writes ----------------------------------------------------------------------------
async def test_get_shape_and_zoom_forwarding_entries(sim_client: SimClient) -> None:
    user = first(sim_client, ExtensionType.USER)
    answer = await sim_client.get(user)
    assert answer.status == 200 and answer.headers["x-zm-trackingid"]
    body = answer.body
    assert set(body) == {"business_hours", "closed_hours", "holiday_hours"}
    subs = [e["sub_setting_type"] for e in body["business_hours"]]
    assert subs == ["custom_hours", "call_handling", "call_forwarding"]
    fwd = body["business_hours"][2]["settings"]["call_forwarding_settings"]
    assert [f["description"] for f in fwd] == [
        "Zoom Mobile Apps",
        "Zoom Desktop Apps",
        "Zoom Phone Appliance Apps",
    ]
    queue = first(sim_client, ExtensionType.CALL_QUEUE)
    queue_body = (await sim_client.get(queue)).body
    assert [e["sub_setting_type"] for e in queue_body["business_hours"]] == [
        "custom_hours",
        "call_handling",
    ]


async def test_holiday_lifecycle(sim_client: SimClient) -> None:
    ext = first(sim_client, ExtensionType.USER)
    before = len(sim_client.sim.holidays(ext))
    created = await sim_client.post(ext, "holiday_hours", "holiday", HOLIDAY)
    assert created.status == 201 and set(created.body) == {"holiday_id"}
    again = await sim_client.post(ext, "holiday_hours", "holiday", HOLIDAY)
    assert again.body["holiday_id"] != created.body["holiday_id"]  # adding is not idempotent
    hid = created.body["holiday_id"]
    holidays = sim_client.sim.holidays(ext)
    assert len(holidays) == before + 2
    assert holidays[-2] == {"holiday_id": hid, **HOLIDAY}
    patched = await sim_client.patch(
        ext, "holiday_hours", "holiday", {"holiday_id": hid, "name": "Renamed"}
    )
    assert (patched.status, patched.body) == (204, None)
    read = (await sim_client.get(ext)).body["holiday_hours"]
    entry = next(h for h in read if h["holiday_id"] == hid)
    assert entry["details"][0] == {
        "sub_setting_type": "holiday",
        "settings": {**HOLIDAY, "name": "Renamed"},
    }
    gone = await sim_client.delete(ext, "holiday_hours", holiday_id=hid)
    assert (gone.status, gone.body) == (204, None)
    missing = await sim_client.delete(ext, "holiday_hours", holiday_id=hid)
    assert (missing.status, missing.body) == (
        404,
        {"code": 404, "message": "Holiday does not exist."},
    )


async def test_forwarding_lifecycle_and_zoom_entries(sim_client: SimClient) -> None:
    ext = first(sim_client, ExtensionType.USER)
    added = await sim_client.post(
        ext,
        "closed_hours",
        "call_forwarding",
        {"phone_number": "+14155550100", "description": "cell"},
    )
    assert added.status == 201 and set(added.body) == {"call_forwarding_id"}
    fid = added.body["call_forwarding_id"]
    zoom_id = sim_client.sim.forwarding(ext, "closed_hours")[0]["id"]
    update = {
        "require_press_1_before_connecting": True,
        "call_forwarding_settings": [
            {"id": fid, "enable": False},
            {"id": zoom_id, "enable": False},
        ],
    }
    assert (await sim_client.patch(ext, "closed_hours", "call_forwarding", update)).status == 204
    entries = {f["id"]: f for f in sim_client.sim.forwarding(ext, "closed_hours")}
    assert entries[fid] == {
        "id": fid,
        "description": "cell",
        "enable": False,
        "phone_number": "+14155550100",
    }
    assert entries[zoom_id]["enable"] is False
    refused = await sim_client.delete(ext, "closed_hours", call_forwarding_id=zoom_id)
    assert (refused.status, refused.body["code"]) == (400, 400)
    assert (await sim_client.delete(ext, "closed_hours", call_forwarding_id=fid)).status == 204
    missing = await sim_client.delete(ext, "closed_hours", call_forwarding_id=fid)
    assert missing.status == 404
    assert missing.message == f"Call forwarding does not exist: {fid}."
    unknown = await sim_client.patch(
        ext, "closed_hours", "call_forwarding", {"call_forwarding_settings": [{"id": "zzz"}]}
    )
    assert (unknown.status, unknown.message) == (404, "Call forwarding does not exist: zzz.")


async def test_holiday_forwarding_and_call_handling_need_the_holiday(sim_client: SimClient) -> None:
    ext = first(sim_client, ExtensionType.USER)
    hid = (await sim_client.post(ext, "holiday_hours", "holiday", HOLIDAY)).body["holiday_id"]
    fwd = {"holiday_id": hid, "phone_number": "+4930123456"}
    fid = (await sim_client.post(ext, "holiday_hours", "call_forwarding", fwd)).body[
        "call_forwarding_id"
    ]
    assert [f["id"] for f in sim_client.sim.forwarding(ext, "holiday_hours", hid)][-1] == fid
    handling = {"holiday_id": hid, "call_not_answer_action": 11}
    assert (await sim_client.patch(ext, "holiday_hours", "call_handling", handling)).status == 204
    nobody = await sim_client.patch(
        ext, "holiday_hours", "call_handling", {**handling, "holiday_id": "x"}
    )
    assert (nobody.status, nobody.message) == (404, "Holiday does not exist.")
    assert (await sim_client.delete(ext, "holiday_hours", call_forwarding_id=fid)).status == 204


async def test_reads_differ_from_writes(sim_client: SimClient) -> None:
    user = first(sim_client, ExtensionType.USER)
    target = sim_client.sim.extensions[-1]
    settings = {
        "call_not_answer_action": 2,
        "forward_to_extension_id": target.extension_id,
        "ring_mode": "sequential",
        "max_wait_time": 45,
        "busy_on_another_call_action": 22,
        "greeting_prompt_id": "g1",
    }
    assert (await sim_client.patch(user, "business_hours", "call_handling", settings)).status == 204
    handling = (await sim_client.get(user)).body["business_hours"][1]["settings"]
    assert "call_not_answer_action" not in handling and "forward_to_extension_id" not in handling
    assert handling["routing"]["action"] == 2
    forward_to = handling["routing"]["forward_to"]
    assert forward_to["extension_id"] == target.extension_id
    assert forward_to["extension_number"] == target.extension_number
    assert (handling["ring_mode"], handling["max_wait_time"]) == ("sequential", 45)
    assert handling["busy_routing"]["action"] == 22
    assert handling["greeting_prompt"] == {"id": "g1"}


async def test_custom_hours_patch_merges_by_weekday(sim_client: SimClient) -> None:
    ext = first(sim_client, ExtensionType.CALL_QUEUE)
    days = [{"weekday": 7, "type": 2, "from": "10:00", "to": "14:00"}, {"weekday": 2, "type": 1}]
    change = {"type": 2, "custom_hours_settings": days, "allow_members_to_reset": True}
    assert (await sim_client.patch(ext, "business_hours", "custom_hours", change)).status == 204
    hours = sim_client.sim.settings(ext)["business_hours"][0]["settings"]
    by_day = {d["weekday"]: d for d in hours["custom_hours_settings"]}
    assert by_day[7] == {"weekday": 7, "type": 2, "from": "10:00", "to": "14:00"}
    assert by_day[2] == {"weekday": 2, "type": 1}
    assert by_day[3]["from"] == "09:00" and hours["allow_members_to_reset"] is True
    assert (
        await sim_client.patch(ext, "business_hours", "custom_hours", {"type": 1})
    ).status == 204
    assert sim_client.sim.settings(ext)["business_hours"][0]["settings"]["type"] == 1


V = (400, 300, "Validation Failed.")
NS = (400, 400, "This operation is not supported.")


@pytest.mark.parametrize(
    ("method", "setting", "body", "params", "expected"),
    [
        pytest.param("POST", "holiday_hours", {"sub_setting_type": "holiday", "settings": {**HOLIDAY, "from": "2026-08-01 00:00"}}, None, V, id="bad-date-time"),
        pytest.param("POST", "holiday_hours", {"sub_setting_type": "holiday", "settings": {"name": "x", "from": "2026-08-01T00:00:00Z"}}, None, V, id="holiday-missing-to"),
        pytest.param("POST", "holiday_hours", {"sub_setting_type": "holiday", "settings": {**HOLIDAY, "to": "2026-07-01T00:00:00Z"}}, None, (400, 400, "Invalid holiday from/to time."), id="holiday-from-after-to"),
        pytest.param("PATCH", "holiday_hours", {"sub_setting_type": "holiday", "settings": {"name": "x"}}, None, V, id="holiday-patch-needs-id"),
        pytest.param("POST", "business_hours", {"sub_setting_type": "call_forwarding", "settings": {"phone_number": "4155550100"}}, None, V, id="not-e164"),
        pytest.param("POST", "business_hours", {"sub_setting_type": "custom_hours", "settings": {}}, None, NS, id="add-custom-hours"),
        pytest.param("PATCH", "closed_hours", {"sub_setting_type": "custom_hours", "settings": {"type": 1}}, None, NS, id="closed-custom-hours"),
        pytest.param("POST", "business_hours", {"sub_setting_type": "holiday", "settings": HOLIDAY}, None, NS, id="holiday-in-business-hours"),
        pytest.param("POST", "bogus_hours", {"sub_setting_type": "holiday", "settings": HOLIDAY}, None, V, id="bogus-setting-type"),
        pytest.param("PATCH", "business_hours", {"sub_setting_type": "bogus", "settings": {}}, None, V, id="bogus-sub-setting"),
        pytest.param("PATCH", "business_hours", {"sub_setting_type": "custom_hours", "settings": {"custom_hours_settings": [{"weekday": 1, "type": 1}] * 8}}, None, (400, 405, "The number of items for custom_hours_settings must not exceed 7."), id="eight-days"),
        pytest.param("PATCH", "business_hours", {"sub_setting_type": "custom_hours", "settings": {"custom_hours_settings": [{"weekday": 3, "type": 2, "from": "18:00", "to": "09:00"}]}}, None, (400, 400, "Invalid customer hours from/to time for weekday: 3."), id="hours-backwards"),
        pytest.param("PATCH", "business_hours", {"sub_setting_type": "call_forwarding", "settings": {"call_forwarding_settings": [{"id": "x"}] * 11}}, None, (400, 405, "The number of items for call_forwarding_settings must not exceed 10."), id="eleven-forwardings"),
        pytest.param("PATCH", "business_hours", {"sub_setting_type": "call_handling", "settings": {"ring_mode": "sequential"}}, None, (400, 400, "The user business hours ring mode and max wait time need to be set together."), id="ring-without-wait"),
        pytest.param("PATCH", "business_hours", {"sub_setting_type": "call_handling", "settings": {"call_not_answer_action": 13}}, None, V, id="bad-action"),
        pytest.param("PATCH", "business_hours", {"sub_setting_type": "call_handling", "settings": {"forward_to_extension_id": "nobody"}}, None, V, id="unknown-target"),
        pytest.param("DELETE", "holiday_hours", None, {}, V, id="delete-without-id"),
        pytest.param("DELETE", "holiday_hours", None, {"holiday_id": "a", "call_forwarding_id": "b"}, V, id="delete-with-both-ids"),
        pytest.param("DELETE", "business_hours", None, {"holiday_id": "a"}, NS, id="delete-holiday-from-business"),
    ],
)  # fmt: skip
async def test_validation_errors(
    sim_client: SimClient,
    method: str,
    setting: str,
    body: object,
    params: dict[str, str] | None,
    expected: tuple[int, int, str],
) -> None:
    ext = first(sim_client, ExtensionType.USER)
    before = sim_client.sim.settings(ext)
    answer = await sim_client.call(method, ext, setting, body, params=params)
    assert (answer.status, answer.body["code"], answer.body["message"]) == expected
    if expected[1] == 300:
        assert answer.body["errors"][0]["field"]
    assert sim_client.sim.settings(ext) == before  # nothing changed
    assert not sim_client.sim.journal.entries[-1].applied


async def test_malformed_json_unknown_extension_and_non_user_forwarding(
    sim_client: SimClient,
) -> None:
    ext = first(sim_client, ExtensionType.USER)
    for raw in (b"{not json", b"[1, 2]", b""):
        answer = await sim_client.call("PATCH", ext, "business_hours", raw=raw)
        assert (answer.status, answer.body) == (
            400,
            {"code": 300, "message": "Request Body should be a valid JSON object."},
        )
    for method in ("GET", "POST"):
        answer = await sim_client.call(
            method, "nNGsNx2zRDyiIXWVI23FCQ", None if method == "GET" else "holiday_hours",
            None if method == "GET" else {"sub_setting_type": "holiday", "settings": HOLIDAY},
        )  # fmt: skip
        assert (answer.status, answer.body) == (
            404,
            {"code": 404, "message": "Extension does not exist: nNGsNx2zRDyiIXWVI23FCQ"},
        )
    queue = first(sim_client, ExtensionType.CALL_QUEUE)
    refused = await sim_client.post(
        queue, "business_hours", "call_forwarding", {"phone_number": "+14155550100"}
    )
    assert refused.status == 400 and "Call Forwarding to External Numbers" in refused.message


async def test_forwarding_limit_counts_external_numbers(sim_client: SimClient) -> None:
    ext = first(sim_client, ExtensionType.USER)
    for i in range(10):
        added = await sim_client.post(
            ext, "business_hours", "call_forwarding", {"phone_number": f"+1415555{i:04d}"}
        )
        assert added.status == 201
    eleventh = await sim_client.post(
        ext, "business_hours", "call_forwarding", {"phone_number": "+14155559999"}
    )
    assert (eleventh.status, eleventh.body["code"]) == (400, 405)


# ---- persistence and inspection ----------------------------------------------------------------
async def test_state_survives_a_restart(tmp_path: Path) -> None:
    config = SimConfig(rate=None, extensions=5, state_file=tmp_path / "sim" / "state.json")
    async with run_simulator(config) as running, aiohttp.ClientSession() as session:
        client = SimClient(running, session)
        await client.login()
        ext = running.simulator.extensions[0].extension_id
        hid = (await client.post(ext, "holiday_hours", "holiday", HOLIDAY)).body["holiday_id"]
        first_state = running.simulator.state_json()
    assert config.state_file is not None and config.state_file.exists()
    assert list(config.state_file.parent.iterdir()) == [config.state_file]  # no temp files left
    restarted = Simulator(config)
    assert restarted.state_json() == first_state
    assert hid in [h["holiday_id"] for h in restarted.holidays(ext)]
    # ids keep counting after a restart instead of repeating
    assert restarted.state.new_id() not in str(first_state)


async def test_journal_stats_and_inspection_routes(sim_client: SimClient) -> None:
    ext = first(sim_client, ExtensionType.USER)
    await sim_client.post(ext, "holiday_hours", "holiday", HOLIDAY)
    await sim_client.delete(ext, "holiday_hours", holiday_id="missing")
    entries = list(sim_client.sim.journal)
    assert [(e.method, e.status, e.applied) for e in entries] == [
        ("POST", 200, False),  # the token
        ("POST", 201, True),
        ("DELETE", 404, False),
    ]
    assert entries[2].query == "holiday_id=missing" and entries[2].fault is None
    base, session = sim_client.running.base_url, sim_client.session
    async with session.get(f"{base}/__sim/journal") as r:
        assert [e["status"] for e in await r.json()] == [200, 201, 404]
    async with session.get(f"{base}/__sim/stats") as r:
        stats = await r.json()
    assert stats["total"] == 3 and stats["by_status"] == {"200": 1, "201": 1, "404": 1}
    assert stats["applied"] == 1 and stats["rate_limited"] == 0 and stats["max_in_window"] == 2
    async with session.get(f"{base}/__sim/state") as r:
        state = await r.json()
    assert state["settings"][ext] == sim_client.sim.settings(ext)
    async with session.post(f"{base}/__sim/config", json={"applied_5xx": 0.5, "rate": 5}) as r:
        assert r.status == 200 and (await r.json())["effective_rate"] == 5
    assert sim_client.sim.config.applied_5xx == 0.5 and sim_client.sim.window.rate == 5
    async with session.post(f"{base}/__sim/config", json={"nonsense": 1}) as r:
        assert r.status == 400
    async with session.get(f"{sim_client.running.api_url}/phone/other") as r:
        assert r.status == 404 and r.headers["x-zm-trackingid"]


def test_journal_limit_keeps_counts() -> None:
    sim = Simulator(SimConfig(journal_limit=2, rate=None, extensions=2))
    for _ in range(5):
        sim.record("GET", "/x", "", simulator_pkg.Reply(200), sim.tracking_id())
    assert len(sim.journal) == 2 and sim.stats()["total"] == 5


# ---- configuration -----------------------------------------------------------------------------
def test_config_from_args() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    ns = parser.parse_args(
        ["--account-plan", "business", "--fault", "applied_drop=0.1", "--fault", "slow=0.05",
         "--latency-ms", "20", "--daily-limit", "100", "--no-rate-headers", "--retry-after", "iso",
         "--jitter-ms", "50", "--latency-sigma", "0.1"]
    )  # fmt: skip
    env = {"ZOOM_ACCOUNT_ID": "a", "ZOOM_CLIENT_ID": "c", "ZOOM_CLIENT_SECRET": "s"}
    config = config_from_args(ns, env)
    assert config.effective_rate == 40 and config.applied_drop == 0.1 and config.slow == 0.05
    assert config.latency_ms == 20 and config.daily_limit == 100 and config.no_headers_429
    assert config.jitter_ms == 50 and config.latency_sigma == 0.1
    assert config.retry_after is RetryAfter.ISO and config.credentials == Credentials("a", "c", "s")
    assert "'s'" not in repr(config.credentials)
    unlimited = config_from_args(parser.parse_args(["--rate", "unlimited"]), {})
    assert unlimited.effective_rate is None and unlimited.credentials is None
    assert (
        Simulator(unlimited).credentials.client_secret
        != Simulator(unlimited).credentials.client_secret
    )
    with pytest.raises(ConfigError, match="NAME=PROB"):
        config_from_args(parser.parse_args(["--fault", "gremlins=1"]), {})
    with pytest.raises(ConfigError, match="add up"):
        SimConfig(error_5xx=0.6, applied_drop=0.6)
