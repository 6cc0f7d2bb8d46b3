"""Request checks the way Zoom answers them: which combinations exist, required fields, formats.

Every check raises :class:`~bulkops.simulator.answers.ZoomError`; nothing here touches state.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson

from ..model import Action, SettingType, SubSettingType, allowed
from .answers import (
    BAD_HOLIDAY_TIME,
    BAD_JSON,
    RING_AND_WAIT,
    ZoomError,
    invalid,
    not_supported,
    too_many,
)
from .directory import ExtensionType

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
#: The contact-center number: E.164 says the description, and the spec's examples (request and
#: GET alike) leave the '+' out, so both are taken.
ZCC_NUMBER = re.compile(r"\+?[1-9][0-9]{1,14}")
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

NOT_ANSWER_ACTIONS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 18, 19})
BUSY_ACTIONS = frozenset({1, 2, 4, 6, 7, 8, 9, 10, 12, 21, 22})
WAIT_TIMES = frozenset(range(10, 61, 5))
QUEUE_WAIT_TIMES = WAIT_TIMES | {120, 180, 240, 300, 600, 900, 1200, 1500, 1800}
WRAP_UP_TIMES = frozenset({0, *range(10, 61, 5), 120, 180, 240, 300})
RING_DURATIONS = frozenset(range(10, 61, 5))
DISTRIBUTION_MODES = frozenset({"simultaneous", "sequential", "rotating", "longest_idle"})
RING_MODES = frozenset({"simultaneous", "sequential"})
MAX_FORWARDING = 10
MAX_CUSTOM_HOURS = 7

_BOOL_FIELDS = (
    "allow_callers_check_voicemail",
    "allow_members_to_reset",
    "busy_require_press_1_before_connecting",
    "un_answered_require_press_1_before_connecting",
    "overflow_play_callee_voicemail_greeting",
    "play_callee_voicemail_greeting",
    "busy_play_callee_voicemail_greeting",
    "connect_to_operator",
    "receive_call",
)
_STR_FIELDS = (
    "audio_while_connecting_id",
    "description",
    "busy_description",
    "forward_to_extension_id",
    "busy_forward_to_extension_id",
    "greeting_prompt_id",
    "music_on_hold_id",
    "operator_extension_id",
    "voicemail_greeting_id",
    "voicemail_leaving_instruction_id",
    "message_greeting_id",
    "forward_to_partner_contact_center_id",
    "forward_to_teams_id",
    "holiday_id",
)


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body, or 400 / 300 like Zoom."""
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise ZoomError(400, 300, BAD_JSON)
    return body


def setting_type(value: str) -> SettingType:
    try:
        return SettingType(value)
    except ValueError:
        choices = ", ".join(s.value for s in SettingType)
        raise invalid("settingType", f"must be one of {choices}") from None


def target(
    action: Action, setting: SettingType, body: dict[str, Any]
) -> tuple[SubSettingType, dict[str, Any]]:
    """``sub_setting_type`` and ``settings`` of a POST/PATCH body, checked against ALLOWED."""
    raw_sub = body.get("sub_setting_type")
    try:
        sub = SubSettingType(str(raw_sub))
    except ValueError:
        choices = ", ".join(s.value for s in SubSettingType)
        raise invalid("sub_setting_type", f"must be one of {choices}") from None
    settings = body.get("settings")
    if not isinstance(settings, dict):
        raise invalid("settings", "must be an object")
    if not allowed(action, setting, sub):
        raise not_supported()
    return sub, settings


def _field(name: str) -> str:
    return f"settings.{name}"


def _bool(settings: dict[str, Any], key: str, where: str = "settings") -> None:
    if key in settings and not isinstance(settings[key], bool):
        raise invalid(f"{where}.{key}", "must be a boolean")


def _str(settings: dict[str, Any], key: str, where: str = "settings") -> None:
    if key in settings and not isinstance(settings[key], str):
        raise invalid(f"{where}.{key}", "must be a string")


def _int_in(settings: dict[str, Any], key: str, choices: frozenset[int], where: str) -> None:
    if key not in settings:
        return
    value = settings[key]
    if isinstance(value, bool) or not isinstance(value, int) or value not in choices:
        raise invalid(f"{where}.{key}", f"must be one of {sorted(choices)}")


def _phone(settings: dict[str, Any], key: str, where: str = "settings") -> None:
    if key in settings:
        value = settings[key]
        if not isinstance(value, str) or not E164.match(value):
            raise invalid(f"{where}.{key}", "must be a phone number in E.164 format")


def _zcc_number(settings: dict[str, Any], key: str) -> None:
    if key in settings:
        value = settings[key]
        if not isinstance(value, str) or not ZCC_NUMBER.fullmatch(value):
            raise invalid(_field(key), "must be a phone number, E.164 with or without the +")


def _required(settings: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if settings.get(key) in (None, ""):
            raise invalid(_field(key), "is required")


def date_time(value: Any, key: str) -> datetime:
    if not isinstance(value, str) or not DATE_TIME.match(value):
        raise invalid(_field(key), "must be in yyyy-MM-dd'T'HH:mm:ss'Z' format")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise invalid(_field(key), "is not a valid date-time") from None


def holiday(settings: dict[str, Any], *, adding: bool) -> None:
    """POST needs name, from, to; PATCH needs holiday_id. ``from`` must precede ``to``."""
    if adding:
        _required(settings, "name", "from", "to")
    else:
        _required(settings, "holiday_id")
    _str(settings, "name")
    _str(settings, "holiday_id")
    for key in ("from", "to"):
        if key in settings:
            date_time(settings[key], key)


def holiday_span(start: str, end: str) -> None:
    if date_time(start, "from") >= date_time(end, "to"):
        raise ZoomError(400, 400, BAD_HOLIDAY_TIME)


def forwarding_add(settings: dict[str, Any], *, under_holiday: bool) -> None:
    _required(settings, "phone_number", *(("holiday_id",) if under_holiday else ()))
    _phone(settings, "phone_number")
    _str(settings, "description")
    _str(settings, "holiday_id")


def forwarding_update(settings: dict[str, Any], *, under_holiday: bool) -> None:
    if under_holiday:
        _required(settings, "holiday_id")
    _bool(settings, "require_press_1_before_connecting")
    items = settings.get("call_forwarding_settings", [])
    if not isinstance(items, list):
        raise invalid(_field("call_forwarding_settings"), "must be an array")
    if len(items) > MAX_FORWARDING:
        raise too_many("call_forwarding_settings", MAX_FORWARDING)
    for i, item in enumerate(items):
        where = f"settings.call_forwarding_settings[{i}]"
        if not isinstance(item, dict):
            raise invalid(where, "must be an object")
        if not isinstance(item.get("id"), str) or not item["id"]:
            raise invalid(f"{where}.id", "is required")
        _bool(item, "enable", where)
        _str(item, "description", where)
        _phone(item, "phone_number", where)
        contact = item.get("external_contact")
        if contact is not None and not (
            isinstance(contact, dict) and isinstance(contact.get("external_contact_id"), str)
        ):
            raise invalid(f"{where}.external_contact.external_contact_id", "must be a string")


def custom_hours(settings: dict[str, Any]) -> None:
    _int_in(settings, "type", frozenset({1, 2}), "settings")
    _bool(settings, "allow_members_to_reset")
    items = settings.get("custom_hours_settings", [])
    if not isinstance(items, list):
        raise invalid(_field("custom_hours_settings"), "must be an array")
    if len(items) > MAX_CUSTOM_HOURS:
        raise too_many("custom_hours_settings", MAX_CUSTOM_HOURS)
    for i, item in enumerate(items):
        where = f"settings.custom_hours_settings[{i}]"
        if not isinstance(item, dict):
            raise invalid(where, "must be an object")
        if "weekday" not in item:
            raise invalid(f"{where}.weekday", "is required")
        _int_in(item, "weekday", frozenset(range(1, 8)), where)
        _int_in(item, "type", frozenset({0, 1, 2}), where)
        for key in ("from", "to"):
            if key in item and not (isinstance(item[key], str) and HH_MM.match(item[key])):
                raise invalid(f"{where}.{key}", "must be a time in HH:mm format")
        if item.get("type") == 2:
            start, end = item.get("from"), item.get("to")
            if not (isinstance(start, str) and isinstance(end, str)):
                raise ZoomError(
                    400, 400, f"Invalid customer hours from/to time for weekday: {item['weekday']}."
                )
            if not (HH_MM.match(start) and HH_MM.match(end)) or start >= end:
                raise ZoomError(
                    400, 400, f"Invalid customer hours from/to time for weekday: {item['weekday']}."
                )


def call_handling(settings: dict[str, Any], kind: ExtensionType, setting: SettingType) -> None:
    where = "settings"
    for key in _BOOL_FIELDS:
        _bool(settings, key)
    for key in _STR_FIELDS:
        _str(settings, key)
    _phone(settings, "phone_number")
    _phone(settings, "busy_phone_number")
    _zcc_number(settings, "forward_to_zcc_phone_number")
    _int_in(settings, "call_not_answer_action", NOT_ANSWER_ACTIONS, where)
    _int_in(settings, "busy_on_another_call_action", BUSY_ACTIONS, where)
    if "busy_on_another_call_action" in settings and kind is not ExtensionType.USER:
        raise not_supported()
    queue_overflow = kind is ExtensionType.CALL_QUEUE and setting is SettingType.BUSINESS_HOURS
    waits = QUEUE_WAIT_TIMES if queue_overflow else WAIT_TIMES
    _int_in(settings, "max_wait_time", waits, where)
    _int_in(settings, "wrap_up_time", WRAP_UP_TIMES, where)
    if "ring_mode" in settings and settings["ring_mode"] not in RING_MODES:
        raise invalid(_field("ring_mode"), f"must be one of {sorted(RING_MODES)}")
    if "max_call_in_queue" in settings:
        value = settings["max_call_in_queue"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 60:
            raise invalid(_field("max_call_in_queue"), "must be an integer from 1 to 60")
    if (
        kind is ExtensionType.USER
        and setting is SettingType.BUSINESS_HOURS
        and (("ring_mode" in settings) != ("max_wait_time" in settings))
    ):
        raise ZoomError(400, 400, RING_AND_WAIT)
    dist = settings.get("call_distribution")
    if dist is not None:
        where = "settings.call_distribution"
        if not isinstance(dist, dict):
            raise invalid(where, "must be an object")
        if "ring_mode" in dist and dist["ring_mode"] not in DISTRIBUTION_MODES:
            raise invalid(f"{where}.ring_mode", f"must be one of {sorted(DISTRIBUTION_MODES)}")
        _int_in(dist, "ring_duration", RING_DURATIONS, where)
        for key in ("handle_multiple_calls", "skip_offline_device_phone_number"):
            _bool(dist, key, where)
    if setting is SettingType.HOLIDAY_HOURS:
        _required(settings, "holiday_id")
