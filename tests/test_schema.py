"""bulkops.zoom.schema against Zoom's OpenAPI extract and against the simulator's own reading.

The simulator keeps its field knowledge apart from the client's on purpose (a fake Zoom must
not share the client's reading of the spec), so the two are compared by behaviour: what the
simulator accepts, refuses and shows again in its GET, field by field. Where the two readings
differ on purpose or by a gap left open, the difference is listed in ``SIMULATOR_DIFFERS`` with
its reason; a new difference fails naming the field, and so does a listed one that went away.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkops.model import ALLOWED, Action, SettingType, SubSettingType
from bulkops.reports.before import MISSING, read_back, section
from bulkops.simulator import ExtensionType, SimConfig, Simulator
from bulkops.simulator import validation as zoom_checks
from bulkops.simulator.answers import ZoomError
from bulkops.zoom import schema
from bulkops.zoom.schema import EACH, PATTERNS, Field, Kind, Text

SETTINGS = "/phone/extension/{extensionId}/call_handling/settings"
METHODS = {Action.ADD: "post", Action.UPDATE: "patch"}
#: Fields the client sends that the spec's bodies lack (zoom-api.md, "Known defects").
UNDOCUMENTED = {
    ("patch", SettingType.HOLIDAY_HOURS, SubSettingType.CALL_HANDLING, "holiday_id"),
    ("patch", SettingType.HOLIDAY_HOURS, SubSettingType.CALL_FORWARDING, "holiday_id"),
}
#: Enum values the client takes beyond the spec's enum, each named in Zoom's own description.
ENUM_BEYOND_SPEC = {"wrap_up_time": {0}}
#: Spec notes that mean "do not read this": Zoom's GET does not really hold the field there.
NOT_REALLY_RETURNED = ("not included in the actual response", "invalid and part of incorrect")

#: Where the simulator's reading differs from the client's, and why it is left so. Empty since
#: issue 14: the holiday busy greeting reads in routing, max_call_in_queue is 1-60 on both
#: sides, the contact-center number takes E.164 with or without '+' on both, and the simulator
#: no longer type-checks call_forwarding's flag in call_handling bodies.
SIMULATOR_DIFFERS: dict[tuple[str, str, str], str] = {}
#: Fixed forms of strings, and how the spec says each (the contact-center number: see _form).
_FORMS = (Text.E164, Text.E164_PLUS_OPTIONAL, Text.DATE_TIME, Text.HH_MM)


@pytest.fixture(scope="module")
def spec(openapi_spec_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(openapi_spec_path.read_text())
    return data


def _bodies(spec: dict[str, Any], method: str) -> dict[str, dict[str, Any]]:
    """sub_setting_type -> the spec's ``settings`` schema of that body variant."""
    body = spec["paths"][SETTINGS + "/{settingType}"][method]["requestBody"]
    variants = body["content"]["application/json"]["schema"]["oneOf"]
    return {
        v["properties"]["sub_setting_type"]["enum"][0]: v["properties"]["settings"]
        for v in variants
    }


def _get_settings(spec: dict[str, Any], setting: SettingType) -> dict[str, Any]:
    """The spec's schema of one entry's ``settings`` in the GET answer for ``setting``."""
    answer = spec["paths"][SETTINGS]["get"]["responses"]["200"]["content"]["application/json"]
    entry = answer["schema"]["properties"][setting.value]["items"]
    if setting is SettingType.HOLIDAY_HOURS:
        entry = entry["properties"]["details"]["items"]
    found: dict[str, Any] = entry["properties"]["settings"]
    return found


def _node(tree: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    for step in path:
        tree = tree.get("items", {}) if step == EACH else tree.get("properties", {}).get(step)
        if tree is None:
            return None
    return tree


def _really_returned(node: dict[str, Any]) -> bool:
    text = node.get("description", "")
    return not node.get("deprecated") and not any(note in text for note in NOT_REALLY_RETURNED)


def _members(node: dict[str, Any]) -> dict[str, Any]:
    """The keys of an object, or of each item of a list."""
    props: dict[str, Any] = node.get("items", node).get("properties", {})
    return props


# --- the schema against the spec -------------------------------------------------------------


def test_one_section_per_combination_zoom_accepts() -> None:
    assert list(schema.SECTIONS) == list(ALLOWED)
    for (setting, sub), actions in ALLOWED.items():
        found = schema.section(setting, sub)
        assert (found.setting_type, found.sub_setting_type) == (setting, sub)
        assert bool(found.post) == (Action.ADD in actions), (setting, sub)
        assert bool(found.patch) == (Action.UPDATE in actions), (setting, sub)
        assert found.fields(Action.DELETE) == ()


def _compatible(prop: dict[str, Any], field: Field, where: str) -> Iterator[str]:
    if prop.get("type") != field.kind.value:
        yield f"{where}: the spec says {prop.get('type')}, the schema {field.kind.value}"
    enum = prop.get("enum")
    if enum is not None:
        missing = set(enum) - set(field.choices)
        extra = set(field.choices) - set(enum)
        if missing:
            yield f"{where}: the schema lacks {sorted(missing)} of the spec's enum"
        if extra != ENUM_BEYOND_SPEC.get(field.name, set()):
            yield f"{where}: the schema adds {sorted(extra, key=str)} to the spec's enum"
    elif field.choices:
        yield f"{where}: the schema has an enum the spec does not"
    if prop.get("maxItems") != field.max_items:
        yield f"{where}: the spec allows {prop.get('maxItems')} items, the schema {field.max_items}"
    documented = _form(prop)
    ours = field.text if field.text in _FORMS else None
    if documented != ours:
        yield f"{where}: the spec says {documented or 'no form'}, the schema {ours or 'none'}"
    yield from _compare(_members(prop), field.parts, where)


def _form(prop: dict[str, Any]) -> Text | None:
    """The fixed form the spec gives a string. "E.164" whose own example lacks the '+' (the
    contact-center number's, "12056903036") is taken with or without it."""
    description = prop.get("description", "")
    if prop.get("format") == "date-time":
        return Text.DATE_TIME
    if "`HH:mm`" in description:
        return Text.HH_MM
    if "E.164" in description:
        example = prop.get("example")
        plain = isinstance(example, str) and not example.startswith("+")
        return Text.E164_PLUS_OPTIONAL if plain else Text.E164
    return None


def _compare(props: dict[str, Any], fields: tuple[Field, ...], where: str) -> Iterator[str]:
    ours = {f.name: f for f in fields}
    for name, prop in props.items():
        if name in ours:
            yield from _compatible(prop, ours[name], f"{where}.{name}")
        elif not (name == schema.HOLIDAY_ID and "holiday_hours" not in where):
            # holiday_id addresses a holiday: only holiday-hours bodies carry it.
            yield f"{where}.{name}: in the spec, not in the schema"
    for name in ours.keys() - props.keys():
        yield f"{where}.{name}: in the schema, not in the spec"


@pytest.mark.parametrize("action", list(METHODS), ids=list(METHODS.values()))
def test_every_body_field_of_the_spec_is_in_the_schema(
    spec: dict[str, Any], action: Action
) -> None:
    method = METHODS[action]
    bodies = _bodies(spec, method)
    problems = []
    for found in schema.sections():
        if not found.fields(action):
            continue
        sub, setting = found.sub_setting_type, found.setting_type
        props = dict(bodies[sub.value]["properties"])
        for key in UNDOCUMENTED:
            if key[:3] == (method, setting, sub):
                props[key[3]] = {"type": "string"}  # sent as an id, as zoom-api.md says
        problems += _compare(props, found.fields(action), f"{method} {setting}/{sub}: settings")
    assert not problems, "\n".join(problems)


def test_every_read_path_is_in_the_get_and_really_returned(spec: dict[str, Any]) -> None:
    problems = []
    for found in schema.sections():
        get = _get_settings(spec, found.setting_type)
        for field in found.post + found.patch:
            for path in field.reads:
                where = f"{found.setting_type}/{found.sub_setting_type} {field.name} at {path}"
                node = _node(get, path)
                if node is None or not _really_returned(node):
                    problems.append(f"{where}: not (really) in the spec's GET")
                elif node.get("type") != field.kind.value:
                    problems.append(f"{where}: the GET says {node.get('type')}")
                elif missing := {p.name for p in field.parts} - _members(node).keys():
                    problems.append(f"{where}: the GET lacks {sorted(missing)}")
    assert not problems, "\n".join(problems)


def _obvious_reads(name: str) -> Iterator[tuple[str, ...]]:
    """Where a GET would show a written field under (nearly) its own name."""
    yield from ((name,), ("routing", name), ("routing", "forward_to", name))
    if name.startswith("forward_to_"):
        yield ("routing", "forward_to", name.removeprefix("forward_to_"))
    if name.startswith("busy_"):
        rest = name.removeprefix("busy_")
        yield from (("busy_routing", rest), ("busy_routing", "forward_to", rest))
    if name.endswith("_id"):
        stem = name.removesuffix("_id")
        yield from ((stem, "id"), ("routing", stem, "id"))


def test_the_schema_reads_every_field_the_get_obviously_returns(spec: dict[str, Any]) -> None:
    """The check the old read table failed: description & co. were in the GET, not in it."""
    problems = []
    for found in schema.sections():
        get = _get_settings(spec, found.setting_type)
        for field in found.patch:
            shown = [
                path
                for path in _obvious_reads(field.name)
                if (node := _node(get, path)) is not None and _really_returned(node)
            ]
            if shown and not field.reads:
                what = f"{found.setting_type}/{found.sub_setting_type} {field.name}"
                problems.append(f"{what}: the GET shows it at {shown}, the schema reads nothing")
    assert not problems, "\n".join(problems)


def test_item_ids_are_the_delete_query_and_the_post_answer(spec: dict[str, Any]) -> None:
    ops = spec["paths"][SETTINGS + "/{settingType}"]
    queries = {p["name"] for p in ops["delete"]["parameters"] if p["in"] == "query"}
    answer = ops["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    answers = {v["title"]: set(v["properties"]) for v in answer["oneOf"]}
    assert set(schema.ITEM_ID.values()) == queries
    assert answers == {sub.value: {name} for sub, name in schema.ITEM_ID.items()}


# --- the schema against the simulator --------------------------------------------------------


def _differences(found: dict[tuple[str, str, str], str], kind: str, scope: str) -> None:
    """``found`` must be exactly the listed differences of this kind and scope."""
    known = {key for key in SIMULATOR_DIFFERS if key[:2] == (kind, scope)}
    new = [f"{key[2]} ({scope}): {found[key]}" for key in sorted(found.keys() - known)]
    gone = [
        f"{key[2]} ({scope}) no longer differs: drop it from SIMULATOR_DIFFERS"
        for key in known - found.keys()
    ]
    assert not new + gone, "\n".join(new + gone)


def _sample(field: Field, current: Any, other_extension: str) -> Any:
    """A value the client's rules accept for ``field`` that differs from ``current``."""
    if field.kind is Kind.BOOLEAN:
        return current is not True
    if field.choices:
        return next(c for c in field.choices if c != current)
    if field.kind is Kind.OBJECT:
        return {p.name: _sample(p, None, other_extension) for p in field.parts}
    if field.kind is Kind.INTEGER:
        return 7
    forms = {
        Text.E164: "+14155550123",
        Text.E164_PLUS_OPTIONAL: "12055903036",  # the spec's own form: no '+'
        Text.ID: other_extension,
    }
    return forms.get(field.text, "sample")


@pytest.mark.parametrize("setting", list(SettingType), ids=str)
def test_the_simulator_shows_each_field_where_the_schema_reads_it(setting: SettingType) -> None:
    sim = Simulator(SimConfig(rate=None, seed=7, extensions=24))
    user, other = [e.extension_id for e in sim.extensions if e.type is ExtensionType.USER][:2]
    found = schema.section(setting, SubSettingType.CALL_HANDLING)
    address: dict[str, Any] = {}
    if setting is SettingType.HOLIDAY_HOURS:
        span = {"name": "Schema Day", "from": "2027-02-01T00:00:00Z", "to": "2027-02-02T00:00:00Z"}
        added = sim.write(
            "POST",
            user,
            setting.value,
            orjson.dumps({"sub_setting_type": "holiday", "settings": span}),
            {},
        )
        address = {schema.HOLIDAY_ID: added.body[schema.HOLIDAY_ID]}
    differs: dict[tuple[str, str, str], str] = {}
    for field in found.patch:
        if not field.reads:
            continue
        before = _handling(sim, user, setting, address)
        value = _sample(field, read_back(before, field.reads), other)
        body = {field.name: value, **address}
        if field.name in ("ring_mode", "max_wait_time"):  # Zoom wants them together
            body = {"ring_mode": "sequential", "max_wait_time": 45, **body}
        payload = {"sub_setting_type": "call_handling", "settings": body}
        reply = sim.write("PATCH", user, setting.value, orjson.dumps(payload), {})
        assert reply.status == 204, (field.name, reply.body)
        shown = read_back(_handling(sim, user, setting, address), field.reads[:1])
        if shown != value:
            got = "nothing" if shown is MISSING else repr(shown)
            differs["reads", setting.value, field.name] = f"wrote {value!r}, read back {got}"
    _differences(differs, "reads", setting.value)


def _handling(sim: Simulator, ext: str, setting: SettingType, address: dict[str, Any]) -> Any:
    tree = sim.settings(ext)
    if setting is SettingType.HOLIDAY_HOURS:
        holiday = next(h for h in tree["holiday_hours"] if h["holiday_id"] == address["holiday_id"])
        return section(holiday["details"], "call_handling")
    return section(tree[setting.value], "call_handling")


# --- what the simulator accepts and refuses, against what the client's schema says ----------

_CALL_HANDLING = {
    field.name: field
    for setting in SettingType
    for field in schema.section(setting, SubSettingType.CALL_HANDLING).patch
}
_WRONG_TYPE: dict[Kind, Any] = {
    Kind.BOOLEAN: "yes",
    Kind.STRING: 5,
    Kind.INTEGER: "5",
    Kind.OBJECT: "x",
    Kind.ARRAY: "x",
}


def _sim_accepts(settings: dict[str, Any]) -> bool:
    """Whether the simulator takes this call_handling body for some extension and setting."""
    for kind, setting in itertools.product(ExtensionType, SettingType):
        body = (
            {**settings, schema.HOLIDAY_ID: "H1"}
            if setting is SettingType.HOLIDAY_HOURS
            else settings
        )
        try:
            zoom_checks.call_handling(body, kind, setting)
        except ZoomError:
            continue
        return True
    return False


def _sim_names(settings: dict[str, Any], name: str) -> bool:
    """Whether the simulator refuses this body naming ``settings.<name>``."""
    try:
        zoom_checks.call_handling(settings, ExtensionType.USER, SettingType.CLOSED_HOURS)
    except ZoomError as err:
        return any(e["field"].endswith(f"settings.{name}") for e in err.errors or [])
    return False


def _candidates(field: Field) -> list[Any]:
    if field.kind is Kind.STRING:
        return [*field.choices, "random", ""]
    numbers = {
        *range(-2, 70),
        *range(0, 2001, 5),
        *(c + d for c in field.choices for d in (-1, 1) if isinstance(c, int)),
    }
    return sorted(numbers)


def test_the_simulator_takes_the_values_the_schema_takes() -> None:
    differs: dict[tuple[str, str, str], str] = {}
    for name, field in _CALL_HANDLING.items():
        if field.kind is Kind.OBJECT:
            continue
        if field.choices or field.kind is Kind.INTEGER:
            takes = {v for v in _candidates(field) if _sim_accepts({name: v})}
            ours = {v for v in _candidates(field) if _takes(field, v)}
            if takes != ours:
                differs["accepts", "call_handling", name] = (
                    f"only the simulator takes {_shown(takes - ours)}; "
                    f"only the schema {_shown(ours - takes)}"
                )
        elif not _sim_accepts({name: _sample(field, None, "nNGsNx2zRDyiIXWVI23FCQ")}):
            differs["accepts", "call_handling", name] = "the simulator refuses a valid value"
    distribution = _CALL_HANDLING["call_distribution"]
    for part in distribution.parts:
        for value in _candidates(part) if part.choices else [True, False]:
            if _sim_accepts({"call_distribution": {part.name: value}}) != _takes(part, value):
                differs["accepts", "call_handling", f"call_distribution.{part.name}"] = repr(value)
    _differences(differs, "accepts", "call_handling")


def _shown(values: set[Any]) -> str:
    return ", ".join(map(repr, sorted(values, key=str))) or "-"


def _takes(field: Field, value: Any) -> bool:
    if field.choices:
        return value in field.choices and not isinstance(value, bool)
    if field.kind is Kind.BOOLEAN:
        return isinstance(value, bool)
    low, high = field.low, field.high
    number = isinstance(value, int) and not isinstance(value, bool)
    return number and (low is None or low <= value) and (high is None or value <= high)


def test_the_simulator_refuses_what_the_schema_refuses() -> None:
    differs: dict[tuple[str, str, str], str] = {}
    for name, field in _CALL_HANDLING.items():
        if not _sim_names({name: _WRONG_TYPE[field.kind]}, name):
            differs["type", "call_handling", name] = (
                f"the simulator takes a {field.kind} of another type"
            )
        if field.text is Text.E164 and not _sim_names({name: "4155550123"}, name):
            differs["form", "call_handling", name] = "the simulator takes a number without +"
        if field.text is Text.E164_PLUS_OPTIONAL and not _sim_names({name: "+1 415"}, name):
            differs["form", "call_handling", name] = "the simulator takes a number with a space"
    for part in _CALL_HANDLING["call_distribution"].parts:
        wrong = {"call_distribution": {part.name: _WRONG_TYPE[part.kind]}}
        if not _sim_names(wrong, f"call_distribution.{part.name}"):
            differs["type", "call_handling", f"call_distribution.{part.name}"] = "not refused"
    _differences({k: v for k, v in differs.items() if k[0] == "type"}, "type", "call_handling")
    _differences({k: v for k, v in differs.items() if k[0] == "form"}, "form", "call_handling")


def test_the_simulator_checks_no_call_handling_field_the_schema_lacks(spec: dict[str, Any]) -> None:
    names: set[str] = set()
    for method in METHODS.values():
        for body in _bodies(spec, method).values():
            names |= set(body["properties"])
    differs = {
        ("unknown", "call_handling", name): "the simulator type-checks it"
        for name in sorted(names - _CALL_HANDLING.keys())
        if any(_sim_names({name: wrong}, name) for wrong in ("x", 5, [], True))
    }
    _differences(differs, "unknown", "call_handling")


def _refused(check: Any, *args: Any, **kwargs: Any) -> bool:
    try:
        check(*args, **kwargs)
    except ZoomError:
        return True
    return False


def test_list_limits_and_sub_setting_enums_agree() -> None:
    hours = schema.section(SettingType.BUSINESS_HOURS, SubSettingType.CUSTOM_HOURS)
    days = hours.field(Action.UPDATE, "custom_hours_settings")
    entries = schema.section(SettingType.CLOSED_HOURS, SubSettingType.CALL_FORWARDING).field(
        Action.UPDATE, schema.FORWARDING_ENTRIES
    )
    assert days.max_items is not None and entries.max_items is not None
    for most, check, item, key in (
        (days.max_items, zoom_checks.custom_hours, {"weekday": 1, "type": 1}, days.name),
        (entries.max_items, zoom_checks.forwarding_update, {"id": "F1"}, entries.name),
    ):
        extra = {"under_holiday": False} if check is zoom_checks.forwarding_update else {}
        assert not _refused(check, {key: [item] * most}, **extra), key
        assert _refused(check, {key: [item] * (most + 1)}, **extra), key
    numbers = range(-2, 12)
    kinds = hours.field(Action.UPDATE, "type")
    assert {n for n in numbers if not _refused(zoom_checks.custom_hours, {"type": n})} == set(
        kinds.choices
    )
    for part in ("weekday", "type"):
        choices = days.part(part).choices
        base = {"weekday": 1, "type": 1, "from": "09:00", "to": "17:00"}
        taken = {
            n
            for n in numbers
            if not _refused(zoom_checks.custom_hours, {days.name: [{**base, part: n}]})
        }
        assert taken == set(choices), part


@pytest.mark.parametrize(
    "value",
    ["+14155550100", "+1", "+12", "+123456789012345", "+1234567890123456", "+0123", "14155550100",
     "+1 415", "", "2027-01-01T00:00:00Z", "2027-01-01T00:00:00", "2027-1-01T00:00:00Z",
     "09:00", "23:59", "24:00", "9:00", "09:60", "00:00"],
)  # fmt: skip
def test_the_fixed_forms_agree_with_the_simulator(value: str) -> None:
    day = {"weekday": 1, "type": 1, "from": value}  # forms only: type 1 has no from < to rule
    simulator = {
        Text.E164: _refused(
            zoom_checks.forwarding_add, {"phone_number": value}, under_holiday=False
        ),
        Text.DATE_TIME: _refused(zoom_checks.date_time, value, "from"),
        Text.HH_MM: _refused(zoom_checks.custom_hours, {"custom_hours_settings": [day]}),
        Text.E164_PLUS_OPTIONAL: _refused(
            zoom_checks.call_handling,
            {"forward_to_zcc_phone_number": value},
            ExtensionType.CALL_QUEUE,
            SettingType.BUSINESS_HOURS,
        ),
    }
    ours = {text: re.fullmatch(PATTERNS[text], value) is None for text in simulator}
    assert ours == simulator
