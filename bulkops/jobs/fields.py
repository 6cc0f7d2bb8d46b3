"""Settings rules: check the settings body of one row and fill in its ``RowSpec``.

One builder per ``sub_setting_type`` (``holiday``, ``call_forwarding``, ``custom_hours``,
``call_handling``) takes the row's flat columns and ``settings`` object, already parsed and
merged by ``rules.check_row``, checks them against Zoom's field table (keys, types, enums, list
limits: ``bulkops.zoom.schema``, the one copy in the client) and writes the request body into
the spec.
Problems go to the row's ``RowCheck``; unknown keys are warnings and are sent as given.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..model import Action, SettingType, SubSettingType
from ..zoom import schema
from ..zoom.schema import FORWARDING_ENTRIES, HOLIDAY_ID, Field, Kind, Text
from .body import objects, row_kind, unknown_keys, unused
from .checks import RowCheck, RowSpec, check_e164, check_id, show_value
from .custom_hours import build_custom_hours

# --- Zoom's field table, from bulkops.zoom.schema ---------------------------------------------

_FORWARDING = schema.section(SettingType.BUSINESS_HOURS, SubSettingType.CALL_FORWARDING)
_ENTRIES = _FORWARDING.field(Action.UPDATE, FORWARDING_ENTRIES)

#: ``enable`` is bulkops' shorthand for the one entry a row names, not a key of Zoom's body.
FORWARDING_UPDATE_KEYS = _FORWARDING.names(Action.UPDATE) | {"enable"}
_FORWARDING_ITEM_KEYS = frozenset(part.name for part in _ENTRIES.parts)
_E164_PLUS_OPTIONAL_RE = re.compile(schema.PATTERNS[Text.E164_PLUS_OPTIONAL])


def _check_e164_plus_optional(value: str) -> str | None:
    if _E164_PLUS_OPTIONAL_RE.fullmatch(value):
        return None
    return "must be a phone number such as 12055903036 or +12055903036: 2–15 digits, no spaces"


#: How a string field of the call_handling body is checked beyond being a string.
_TEXT_CHECKS: dict[Text, Callable[[str], str | None]] = {
    Text.E164: check_e164,
    Text.E164_PLUS_OPTIONAL: _check_e164_plus_optional,
    Text.ID: check_id,
}
#: Flat columns that name the holiday an operation of ``holiday_hours`` lives under.
_HOLIDAY_COLUMNS = frozenset({"holiday_id", "name", "from", "to"})


def check_settings(
    r: RowCheck,
    spec: RowSpec,
    action: Action,
    setting: SettingType,
    sub: SubSettingType,
    flat: Mapping[str, str],
    when: Mapping[str, str],
    settings: dict[str, Any],
) -> None:
    """Check ``flat`` and ``settings`` for ``sub`` and write the request body into ``spec``."""
    _BUILDERS[sub](r, spec, action, setting, flat, when, settings)


def _holiday_columns(setting: SettingType) -> frozenset[str]:
    return _HOLIDAY_COLUMNS if setting is SettingType.HOLIDAY_HOURS else frozenset()


def _holiday_id(spec: RowSpec, flat: Mapping[str, str]) -> None:
    if "holiday_id" in flat:
        spec.holiday_id = flat["holiday_id"]
        spec.settings["holiday_id"] = flat["holiday_id"]


def _holiday_ref(
    r: RowCheck, spec: RowSpec, flat: Mapping[str, str], when: Mapping[str, str], *, required: bool
) -> None:
    """The holiday an operation lives under: holiday_id, or name (+ from/to) to look up."""
    _holiday_id(spec, flat)
    if "name" in flat:
        spec.holiday_name = flat["name"]
        spec.holiday_from = when.get("from")
        spec.holiday_to = when.get("to")
    elif "from" in flat or "to" in flat:
        r.error("name", None, "is required with from/to: they narrow a holiday looked up by name")
    if required and "holiday_id" not in flat and "name" not in flat:
        r.error("holiday_id", None, "give the holiday: holiday_id, or its name (and from)")


def _no_body(r: RowCheck, spec: RowSpec, settings: Mapping[str, Any]) -> None:
    """A delete: the request has no body, so any settings given are dropped with a warning."""
    spec.settings = {}
    if settings:
        r.warn("settings", ", ".join(settings), "is ignored: a delete sends no body")


# --- per sub_setting_type ------------------------------------------------------------------


def _build_holiday(
    r: RowCheck,
    spec: RowSpec,
    action: Action,
    setting: SettingType,
    flat: Mapping[str, str],
    when: Mapping[str, str],
    settings: dict[str, Any],
) -> None:
    what = row_kind(spec)
    unused(r, flat, {"name", "from", "to", "holiday_id"}, what)
    if action is Action.ADD and "holiday_id" in flat:
        r.error("holiday_id", flat["holiday_id"], "cannot be given when adding: Zoom assigns it")
    if action is not Action.DELETE:
        for name in ("name", "from", "to"):
            if name not in flat:
                r.error(name, None, f"is required to {action} a holiday")
        if action is Action.UPDATE:
            # Zoom's PATCH needs the full holiday; without an id it is found by name alone,
            # because from/to are the new values, not a way to find the old one.
            _holiday_id(spec, flat)
            spec.holiday_name = flat.get("name")
        else:
            spec.holiday_name = flat.get("name")
            spec.holiday_from = when.get("from")
            spec.holiday_to = when.get("to")
        spec.settings.update({"name": flat.get("name"), **when})
        unknown_keys(r, settings, frozenset(), what)
    else:
        _holiday_ref(r, spec, flat, when, required=True)
        _no_body(r, spec, settings)
        return
    spec.settings.update(settings)


def _build_forwarding(
    r: RowCheck,
    spec: RowSpec,
    action: Action,
    setting: SettingType,
    flat: Mapping[str, str],
    when: Mapping[str, str],
    settings: dict[str, Any],
) -> None:
    what = row_kind(spec)
    holiday = setting is SettingType.HOLIDAY_HOURS
    holiday_cols = _holiday_columns(setting)
    phone = flat.get("phone_number")
    if action is Action.ADD:
        unused(r, flat, {"phone_number", "description"} | holiday_cols, what)
        if phone is None:
            r.error("phone_number", None, "is required to add a call forwarding number")
        spec.phone_number = phone
        if holiday:
            _holiday_ref(r, spec, flat, when, required=True)
        spec.settings.update({"phone_number": phone})
        if "description" in flat:
            spec.settings["description"] = flat["description"]
        unknown_keys(r, settings, frozenset(), what)
        spec.settings.update(settings)
        return

    unused(r, flat, {"call_forwarding_id", "phone_number", "description"} | holiday_cols, what)
    forwarding_id = flat.get("call_forwarding_id")
    if holiday:
        # A phone number alone is ambiguous across holidays; an id is not.
        _holiday_ref(r, spec, flat, when, required=forwarding_id is None or action is Action.UPDATE)
    spec.call_forwarding_id = forwarding_id
    if forwarding_id is None:
        spec.phone_number = phone

    if action is Action.DELETE:
        if forwarding_id is None and phone is None:
            r.error("call_forwarding_id", None, "give call_forwarding_id or phone_number to delete")
        if "description" in flat:
            r.error("description", flat["description"], f"is not used by {what}")
        _no_body(r, spec, settings)
        return

    # update: one entry named by the flat columns, or Zoom's own call_forwarding_settings list.
    unknown_keys(r, settings, FORWARDING_UPDATE_KEYS | {HOLIDAY_ID}, what)
    require = settings.pop("require_press_1_before_connecting", None)
    if require is not None and not isinstance(require, bool):
        r.error("settings", require, "require_press_1_before_connecting must be true or false")
    enable = settings.pop("enable", None)
    if enable is not None and not isinstance(enable, bool):
        r.error("settings", f"enable={show_value(enable)}", "enable must be true or false")
    items = settings.pop(FORWARDING_ENTRIES, None)
    if items is not None:
        if enable is not None or "description" in flat:
            r.error(
                "settings",
                "call_forwarding_settings",
                "give either call_forwarding_settings or description/enable, not both",
            )
        ids = _check_forwarding_items(r, items)
        if forwarding_id is None and phone is None:
            if ids:
                spec.call_forwarding_id = ids[0]
            else:
                r.error("call_forwarding_id", None, "give call_forwarding_id or phone_number")
        spec.settings["call_forwarding_settings"] = items
    else:
        if forwarding_id is None and phone is None:
            r.error("call_forwarding_id", None, "give call_forwarding_id or phone_number")
        entry: dict[str, Any] = {}
        if forwarding_id is not None:
            entry["id"] = forwarding_id
            if phone is not None:
                entry["phone_number"] = phone  # with an id, the number is the new value
        if "description" in flat:
            entry["description"] = flat["description"]
        if enable is not None:
            entry["enable"] = enable
        if set(entry) - {"id", "phone_number"} or (forwarding_id is not None and phone is not None):
            spec.settings["call_forwarding_settings"] = [entry]
        elif require is None:
            r.error(
                "description",
                None,
                "nothing to update: give description, settings.enable or "
                "settings.require_press_1_before_connecting",
            )
    if require is not None:
        spec.settings["require_press_1_before_connecting"] = require
    spec.settings.update(settings)


def _check_forwarding_items(r: RowCheck, items: object) -> list[str]:
    where = "settings.call_forwarding_settings"
    ids: list[str] = []
    for at, item in objects(r, items, where, most=_ENTRIES.max_items, expected="a list of objects"):
        for key in item:
            if key not in _FORWARDING_ITEM_KEYS:
                r.warn("settings", f"{at}.{key}", "is not a field Zoom documents; sent as given")
        item_id = item.get("id")
        if item_id is None:
            r.error("settings", f"{at}", f"{at}.id is required (the entry to change)")
        elif not isinstance(item_id, str) or check_id(item_id):
            r.error("settings", item_id, f"{at}.id " + (check_id(str(item_id)) or "bad id"))
        else:
            ids.append(item_id)
        if "phone_number" in item:
            pn = item["phone_number"]
            if not isinstance(pn, str) or check_e164(pn):
                r.error("settings", pn, f"{at}.phone_number " + (check_e164(str(pn)) or ""))
        if "enable" in item and not isinstance(item["enable"], bool):
            r.error("settings", item["enable"], f"{at}.enable must be true or false")
        if "description" in item and not isinstance(item["description"], str):
            r.error("settings", item["description"], f"{at}.description must be a string")
    return ids


def _build_call_handling(
    r: RowCheck,
    spec: RowSpec,
    action: Action,
    setting: SettingType,
    flat: Mapping[str, str],
    when: Mapping[str, str],
    settings: dict[str, Any],
) -> None:
    what = row_kind(spec)
    unused(r, flat, {"phone_number", "description"} | _holiday_columns(setting), what)
    if setting is SettingType.HOLIDAY_HOURS:
        _holiday_ref(r, spec, flat, when, required=True)
    for name in ("phone_number", "description"):
        if name in flat:
            settings[name] = flat[name]
    body = schema.section(setting, SubSettingType.CALL_HANDLING)
    unknown_keys(r, settings, body.names(Action.UPDATE) | {HOLIDAY_ID}, what)
    if not settings:
        r.error("settings", None, "is required: the call_handling fields to change")
    for key, value in settings.items():
        field = body.find(Action.UPDATE, key)
        reason = None if field is None else _value_problem(field, value)
        if reason:
            r.error("settings", f"{key}={show_value(value)}", f"settings.{key} {reason}")
    if settings.get("call_not_answer_action") == 10 and "phone_number" not in settings:
        r.error(
            "phone_number", None, "is required when call_not_answer_action is 10 (phone number)"
        )
    if settings.get("busy_on_another_call_action") == 10 and "busy_phone_number" not in settings:
        r.error("settings", None, "settings.busy_phone_number is required when busy action is 10")
    # A body with call_distribution is a call queue's (its max_wait_time is the queue's own):
    # the pairing is a user's rule, and warning there would flag every exported queue.
    if (
        setting is SettingType.BUSINESS_HOURS
        and "call_distribution" not in settings
        and ("ring_mode" in settings) != ("max_wait_time" in settings)
    ):
        r.warn(
            "settings",
            "ring_mode/max_wait_time",
            "Zoom wants ring_mode and max_wait_time together for a user's business hours",
        )
    spec.settings.update(settings)


def _value_problem(field: Field, value: object) -> str | None:
    """Why ``value`` does not fit a call_handling field (None when it does)."""
    if field.kind is Kind.BOOLEAN:
        return None if isinstance(value, bool) else "must be true or false"
    if field.choices:
        # 1.0 == 1 passes, as it always has: Zoom's JSON parser reads it as the integer.
        if value in field.choices and not isinstance(value, bool):
            return None
        return "must be one of " + ", ".join(map(str, field.choices))
    if field.kind is Kind.STRING:
        if not isinstance(value, str):
            return "must be a string"
        check = _TEXT_CHECKS.get(field.text)
        return None if check is None else check(value)
    if field.kind is Kind.INTEGER:
        low, high = field.low, field.high
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if (
            number is not None
            and (low is None or low <= number)
            and (high is None or number <= high)
        ):
            return None
        return f"must be a number from {low} to {high}"
    return _object_problem(field, value)


def _object_problem(field: Field, value: object) -> str | None:
    """call_distribution, the body's one object: the first of its parts that does not fit."""
    if not isinstance(value, dict):
        return "must be an object"
    for part in field.parts:
        if part.name not in value:
            continue
        given = value[part.name]
        if part.kind is Kind.BOOLEAN:
            if not isinstance(given, bool):
                return f"{part.name} must be true or false"
        elif given is not None and (given not in part.choices or isinstance(given, bool)):
            return f"{part.name} must be {_one_of(part.choices)}"
    return None


def _one_of(choices: tuple[int, ...] | tuple[str, ...]) -> str:
    """``10–60 in steps of 5`` for an evenly spaced run of numbers, else the list."""
    steps = {
        b - a for a, b in itertools.pairwise(choices) if isinstance(a, int) and isinstance(b, int)
    }
    if len(choices) > 2 and len(steps) == 1 and (step := steps.pop()) > 1:
        return f"{choices[0]}–{choices[-1]} in steps of {step}"
    return "one of " + ", ".join(map(str, choices))


_BUILDERS = {
    SubSettingType.HOLIDAY: _build_holiday,
    SubSettingType.CALL_FORWARDING: _build_forwarding,
    SubSettingType.CUSTOM_HOURS: build_custom_hours,
    SubSettingType.CALL_HANDLING: _build_call_handling,
}
