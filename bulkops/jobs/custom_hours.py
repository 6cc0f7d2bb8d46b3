"""The custom_hours body of business hours: Zoom's JSON as given, or the ``hours`` column in
words (``jobs.hours``) turned into it; weekday 1 is Sunday, and a week that looks counted from
Monday gets a warning."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model import Action, SettingType, SubSettingType
from ..zoom import schema
from .body import objects, row_kind, unknown_keys, unused
from .checks import RowCheck, RowSpec, is_int, show_value
from .hours import HHMM_RE, HoursError, parse_hours, weekday_names

__all__ = ["CUSTOM_HOURS_KEYS", "build_custom_hours"]

_CUSTOM_HOURS = schema.section(SettingType.BUSINESS_HOURS, SubSettingType.CUSTOM_HOURS)
_DAYS = _CUSTOM_HOURS.field(Action.UPDATE, "custom_hours_settings")
CUSTOM_HOURS_KEYS = _CUSTOM_HOURS.names(Action.UPDATE)
_WEEKDAYS = _DAYS.part("weekday").choices
_DAY_TYPES = _DAYS.part("type").choices
_HOURS_TYPES = _CUSTOM_HOURS.field(Action.UPDATE, "type").choices


def build_custom_hours(
    r: RowCheck,
    spec: RowSpec,
    action: Action,
    setting: SettingType,
    flat: Mapping[str, str],
    when: Mapping[str, str],
    settings: dict[str, Any],
) -> None:
    what = row_kind(spec)
    unused(r, flat, {"hours"}, what)
    plain = "hours" in flat
    if plain:
        _plain_hours(r, flat["hours"], settings)
    unknown_keys(r, settings, CUSTOM_HOURS_KEYS, what)
    kind = settings.get("type")
    if kind is None:
        r.error("settings", None, "settings.type is required: 1 (24 hours) or 2 (custom hours)")
    elif not is_int(kind) or kind not in _HOURS_TYPES:
        r.error("settings", f"type={show_value(kind)}", "settings.type must be 1 or 2 (a number)")
    reset = settings.get("allow_members_to_reset")
    if reset is not None and not isinstance(reset, bool):
        r.error("settings", reset, "settings.allow_members_to_reset must be true or false")
    days = settings.get("custom_hours_settings")
    if kind == 2 and days is None:
        r.error("settings", None, "settings.custom_hours_settings is required when type is 2")
    if days is not None:
        _check_days(r, days, monday_first=not plain)
    spec.settings.update(settings)


def _plain_hours(r: RowCheck, text: str, settings: dict[str, Any]) -> None:
    """The ``hours`` column in words becomes Zoom's body, unless ``settings`` gives one too."""
    both = [key for key in ("type", "custom_hours_settings") if key in settings]
    if both:
        r.error(
            "hours",
            text,
            f"give the hours once: the hours column or settings.{both[0]}, not both",
        )
        return
    try:
        settings.update(parse_hours(text).body())
    except HoursError as exc:
        r.error("hours", text, str(exc))
        settings["type"] = 1  # the row has failed; only keeps the body's own checks quiet


def _check_days(r: RowCheck, days: object, *, monday_first: bool) -> None:
    where = "settings.custom_hours_settings"
    expected = "a list of 1–7 weekday objects"
    seen: set[int] = set()
    open_days: set[int] = set()
    for at, day in objects(r, days, where, most=_DAYS.max_items, expected=expected, empty=False):
        weekday: Any = day.get("weekday")
        kind: Any = day.get("type")
        if not is_int(weekday) or weekday not in _WEEKDAYS:
            r.error(
                "settings",
                f"weekday={show_value(weekday)}",
                f"{at}.weekday must be 1–7 (1 = Sunday)",
            )
        elif weekday in seen:
            r.error("settings", f"weekday={weekday}", f"{at}.weekday {weekday} appears twice")
        else:
            seen.add(weekday)
            if kind in (1, 2):
                open_days.add(weekday)
        if not is_int(kind) or kind not in _DAY_TYPES:
            r.error(
                "settings",
                f"type={show_value(kind)}",
                f"{at}.type must be 0 (disabled), 1 (all day) or 2 (custom)",
            )
        if kind == 2:
            start, end = day.get("from"), day.get("to")
            ok = True
            for key, value in (("from", start), ("to", end)):
                if not isinstance(value, str) or not HHMM_RE.fullmatch(value):
                    r.error(
                        "settings",
                        f"{key}={show_value(value)}",
                        f"{at}.{key} must be HH:mm (00:00–23:59)",
                    )
                    ok = False
            if ok and str(start) >= str(end):
                r.error("settings", f"{start}-{end}", f"{at}: from must be before to")
    if monday_first and open_days == {1, 2, 3, 4, 5}:
        # Weekday 1 is Sunday: someone counting from Monday gets Sunday–Thursday, silently.
        r.warn(
            "settings",
            "weekday 1–5",
            f"weekday 1 is Sunday: these hours apply {weekday_names(sorted(open_days))}; "
            "for Mon–Fri use 2–6 or the `hours` column",
        )
