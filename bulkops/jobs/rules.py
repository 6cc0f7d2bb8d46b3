"""Field rules: turn one job-file row into a checked, normalised operation template.

Everything here is pure: a row's cells go in, a ``RowSpec`` (or nothing) and the list of
``Problem``s come out. This module holds the shared formats (ids, E.164 numbers, extension
numbers, emails, dates, time zones) and the row-level checks (action, setting_type, target,
timezone, flat columns against ``settings``, sub_setting_type); the settings body of each
sub_setting_type is checked in ``settings_rules``. Formats and enums follow docs/zoom-api.md and
the OpenAPI extract; where Zoom's rule depends on the extension's type (call queue vs user) the
check is the union of what Zoom accepts, and says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from ..errors import Problem
from ..model import ALLOWED, Action, SettingType, SubSettingType

# --- formats -------------------------------------------------------------------------------

#: Ids that go into a URL path or query: nothing that could change the URL's meaning.
ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
E164_RE = re.compile(r"\+[1-9][0-9]{1,14}")
EXTENSION_NUMBER_RE = re.compile(r"[0-9]{1,20}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
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


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def show_value(value: object) -> str:
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
class RowCheck:
    """Collects the problems of one row so each check is one short call."""

    file: str
    row: int
    problems: list[Problem] = field(default_factory=list)

    def error(self, column: str | None, value: object, reason: str) -> None:
        self._add(column, value, reason, "error")

    def warn(self, column: str | None, value: object, reason: str) -> None:
        self._add(column, value, reason, "warning")

    def _add(self, column: str | None, value: object, reason: str, severity: str) -> None:
        shown = None if value is None else show_value(value)
        self.problems.append(Problem(self.file, self.row, column, shown, reason, severity))

    @property
    def failed(self) -> bool:
        return any(p.severity == "error" for p in self.problems)


def _choice(r: RowCheck, column: str, value: str, valid: tuple[str, ...]) -> str | None:
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
    r = RowCheck(file, row)

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
                r.error(
                    "settings", f"{name}={show_value(inner)}", f"settings.{name} must be a string"
                )
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

    from .fields import check_settings  # settings_rules builds on this module

    spec = RowSpec(row, action, setting, sub, {}, target_kind, target_value)
    check_settings(r, spec, a, s, ss, flat, when, settings)
    return (None if r.failed else spec), r.problems
