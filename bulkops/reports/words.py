"""A setting in words, for the before → after columns: holidays, spans, forwarding entries,
hours and call-handling values as an admin reads them (``reports.changes`` puts them together).

``NOTHING`` stands for "no such item", ``UNKNOWN`` for "no before-image to tell".
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

import orjson

from ..jobs.hours import from_body
from ..zoom.match import ForwardingEntry, instant
from .jobrows import Json

__all__ = [
    "NOTHING",
    "UNKNOWN",
    "entry_words",
    "holiday_words",
    "hours_words",
    "span_words",
    "value_words",
]

NOTHING = "—"
UNKNOWN = "unknown (not read before the write)"


@functools.lru_cache(maxsize=4096)  # a rollout repeats the same few spans on every extension
def span_words(from_: str | None, to: str | None) -> str:
    """``2027-12-25``, ``2027-12-24 – 2027-12-26`` (whole days) or times to the minute, in UTC."""
    start, end = instant(from_), instant(to)
    if start is None or end is None:
        return f"{from_ or '?'} – {to or '?'}"
    days = _whole_days(start, end)
    if days is not None:
        return days
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"


def _whole_days(start: datetime, end: datetime) -> str | None:
    """Whole days from a local midnight (a date-only row in its zone): the local dates, and the
    zone's offset unless it is UTC; None for any other span."""
    after = end.replace(second=0) + timedelta(minutes=1)
    if start.second or after <= start or (after - start) % timedelta(days=1):
        return None
    offset = -timedelta(hours=start.hour, minutes=start.minute)
    if offset < -timedelta(hours=12):
        offset += timedelta(days=1)  # a zone east of UTC: its midnight falls the day before
    first, last = (start + offset).date(), (end + offset).date()
    words = first.isoformat() if first == last else f"{first} – {last}"
    if not offset:
        return words
    sign, size = ("+" if offset > timedelta(0) else "−"), abs(offset)
    hours, minutes = divmod(int(size.total_seconds()) // 60, 60)
    return f"{words} (UTC{sign}{hours:02d}:{minutes:02d})"


def holiday_words(name: str | None, from_: str | None, to: str | None) -> str:
    return f"{name or '?'}: {span_words(from_, to)}"


def entry_words(item: Json) -> str:
    """One forwarding entry: ``forward to +14155550100 'Desk'`` (a contact, or only a Zoom app's
    description), ``(off)`` when disabled. Never a bare ``+…``, which a spreadsheet would run."""
    entry = ForwardingEntry.read({"id": "-", **item})
    if entry is not None and entry.is_contact and not entry.phone_number:
        what = entry.describe().rsplit(" (call_forwarding_id", 1)[0]
    else:
        number = item.get("phone_number")
        what = f"forward to {number}" if number else ""
        if item.get("description"):
            what = f"{what} {item['description']!r}".strip()
    if item.get("enable") is False:
        what += " (off)"
    return what or "?"


def hours_words(settings: Json | None) -> str:
    hours = from_body(settings or {})
    return UNKNOWN if hours is None else hours.words()


def value_words(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
