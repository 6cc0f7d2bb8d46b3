"""Before-images: Zoom's GET of an extension as the first read stored it, and lookups on it.

``bulkops.undo`` reads the old values to restore from here; ``READ_PATHS`` says where the GET
shows each call_handling field that a job can write.
"""

from __future__ import annotations

from typing import Any

from ..model import SettingType
from ..zoom.view import same_instant
from .jobrows import Json

#: call_handling write field → where the GET shows it (Zoom's spec; zoom-api.md "GET shape").
READ_PATHS: dict[str, tuple[str, ...]] = {
    "call_not_answer_action": ("routing", "action"),
    "forward_to_extension_id": ("routing", "forward_to", "extension_id"),
    "phone_number": ("routing", "forward_to", "phone_number"),
    "connect_to_operator": ("routing", "connect_to_operator"),
    "operator_extension_id": ("routing", "operator", "extension_id"),
    "allow_callers_check_voicemail": ("routing", "allow_callers_check_voicemail"),
    "voicemail_greeting_id": ("routing", "voicemail_greeting", "id"),
    "voicemail_leaving_instruction_id": ("routing", "voicemail_leaving_instruction", "id"),
    "message_greeting_id": ("routing", "message_greeting", "id"),
    "un_answered_require_press_1_before_connecting": (
        "routing",
        "require_press_1_before_connecting",
    ),
    "busy_on_another_call_action": ("busy_routing", "action"),
    "busy_forward_to_extension_id": ("busy_routing", "forward_to", "extension_id"),
    "busy_phone_number": ("busy_routing", "forward_to", "phone_number"),
    "busy_require_press_1_before_connecting": ("busy_routing", "require_press_1_before_connecting"),
    "greeting_prompt_id": ("greeting_prompt", "id"),
    "music_on_hold_id": ("music_on_hold", "id"),
    "audio_while_connecting_id": ("audio_while_connecting", "id"),
    **{
        k: (k,)
        for k in (
            "ring_mode",
            "max_wait_time",
            "max_call_in_queue",
            "wrap_up_time",
            "receive_call",
            "call_distribution",
        )
    },
}


def get_path(tree: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(tree, dict) or part not in tree:
            return MISSING
        tree = tree[part]
    return tree


MISSING = object()


def section(entries: Any, sub: str) -> Json | None:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("sub_setting_type") == sub:
            settings = entry.get("settings")
            return settings if isinstance(settings, dict) else None
    return None


class Snapshot:
    """The before-image of one extension (Zoom's GET shape) and lookups on it."""

    def __init__(self, body: Json) -> None:
        self.body = body

    def holidays(self) -> list[tuple[str, Json, list[Any]]]:
        out = []
        for item in self.body.get("holiday_hours") or []:
            if isinstance(item, dict) and item.get("holiday_id"):
                details = item.get("details") or []
                out.append((str(item["holiday_id"]), section(details, "holiday") or {}, details))
        return out

    def holiday(self, holiday_id: str | None) -> tuple[Json, list[Any]] | None:
        for hid, span, details in self.holidays():
            if hid == holiday_id:
                return span, details
        return None

    def holiday_by_name(self, name: str | None, from_: str | None) -> str | None:
        found = [
            hid
            for hid, span, _ in self.holidays()
            if span.get("name") == name and (from_ is None or same_instant(span.get("from"), from_))
        ]
        return found[0] if len(found) == 1 else None

    def entries(self, setting: SettingType, holiday_id: str | None) -> list[Any] | None:
        if setting is SettingType.HOLIDAY_HOURS:
            found = self.holiday(holiday_id)
            return None if found is None else found[1]
        value = self.body.get(setting.value)
        return value if isinstance(value, list) else None

    def forwarding(self, setting: SettingType, holiday_id: str | None) -> Json | None:
        return section(self.entries(setting, holiday_id), "call_forwarding")

    def forwarding_item(
        self, setting: SettingType, forwarding_id: str | None
    ) -> tuple[str | None, Json] | None:
        """(holiday id or None, entry) of a forwarding entry anywhere under ``setting``."""
        holidays: list[str | None] = (
            [hid for hid, _, _ in self.holidays()]
            if setting is SettingType.HOLIDAY_HOURS
            else [None]
        )
        for hid in holidays:
            fwd = self.forwarding(setting, hid) or {}
            for item in fwd.get("call_forwarding_settings") or []:
                if isinstance(item, dict) and item.get("id") == forwarding_id:
                    return hid, item
        return None
