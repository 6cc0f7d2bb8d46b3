"""Row rules: turn one job-file row into a checked, normalised operation template.

Everything here is pure: a row's cells go in, a ``RowSpec`` (or nothing) and the list of
``Problem``s come out. This module knows the job file's columns and checks a row as a whole
(action, setting_type, the extension reference, timezone, flat columns against ``settings``,
sub_setting_type); each cell's format is checked in ``checks`` and the settings body of each
sub_setting_type in ``fields``. Where Zoom's rule depends on the extension's type (call queue vs
user) the check is the union of what Zoom accepts, and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo

from ..errors import Problem
from ..model import ALLOWED, Action, SettingType, SubSettingType
from .checks import (
    ExtensionRef,
    RowCheck,
    RowSpec,
    check_e164,
    check_email,
    check_extension_number,
    check_id,
    did_you_mean,
    has_visible,
    is_naive,
    parse_settings,
    parse_timezone,
    parse_when,
    show_value,
)
from .fields import check_settings
from .intake import echo

_E = TypeVar("_E", bound=StrEnum)

#: Columns whose values may also appear as keys of the ``settings`` JSON object.
FLAT_FIELDS = ("name", "from", "to", "holiday_id", "phone_number", "description")
FLAT_ONLY = ("call_forwarding_id",)
#: The columns that name a row's extensions: a row gives exactly one of them.
REF_COLUMNS = tuple(ref.value for ref in ExtensionRef)
KNOWN_COLUMNS = frozenset(
    {"action", "setting_type", "sub_setting_type", "settings", "timezone", "hours"}
    | set(FLAT_FIELDS)
    | set(FLAT_ONLY)
    | set(REF_COLUMNS)
)

_REF_CHECKS: dict[ExtensionRef, Callable[[str], str | None]] = {
    ExtensionRef.EXTENSION_ID: check_id,
    ExtensionRef.EXTENSION_NUMBER: check_extension_number,
    ExtensionRef.EMAIL: check_email,
}  # a selector is checked against the directory, when the row is expanded


def _choice(r: RowCheck, column: str, value: str, kind: type[_E]) -> _E | None:
    valid = tuple(k.value for k in kind)
    if value in valid:
        return kind(value)
    if not value:
        r.error(column, None, f"is required: one of {', '.join(valid)}")
    else:
        r.error(column, value, f"must be one of {', '.join(valid)}{did_you_mean(value, valid)}")
    return None


#: Columns that make a row about something other than the holiday itself.
_NOT_HOLIDAY = ("phone_number", "call_forwarding_id", "description")


def _implied_sub(
    action: Action | None, setting: SettingType | None, cells: Mapping[str, str], flat: set[str]
) -> SubSettingType | None:
    """The one sub_setting_type a row can mean when it leaves the column empty, else None."""
    if setting is SettingType.BUSINESS_HOURS and cells.get("hours"):
        return SubSettingType.CUSTOM_HOURS
    if (
        setting is SettingType.HOLIDAY_HOURS
        and action in (Action.ADD, Action.UPDATE)
        and flat & {"name", "from", "to", "holiday_id"}
        and not flat & set(_NOT_HOLIDAY)
        and not cells.get("settings", "").strip()
    ):
        return SubSettingType.HOLIDAY
    return None


def check_row(
    cells: Mapping[str, str], *, file: str, row: int, tz: ZoneInfo | None = None
) -> tuple[RowSpec | None, list[Problem]]:
    """Validate one row (``cells``: column → text, "" when empty).

    Returns the spec (None when the row has errors) and every problem found, errors and warnings.
    """
    r = RowCheck(file, row)

    def get(name: str) -> str:
        return cells.get(name, "")

    action = _choice(r, "action", get("action"), Action)
    setting = _choice(r, "setting_type", get("setting_type"), SettingType)

    # The extension reference: exactly one of the four ways to name extensions.
    given = [ref for ref in ExtensionRef if get(ref)]
    # With no single reference the row has failed; the placeholder only lets its settings
    # be checked too, so one pass reports every problem of the row.
    ref, ref_value = ExtensionRef.EXTENSION_ID, ""
    if len(given) != 1:
        shown = None if not given else "; ".join(f"{ref}={get(ref)}" for ref in given)
        r.error(
            given[1].value if len(given) > 1 else ExtensionRef.EXTENSION_ID.value,
            shown,
            "give exactly one target: extension_id, extension_number, email or target "
            "(a selector over the directory such as * or site=London&type=user)",
        )
    else:
        ref, ref_value = given[0], get(given[0])
        checker = _REF_CHECKS.get(ref)
        reason = checker(ref_value) if checker else None
        if reason:
            r.error(ref.value, ref_value, reason)

    # Time zone for naive and date-only values.
    zone, reason = parse_timezone(get("timezone"))
    if reason:
        r.error("timezone", get("timezone"), reason)
    zone = zone or tz

    # Flat columns and the settings object merge; the same key with two values is an error.
    settings, reason = parse_settings(get("settings"))
    if reason:
        r.error("settings", get("settings"), reason)
        settings = {}
    assert settings is not None
    flat: dict[str, str] = {}
    for name in (*FLAT_FIELDS, *FLAT_ONLY):
        cell = get(name)
        if name in settings:
            inner = settings.pop(name)
            if not isinstance(inner, str):
                r.error(
                    "settings", f"{name}={show_value(inner)}", f"settings.{name} must be a string"
                )
                continue
            if cell and inner != cell:
                r.error(
                    name,
                    cell,
                    f"conflicts with settings.{name} = {echo(inner)!r}: give it in one place only",
                )
                continue
            cell = cell or inner
        if cell:
            flat[name] = cell
    if get("hours"):
        flat["hours"] = get("hours")

    if "name" in flat and not has_visible(flat["name"]):
        r.error("name", flat["name"], "has no visible characters: give the holiday a name")
    for name in ("holiday_id", "call_forwarding_id"):
        if name in flat and (reason := check_id(flat[name])):
            r.error(name, flat[name], reason)
    if "phone_number" in flat and (reason := check_e164(flat["phone_number"])):
        r.error("phone_number", flat["phone_number"], reason)
    when: dict[str, str] = {}
    for name in ("from", "to"):
        if name in flat:
            value, reason = parse_when(flat[name], zone, end=name == "to")
            if reason:
                r.error(name, flat[name], reason)
            elif value:
                when[name] = value
    if "from" in when and "to" in when and when["from"] >= when["to"]:
        r.error("to", flat["to"], f"must be after from ({flat['from']})")

    # sub_setting_type, inferred for deletes from the id or name given.
    sub_text = get("sub_setting_type")
    sub: SubSettingType | None
    if not sub_text and action is Action.DELETE:
        if "call_forwarding_id" in flat or "phone_number" in flat:
            sub = SubSettingType.CALL_FORWARDING
        elif "holiday_id" in flat or "name" in flat:
            sub = SubSettingType.HOLIDAY
        else:
            sub = None
            r.error(
                "sub_setting_type",
                None,
                "is required (or give call_forwarding_id/phone_number, or holiday_id/name, "
                "so a delete can tell what it deletes)",
            )
    elif not sub_text and (implied := _implied_sub(action, setting, cells, set(flat))):
        sub = implied
    else:
        sub = _choice(r, "sub_setting_type", sub_text, SubSettingType)

    if action is None or setting is None or sub is None:
        return None, r.problems
    if action not in ALLOWED.get((setting, sub), frozenset()):
        ok = sorted(
            f"{x.value} {st.value}/{sst.value}" for (st, sst), acts in ALLOWED.items() for x in acts
        )
        r.error(
            "sub_setting_type",
            sub.value,
            f"Zoom does not support {action} of {setting}/{sub}; supported: {', '.join(ok)}",
        )
        return None, r.problems

    spec = RowSpec(row, action, setting, sub, {}, ref, ref_value)
    spec.zone = None if zone is None else zone.key
    if zone is None:
        spec.naive = tuple((name, flat[name]) for name in when if is_naive(flat[name]))
    check_settings(r, spec, action, setting, sub, flat, when, settings)
    return (None if r.failed else spec), r.problems
