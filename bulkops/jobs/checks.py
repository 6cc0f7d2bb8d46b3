"""Cell checks: the formats one job-file cell must have, and the record one row's check fills.

Each small check takes a cell's text and returns the reason it is wrong (None when fine), so the
row rules (``rules``) and the settings rules (``fields``) share one wording for ids, E.164
numbers, extension numbers, emails, dates and time zones. ``RowSpec`` is the checked row (the
operation template before expansion) and ``RowCheck`` collects one row's problems. Formats follow
docs/zoom-api.md and the OpenAPI extract.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import orjson

from ..errors import Problem
from ..model import Action, SettingType, SubSettingType
from ..zoom import schema
from ..zoom.schema import Text
from .intake import echo

# --- formats -------------------------------------------------------------------------------

#: Ids that go into a URL path or query: nothing that could change the URL's meaning.
#: The zone of naive times nothing else names (no --timezone, no timezone column, no directory
#: zone), and a plan's column of the zone each operation's times were read in.
DEFAULT_ZONE = "UTC"
ZONE_COLUMN = "timezone"
ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
E164_RE = re.compile(schema.PATTERNS[Text.E164])
EXTENSION_NUMBER_RE = re.compile(r"[0-9]{1,20}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_WHEN_RE = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[T ](?P<time>[0-9]{2}:[0-9]{2}(?::[0-9]{2})?)"
    r"(?P<zone>Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)
_SCIENTIFIC_RE = re.compile(r"[+-]?[0-9](?:[.,][0-9]+)?[eE][+]?[0-9]+")
_FLOATY_RE = re.compile(r"[+-]?[0-9]+[.,][0-9]+")

VALUE_CHARS = 200  # of a cell, in a problem (printed clipped further)
REASON_CHARS = 1_000
#: A date-only ``to`` means the last second of that day (so back-to-back holidays never overlap).
END_OF_DAY = time(23, 59, 59)

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


def has_visible(value: str) -> bool:
    """False for text of only spaces, line breaks and invisible format characters (U+200B…)."""
    return any(not (c.isspace() or unicodedata.category(c) == "Cf") for c in value)


def closest(value: str, known: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The known value nearest ``value`` (case and surrounding spaces ignored), if one is near."""
    choices = {k.lower(): k for k in known}
    close = difflib.get_close_matches(value.strip().lower(), list(choices), n=1, cutoff=cutoff)
    return choices[close[0]] if close else None


def did_you_mean(value: str, known: Iterable[str]) -> str:
    """`` (did you mean 'update'?)`` for the known value closest to ``value``, else ""."""
    near = closest(value, known)
    return f" (did you mean {near!r}?)" if near else ""


def parse_timezone(value: str) -> tuple[ZoneInfo | None, str | None]:
    if not value:
        return None, None
    try:
        if ".." in value or value.startswith("/"):
            raise ValueError(value)
        return ZoneInfo(value), None
    except (ZoneInfoNotFoundError, ValueError, OSError):
        reason = "must be an IANA time zone name such as Europe/Berlin or America/New_York"
        return None, reason + _zone_hint(value)


@functools.cache
def _zones() -> dict[str, str]:
    return {zone.lower(): zone for zone in available_timezones()}


def _zone_hint(value: str) -> str:
    zones = _zones()
    key = value.strip().lower().replace(" ", "_")
    if key in zones:  # right name, wrong case or spaces: ZoneInfo is exact
        return f" (did you mean {zones[key]!r}?)"
    near = closest(key, zones.values(), cutoff=0.75)
    return f" (did you mean {near!r}?)" if near else ""


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
    try:
        utc = when.astimezone(UTC)
    except OverflowError:
        return None, "is out of range: in UTC it falls before the year 1 or after 9999"
    return zoom_time(utc), None


def is_naive(value: str) -> bool:
    """True for a date or date-time without ``Z`` or an offset: its zone comes from elsewhere."""
    m = _WHEN_RE.fullmatch(value)
    return m is not None and m["zone"] is None


def zoom_time(when: datetime) -> str:
    """``when`` (UTC) as Zoom's ``yyyy-MM-ddTHH:mm:ssZ``, the year always four digits.

    ``strftime("%Y")`` writes the year 1 as ``1`` on glibc, so Zoom would get ``1-01-01T…``.
    """
    return (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d}"
        f"T{when.hour:02d}:{when.minute:02d}:{when.second:02d}Z"
    )


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


# --- one row ------------------------------------------------------------------------------


class ExtensionRef(StrEnum):
    """How a row names the extensions it acts on; each value is the job-file column that does."""

    EXTENSION_ID = "extension_id"
    EXTENSION_NUMBER = "extension_number"  # looked up in the directory
    EMAIL = "email"  # looked up in the directory, case-insensitively
    SELECTOR = "target"  # a selector over the directory: one operation per match


@dataclass(slots=True)
class RowSpec:
    """One job-file row after validation: the operation template, before its extensions are
    resolved. Not frozen: the settings rules (``fields``) fill in the body and the ids."""

    row: int
    action: Action
    setting_type: SettingType
    sub_setting_type: SubSettingType
    settings: dict[str, Any]
    ref: ExtensionRef  # the column the row names its extensions by
    ref_value: str  # that column's text: an id, a number, an email or a selector
    holiday_id: str | None = None
    call_forwarding_id: str | None = None
    holiday_name: str | None = None
    holiday_from: str | None = None
    holiday_to: str | None = None
    phone_number: str | None = None
    zone: str | None = None  # the IANA zone its naive times were read in, when the job names one
    # (column, text) of each naive ``from``/``to`` of a row that names no zone: read in UTC
    # here, and read again in each extension's own zone when the directory gives one (``zones``).
    naive: tuple[tuple[str, str], ...] = ()


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
        # A cell holds up to 10,000 characters and a settings key as many: a problem list of a
        # million-row file keeps only what a reader can use.
        shown = None if value is None else echo(show_value(value), VALUE_CHARS)
        self.problems.append(
            Problem(self.file, self.row, column, shown, echo(reason, REASON_CHARS), severity)
        )

    @property
    def failed(self) -> bool:
        return any(p.severity == "error" for p in self.problems)
