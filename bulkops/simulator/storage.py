"""How the account stores a holiday it is given: Zoom does not document it, so it is a choice.

A real account may keep holiday times to the minute or trim names. The simulator can do either
(``SimConfig.holiday_times`` and ``holiday_names``), so that a client that only works when Zoom
echoes its own spelling back fails a test. Validation sees the request as sent; only what is
stored, and so every later GET, changes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from .validation import DATE_TIME

Json = dict[str, Any]


class HolidayTimes(StrEnum):
    """How precisely ``from``/``to`` are kept."""

    SECOND = "second"  # as sent: ``2027-12-25T23:59:59Z``
    MINUTE = "minute"  # seconds dropped: ``2027-12-25T23:59:00Z``, like the seeded holidays


class HolidayNames(StrEnum):
    """How ``name`` is kept."""

    VERBATIM = "verbatim"  # as sent, spaces and all
    TRIMMED = "trimmed"  # outer whitespace removed, inner runs collapsed to one space


def stored_holiday(settings: Json, times: HolidayTimes, names: HolidayNames) -> Json:
    """``settings`` with the holiday fields it holds as the account would store them."""
    out = dict(settings)
    if names is HolidayNames.TRIMMED and isinstance(out.get("name"), str):
        out["name"] = " ".join(out["name"].split())
    if times is HolidayTimes.MINUTE:
        for key in ("from", "to"):
            value = out.get(key)
            if isinstance(value, str) and DATE_TIME.match(value):
                out[key] = value[:17] + "00Z"
    return out
