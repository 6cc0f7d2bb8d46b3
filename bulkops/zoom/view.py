"""What one extension holds, read from its GET: the ground truth for lookups and reconciliation.

The engine reads an extension once before it writes to it. The view answers "which holiday is
called X", "is this forwarding number already there" and "did that POST whose answer was lost
take effect", and it is kept current as the lane's own writes succeed. :meth:`ExtensionView.parse`
accepts only the documented shape: an answer it cannot positively understand raises
:class:`~bulkops.errors.UnreadableAnswerError` rather than reading as "empty".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..errors import UnreadableAnswerError
from ..model import SettingType, SubSettingType
from .schema import FORWARDING_ENTRIES, HOLIDAY_ID, ITEM_ID

_FORWARDING = SubSettingType.CALL_FORWARDING.value
_ID = ITEM_ID[SubSettingType.CALL_FORWARDING]


@dataclass(slots=True)
class Holiday:
    holiday_id: str
    name: str
    from_: str | None
    to: str | None
    forwarding: dict[str, str] = field(default_factory=dict)  # phone number -> forwarding id


@dataclass(slots=True)
class ExtensionView:
    """Holidays and forwarding entries of one extension, keyed the way job files name them."""

    holidays: list[Holiday] = field(default_factory=list)
    # (setting type) -> phone number -> forwarding id, for business and closed hours
    forwarding: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def parse(
        cls, body: Any, status: int | None = None, tracking_id: str | None = None
    ) -> ExtensionView:
        """The view of a GET body, which must be positively understood.

        Raises :class:`UnreadableAnswerError` (with the answer's ``status`` and ``tracking_id``)
        naming the first place where ``body`` departs from the documented shape: not an object,
        none of the three setting types, a list that is not a list of objects, a holiday
        without a string id or name, a forwarding entry whose number or id is not a string. An
        answer misread as "empty" would re-add what is there, so nothing is guessed; keys the
        view does not use are not checked.
        """
        try:
            return cls._parse(body)
        except UnreadableAnswerError as exc:
            raise UnreadableAnswerError(
                exc.reason, status=status, tracking_id=tracking_id
            ) from None

    @classmethod
    def _parse(cls, body: Any) -> ExtensionView:
        top = _object(body, "the body")
        if not any(setting.value in top for setting in SettingType):
            keys = ", ".join(_clip(str(key), 20) for key in sorted(top)[:5]) or "none"
            raise UnreadableAnswerError(
                f"none of {', '.join(SettingType)} in the body (keys: {keys})"
            )
        view = cls()
        for setting in (SettingType.BUSINESS_HOURS, SettingType.CLOSED_HOURS):
            numbers: dict[str, str] = {}
            where = setting.value
            for i, entry in enumerate(_objects(top.get(where), where)):
                at = f"{where}[{i}]"
                if _text(entry, "sub_setting_type", at) == _FORWARDING:
                    numbers.update(_forwarding_numbers(_settings(entry, at), f"{at}.settings"))
            view.forwarding[setting.value] = numbers
        where = SettingType.HOLIDAY_HOURS.value
        for i, item in enumerate(_objects(top.get(where), where)):
            view.holidays.append(_holiday(item, f"{where}[{i}]"))
        return view

    # -- lookups ---------------------------------------------------------------------------

    def find_holidays(
        self, name: str, from_: str | None = None, to: str | None = None
    ) -> list[str]:
        """Ids of the holidays named ``name`` (and starting at ``from_``/ending at ``to``)."""
        return [
            h.holiday_id
            for h in self.holidays
            if h.name == name
            and (from_ is None or same_instant(h.from_, from_))
            and (to is None or same_instant(h.to, to))
        ]

    def has_holiday(self, holiday_id: str) -> bool:
        return any(h.holiday_id == holiday_id for h in self.holidays)

    def forwarding_id(
        self, setting_type: str, phone_number: str, holiday_id: str | None = None
    ) -> str | None:
        return self._numbers(setting_type, holiday_id).get(phone_number)

    def has_forwarding(
        self, setting_type: str, forwarding_id: str, holiday_id: str | None = None
    ) -> bool:
        return forwarding_id in self._numbers(setting_type, holiday_id).values()

    # -- keeping the view current ------------------------------------------------------------

    def add_holiday(self, holiday_id: str, name: str, from_: str | None, to: str | None) -> None:
        self.holidays.append(Holiday(holiday_id, name, from_, to))

    def remove_holiday(self, holiday_id: str) -> None:
        self.holidays = [h for h in self.holidays if h.holiday_id != holiday_id]

    def add_forwarding(
        self, setting_type: str, phone_number: str, forwarding_id: str, holiday_id: str | None
    ) -> None:
        self._numbers(setting_type, holiday_id)[phone_number] = forwarding_id

    def remove_forwarding(
        self, setting_type: str, forwarding_id: str, holiday_id: str | None
    ) -> None:
        numbers = self._numbers(setting_type, holiday_id)
        for number, fid in list(numbers.items()):
            if fid == forwarding_id:
                del numbers[number]

    def _numbers(self, setting_type: str, holiday_id: str | None) -> dict[str, str]:
        if setting_type == SettingType.HOLIDAY_HOURS.value:
            for h in self.holidays:
                if h.holiday_id == holiday_id:
                    return h.forwarding
            return {}
        return self.forwarding.setdefault(setting_type, {})


def _holiday(item: dict[str, Any], at: str) -> Holiday:
    holiday = Holiday(_required(item, HOLIDAY_ID, at), "", None, None)
    named = False
    for j, detail in enumerate(_objects(item.get("details"), f"{at}.details")):
        where = f"{at}.details[{j}]"
        kind = _text(detail, "sub_setting_type", where)
        settings = _settings(detail, where)
        if kind == SubSettingType.HOLIDAY.value:
            holiday.name, named = _required(settings, "name", f"{where}.settings"), True
            holiday.from_ = _text(settings, "from", f"{where}.settings")
            holiday.to = _text(settings, "to", f"{where}.settings")
        elif kind == _FORWARDING:
            holiday.forwarding.update(_forwarding_numbers(settings, f"{where}.settings"))
    if not named:  # a holiday the view cannot name could be the one a row is about to add
        raise UnreadableAnswerError(f"{at} has no holiday details with a name")
    return holiday


def _forwarding_numbers(settings: dict[str, Any], at: str) -> dict[str, str]:
    """Phone number -> id for the external numbers of a forwarding entry in the GET shape.

    Zoom's own entries ("Zoom Mobile Apps", …) have no number and are left out."""
    found: dict[str, str] = {}
    if FORWARDING_ENTRIES in settings:
        where = f"{at}.{FORWARDING_ENTRIES}"
        for i, item in enumerate(_objects(settings[FORWARDING_ENTRIES], where)):
            if number := _text(item, "phone_number", f"{where}[{i}]"):
                found[number] = _required(item, "id", f"{where}[{i}]")
    elif number := _text(settings, "phone_number", at):
        entry_id = _text(settings, "id", at) or _text(settings, _ID, at)
        if not entry_id:
            raise UnreadableAnswerError(f"{at} has a phone number but no id")
        found[number] = entry_id
    return found


# -- reading the documented shape, or saying where it is not ------------------------------------


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _object(value: Any, at: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UnreadableAnswerError(f"{at} is {_kind(value)}, not an object")
    return value


def _objects(value: Any, at: str) -> list[dict[str, Any]]:
    """A documented list of objects; absent or null reads as empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise UnreadableAnswerError(f"{at} is {_kind(value)}, not a list")
    return [_object(item, f"{at}[{i}]") for i, item in enumerate(value)]


def _settings(entry: dict[str, Any], at: str) -> dict[str, Any]:
    value = entry.get("settings")
    return {} if value is None else _object(value, f"{at}.settings")


def _text(obj: dict[str, Any], key: str, at: str) -> str | None:
    """A string field; absent or null is None."""
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise UnreadableAnswerError(f"{at}.{key} is {_kind(value)} {_clip(repr(value))}, not a string")


def _required(obj: dict[str, Any], key: str, at: str) -> str:
    """A string field that must be there and not empty (an id, a holiday's name)."""
    value = _text(obj, key, at)
    if not value:
        raise UnreadableAnswerError(f"{at}.{key} is {'empty' if value == '' else 'missing'}")
    return value


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def same_instant(a: str | None, b: str | None) -> bool:
    """Compare two Zoom date-times as instants, whatever offset or fraction they are written with."""
    if a is None or b is None:
        return a == b
    try:
        return _instant(a) == _instant(b)
    except ValueError:
        return a == b


def _instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=0)
