"""What one extension holds, read from its GET: the ground truth for lookups and reconciliation.

The engine reads an extension once before it writes to it. The view answers "which holiday is
called X", "is this forwarding number already there" and "did that POST whose answer was lost
take effect", and it is kept current as the lane's own writes succeed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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
    def parse(cls, body: dict[str, Any]) -> ExtensionView:
        view = cls()
        for setting in (SettingType.BUSINESS_HOURS, SettingType.CLOSED_HOURS):
            numbers: dict[str, str] = {}
            for entry in body.get(setting.value) or []:
                if entry.get("sub_setting_type") == _FORWARDING:
                    numbers.update(_forwarding_numbers(entry.get("settings") or {}))
            view.forwarding[setting.value] = numbers
        for item in body.get(SettingType.HOLIDAY_HOURS.value) or []:
            holiday = Holiday(str(item.get(HOLIDAY_ID, "")), "", None, None)
            for detail in item.get("details") or []:
                settings = detail.get("settings") or {}
                kind = detail.get("sub_setting_type")
                if kind == SubSettingType.HOLIDAY.value:
                    holiday.name = str(settings.get("name", ""))
                    holiday.from_ = settings.get("from")
                    holiday.to = settings.get("to")
                elif kind == _FORWARDING:
                    holiday.forwarding.update(_forwarding_numbers(settings))
            if holiday.holiday_id:
                view.holidays.append(holiday)
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


def _forwarding_numbers(settings: dict[str, Any]) -> dict[str, str]:
    """Phone number -> id for the external numbers of a forwarding entry in the GET shape."""
    found: dict[str, str] = {}
    items = settings.get(FORWARDING_ENTRIES)
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and item.get("phone_number") and item.get("id"):
                found[str(item["phone_number"])] = str(item["id"])
    elif settings.get("phone_number") and (entry_id := settings.get("id") or settings.get(_ID)):
        found[str(settings["phone_number"])] = str(entry_id)
    return found


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
