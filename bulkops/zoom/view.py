"""What one extension holds, read from its GET: the ground truth for lookups and reconciliation.

The engine reads an extension once before it writes to it. The view answers "which holiday is
called X", "is this forwarding number already there" and "did that POST whose answer was lost
take effect", and it is kept current as the lane's own writes succeed. How a row's natural key
meets what Zoom stores (tolerantly, and never by guessing) is ``zoom.match``.
:meth:`ExtensionView.parse` accepts only the documented shape: an answer it cannot positively
understand raises :class:`~bulkops.errors.UnreadableAnswerError` rather than reading as "empty".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import UnreadableAnswerError, clip
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
            keys = ", ".join(clip(str(key), 20) for key in sorted(top)[:5]) or "none"
            raise UnreadableAnswerError(
                f"none of {', '.join(SettingType)} in the body (keys: {keys})"
            )
        view = cls()
        for setting in (SettingType.BUSINESS_HOURS, SettingType.CLOSED_HOURS):
            entries: list[ForwardingEntry] = []
            where = setting.value
            for i, entry in enumerate(_objects(top.get(where), where)):
                at = f"{where}[{i}]"
                if _text(entry, "sub_setting_type", at) == _FORWARDING:
                    entries.extend(_forwarding_entries(_settings(entry, at), f"{at}.settings"))
            view.forwarding[setting.value] = entries
        where = SettingType.HOLIDAY_HOURS.value
        for i, item in enumerate(_objects(top.get(where), where)):
            view.holidays.append(_holiday(item, f"{where}[{i}]"))
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
            holiday.forwarding.extend(_forwarding_entries(settings, f"{where}.settings"))
    if not named:  # a holiday the view cannot name could be the one a row is about to add
        raise UnreadableAnswerError(f"{at} has no holiday details with a name")
    return holiday


def _forwarding_entries(settings: dict[str, Any], at: str) -> list[ForwardingEntry]:
    """Every entry of a forwarding sub-setting in the GET shape: numbers, contacts, Zoom's apps.

    The fields the matching reads must have their documented types, and an entry that forwards
    somewhere must carry its id: a view that dropped it would let an add post it again."""
    if FORWARDING_ENTRIES in settings:
        where = f"{at}.{FORWARDING_ENTRIES}"
        items = [
            (item, f"{where}[{i}]")
            for i, item in enumerate(_objects(settings[FORWARDING_ENTRIES], where))
        ]
    else:
        items = [(settings, at)]
    found: list[ForwardingEntry] = []
    for item, place in items:
        number = _text(item, "phone_number", place)
        contact = item.get("external_contact")
        if contact is not None:
            _object(contact, f"{place}.external_contact")
        entry = ForwardingEntry.read(item)
        if entry is None:
            if (number or contact) and item is settings:
                raise UnreadableAnswerError(f"{place} has a phone number but no id")
            if number or contact:
                _required(item, "id", place)
            continue
        found.append(entry)
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
    raise UnreadableAnswerError(
        f"{at}.{key} is {_kind(value)} {clip(repr(value), 40)}, not a string"
    )


def _required(obj: dict[str, Any], key: str, at: str) -> str:
    """A string field that must be there and not empty (an id, a holiday's name)."""
    value = _text(obj, key, at)
    if not value:
        raise UnreadableAnswerError(f"{at}.{key} is {'empty' if value == '' else 'missing'}")
    return value
