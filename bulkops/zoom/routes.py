"""From an operation to the HTTP request Zoom expects, and back to the extension view.

Kept apart from the engine so that the rules of the API (which id goes where, what a natural key
is) sit in one small place a second route set could replace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import Action, Operation, SettingType, SubSettingType
from . import schema
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

    Without a view (no read was needed) the operation's own ids are used as given.
    """
    holiday_id = op.holiday_id
    forwarding_id = op.call_forwarding_id
    holiday_scoped = op.setting_type is SettingType.HOLIDAY_HOURS
    adds_holiday = op.action is Action.ADD and op.sub_setting_type is SubSettingType.HOLIDAY

    if holiday_scoped and not adds_holiday:
        if holiday_id is None:
            if view is None or op.holiday_name is None:
                return Resolution(problem="no holiday_id and no holiday name to look it up by")
            # For a holiday the row itself updates or deletes, ``to`` is new data, not a key.
            found = view.find_holidays(op.holiday_name, op.holiday_from)
            if not found:
                if op.action is Action.DELETE and op.sub_setting_type is SubSettingType.HOLIDAY:
                    return Resolution(absent=True)
                when = f" starting {op.holiday_from}" if op.holiday_from else ""
                return Resolution(
                    problem=f"no holiday named {op.holiday_name!r}{when} on this extension"
                )
            if len(found) > 1:
                return Resolution(
                    problem=f"{len(found)} holidays are named {op.holiday_name!r} on this "
                    "extension; add `from` (or holiday_id) to the row to say which"
                )
            holiday_id = found[0]
        elif view is not None and not view.has_holiday(holiday_id):
            if op.action is Action.DELETE and op.sub_setting_type is SubSettingType.HOLIDAY:
                return Resolution(holiday_id=holiday_id, absent=True)
            return Resolution(problem=f"holiday {holiday_id} does not exist on this extension")

    if adds_holiday:
        if view is not None and op.holiday_name is not None:
            found = view.find_holidays(op.holiday_name, op.holiday_from, op.holiday_to)
            if found:
                return Resolution(holiday_id=found[0], present=True)
        return Resolution()

    if op.sub_setting_type is SubSettingType.CALL_FORWARDING:
        setting = op.setting_type.value
        if op.action is Action.ADD:
            if view is not None and op.phone_number is not None:
                existing = view.forwarding_id(setting, op.phone_number, holiday_id)
                if existing is not None:
                    return Resolution(holiday_id, existing, present=True)
            return Resolution(holiday_id=holiday_id)
        if forwarding_id is None:
            if view is None or op.phone_number is None:
                return Resolution(
                    problem="no call_forwarding_id and no phone_number to look it up by"
                )
            forwarding_id = view.forwarding_id(setting, op.phone_number, holiday_id)
            if forwarding_id is None:
                if op.action is Action.DELETE:
                    return Resolution(holiday_id=holiday_id, absent=True)
                return Resolution(
                    problem=f"no call forwarding to {op.phone_number} on this extension"
                )
        elif (
            view is not None
            and op.action is Action.DELETE
            and not view.has_forwarding(setting, forwarding_id, holiday_id)
        ):
            return Resolution(holiday_id, forwarding_id, absent=True)
    return Resolution(holiday_id=holiday_id, forwarding_id=forwarding_id)


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
