"""The simulated account's writes: a POST, PATCH or DELETE checked as Zoom checks it, then
applied to the account's state."""

from __future__ import annotations

from collections.abc import Mapping

from ..model import Action
from . import validation as check
from .answers import ZoomError, extension_missing, invalid, not_supported
from .config import SimConfig
from .directory import Extension
from .reply import Reply
from .state import AccountState
from .storage import stored_holiday


def missing(config: SimConfig, extension_id: str) -> ZoomError:
    return extension_missing(extension_id, config.missing_extension_status)


def apply_write(
    state: AccountState,
    config: SimConfig,
    action: Action,
    ext_id: str,
    setting_raw: str,
    raw: bytes,
    query: Mapping[str, str],
) -> Reply:
    """Validate and apply one add, update or delete; ZoomError says what Zoom would refuse."""
    setting = check.setting_type(setting_raw)
    ext = state.extension(ext_id)
    if action is Action.DELETE:
        if ext is None:
            raise missing(config, ext_id)
        return _delete(state, ext, setting.value, query)
    body = check.parse_body(raw)
    if ext is None:
        raise missing(config, ext_id)
    sub, settings = check.target(action, setting, body)
    st, holiday = setting.value, setting.value == "holiday_hours"
    if sub == "holiday":
        check.holiday(settings, adding=action is Action.ADD)
        settings = stored_holiday(settings, config.holiday_times, config.holiday_names)
        if action is Action.ADD:
            return Reply(201, state.add_holiday(ext, settings))
        state.update_holiday(ext, settings)
    elif sub == "call_forwarding":
        if action is Action.ADD:
            check.forwarding_add(settings, under_holiday=holiday)
            return Reply(201, state.add_forwarding(ext, st, settings))
        check.forwarding_update(settings, under_holiday=holiday)
        state.update_forwarding(ext, st, settings)
    elif sub == "custom_hours":
        check.custom_hours(settings)
        state.update_custom_hours(ext, settings)
    else:
        check.call_handling(settings, ext.type, setting)
        state.update_call_handling(ext, st, settings)
    return Reply(204)


def _delete(state: AccountState, ext: Extension, setting: str, query: Mapping[str, str]) -> Reply:
    holiday_id, forwarding_id = query.get("holiday_id"), query.get("call_forwarding_id")
    if (holiday_id is None) == (forwarding_id is None):
        raise invalid("holiday_id", "pass exactly one of holiday_id and call_forwarding_id")
    if holiday_id is not None:
        if setting != "holiday_hours":
            raise not_supported()
        state.delete_holiday(ext, holiday_id)
    else:
        assert forwarding_id is not None
        state.delete_forwarding(ext, setting, forwarding_id)
    return Reply(204)
