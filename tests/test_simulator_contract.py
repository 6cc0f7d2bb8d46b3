"""The strict read contract: the simulator's GET answers against the spec's response schema,
made strict, so a simulator that drops or invents a field fails.

The spec's GET schema has no ``required`` and no ``additionalProperties``, so openapi-core passes
any shape (test_simulator_conformance.py). Here the same schema is tightened, from the spec alone:

- **unknown fields are refused**: every object gets ``additionalProperties: false``, and the
  fields the spec itself marks as not in the real answer (deprecated, "not included in the
  actual response", "only included in the … section") are taken out;
- **documented fields are required** where the spec documents them without a condition
  (``REQUIRED``: the three setting types, an entry's ``sub_setting_type`` and ``settings``, a
  holiday's id and details, a routing's ``action``, a list item's keys);
- **the entry's variant is chosen by ``sub_setting_type``** (zoom-api.md's workaround for the
  spec's shapeless ``oneOf``s): the spec's "returns only for the `custom_hours` sub-setting" and
  alike say which settings each sub-setting holds (``SUB_SETTINGS``), the ones it always holds
  being required;
- **a routing target is required where the spec's scenarios name it**: action 10 shows
  ``forward_to.phone_number``, 19 the contact-center number, 15 the partner contact center, 18
  the Teams app, 2-4 and 6-8 an extension (``TARGETS``), and an extension target carries its
  id, name and number;
- **call queues** show their queue fields in business hours, and ``receive_call`` exactly when the
  simulator's profile returns it.

The meta-tests at the end prove the contract can fail: mutated answers are refused, and so is a
simulator patched to drop a field or to return one the spec says Zoom does not.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from conftest import SimClient
from openapi_schema_validator import OAS31Validator

from bulkops.model import SettingType, SubSettingType
from bulkops.simulator import ExtensionType, SimConfig, run_simulator
from bulkops.simulator import state as sim_state
from bulkops.simulator.profile import VARIANTS
from bulkops.zoom import schema as client_schema
from bulkops.zoom.view import ExtensionView

Json = dict[str, Any]
GET = "/phone/extension/{extensionId}/call_handling/settings"
#: Spec notes saying a documented field is not really in Zoom's answer.
NOT_RETURNED = (
    "not included in the actual response",
    "invalid and part of incorrect",
    "only included in",
)

#: Keys every object at a path holds: exact paths, or ``.suffix`` for any path ending so.
REQUIRED: dict[str, set[str]] = {
    "": {"business_hours", "closed_hours", "holiday_hours"},
    "business_hours[]": {"sub_setting_type", "settings"},
    "closed_hours[]": {"sub_setting_type", "settings"},
    "holiday_hours[]": {"holiday_id", "details"},
    "holiday_hours[].details[]": {"sub_setting_type", "settings"},
    ".routing": {"action"},
    ".busy_routing": {"action"},
    ".custom_hours_settings[]": {"weekday", "type"},
    ".call_forwarding_settings[]": {"id", "enable"},
}
#: sub_setting_type -> (the settings it may hold, those it always holds), from the spec's
#: "returns only for the `X` sub-setting" notes. call_handling holds the rest.
SUB_SETTINGS: dict[str, tuple[set[str], set[str]]] = {
    "holiday": ({"name", "from", "to"}, {"name", "from", "to"}),
    "custom_hours": (
        {"type", "custom_hours_settings", "allow_members_to_reset"},
        {"type", "custom_hours_settings"},
    ),
    "call_forwarding": (
        {"call_forwarding_settings", "require_press_1_before_connecting"},
        {"call_forwarding_settings", "require_press_1_before_connecting"},
    ),
}
#: Also taken by call_handling: "allows queue members to set their own business hours".
SHARED = {"allow_members_to_reset"}
#: routing.action -> what its forward_to shows ("This field is only available when `action` …").
TARGETS: dict[str, tuple[int, ...]] = {
    "phone_number": (10,),
    "zcc_phone_number": (19,),
    "partner_contact_center_id": (15,),
    "teams_app_id": (18,),
    "extension_id": (2, 3, 4, 6, 7, 8),
}
#: What a queue's business-hours call_handling always shows ("Returned only for the `Call
#: Queue` `call_handling` sub-setting"); receive_call goes by the profile.
QUEUE_FIELDS = {"call_distribution", "max_call_in_queue", "max_wait_time", "wrap_up_time"}


# --- the strict schema -------------------------------------------------------------------------


def _really_returned(node: Json) -> bool:
    text = node.get("description", "")
    return not node.get("deprecated") and not any(note in text for note in NOT_RETURNED)


def _required(path: str) -> set[str]:
    found = set(REQUIRED.get(path, set()))
    for key, names in REQUIRED.items():
        if key.startswith(".") and path.endswith(key):
            found |= names
    return found


def _targets() -> list[Json]:
    """``if action is one of …, then forward_to shows …`` for a routing or busy_routing."""
    rules = []
    for key, actions in TARGETS.items():
        shown: Json = {"required": [key]}
        if key == "extension_id":
            shown = {"required": [key, "id", "display_name", "extension_number"]}
        rules.append(
            {
                "if": {"properties": {"action": {"enum": list(actions)}}, "required": ["action"]},
                "then": {"required": ["forward_to"], "properties": {"forward_to": shown}},
            }
        )
    return rules


def _strict(node: Json, path: str) -> Json:
    out = {k: v for k, v in node.items() if k not in ("properties", "items")}
    if path.endswith("wrap_up_time") and 0 not in out.get("enum", [0]):
        out["enum"] = [0, *out["enum"]]  # a known defect: 0 is in the description, not the enum
    if "properties" in node:
        out["properties"] = {
            name: _strict(prop, f"{path}.{name}" if path else name)
            for name, prop in node["properties"].items()
            if _really_returned(prop)
        }
        out["additionalProperties"] = False
        if required := _required(path):
            out["required"] = sorted(required)
        if path.endswith(("forward_to", "operator")):
            out["dependentRequired"] = {"extension_id": ["id", "display_name", "extension_number"]}
        if path.endswith("routing"):
            out["allOf"] = _targets()
    if "items" in node:
        out["items"] = _strict(node["items"], path + "[]")
    return out


def _variants(entry: Json) -> None:
    """Choose an entry's settings by its sub_setting_type (the spec's oneOf-less shape)."""
    props = entry["properties"]
    documented = set(props["settings"]["properties"])
    others = set().union(*(keys for keys, _ in SUB_SETTINGS.values())) - SHARED
    rules = []
    for sub in props["sub_setting_type"]["enum"]:
        allowed, always = SUB_SETTINGS.get(sub, (documented - others, {"routing"}))
        settings = {
            "propertyNames": {"enum": sorted(allowed & documented)},
            "required": sorted(always),
        }
        rules.append(
            {
                "if": {"properties": {"sub_setting_type": {"const": sub}}},
                "then": {"properties": {"settings": settings}},
            }
        )
    entry["allOf"] = rules


def strict_schema(spec: Json) -> Json:
    answer = spec["paths"][GET]["get"]["responses"]["200"]["content"]["application/json"]
    strict = _strict(answer["schema"], "")
    for setting in ("business_hours", "closed_hours"):
        _variants(strict["properties"][setting]["items"])
    _variants(strict["properties"]["holiday_hours"]["items"]["properties"]["details"]["items"])
    return strict


class Contract:
    """The strict schema plus what depends on the extension's type and the simulator's profile."""

    def __init__(self, spec: Json, receive_call_returned: bool = True) -> None:
        self.validator = OAS31Validator(strict_schema(spec))
        self.receive_call_returned = receive_call_returned

    def problems(self, body: Json, kind: ExtensionType) -> list[str]:
        found = [
            f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in self.validator.iter_errors(body)
        ]
        if kind is ExtensionType.CALL_QUEUE and not found:
            found += self._queue(body)
        if not self.receive_call_returned:
            found += [f"{where}: receive_call is returned" for where in _receive_calls(body)]
        return found

    def _queue(self, body: Json) -> list[str]:
        handling = _section(body["business_hours"], "call_handling")
        expected = QUEUE_FIELDS | ({"receive_call"} if self.receive_call_returned else set())
        missing = ", ".join(sorted(expected - handling.keys()))
        return [f"business_hours/call_handling: the queue shows no {missing}"] if missing else []


def _section(entries: list[Json], sub: str) -> Json:
    return next(e["settings"] for e in entries if e["sub_setting_type"] == sub)


def _receive_calls(body: Json) -> Iterator[str]:
    for setting in ("business_hours", "closed_hours"):
        for entry in body[setting]:
            if "receive_call" in entry["settings"]:
                yield f"{setting}/{entry['sub_setting_type']}"


@pytest.fixture(scope="module")
def spec(openapi_spec_path: Path) -> Json:
    data: Json = json.loads(openapi_spec_path.read_text())
    return data


# --- a simulator that has seen every kind of write -----------------------------------------------


Write = tuple[str, str, str, Json]  # extension, setting type, sub-setting type, settings


def _writes(of: dict[ExtensionType, list[str]], holiday: str, forwarding: str) -> list[Write]:
    """PATCHes that leave every call_handling field somewhere in the account's GETs (and some
    where a setting type's GET does not show them)."""
    user, other = of[ExtensionType.USER][:2]
    queue, receptionist = of[ExtensionType.CALL_QUEUE][0], of[ExtensionType.AUTO_RECEPTIONIST][0]
    line, other_line = (
        of[ExtensionType.SHARED_LINE_GROUP][0],
        of[ExtensionType.SHARED_LINE_GROUP][-1],
    )
    return [
        (user, "business_hours", "call_handling", {
            "call_not_answer_action": 6, "forward_to_extension_id": receptionist,
            "ring_mode": "sequential", "max_wait_time": 45,
            "overflow_play_callee_voicemail_greeting": True,
            "busy_on_another_call_action": 10, "busy_phone_number": "+14155550124",
            "busy_description": "busy desk", "busy_require_press_1_before_connecting": True,
            "busy_play_callee_voicemail_greeting": True}),
        (user, "closed_hours", "call_handling", {
            "call_not_answer_action": 1, "connect_to_operator": True,
            "operator_extension_id": other, "allow_callers_check_voicemail": True,
            "play_callee_voicemail_greeting": True, "voicemail_greeting_id": "vg1",
            "voicemail_leaving_instruction_id": "li1", "message_greeting_id": "mg1",
            "busy_on_another_call_action": 2, "busy_forward_to_extension_id": other}),
        (user, "holiday_hours", "call_handling", {
            "holiday_id": holiday, "call_not_answer_action": 10, "phone_number": "+14155550125",
            "description": "holiday desk", "un_answered_require_press_1_before_connecting": True,
            "busy_play_callee_voicemail_greeting": True, "busy_on_another_call_action": 22,
            "voicemail_leaving_instruction_id": "not-in-a-holiday-get"}),
        (user, "business_hours", "call_forwarding", {
            "require_press_1_before_connecting": True,
            "call_forwarding_settings": [
                {"id": forwarding, "enable": False,
                 "external_contact": {"external_contact_id": "ec1"}}]}),
        (user, "business_hours", "custom_hours", {"type": 1}),
        (queue, "business_hours", "call_handling", {
            "call_not_answer_action": 19, "forward_to_zcc_phone_number": "12055903036",
            "max_call_in_queue": 30, "max_wait_time": 600, "wrap_up_time": 0,
            "receive_call": False, "greeting_prompt_id": "gp1", "music_on_hold_id": "moh1",
            "audio_while_connecting_id": "ring_tone", "allow_members_to_reset": True,
            "call_distribution": {"ring_mode": "rotating", "ring_duration": 20,
                                  "handle_multiple_calls": True}}),
        (queue, "closed_hours", "call_handling", {
            "call_not_answer_action": 18, "forward_to_teams_id": "teams1",
            "max_call_in_queue": 5, "receive_call": True}),
        (queue, "business_hours", "custom_hours", {
            "type": 2, "allow_members_to_reset": True,
            "custom_hours_settings": [{"weekday": 1, "type": 2, "from": "08:00", "to": "12:00"}]}),
        (receptionist, "closed_hours", "call_handling", {
            "call_not_answer_action": 15, "forward_to_partner_contact_center_id": "pcc1"}),
        (receptionist, "business_hours", "call_handling", {
            "call_not_answer_action": 7, "forward_to_extension_id": queue}),
        (line, "business_hours", "call_handling", {
            "call_not_answer_action": 8, "forward_to_extension_id": other_line,
            "ring_mode": "simultaneous", "max_wait_time": 20}),
    ]  # fmt: skip


async def _write_everything(client: SimClient) -> str:
    """Add a holiday and forwarding numbers, then every write of ``_writes``; the user's id."""
    sim = client.sim
    of = {t: [e.extension_id for e in sim.extensions if e.type is t] for t in ExtensionType}
    user = of[ExtensionType.USER][0]
    span = {"name": "Contract Day", "from": "2027-06-01T00:00:00Z", "to": "2027-06-02T00:00:00Z"}
    holiday = (await client.post(user, "holiday_hours", "holiday", span)).body["holiday_id"]
    number = {"phone_number": "+14155550123", "description": "desk"}
    fwd = (await client.post(user, "business_hours", "call_forwarding", number)).body
    await client.post(user, "holiday_hours", "call_forwarding", {**number, "holiday_id": holiday})
    for ext, setting, sub, settings in _writes(of, holiday, fwd["call_forwarding_id"]):
        answer = await client.patch(ext, setting, sub, settings)
        assert answer.status == 204, (ext, setting, sub, answer.body)
    return user


def test_the_writes_cover_every_call_handling_field() -> None:
    of = {t: [f"{t}-1", f"{t}-2"] for t in ExtensionType}
    written = {k for _, _, sub, s in _writes(of, "H", "F") if sub == "call_handling" for k in s}
    fields = {
        f.name
        for setting in SettingType
        for f in client_schema.section(setting, SubSettingType.CALL_HANDLING).patch
    }
    assert fields - written == set()


@pytest_asyncio.fixture(params=list(VARIANTS), ids=list(VARIANTS))
async def written(request: pytest.FixtureRequest) -> AsyncIterator[SimClient]:
    config = SimConfig(rate=None, **VARIANTS[request.param])  # the samples/directory.csv account
    async with run_simulator(config) as running, aiohttp.ClientSession() as session:
        client = SimClient(running, session)
        await client.login()
        await _write_everything(client)
        yield client


async def _answers(client: SimClient) -> list[tuple[ExtensionType, Json]]:
    out = []
    for ext in client.sim.extensions:
        answer = await client.get(ext.extension_id)
        assert answer.status == 200
        out.append((ext.type, answer.body))
    return out


async def test_every_get_keeps_the_strict_contract(written: SimClient, spec: Json) -> None:
    client = written
    contract = Contract(spec, client.sim.config.receive_call_returned)
    problems = []
    for kind, body in await _answers(client):
        problems += [f"{kind}: {p}" for p in contract.problems(body, kind)]
        ExtensionView.parse(body)  # and the client reads every one of them
    assert not problems, "\n".join(problems)


def test_every_read_path_of_the_client_is_in_the_contract(spec: Json) -> None:
    """The other side: bulkops reads nothing the strict contract would refuse."""
    strict = strict_schema(spec)
    problems = []
    for found in client_schema.sections():
        entry = strict["properties"][found.setting_type.value]["items"]
        if found.setting_type is SettingType.HOLIDAY_HOURS:
            entry = entry["properties"]["details"]["items"]
        rule = next(
            r["then"]["properties"]["settings"]
            for r in entry["allOf"]
            if r["if"]["properties"]["sub_setting_type"]["const"] == found.sub_setting_type
        )
        settings = entry["properties"]["settings"]
        for field in found.post + found.patch:
            for path in field.reads:
                node: Json | None = settings
                for step in path:
                    if node is None:
                        break
                    node = (
                        node["items"]
                        if step == client_schema.EACH
                        else node.get("properties", {}).get(step)
                    )
                if node is None or path[0] not in rule["propertyNames"]["enum"]:
                    problems.append(f"{found.setting_type}/{found.sub_setting_type}: {path}")
    assert not problems, "\n".join(problems)


# --- the contract can fail ------------------------------------------------------------------------

Mutation = Callable[[Json], object]


def _handling(body: Json, setting: str) -> Json:
    return _section(body[setting], "call_handling")


def _holiday_details(body: Json, sub: str) -> Json:
    return _section(body["holiday_hours"][-1]["details"], sub)


DROPPED: dict[str, Mutation] = {
    "a setting type": lambda b: b.pop("closed_hours"),
    "a holiday's id": lambda b: b["holiday_hours"][-1].pop("holiday_id"),
    "a holiday's name": lambda b: _holiday_details(b, "holiday").pop("name"),
    "the routing action": lambda b: _handling(b, "closed_hours")["routing"].pop("action"),
    "the number of action 10": lambda b: _handling(b, "business_hours")["busy_routing"]["forward_to"].pop("phone_number"),
    "a target's name": lambda b: _handling(b, "business_hours")["routing"]["forward_to"].pop("display_name"),
    "a forwarding entry's id": lambda b: _section(b["business_hours"], "call_forwarding")["call_forwarding_settings"][0].pop("id"),
    "a custom day's type": lambda b: _section(b["business_hours"], "custom_hours")["custom_hours_settings"][0].pop("type"),
    "the forwarding flag": lambda b: _section(b["business_hours"], "call_forwarding").pop("require_press_1_before_connecting"),
}  # fmt: skip
INVENTED: dict[str, Mutation] = {
    "a top-level key": lambda b: b.update(extra=[]),
    "a key in settings": lambda b: _handling(b, "business_hours").update(bogus=1),
    "a key in a target": lambda b: _handling(b, "business_hours")["routing"]["forward_to"].update(bogus=1),
    "a flat action (not in the real answer)": lambda b: _handling(b, "closed_hours").update(call_not_answer_action=1),
    "busy_routing in a holiday": lambda b: _holiday_details(b, "call_handling").update(busy_routing={"action": 22}),
    "a holiday name in call_handling": lambda b: _handling(b, "business_hours").update(name="x"),
    "routing in custom_hours": lambda b: _section(b["business_hours"], "custom_hours").update(routing={"action": 1}),
}  # fmt: skip


async def test_the_contract_refuses_a_dropped_or_invented_field(spec: Json) -> None:
    async with run_simulator(SimConfig(rate=None)) as running, aiohttp.ClientSession() as session:
        client = SimClient(running, session)
        await client.login()
        user = await _write_everything(client)
        answer: Json = (await client.get(user)).body
    contract = Contract(spec)
    assert contract.problems(answer, ExtensionType.USER) == []
    kept = []
    for what, mutate in {**DROPPED, **INVENTED}.items():
        body = copy.deepcopy(answer)
        mutate(body)
        if not contract.problems(body, ExtensionType.USER):
            kept.append(what)
    assert not kept, f"the contract let these through: {kept}"


async def test_the_contract_knows_the_queue_fields_and_the_profile(spec: Json) -> None:
    async with run_simulator(SimConfig(rate=None)) as running, aiohttp.ClientSession() as session:
        client = SimClient(running, session)
        await client.login()
        queue = next(e for e in client.sim.extensions if e.type is ExtensionType.CALL_QUEUE)
        answer: Json = (await client.get(queue.extension_id)).body
    assert Contract(spec).problems(answer, ExtensionType.CALL_QUEUE) == []
    hidden = Contract(spec, receive_call_returned=False).problems(answer, ExtensionType.CALL_QUEUE)
    assert hidden == ["business_hours/call_handling: receive_call is returned"]
    _handling(answer, "business_hours").pop("receive_call")
    dropped = Contract(spec).problems(answer, ExtensionType.CALL_QUEUE)
    assert dropped == ["business_hours/call_handling: the queue shows no receive_call"]


async def _patched_answer(client: SimClient, setting: str, settings: Json) -> Json:
    user = next(e.extension_id for e in client.sim.extensions if e.type is ExtensionType.USER)
    assert (await client.patch(user, setting, "call_handling", settings)).status == 204
    body: Json = (await client.get(user)).body
    return body


async def test_a_simulator_that_drops_a_field_fails_the_contract(
    sim_client: SimClient, spec: Json, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sim_state.READ_PATHS, "phone_number")  # the number is lost on write
    settings = {"call_not_answer_action": 10, "phone_number": "+14155550126", "description": "x"}
    body = await _patched_answer(sim_client, "closed_hours", settings)
    problems = Contract(spec).problems(body, ExtensionType.USER)
    assert problems == [
        "closed_hours/0/settings/routing/forward_to: 'phone_number' is a required property"
    ], problems


async def test_a_simulator_that_invents_a_field_fails_the_contract(
    sim_client: SimClient, spec: Json, monkeypatch: pytest.MonkeyPatch
) -> None:
    # connect_to_operator returned flat, where Zoom says it is "not included in the actual response"
    monkeypatch.setattr(sim_state, "_SAME_NAME", sim_state._SAME_NAME | {"connect_to_operator"})
    body = await _patched_answer(sim_client, "closed_hours", {"connect_to_operator": True})
    problems = Contract(spec).problems(body, ExtensionType.USER)
    assert problems, "the contract let connect_to_operator through"
    assert all(p.startswith("closed_hours/0/settings: ") for p in problems), problems
    assert all("'connect_to_operator'" in p for p in problems), problems
