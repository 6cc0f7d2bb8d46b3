"""What one extension holds, read from its GET: the ground truth for lookups and reconciliation.

The engine reads an extension once before it writes to it. The view answers "which holiday is
called X", "is this forwarding number already there" and "did that POST whose answer was lost
take effect", and it is kept current as the lane's own writes succeed. How a row's natural key
meets what Zoom stores (tolerantly, and never by guessing) is ``zoom.match``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..model import SettingType, SubSettingType
from .match import ForwardingEntry, Pick, forwarding_matches, match_added, pick_holiday
from .schema import FORWARDING_ENTRIES, HOLIDAY_ID

_FORWARDING = SubSettingType.CALL_FORWARDING.value


@dataclass(slots=True)
class Holiday:
    holiday_id: str
    name: str
    from_: str | None
    to: str | None
    forwarding: list[ForwardingEntry] = field(default_factory=list)


@dataclass(slots=True)
class ExtensionView:
    """Holidays and forwarding entries of one extension, keyed the way job files name them."""

    holidays: list[Holiday] = field(default_factory=list)
    # (setting type) -> forwarding entries, for business and closed hours
    forwarding: dict[str, list[ForwardingEntry]] = field(default_factory=dict)

    @classmethod
    def parse(cls, body: dict[str, Any]) -> ExtensionView:
        view = cls()
        for setting in (SettingType.BUSINESS_HOURS, SettingType.CLOSED_HOURS):
            entries: list[ForwardingEntry] = []
            for entry in body.get(setting.value) or []:
                if entry.get("sub_setting_type") == _FORWARDING:
                    entries.extend(_forwarding_entries(entry.get("settings") or {}))
            view.forwarding[setting.value] = entries
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
                    holiday.forwarding.extend(_forwarding_entries(settings))
            if holiday.holiday_id:
                view.holidays.append(holiday)
        return view

    # -- lookups (the rules are zoom.match's) --------------------------------------------------

    def pick_holiday(self, name: str, when: str | None = None, *, lone: bool = False) -> Pick:
        """The holiday a row names by ``name`` and, to choose among same-named, ``when``."""
        return pick_holiday(self.holidays, name, when, lone=lone)

    def match_added_holiday(self, name: str, from_: str | None, to: str | None) -> Pick:
        """The holiday an add of ``name``/``from_``/``to`` would duplicate, or its look-alikes."""
        return match_added(self.holidays, name, from_, to)

    def has_holiday(self, holiday_id: str) -> bool:
        return any(h.holiday_id == holiday_id for h in self.holidays)

    def forwarding_entries(
        self, setting_type: str, phone_number: str, holiday_id: str | None = None
    ) -> list[ForwardingEntry]:
        """The entries that forward to ``phone_number``: its own, or an external contact's."""
        return forwarding_matches(self._entries(setting_type, holiday_id), phone_number)

    def has_forwarding(
        self, setting_type: str, forwarding_id: str, holiday_id: str | None = None
    ) -> bool:
        return any(e.id == forwarding_id for e in self._entries(setting_type, holiday_id))

    # -- keeping the view current ------------------------------------------------------------

    def add_holiday(self, holiday_id: str, name: str, from_: str | None, to: str | None) -> None:
        self.holidays.append(Holiday(holiday_id, name, from_, to))

    def remove_holiday(self, holiday_id: str) -> None:
        self.holidays = [h for h in self.holidays if h.holiday_id != holiday_id]

    def add_forwarding(
        self, setting_type: str, phone_number: str, forwarding_id: str, holiday_id: str | None
    ) -> None:
        self._entries(setting_type, holiday_id).append(
            ForwardingEntry(forwarding_id, phone_number=phone_number)
        )

    def remove_forwarding(
        self, setting_type: str, forwarding_id: str, holiday_id: str | None
    ) -> None:
        entries = self._entries(setting_type, holiday_id)
        entries[:] = [e for e in entries if e.id != forwarding_id]

    def _entries(self, setting_type: str, holiday_id: str | None) -> list[ForwardingEntry]:
        if setting_type == SettingType.HOLIDAY_HOURS.value:
            for h in self.holidays:
                if h.holiday_id == holiday_id:
                    return h.forwarding
            return []
        return self.forwarding.setdefault(setting_type, [])


def _forwarding_entries(settings: dict[str, Any]) -> list[ForwardingEntry]:
    """Every entry of a forwarding sub-setting in the GET shape: numbers, contacts, Zoom's apps."""
    items = settings.get(FORWARDING_ENTRIES)
    found = (
        [ForwardingEntry.read(item) for item in items]
        if isinstance(items, list)
        else [ForwardingEntry.read(settings)]
    )
    return [e for e in found if e is not None]
