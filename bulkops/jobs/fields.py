"""Settings rules: check the settings body of one row and fill in its ``RowSpec``.

One builder per ``sub_setting_type`` (``holiday``, ``call_forwarding``, ``custom_hours``,
``call_handling``) takes the row's flat columns and ``settings`` object, already parsed and
merged by ``rules.check_row``, checks them against Zoom's field table (keys, types, enums, list
limits; docs/zoom-api.md and the OpenAPI extract) and writes the request body into the spec.
Problems go to the row's ``RowCheck``; unknown keys are warnings and are sent as given.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from ..model import Action, SettingType, SubSettingType
from .checks import RowCheck, RowSpec, check_e164, check_id, is_int, show_value

HHMM_RE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")

# --- call-handling field table (from the OpenAPI extract) ------------------------------------

_STEP5 = tuple(range(10, 61, 5))
CALL_NOT_ANSWER_ACTIONS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 18, 19)
BUSY_ACTIONS = (1, 2, 4, 6, 7, 8, 9, 10, 12, 21, 22)
#: 10–60 step 5 for users; 120–1800 only for call-queue overflow (accepted for any type).
MAX_WAIT_TIMES = (*_STEP5, 120, 180, 240, 300, 600, 900, 1200, 1500, 1800)
WRAP_UP_TIMES = (0, *_STEP5, 120, 180, 240, 300)  # 0 is in Zoom's description, not its enum
RING_MODES = ("simultaneous", "sequential")
DISTRIBUTION_RING_MODES = ("simultaneous", "sequential", "rotating", "longest_idle")

_BOOL_KEYS = frozenset(
    {
        "allow_callers_check_voicemail",
        "allow_members_to_reset",
        "busy_require_press_1_before_connecting",
        "un_answered_require_press_1_before_connecting",
        "overflow_play_callee_voicemail_greeting",
        "play_callee_voicemail_greeting",
        "busy_play_callee_voicemail_greeting",
        "connect_to_operator",
        "receive_call",
    }
)
_STR_KEYS = frozenset(
    {
        "audio_while_connecting_id",
        "description",
        "busy_description",
        "greeting_prompt_id",
        "music_on_hold_id",
        "voicemail_greeting_id",
        "voicemail_leaving_instruction_id",
        "message_greeting_id",
        "forward_to_partner_contact_center_id",
        "forward_to_teams_id",
    }
)
_E164_KEYS = frozenset({"phone_number", "busy_phone_number", "forward_to_zcc_phone_number"})
_ID_KEYS = frozenset(
    {"forward_to_extension_id", "busy_forward_to_extension_id", "operator_extension_id"}
)
_ENUM_KEYS: dict[str, tuple[object, ...]] = {
    "call_not_answer_action": CALL_NOT_ANSWER_ACTIONS,
    "busy_on_another_call_action": BUSY_ACTIONS,
    "max_wait_time": MAX_WAIT_TIMES,
    "wrap_up_time": WRAP_UP_TIMES,
    "ring_mode": RING_MODES,
}
CALL_HANDLING_KEYS = frozenset(
    _BOOL_KEYS
    | _STR_KEYS
    | _E164_KEYS
    | _ID_KEYS
    | set(_ENUM_KEYS)
    | {"call_distribution", "max_call_in_queue", "holiday_id"}
)
CUSTOM_HOURS_KEYS = frozenset({"type", "custom_hours_settings", "allow_members_to_reset"})
FORWARDING_UPDATE_KEYS = frozenset(
    {"call_forwarding_settings", "require_press_1_before_connecting", "enable"}
)
_FORWARDING_ITEM_KEYS = frozenset(
    {"id", "description", "enable", "phone_number", "external_contact"}
)
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


# --- shared by the builders ----------------------------------------------------------------


def _unused(r: RowCheck, flat: Mapping[str, str], used: set[str], what: str) -> None:
    for name, value in flat.items():
        if name not in used:
            r.error(name, value, f"is not used by {what}: remove it or check the row")


def _unknown_keys(
    r: RowCheck, settings: Mapping[str, Any], known: frozenset[str], what: str
) -> None:
    for key in settings:
        if key not in known:
            r.warn("settings", key, f"is not a setting bulkops knows for {what}; sent as given")


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


def _objects(
    r: RowCheck, value: object, where: str, *, most: int, expected: str, empty: bool = True
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The objects of a list in ``settings`` with where each stands, after checking its shape."""
    if not isinstance(value, list) or (not value and not empty):
        r.error("settings", value, f"{where} must be {expected}")
        return
    if len(value) > most:
        r.error("settings", f"{len(value)} items", f"{where} holds at most {most} items")
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            r.error("settings", item, f"{at} must be an object")
            continue
        yield at, item


def _what(spec: RowSpec) -> str:
    return f"{spec.action} {spec.setting_type}/{spec.sub_setting_type}"


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
    what = _what(spec)
    _unused(r, flat, {"name", "from", "to", "holiday_id"}, what)
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
        _unknown_keys(r, settings, frozenset(), what)
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
    what = _what(spec)
    holiday = setting is SettingType.HOLIDAY_HOURS
    holiday_cols = _holiday_columns(setting)
    phone = flat.get("phone_number")
    if action is Action.ADD:
        _unused(r, flat, {"phone_number", "description"} | holiday_cols, what)
        if phone is None:
            r.error("phone_number", None, "is required to add a call forwarding number")
        spec.phone_number = phone
        if holiday:
            _holiday_ref(r, spec, flat, when, required=True)
        spec.settings.update({"phone_number": phone})
        if "description" in flat:
            spec.settings["description"] = flat["description"]
        _unknown_keys(r, settings, frozenset(), what)
        spec.settings.update(settings)
        return

    _unused(r, flat, {"call_forwarding_id", "phone_number", "description"} | holiday_cols, what)
    cf_id = flat.get("call_forwarding_id")
    if holiday:
        # A phone number alone is ambiguous across holidays; an id is not.
        _holiday_ref(r, spec, flat, when, required=cf_id is None or action is Action.UPDATE)
    spec.call_forwarding_id = cf_id
    if cf_id is None:
        spec.phone_number = phone

    if action is Action.DELETE:
        if cf_id is None and phone is None:
            r.error("call_forwarding_id", None, "give call_forwarding_id or phone_number to delete")
        if "description" in flat:
            r.error("description", flat["description"], f"is not used by {what}")
        _no_body(r, spec, settings)
        return

    # update: one entry named by the flat columns, or Zoom's own call_forwarding_settings list.
    _unknown_keys(r, settings, FORWARDING_UPDATE_KEYS | {"holiday_id"}, what)
    require = settings.pop("require_press_1_before_connecting", None)
    if require is not None and not isinstance(require, bool):
        r.error("settings", require, "require_press_1_before_connecting must be true or false")
    enable = settings.pop("enable", None)
    if enable is not None and not isinstance(enable, bool):
        r.error("settings", f"enable={show_value(enable)}", "enable must be true or false")
    items = settings.pop("call_forwarding_settings", None)
    if items is not None:
        if enable is not None or "description" in flat:
            r.error(
                "settings",
                "call_forwarding_settings",
                "give either call_forwarding_settings or description/enable, not both",
            )
        ids = _check_forwarding_items(r, items)
        if cf_id is None and phone is None:
            if ids:
                spec.call_forwarding_id = ids[0]
            else:
                r.error("call_forwarding_id", None, "give call_forwarding_id or phone_number")
        spec.settings["call_forwarding_settings"] = items
    else:
        if cf_id is None and phone is None:
            r.error("call_forwarding_id", None, "give call_forwarding_id or phone_number")
        entry: dict[str, Any] = {}
        if cf_id is not None:
            entry["id"] = cf_id
            if phone is not None:
                entry["phone_number"] = phone  # with an id, the number is the new value
        if "description" in flat:
            entry["description"] = flat["description"]
        if enable is not None:
            entry["enable"] = enable
        if set(entry) - {"id", "phone_number"} or (cf_id is not None and phone is not None):
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
    for at, item in _objects(r, items, where, most=10, expected="a list of objects"):
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


def _build_custom_hours(
    r: RowCheck,
    spec: RowSpec,
    action: Action,
    setting: SettingType,
    flat: Mapping[str, str],
    when: Mapping[str, str],
    settings: dict[str, Any],
) -> None:
    what = _what(spec)
    _unused(r, flat, set(), what)
    _unknown_keys(r, settings, CUSTOM_HOURS_KEYS, what)
    kind = settings.get("type")
    if kind is None:
        r.error("settings", None, "settings.type is required: 1 (24 hours) or 2 (custom hours)")
    elif not is_int(kind) or kind not in (1, 2):
        r.error("settings", f"type={show_value(kind)}", "settings.type must be 1 or 2 (a number)")
    reset = settings.get("allow_members_to_reset")
    if reset is not None and not isinstance(reset, bool):
        r.error("settings", reset, "settings.allow_members_to_reset must be true or false")
    days = settings.get("custom_hours_settings")
    if kind == 2 and days is None:
        r.error("settings", None, "settings.custom_hours_settings is required when type is 2")
    if days is not None:
        _check_days(r, days)
    spec.settings.update(settings)


def _check_days(r: RowCheck, days: object) -> None:
    where = "settings.custom_hours_settings"
    expected = "a list of 1–7 weekday objects"
    seen: set[int] = set()
    for at, day in _objects(r, days, where, most=7, expected=expected, empty=False):
        weekday: Any = day.get("weekday")
        kind: Any = day.get("type")
        if not is_int(weekday) or not 1 <= weekday <= 7:
            r.error(
                "settings",
                f"weekday={show_value(weekday)}",
                f"{at}.weekday must be 1–7 (1 = Sunday)",
            )
        elif weekday in seen:
            r.error("settings", f"weekday={weekday}", f"{at}.weekday {weekday} appears twice")
        else:
            seen.add(weekday)
        if not is_int(kind) or kind not in (0, 1, 2):
            r.error(
                "settings",
                f"type={show_value(kind)}",
                f"{at}.type must be 0 (disabled), 1 (all day) or 2 (custom)",
            )
        if kind == 2:
            start, end = day.get("from"), day.get("to")
            ok = True
            for key, value in (("from", start), ("to", end)):
                if not isinstance(value, str) or not HHMM_RE.fullmatch(value):
                    r.error(
                        "settings",
                        f"{key}={show_value(value)}",
                        f"{at}.{key} must be HH:mm (00:00–23:59)",
                    )
                    ok = False
            if ok and str(start) >= str(end):
                r.error("settings", f"{start}-{end}", f"{at}: from must be before to")


def _build_call_handling(
    r: RowCheck,
    spec: RowSpec,
    action: Action,
    setting: SettingType,
    flat: Mapping[str, str],
    when: Mapping[str, str],
    settings: dict[str, Any],
) -> None:
    what = _what(spec)
    _unused(r, flat, {"phone_number", "description"} | _holiday_columns(setting), what)
    if setting is SettingType.HOLIDAY_HOURS:
        _holiday_ref(r, spec, flat, when, required=True)
    for name in ("phone_number", "description"):
        if name in flat:
            settings[name] = flat[name]
    _unknown_keys(r, settings, CALL_HANDLING_KEYS, what)
    if not settings:
        r.error("settings", None, "is required: the call_handling fields to change")
    for key, value in settings.items():
        reason: str | None = None
        if key in _BOOL_KEYS and not isinstance(value, bool):
            reason = "must be true or false"
        elif key in _STR_KEYS and not isinstance(value, str):
            reason = "must be a string"
        elif key in _E164_KEYS:
            reason = check_e164(value) if isinstance(value, str) else "must be a string"
        elif key in _ID_KEYS:
            reason = check_id(value) if isinstance(value, str) else "must be a string"
        elif key in _ENUM_KEYS and (value not in _ENUM_KEYS[key] or isinstance(value, bool)):
            reason = "must be one of " + ", ".join(map(str, _ENUM_KEYS[key]))
        elif key == "max_call_in_queue" and (not is_int(value) or not 0 <= value <= 60):
            reason = "must be a number from 0 to 60"
        elif key == "call_distribution":
            reason = _check_distribution(value)
        if reason:
            r.error("settings", f"{key}={show_value(value)}", f"settings.{key} {reason}")
    if settings.get("call_not_answer_action") == 10 and "phone_number" not in settings:
        r.error(
            "phone_number", None, "is required when call_not_answer_action is 10 (phone number)"
        )
    if settings.get("busy_on_another_call_action") == 10 and "busy_phone_number" not in settings:
        r.error("settings", None, "settings.busy_phone_number is required when busy action is 10")
    if setting is SettingType.BUSINESS_HOURS and ("ring_mode" in settings) != (
        "max_wait_time" in settings
    ):
        r.warn(
            "settings",
            "ring_mode/max_wait_time",
            "Zoom wants ring_mode and max_wait_time together for a user's business hours",
        )
    spec.settings.update(settings)


def _check_distribution(value: object) -> str | None:
    if not isinstance(value, dict):
        return "must be an object"
    mode = value.get("ring_mode")
    if mode is not None and mode not in DISTRIBUTION_RING_MODES:
        return "ring_mode must be one of " + ", ".join(DISTRIBUTION_RING_MODES)
    duration = value.get("ring_duration")
    if duration is not None and (not is_int(duration) or duration not in _STEP5):
        return "ring_duration must be 10–60 in steps of 5"
    for key in ("handle_multiple_calls", "skip_offline_device_phone_number"):
        if key in value and not isinstance(value[key], bool):
            return f"{key} must be true or false"
    return None


_BUILDERS = {
    SubSettingType.HOLIDAY: _build_holiday,
    SubSettingType.CALL_FORWARDING: _build_forwarding,
    SubSettingType.CUSTOM_HOURS: _build_custom_hours,
    SubSettingType.CALL_HANDLING: _build_call_handling,
}
