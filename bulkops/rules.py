"""Field rules: turn one job-file row into a checked, normalised operation template.

Everything here is pure: a row's cells go in, a ``RowSpec`` (or nothing) and the list of
``Problem``s come out. Formats and enums follow docs/zoom-api.md and the OpenAPI extract; where
Zoom's rule depends on the extension's type (call queue vs user) the check is the union of what
Zoom accepts, and says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from .errors import Problem
from .model import ALLOWED, Action, SettingType, SubSettingType

# --- formats -------------------------------------------------------------------------------

#: Ids that go into a URL path or query: nothing that could change the URL's meaning.
ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
E164_RE = re.compile(r"\+[1-9][0-9]{1,14}")
EXTENSION_NUMBER_RE = re.compile(r"[0-9]{1,20}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
HHMM_RE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_WHEN_RE = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[T ](?P<time>[0-9]{2}:[0-9]{2}(?::[0-9]{2})?)"
    r"(?P<zone>Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)
_SCIENTIFIC_RE = re.compile(r"[+-]?[0-9](?:[.,][0-9]+)?[eE][+]?[0-9]+")
_FLOATY_RE = re.compile(r"[+-]?[0-9]+[.,][0-9]+")

ZOOM_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: A date-only ``to`` means the last second of that day (so back-to-back holidays never overlap).
END_OF_DAY = time(23, 59, 59)

ACTIONS = tuple(a.value for a in Action)
SETTING_TYPES = tuple(s.value for s in SettingType)
SUB_SETTING_TYPES = tuple(s.value for s in SubSettingType)

#: Columns whose values may also appear as keys of the ``settings`` JSON object.
FLAT_FIELDS = ("name", "from", "to", "holiday_id", "phone_number", "description")
FLAT_ONLY = ("call_forwarding_id",)
TARGET_COLUMNS = ("extension_id", "extension_number", "email", "target")
KNOWN_COLUMNS = frozenset(
    {"action", "setting_type", "sub_setting_type", "settings", "timezone"}
    | set(FLAT_FIELDS)
    | set(FLAT_ONLY)
    | set(TARGET_COLUMNS)
)

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


# --- small checks, each returning the reason a value is wrong (None when fine) ---------------


def check_id(value: str) -> str | None:
    if ID_RE.fullmatch(value):
        return None
    return "must be 1–64 ASCII letters, digits, '-' or '_' (it goes into the request URL)"


def _spreadsheet_hint(value: str) -> str:
    if _SCIENTIFIC_RE.fullmatch(value):
        return " (it looks like a spreadsheet turned it into a number in scientific notation: "
    if _FLOATY_RE.fullmatch(value):
        return " (it looks like a spreadsheet turned it into a decimal number: "
    return ""


def check_e164(value: str) -> str | None:
    if E164_RE.fullmatch(value):
        return None
    hint = _spreadsheet_hint(value)
    if hint:
        return "must be an E.164 number such as +14155550123" + hint + "format the column as text)"
    if re.fullmatch(r"[1-9][0-9]{1,14}", value):
        return "must be an E.164 number such as +14155550123 (the leading '+' is missing)"
    return "must be an E.164 number such as +14155550123: '+', then 2–15 digits, no spaces"


def check_extension_number(value: str) -> str | None:
    if EXTENSION_NUMBER_RE.fullmatch(value):
        return None
    hint = _spreadsheet_hint(value)
    if hint:
        return "must be the extension number's digits" + hint + "format the column as text)"
    return "must be the extension number's digits only"


def check_email(value: str) -> str | None:
    return None if EMAIL_RE.fullmatch(value) else "must be an email address such as ann@example.com"


def parse_timezone(value: str) -> tuple[ZoneInfo | None, str | None]:
    if not value:
        return None, None
    try:
        if ".." in value or value.startswith("/"):
            raise ValueError(value)
        return ZoneInfo(value), None
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None, "must be an IANA time zone name such as Europe/Berlin or America/New_York"


def parse_when(value: str, tz: ZoneInfo | None, *, end: bool) -> tuple[str | None, str | None]:
    """Normalise a date or date-time to Zoom's ``yyyy-MM-ddTHH:mm:ssZ`` (UTC).

    A date-only value means the start of that day (``from``) or its last second, 23:59:59
    (``to``, ``end=True``); date-only and naive values are read in ``tz`` (UTC when None).
    """
    m = _WHEN_RE.fullmatch(value)
    expected = (
        "must be an ISO-8601 date (2027-12-25) or date-time (2027-12-25T09:00:00Z, "
        "2027-12-25T09:00:00+01:00, or naive 2027-12-25 09:00 in the row's timezone)"
    )
    if m is None:
        return None, expected
    try:
        day = date.fromisoformat(m["date"])
        if m["time"] is None:
            clock = END_OF_DAY if end else time(0, 0, 0)
        else:
            clock = time.fromisoformat(m["time"])
    except ValueError:
        return None, expected + "; this one is not a real date or time"
    zone = m["zone"]
    if zone is None:
        when = datetime.combine(day, clock, tzinfo=tz or UTC)
    else:
        offset = UTC
        if zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours > 23 or minutes > 59:
                return None, expected + "; the UTC offset is out of range"
            offset = timezone(sign * timedelta(hours=hours, minutes=minutes))
        when = datetime.combine(day, clock, tzinfo=offset)
    return when.astimezone(UTC).strftime(ZOOM_TIME_FORMAT), None


def parse_settings(text: str) -> tuple[dict[str, Any] | None, str | None]:
    if not text.strip():
        return {}, None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return None, f'must be a JSON object such as {{"type": 1}} ({exc})'
    if not isinstance(value, dict):
        return None, 'must be a JSON object such as {"type": 1}, not a JSON ' + type(value).__name__
    return value, None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: object) -> str:
    return orjson.dumps(value).decode() if not isinstance(value, str) else value


# --- one row -------------------------------------------------------------------------------


@dataclass(slots=True)
class RowSpec:
    """One job-file row after validation: the operation template, before target expansion."""

    row: int
    action: str
    setting_type: str
    sub_setting_type: str
    settings: dict[str, Any]
    target_kind: str  # extension_id | extension_number | email | target
    target_value: str
    holiday_id: str | None = None
    call_forwarding_id: str | None = None
    holiday_name: str | None = None
    holiday_from: str | None = None
    holiday_to: str | None = None
    phone_number: str | None = None


@dataclass(slots=True)
class _Row:
    """Collects the problems of one row so each check is one short call."""

    file: str
    row: int
    problems: list[Problem] = field(default_factory=list)

    def error(self, column: str | None, value: object, reason: str) -> None:
        shown = None if value is None else _show(value)
        self.problems.append(Problem(self.file, self.row, column, shown, reason))

    def warn(self, column: str | None, value: object, reason: str) -> None:
        shown = None if value is None else _show(value)
        self.problems.append(Problem(self.file, self.row, column, shown, reason, "warning"))

    @property
    def failed(self) -> bool:
        return any(p.severity == "error" for p in self.problems)


def _choice(r: _Row, column: str, value: str, valid: tuple[str, ...]) -> str | None:
    if value in valid:
        return value
    if not value:
        r.error(column, None, f"is required: one of {', '.join(valid)}")
    else:
        r.error(column, value, f"must be one of {', '.join(valid)}")
    return None


def check_row(
    cells: Mapping[str, str], *, file: str, row: int, tz: ZoneInfo | None = None
) -> tuple[RowSpec | None, list[Problem]]:
    """Validate one row (``cells``: column → text, "" when empty).

    Returns the spec (None when the row has errors) and every problem found, errors and warnings.
    """
    r = _Row(file, row)

    def get(name: str) -> str:
        return cells.get(name, "")

    action = _choice(r, "action", get("action"), ACTIONS)
    setting = _choice(r, "setting_type", get("setting_type"), SETTING_TYPES)

    # Target: exactly one of the four ways to name extensions.
    given = [c for c in TARGET_COLUMNS if get(c)]
    target_kind = target_value = ""
    if len(given) != 1:
        shown = None if not given else "; ".join(f"{c}={get(c)}" for c in given)
        r.error(
            given[1] if len(given) > 1 else "extension_id",
            shown,
            "give exactly one target: extension_id, extension_number, email or target "
            "(a selector over the directory such as * or site=London&type=user)",
        )
    else:
        target_kind, target_value = given[0], get(given[0])
        checker: Callable[[str], str | None] | None = {
            "extension_id": check_id,
            "extension_number": check_extension_number,
            "email": check_email,
        }.get(target_kind)
        reason = checker(target_value) if checker else None
        if reason:
            r.error(target_kind, target_value, reason)

    # Time zone for naive and date-only values.
    zone, reason = parse_timezone(get("timezone"))
    if reason:
        r.error("timezone", get("timezone"), reason)
    zone = zone or tz

    # Flat columns and the settings object merge; the same key with two values is an error.
    settings, reason = parse_settings(get("settings"))
    if reason:
        r.error("settings", get("settings"), reason)
        settings = {}
    assert settings is not None
    flat: dict[str, str] = {}
    for name in (*FLAT_FIELDS, *FLAT_ONLY):
        cell = get(name)
        if name in settings:
            inner = settings.pop(name)
            if not isinstance(inner, str):
                r.error("settings", f"{name}={_show(inner)}", f"settings.{name} must be a string")
                continue
            if cell and inner != cell:
                r.error(
                    name,
                    cell,
                    f"conflicts with settings.{name} = {inner!r}: give it in one place only",
                )
                continue
            cell = cell or inner
        if cell:
            flat[name] = cell

    for name in ("holiday_id", "call_forwarding_id"):
        if name in flat and (reason := check_id(flat[name])):
            r.error(name, flat[name], reason)
    if "phone_number" in flat and (reason := check_e164(flat["phone_number"])):
        r.error("phone_number", flat["phone_number"], reason)
    when: dict[str, str] = {}
    for name in ("from", "to"):
        if name in flat:
            value, reason = parse_when(flat[name], zone, end=name == "to")
            if reason:
                r.error(name, flat[name], reason)
            elif value:
                when[name] = value
    if "from" in when and "to" in when and when["from"] >= when["to"]:
        r.error("to", flat["to"], f"must be after from ({flat['from']})")

    # sub_setting_type, inferred for deletes from the id or name given.
    sub_text = get("sub_setting_type")
    sub: str | None
    if not sub_text and action == Action.DELETE:
        if "call_forwarding_id" in flat or "phone_number" in flat:
            sub = SubSettingType.CALL_FORWARDING.value
        elif "holiday_id" in flat or "name" in flat:
            sub = SubSettingType.HOLIDAY.value
        else:
            sub = None
            r.error(
                "sub_setting_type",
                None,
                "is required (or give call_forwarding_id/phone_number, or holiday_id/name, "
                "so a delete can tell what it deletes)",
            )
    else:
        sub = _choice(r, "sub_setting_type", sub_text, SUB_SETTING_TYPES)

    if action is None or setting is None or sub is None:
        return None, r.problems
    a, s, ss = Action(action), SettingType(setting), SubSettingType(sub)
    if a not in ALLOWED.get((s, ss), frozenset()):
        ok = sorted(
            f"{x.value} {st.value}/{sst.value}" for (st, sst), acts in ALLOWED.items() for x in acts
        )
        r.error(
            "sub_setting_type",
            sub,
            f"Zoom does not support {action} of {setting}/{sub}; supported: {', '.join(ok)}",
        )
        return None, r.problems

    spec = RowSpec(row, action, setting, sub, {}, target_kind, target_value)
    _BUILDERS[ss](r, spec, a, s, flat, when, settings)
    return (None if r.failed else spec), r.problems


# --- per sub_setting_type ------------------------------------------------------------------


def _unused(r: _Row, flat: Mapping[str, str], used: set[str], what: str) -> None:
    for name, value in flat.items():
        if name not in used:
            r.error(name, value, f"is not used by {what}: remove it or check the row")


def _unknown_keys(r: _Row, settings: Mapping[str, Any], known: frozenset[str], what: str) -> None:
    for key in settings:
        if key not in known:
            r.warn("settings", key, f"is not a setting bulkops knows for {what}; sent as given")


def _holiday_ref(
    r: _Row, spec: RowSpec, flat: Mapping[str, str], when: Mapping[str, str], *, required: bool
) -> None:
    """The holiday an operation lives under: holiday_id, or name (+ from/to) to look up."""
    if "holiday_id" in flat:
        spec.holiday_id = flat["holiday_id"]
        spec.settings["holiday_id"] = flat["holiday_id"]
    if "name" in flat:
        spec.holiday_name = flat["name"]
        spec.holiday_from = when.get("from")
        spec.holiday_to = when.get("to")
    elif "from" in flat or "to" in flat:
        r.error("name", None, "is required with from/to: they narrow a holiday looked up by name")
    if required and "holiday_id" not in flat and "name" not in flat:
        r.error("holiday_id", None, "give the holiday: holiday_id, or its name (and from)")


def _what(spec: RowSpec) -> str:
    return f"{spec.action} {spec.setting_type}/{spec.sub_setting_type}"


def _build_holiday(
    r: _Row,
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
            if "holiday_id" in flat:
                spec.holiday_id = flat["holiday_id"]
                spec.settings["holiday_id"] = flat["holiday_id"]
            spec.holiday_name = flat.get("name")
        else:
            spec.holiday_name = flat.get("name")
            spec.holiday_from = when.get("from")
            spec.holiday_to = when.get("to")
        spec.settings.update({"name": flat.get("name"), **when})
        _unknown_keys(r, settings, frozenset(), what)
    else:
        _holiday_ref(r, spec, flat, when, required=True)
        spec.settings = {}
        if settings:
            r.warn("settings", ", ".join(settings), "is ignored: a delete sends no body")
        return
    spec.settings.update(settings)


def _build_forwarding(
    r: _Row,
    spec: RowSpec,
    action: Action,
    setting: SettingType,
    flat: Mapping[str, str],
    when: Mapping[str, str],
    settings: dict[str, Any],
) -> None:
    what = _what(spec)
    holiday = setting is SettingType.HOLIDAY_HOURS
    holiday_cols = {"holiday_id", "name", "from", "to"} if holiday else set()
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
        if settings:
            r.warn("settings", ", ".join(settings), "is ignored: a delete sends no body")
        spec.settings = {}
        return

    # update: one entry named by the flat columns, or Zoom's own call_forwarding_settings list.
    _unknown_keys(r, settings, FORWARDING_UPDATE_KEYS | {"holiday_id"}, what)
    require = settings.pop("require_press_1_before_connecting", None)
    if require is not None and not isinstance(require, bool):
        r.error("settings", require, "require_press_1_before_connecting must be true or false")
    enable = settings.pop("enable", None)
    if enable is not None and not isinstance(enable, bool):
        r.error("settings", f"enable={_show(enable)}", "enable must be true or false")
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


def _check_forwarding_items(r: _Row, items: object) -> list[str]:
    where = "settings.call_forwarding_settings"
    if not isinstance(items, list):
        r.error("settings", items, f"{where} must be a list of objects")
        return []
    if len(items) > 10:
        r.error("settings", f"{len(items)} items", f"{where} holds at most 10 items")
    ids: list[str] = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            r.error("settings", item, f"{at} must be an object")
            continue
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
    r: _Row,
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
    elif not _is_int(kind) or kind not in (1, 2):
        r.error("settings", f"type={_show(kind)}", "settings.type must be 1 or 2 (a number)")
    reset = settings.get("allow_members_to_reset")
    if reset is not None and not isinstance(reset, bool):
        r.error("settings", reset, "settings.allow_members_to_reset must be true or false")
    days = settings.get("custom_hours_settings")
    if kind == 2 and days is None:
        r.error("settings", None, "settings.custom_hours_settings is required when type is 2")
    if days is not None:
        _check_days(r, days)
    spec.settings.update(settings)


def _check_days(r: _Row, days: object) -> None:
    where = "settings.custom_hours_settings"
    if not isinstance(days, list) or not days:
        r.error("settings", days, f"{where} must be a list of 1–7 weekday objects")
        return
    if len(days) > 7:
        r.error("settings", f"{len(days)} items", f"{where} holds at most 7 items")
    seen: set[int] = set()
    for i, day in enumerate(days):
        at = f"{where}[{i}]"
        if not isinstance(day, dict):
            r.error("settings", day, f"{at} must be an object")
            continue
        weekday: Any = day.get("weekday")
        kind: Any = day.get("type")
        if not _is_int(weekday) or not 1 <= weekday <= 7:
            r.error(
                "settings", f"weekday={_show(weekday)}", f"{at}.weekday must be 1–7 (1 = Sunday)"
            )
        elif weekday in seen:
            r.error("settings", f"weekday={weekday}", f"{at}.weekday {weekday} appears twice")
        else:
            seen.add(weekday)
        if not _is_int(kind) or kind not in (0, 1, 2):
            r.error(
                "settings",
                f"type={_show(kind)}",
                f"{at}.type must be 0 (disabled), 1 (all day) or 2 (custom)",
            )
        if kind == 2:
            start, end = day.get("from"), day.get("to")
            ok = True
            for key, value in (("from", start), ("to", end)):
                if not isinstance(value, str) or not HHMM_RE.fullmatch(value):
                    r.error(
                        "settings",
                        f"{key}={_show(value)}",
                        f"{at}.{key} must be HH:mm (00:00–23:59)",
                    )
                    ok = False
            if ok and str(start) >= str(end):
                r.error("settings", f"{start}-{end}", f"{at}: from must be before to")


def _build_call_handling(
    r: _Row,
    spec: RowSpec,
    action: Action,
    setting: SettingType,
    flat: Mapping[str, str],
    when: Mapping[str, str],
    settings: dict[str, Any],
) -> None:
    what = _what(spec)
    holiday = setting is SettingType.HOLIDAY_HOURS
    holiday_cols = {"holiday_id", "name", "from", "to"} if holiday else set()
    _unused(r, flat, {"phone_number", "description"} | holiday_cols, what)
    if holiday:
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
        elif key == "max_call_in_queue" and (not _is_int(value) or not 0 <= value <= 60):
            reason = "must be a number from 0 to 60"
        elif key == "call_distribution":
            reason = _check_distribution(value)
        if reason:
            r.error("settings", f"{key}={_show(value)}", f"settings.{key} {reason}")
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
    if duration is not None and (not _is_int(duration) or duration not in _STEP5):
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
