"""From an operation to the HTTP request Zoom expects, and back to the extension view.

Kept apart from the engine so that the rules of the API (which id goes where, what a natural key
is) sit in one small place a second route set could replace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import Action, Operation, SettingType, SubSettingType
from . import schema
from .match import describe, named
from .view import ExtensionView

# The ids of created items: flat columns of a job file that reach a body only through the
# engine's own logic, and the keys of Zoom's answer to a POST.
_ID_KEYS = tuple(schema.ITEM_ID.values())
#: What a row that names one forwarding entry gives flat: the entry's fields but its id.
_ENTRY_FIELDS = tuple(
    part.name
    for part in schema.section(SettingType.BUSINESS_HOURS, SubSettingType.CALL_FORWARDING)
    .field(Action.UPDATE, schema.FORWARDING_ENTRIES)
    .parts
    if part.name != "id" and part.kind is not schema.Kind.OBJECT
)


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    extension_id: str
    setting_type: str
    body: dict[str, Any] | None
    params: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class Resolution:
    """What the extension's current settings say about an operation before it is sent."""

    holiday_id: str | None = None  # the holiday the operation targets or lives under
    forwarding_id: str | None = None
    present: bool = False  # an add's item (by natural key) is already there
    absent: bool = False  # a delete's item is already gone
    problem: str | None = None  # the operation cannot be sent: why


def resolve(op: Operation, view: ExtensionView | None) -> Resolution:
    """Fill in ids named by natural key and tell whether the operation is already in effect.

    Without a view (no read was needed) the operation's own ids are used as given. Keys match
    by ``zoom.match``'s rule; where it finds more than one candidate, the operation is not sent
    and the problem lists what was found.
    """
    holiday_id = op.holiday_id
    forwarding_id = op.call_forwarding_id
    holiday_scoped = op.setting_type is SettingType.HOLIDAY_HOURS
    sub = op.sub_setting_type
    adds_holiday = op.action is Action.ADD and sub is SubSettingType.HOLIDAY
    deletes_holiday = op.action is Action.DELETE and sub is SubSettingType.HOLIDAY

    if holiday_scoped and not adds_holiday:
        if holiday_id is None:
            if view is None or op.holiday_name is None:
                return Resolution(problem="no holiday_id and no holiday name to look it up by")
            found = _named_holiday(op, view)
            if isinstance(found, Resolution):
                return found
            holiday_id = found
        elif view is not None and not view.has_holiday(holiday_id):
            if deletes_holiday:
                return Resolution(holiday_id=holiday_id, absent=True)
            return Resolution(problem=f"holiday {holiday_id} does not exist on this extension")

    if adds_holiday:
        if view is not None and op.holiday_name is not None:
            pick = view.match_added_holiday(op.holiday_name, op.holiday_from, op.holiday_to)
            if pick.id is not None:
                return Resolution(holiday_id=pick.id, present=True)
            if pick.ambiguous:
                return Resolution(
                    problem=f"not added: a holiday named {op.holiday_name!r} that may be this "
                    f"one, stored differently, is already there: {'; '.join(pick.candidates)}. "
                    "If it is, update it by holiday_id; if not, give this one another name"
                )
        return Resolution()

    if sub is SubSettingType.CALL_FORWARDING:
        setting = op.setting_type.value
        if op.action is Action.ADD:
            if view is not None and op.phone_number is not None:
                existing = view.forwarding_entries(setting, op.phone_number, holiday_id)
                if existing:  # its own entry or an external contact's: either way it is there
                    return Resolution(holiday_id, existing[0].id, present=True)
            return Resolution(holiday_id=holiday_id)
        if forwarding_id is None:
            if view is None or op.phone_number is None:
                return Resolution(
                    problem="no call_forwarding_id and no phone_number to look it up by"
                )
            entries = view.forwarding_entries(setting, op.phone_number, holiday_id)
            if len(entries) > 1:
                listed = "; ".join(e.describe() for e in entries)
                return Resolution(
                    problem=f"{op.phone_number} matches {len(entries)} forwarding entries on "
                    f"this extension: {listed}. Nothing was sent: give call_forwarding_id"
                )
            if not entries:
                if op.action is Action.DELETE:
                    return Resolution(holiday_id=holiday_id, absent=True)
                return Resolution(
                    problem=f"no call forwarding to {op.phone_number} on this extension"
                )
            forwarding_id = entries[0].id
        elif (
            view is not None
            and op.action is Action.DELETE
            and not view.has_forwarding(setting, forwarding_id, holiday_id)
        ):
            return Resolution(holiday_id, forwarding_id, absent=True)
    return Resolution(holiday_id=holiday_id, forwarding_id=forwarding_id)


def _named_holiday(op: Operation, view: ExtensionView) -> str | Resolution:
    """The id of the holiday ``op`` names by name, or the Resolution that says why there is none.

    A row that updates the holiday itself carries its new ``from``: it only chooses among
    same-named holidays. Any other row's ``from`` is a key the holiday must fit.
    """
    name = op.holiday_name or ""
    updates_holiday = op.action is Action.UPDATE and op.sub_setting_type is SubSettingType.HOLIDAY
    when = op.settings.get("from") if updates_holiday else op.holiday_from
    when = when if isinstance(when, str) else None
    pick = view.pick_holiday(name, when, lone=updates_holiday)
    if pick.id is not None:
        return pick.id
    given = f" with from {when}" if when else ""
    if pick.ambiguous:
        return Resolution(
            problem=f"the holiday name {name!r}{given} fits {len(pick.candidates)} holidays on "
            f"this extension: {'; '.join(pick.candidates)}. Nothing was sent: give holiday_id, "
            "or a `from` on the day (or in the year) of the one you mean"
        )
    if op.action is Action.DELETE and op.sub_setting_type is SubSettingType.HOLIDAY:
        return Resolution(absent=True)
    others = [describe(h) for h in named(view.holidays, name)]
    hint = f" (same name, other dates: {'; '.join(others)})" if others else ""
    when_text = f" starting {op.holiday_from}" if op.holiday_from else ""
    return Resolution(problem=f"no holiday named {name!r}{when_text} on this extension{hint}")


def build(op: Operation, res: Resolution) -> Request:
    """The request that carries out ``op`` with the ids of ``res``."""
    setting = op.setting_type.value
    if op.action is Action.DELETE:
        holiday = op.sub_setting_type is SubSettingType.HOLIDAY
        item_id = _need(res.holiday_id if holiday else res.forwarding_id)
        params = {schema.ITEM_ID[op.sub_setting_type]: item_id}
        return Request("DELETE", op.extension_id, setting, None, params)

    settings = {k: v for k, v in op.settings.items() if k not in _ID_KEYS}
    sub = op.sub_setting_type
    if op.setting_type is SettingType.HOLIDAY_HOURS and res.holiday_id is not None:
        # Zoom needs the holiday in the settings of every holiday-hours write but the first add.
        settings[schema.HOLIDAY_ID] = res.holiday_id
    if op.action is Action.UPDATE and sub is SubSettingType.CALL_FORWARDING:
        settings[schema.FORWARDING_ENTRIES] = _forwarding_items(settings, res.forwarding_id)
    body = {"sub_setting_type": sub.value, "settings": settings}
    return Request(op.method, op.extension_id, setting, body, None)


def apply_to_view(
    view: ExtensionView, op: Operation, res: Resolution, created_id: str | None
) -> None:
    """Keep the view current after ``op`` took effect, for the lane's later operations."""
    setting = op.setting_type.value
    sub = op.sub_setting_type
    if sub is SubSettingType.HOLIDAY:
        if op.action is Action.ADD and created_id:
            view.add_holiday(created_id, op.holiday_name or "", op.holiday_from, op.holiday_to)
        elif op.action is Action.DELETE and res.holiday_id:
            view.remove_holiday(res.holiday_id)
        elif op.action is Action.UPDATE and res.holiday_id:
            for h in view.holidays:
                if h.holiday_id == res.holiday_id:
                    h.name = str(op.settings.get("name", h.name))
                    h.from_ = op.settings.get("from", h.from_)
                    h.to = op.settings.get("to", h.to)
    elif sub is SubSettingType.CALL_FORWARDING:
        if op.action is Action.ADD and created_id and op.phone_number:
            view.add_forwarding(setting, op.phone_number, created_id, res.holiday_id)
        elif op.action is Action.DELETE and res.forwarding_id:
            view.remove_forwarding(setting, res.forwarding_id, res.holiday_id)


def _forwarding_items(settings: dict[str, Any], forwarding_id: str | None) -> list[Any]:
    """Zoom's PATCH takes a list of entries by id; a row that named one entry gets its id here."""
    items = settings.get(schema.FORWARDING_ENTRIES)
    if not isinstance(items, list):
        item: dict[str, Any] = {}
        for key in _ENTRY_FIELDS:
            if key in settings:
                item[key] = settings.pop(key)
        items = [item]
    items = [dict(i) if isinstance(i, dict) else i for i in items]
    if items and isinstance(items[0], dict) and not items[0].get("id"):
        items[0]["id"] = _need(forwarding_id)
    return items


def created_id_of(body: Any) -> str | None:
    if isinstance(body, dict):
        for key in _ID_KEYS:
            if body.get(key):
                return str(body[key])
    return None


def _need(value: str | None) -> str:
    if value is None:  # resolve() reports a problem before build() is reached
        raise ValueError("an id the request needs was not resolved")
    return value
