"""The one rule for finding what a job row names among what Zoom stores.

Zoom does not document how it stores holidays: it may keep times to the minute, write them in
another zone form, trim names. A client that compares exactly would call a holiday "absent" that
is there and post it twice. So everything here compares tolerantly, and when tolerance leaves
more than one candidate it says so instead of guessing: the caller then sends nothing.

- **Holiday names** compare trimmed, with inner whitespace collapsed and case folded.
- **Holiday times** compare as UTC instants truncated to the minute.
- **An add** is already there when a same-named holiday starts and ends in the same minutes. A
  same-named holiday that overlaps it but differs is ambiguous (it may be this one, stored
  differently): the add is not sent.
- **A holiday named by an update, a delete or a holiday-hours row**: among the same-named, the
  one whose ``from`` falls in the same minute as the row's, else on the same UTC day, else in the
  same UTC year. Two at the finest level that has any are ambiguous. An update names the new
  ``from``, so it is only used to choose between several; a lone same-named holiday is the one.
- **Forwarding entries** are found by phone number, written as ``+`` and digits: the entry's own
  number or one of its external contact's numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from ..model import SubSettingType
from .schema import ITEM_ID

_ID = ITEM_ID[SubSettingType.CALL_FORWARDING]
_NOT_DIGIT = re.compile(r"\D")


class HolidayLike(Protocol):
    """What matching reads of a holiday (``view.Holiday`` and the undo snapshot's alike)."""

    @property
    def holiday_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def from_(self) -> str | None: ...
    @property
    def to(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Pick:
    """The outcome of a lookup: one id, or the candidates that made it ambiguous, or nothing."""

    id: str | None = None
    candidates: tuple[str, ...] = ()  # readable descriptions, ids included

    @property
    def ambiguous(self) -> bool:
        return bool(self.candidates)


# -- normalising ----------------------------------------------------------------------------


def name_key(name: str | None) -> str:
    """A holiday name as compared: trimmed, inner whitespace collapsed, case-folded."""
    return " ".join((name or "").split()).casefold()


def instant(value: str | None) -> datetime | None:
    """A Zoom date-time as a UTC instant to the second; None if absent or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=0)


def minute(value: str | None) -> datetime | None:
    """A Zoom date-time as a UTC instant truncated to the minute; None if absent or unreadable."""
    at = instant(value)
    return None if at is None else at.replace(second=0)


def zoom_time(value: str | None) -> str | None:
    """A date-time read back from Zoom, written the way Zoom takes it (unreadable: as it was)."""
    at = instant(value)
    return value if at is None else at.strftime("%Y-%m-%dT%H:%M:%SZ")


def same_minute(a: str | None, b: str | None) -> bool:
    """Whether two Zoom date-times fall in the same UTC minute (unreadable ones: same text)."""
    ma, mb = minute(a), minute(b)
    if ma is None or mb is None:
        return (a or "").strip() == (b or "").strip()
    return ma == mb


def phone_key(number: str | None) -> str:
    """A phone number as compared: ``+`` and its digits (Zoom may format what it returns)."""
    digits = _NOT_DIGIT.sub("", number or "")
    return f"+{digits}" if digits else ""


# -- holidays -------------------------------------------------------------------------------


def describe(h: HolidayLike) -> str:
    return f"{h.name!r} {h.from_ or '?'} to {h.to or '?'} (holiday_id {h.holiday_id})"


def named(holidays: Iterable[HolidayLike], name: str | None) -> list[HolidayLike]:
    key = name_key(name)
    return [h for h in holidays if name_key(h.name) == key]


#: How close a holiday's ``from`` must be to the row's, finest first.
_LEVELS: tuple[Callable[[datetime], datetime | date | int], ...] = (
    lambda t: t,
    lambda t: t.date(),
    lambda t: t.year,
)


def pick_holiday(
    holidays: Iterable[HolidayLike], name: str | None, when: str | None, *, lone: bool = False
) -> Pick:
    """The holiday a row names by ``name`` (and ``when``, the row's ``from``).

    ``lone``: ``when`` is new data (an update), used only to choose among several; a single
    same-named holiday is then the one whatever its date. Otherwise ``when`` must fit.
    """
    found = named(holidays, name)
    at = minute(when)
    if not found or (lone and len(found) == 1) or at is None:
        if len(found) == 1:
            return Pick(found[0].holiday_id)
        return _ambiguous(found)
    for level in _LEVELS:
        key = level(at)
        hits = [h for h in found if (t := minute(h.from_)) is not None and level(t) == key]
        if len(hits) == 1:
            return Pick(hits[0].holiday_id)
        if hits:
            return _ambiguous(hits)
    return _ambiguous(found) if lone else Pick()


def match_added(
    holidays: Iterable[HolidayLike], name: str | None, from_: str | None, to: str | None
) -> Pick:
    """Is the holiday an add would create already there? Its id, the look-alikes, or nothing."""
    found = named(holidays, name)
    same = [
        h for h in found if same_minute(h.from_, from_) and (to is None or same_minute(h.to, to))
    ]
    if same:
        return Pick(same[0].holiday_id)
    return _ambiguous([h for h in found if _overlaps(h, from_, to)])


def _overlaps(h: HolidayLike, from_: str | None, to: str | None) -> bool:
    a0, b0 = minute(h.from_), minute(from_)
    if a0 is None or b0 is None:
        return True  # cannot tell: treat it as possibly the same holiday
    a1, b1 = minute(h.to) or a0, minute(to) or b0
    return a0 <= b1 and b0 <= a1


def _ambiguous(found: Sequence[HolidayLike]) -> Pick:
    return Pick(candidates=tuple(describe(h) for h in found))


# -- forwarding entries ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ForwardingEntry:
    """One entry of a ``call_forwarding_settings`` list as the GET shows it.

    An external number has ``phone_number``; an external contact has ``contact_id`` and the
    contact's numbers; Zoom's own app entries ("Zoom Mobile Apps" …) have only a description.
    """

    id: str
    phone_number: str | None = None
    description: str | None = None
    contact_id: str | None = None
    contact_name: str | None = None
    contact_numbers: tuple[str, ...] = ()

    @classmethod
    def read(cls, item: Any) -> ForwardingEntry | None:
        """The entry of one GET list item (or of a flat settings object); None without an id."""
        if not isinstance(item, dict):
            return None
        entry_id = item.get("id") or item.get(_ID)
        if not entry_id:
            return None
        contact = item.get("external_contact")
        contact = contact if isinstance(contact, dict) else {}
        numbers = contact.get("phone_numbers")
        return cls(
            id=str(entry_id),
            phone_number=_text(item.get("phone_number")),
            description=_text(item.get("description")),
            contact_id=_text(contact.get("external_contact_id")),
            contact_name=_text(contact.get("name")),
            contact_numbers=tuple(
                str(n) for n in (numbers if isinstance(numbers, list) else []) if n
            ),
        )

    @property
    def is_contact(self) -> bool:
        return self.contact_id is not None or bool(self.contact_numbers)

    @property
    def numbers(self) -> frozenset[str]:
        """Every number that reaches this entry, as ``phone_key`` writes them."""
        keys = {phone_key(n) for n in (self.phone_number, *self.contact_numbers)}
        return frozenset(k for k in keys if k)

    def describe(self) -> str:
        if self.phone_number:
            what = self.phone_number
        elif self.is_contact:
            numbers = ", ".join(self.contact_numbers)
            what = f"external contact {self.contact_name or self.contact_id or '?'} ({numbers})"
        else:
            what = repr(self.description or "Zoom app entry")
        return f"{what} (call_forwarding_id {self.id})"


def forwarding_matches(entries: Iterable[ForwardingEntry], phone: str) -> list[ForwardingEntry]:
    key = phone_key(phone)
    return [e for e in entries if key and key in e.numbers]


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
