"""Plain business hours: the ``hours`` column's grammar, Zoom's ``custom_hours`` body, and words.

    hours := "24/7" | "closed" | part (";" part)*
    part  := days " " when
    days  := range ("," range)*          range := day | day "-" day   (Sun-Thu wraps the week)
    day   := Mon | Tue | Wed | Thu | Fri | Sat | Sun (or the full name, any case)
    when  := HH:mm "-" HH:mm | "closed" | "24h" | "all day"

Days no part names are closed. Zoom numbers weekdays from **1 = Sunday** and holds one
``from``/``to`` span per weekday (the OpenAPI extract's ``custom_hours_settings`` item), so a
lunch break (two spans a day) cannot be written and is refused rather than half-kept. ``closed``
is every weekday disabled (``type`` 2 with seven ``type`` 0 days): ``type`` 1 would be 24 hours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..zoom import schema
from ..zoom.schema import Text

#: Monday-first, as people write weeks; Zoom's number for each is ``ZOOM_WEEKDAY``.
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ZOOM_WEEKDAY = {day: (i + 1) % 7 + 1 for i, day in enumerate(DAYS)}  # Mon → 2 … Sun → 1
_BY_NAME = {**{d.lower(): i for i, d in enumerate(DAYS)}, **{d: i for i, d in enumerate(_FULL)}}
HHMM_RE = re.compile(schema.PATTERNS[Text.HH_MM])  # Zoom's own HH:mm
_LOOSE_TIME_RE = re.compile(r"([0-9]{1,2})[:.h]?([0-9]{2})?")
_SPAN_RE = re.compile(r"(?P<from>[^-–\s]+)\s*[-–]\s*(?P<to>[^-–\s]+)")
ALL_DAY = "all day"

#: One weekday: None (closed), ALL_DAY, or a (from, to) span as HH:mm.
Day = str | tuple[str, str] | None


class HoursError(ValueError):
    """The text is not plain hours; ``str()`` says what to write instead."""


@dataclass(frozen=True, slots=True)
class Hours:
    """A week of business hours, Monday first. ``always`` is Zoom's type 1 (24 hours, 7 days)."""

    days: tuple[Day, ...]
    always: bool = False

    def body(self) -> dict[str, Any]:
        """Zoom's ``custom_hours`` settings for these hours (weekday 1 = Sunday)."""
        if self.always:
            return {"type": 1}
        items: list[dict[str, Any]] = []
        for day, value in sorted(zip(DAYS, self.days, strict=True), key=_zoom_order):
            item: dict[str, Any] = {"weekday": ZOOM_WEEKDAY[day], "type": 0}
            if value == ALL_DAY:
                item["type"] = 1
            elif isinstance(value, tuple):
                item.update(type=2, **{"from": value[0], "to": value[1]})
            items.append(item)
        return {"type": 2, "custom_hours_settings": items}

    def words(self) -> str:
        """``Mon–Fri 08:00–18:00, Sat–Sun closed``: consecutive days with the same hours join."""
        if self.always:
            return "24/7"
        runs: list[tuple[int, int, Day]] = []
        for i, value in enumerate(self.days):
            if runs and runs[-1][2] == value and runs[-1][1] == i - 1:
                runs[-1] = (runs[-1][0], i, value)
            else:
                runs.append((i, i, value))
        if len(runs) == 1 and runs[0][2] is None:
            return "closed every day"
        parts = []
        for first, last, value in runs:
            days = DAYS[first] if first == last else f"{DAYS[first]}–{DAYS[last]}"
            parts.append(f"{days} {_say(value)}")
        return ", ".join(parts)


def _zoom_order(pair: tuple[str, Day]) -> int:
    return ZOOM_WEEKDAY[pair[0]]


def _say(value: Day) -> str:
    if value is None:
        return "closed"
    if isinstance(value, tuple):
        return f"{value[0]}–{value[1]}"
    return value


def parse_hours(text: str) -> Hours:
    """Read the ``hours`` column; raise HoursError saying what to write instead."""
    spec = " ".join(text.split())
    spec = re.sub(r"\s*([,;])\s*", r"\1", re.sub(r"\s*[-–]\s*", "-", spec))
    if not spec:
        raise HoursError("is empty: write e.g. Mon-Fri 08:00-18:00, 24/7 or closed")
    if spec.lower() in ("24/7", "24x7"):
        return Hours((ALL_DAY,) * 7, always=True)
    if spec.lower() == "closed":
        return Hours((None,) * 7)
    days: list[Day] = [None] * 7
    named: set[int] = set()
    for part in (p.strip() for p in spec.split(";")):
        if not part:
            raise HoursError("has an empty part between ';': remove the extra ';'")
        head, _, when = part.partition(" ")
        if not when:
            raise HoursError(f"{part!r} needs days and times, such as Mon-Fri 08:00-18:00")
        value = _when(when.strip())
        for i in _days(head):
            if i in named:
                raise HoursError(f"names {DAYS[i]} twice: give each day once")
            named.add(i)
            days[i] = value
    return Hours(tuple(days))


def _days(text: str) -> list[int]:
    out: list[int] = []
    for item in text.split(","):
        first, dash, last = item.partition("-")
        start = _day(first)
        if not dash:
            out.append(start)
            continue
        end = _day(last)
        # Sun-Thu runs across the end of a Monday-first week, as a Middle East week does.
        out.extend((start + k) % 7 for k in range((end - start) % 7 + 1))
    return out


def _day(text: str) -> int:
    found = _BY_NAME.get(text.strip().lower().rstrip("."))
    if found is None:
        raise HoursError(
            f"{text.strip()!r} is not a day: write Mon, Tue, Wed, Thu, Fri, Sat or Sun "
            "(ranges such as Mon-Fri, lists such as Sat,Sun)"
        )
    return found


def _when(text: str) -> Day:
    low = text.lower()
    if low == "closed":
        return None
    if low in ("24h", ALL_DAY, "all-day"):
        return ALL_DAY
    if "," in text:
        raise HoursError(
            f"{text!r} has a break: Zoom's custom hours hold one from-to span per weekday, so "
            "a day with two spans cannot be set; give one span such as 08:00-17:00"
        )
    m = _SPAN_RE.fullmatch(text)
    if m is None:
        raise HoursError(f"{text!r} is not a span: write HH:mm-HH:mm such as 08:00-18:00")
    start, end = _time(m["from"]), _time(m["to"])
    if start >= end:
        raise HoursError(
            f"{text!r} ends before it starts: Zoom's hours cannot pass midnight; "
            "write e.g. 08:00-18:00"
        )
    return (start, end)


def _time(text: str) -> str:
    if HHMM_RE.fullmatch(text):
        return text
    loose = _LOOSE_TIME_RE.fullmatch(text)
    if loose and int(loose[1]) < 24 and int(loose[2] or 0) < 60:
        fixed = f"{int(loose[1]):02d}:{loose[2] or '00'}"
        raise HoursError(f"{text!r} is not HH:mm: write {fixed}")
    if text in ("24:00", "24"):
        raise HoursError("24:00 is not a time Zoom takes: write 23:59, or 'all day'")
    raise HoursError(f"{text!r} is not a time: write HH:mm from 00:00 to 23:59")


def from_body(body: Mapping[str, Any]) -> Hours | None:
    """The hours a checked ``custom_hours`` body sets, or None when it sets none (type absent)."""
    if body.get("type") == 1:
        return Hours((ALL_DAY,) * 7, always=True)
    items = body.get("custom_hours_settings")
    if body.get("type") != 2 or not isinstance(items, Sequence):
        return None
    by_zoom = {n: d for d, n in ZOOM_WEEKDAY.items()}
    days: list[Day] = [None] * 7
    for item in items:
        if not isinstance(item, Mapping) or item.get("weekday") not in by_zoom:
            return None
        i = DAYS.index(by_zoom[item["weekday"]])
        if item.get("type") == 1:
            days[i] = ALL_DAY
        elif item.get("type") == 2:
            days[i] = (str(item.get("from")), str(item.get("to")))
    return Hours(tuple(days))


def weekday_names(numbers: Sequence[int]) -> str:
    """Zoom weekday numbers as day names in words: ``[1, 2, 3, 4, 5]`` → ``Sun–Thu``."""
    by_zoom = {n: d for d, n in ZOOM_WEEKDAY.items()}
    ordered = sorted(numbers)
    if ordered and ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
        return f"{by_zoom[ordered[0]]}–{by_zoom[ordered[-1]]}"
    return ", ".join(by_zoom[n] for n in ordered)
