"""The account's extensions and their call-handling settings, kept in Zoom's GET shape.

Each extension's settings are stored exactly as ``GET …/call_handling/settings`` answers them,
so a read serialises the stored object without building or copying anything. Writes translate
the write vocabulary into the read one (``call_not_answer_action`` → ``routing.action``,
``forward_to_extension_id`` → ``routing.forward_to.extension_id``, …). Server ids come from a
counter hashed with the seed, so a run is reproducible and a restored state keeps counting.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import orjson

from .answers import (
    FORWARDING_FEATURE_OFF,
    ZoomError,
    forwarding_missing,
    holiday_missing,
    invalid,
    not_supported,
    too_many,
)
from .directory import Extension, ExtensionType, hashed_id
from .shown import hidden_in, paths_in
from .validation import MAX_FORWARDING, holiday_span

Json = dict[str, Any]
ZOOM_APPS = ("Zoom Mobile Apps", "Zoom Desktop Apps", "Zoom Phone Appliance Apps")
STATE_VERSION = 1

#: Write field → path of the same value in the GET answer (call_handling sub-setting).
READ_PATHS: dict[str, tuple[str, ...]] = {
    "call_not_answer_action": ("routing", "action"),
    "forward_to_extension_id": ("routing", "forward_to", "extension_id"),
    "phone_number": ("routing", "forward_to", "phone_number"),
    "description": ("routing", "forward_to", "description"),
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
    "overflow_play_callee_voicemail_greeting": (
        "routing",
        "overflow_play_callee_voicemail_greeting",
    ),
    "play_callee_voicemail_greeting": ("routing", "play_callee_voicemail_greeting"),
    "forward_to_zcc_phone_number": ("routing", "forward_to", "zcc_phone_number"),
    "forward_to_partner_contact_center_id": ("routing", "forward_to", "partner_contact_center_id"),
    "forward_to_teams_id": ("routing", "forward_to", "teams_app_id"),
    "busy_on_another_call_action": ("busy_routing", "action"),
    "busy_forward_to_extension_id": ("busy_routing", "forward_to", "extension_id"),
    "busy_phone_number": ("busy_routing", "forward_to", "phone_number"),
    "busy_description": ("busy_routing", "forward_to", "description"),
    "busy_require_press_1_before_connecting": ("busy_routing", "require_press_1_before_connecting"),
    "busy_play_callee_voicemail_greeting": ("busy_routing", "busy_play_callee_voicemail_greeting"),
    "greeting_prompt_id": ("greeting_prompt", "id"),
    "music_on_hold_id": ("music_on_hold", "id"),
    "audio_while_connecting_id": ("audio_while_connecting", "id"),
}
_SAME_NAME = frozenset(
    {
        "ring_mode",
        "max_wait_time",
        "max_call_in_queue",
        "wrap_up_time",
        "receive_call",
        "allow_members_to_reset",
    }
)
#: Describe the number a forward_to holds: written after a new target replaced the object.
_DESCRIPTIONS = frozenset({"description", "busy_description"})
_TARGETS = {"forward_to_extension_id", "busy_forward_to_extension_id", "operator_extension_id"}
_TARGET_TYPES = {
    "forward_to": frozenset({"user", "autoReceptionist", "callQueue", "commonArea"}),
    "operator": frozenset({"user", "commonArea", "sharedLineGroup", "callQueue"}),
}
_SITE_HOLIDAYS = {
    "New York": ("Independence Day", "2026-07-04"),
    "London": ("Boxing Day", "2026-12-26"),
    "Berlin": ("Tag der Deutschen Einheit", "2026-10-03"),
}


def section(entries: list[Json], sub: str) -> Json | None:
    """The ``settings`` of the entry with this ``sub_setting_type`` in a GET-shape list."""
    for entry in entries:
        if entry["sub_setting_type"] == sub:
            settings: Json = entry["settings"]
            return settings
    return None


class AccountState:
    """Extensions by id and their settings; all mutation goes through the methods below."""

    def __init__(
        self, extensions: list[Extension], seed: int, settings: dict[str, Json] | None = None
    ) -> None:
        self.seed = seed
        self.id_counter = 0
        self.extensions = {e.extension_id: e for e in extensions}
        self.settings: dict[str, Json] = {}
        if settings is None:
            for ext in extensions:
                self.settings[ext.extension_id] = self._initial(ext)
        else:
            self.settings = settings

    # ---- ids and initial values -------------------------------------------------------------
    def new_id(self) -> str:
        self.id_counter += 1
        return hashed_id(f"{self.seed}:{self.id_counter}")

    def _zoom_apps(self) -> Json:
        entries = [{"id": self.new_id(), "description": d, "enable": True} for d in ZOOM_APPS]
        return {"require_press_1_before_connecting": False, "call_forwarding_settings": entries}

    def _initial(self, ext: Extension) -> Json:
        rng = random.Random(f"{self.seed}:{ext.extension_id}")
        days = [
            {"weekday": d, "type": 2, "from": "09:00", "to": "17:00"}
            if 2 <= d <= 6
            else {"weekday": d, "type": 0}
            for d in range(1, 8)
        ]
        hours: Json = {"type": 2, "custom_hours_settings": days}
        if ext.type is ExtensionType.CALL_QUEUE:
            hours["allow_members_to_reset"] = False
        business = [{"sub_setting_type": "custom_hours", "settings": hours}]
        business.append({"sub_setting_type": "call_handling", "settings": self._handling(ext)})
        closed = [{"sub_setting_type": "call_handling", "settings": self._handling(ext, True)}]
        if ext.type is ExtensionType.USER:
            business.append({"sub_setting_type": "call_forwarding", "settings": self._zoom_apps()})
            closed.append({"sub_setting_type": "call_forwarding", "settings": self._zoom_apps()})
        holidays = []
        if ext.site in _SITE_HOLIDAYS and rng.random() < 0.5:
            name, day = _SITE_HOLIDAYS[ext.site]
            span = {"name": name, "from": f"{day}T00:00:00Z", "to": f"{day}T23:59:00Z"}
            holidays.append(self._holiday(ext, span))
        return {"business_hours": business, "closed_hours": closed, "holiday_hours": holidays}

    def _handling(self, ext: Extension, closed: bool = False) -> Json:
        if ext.type is ExtensionType.CALL_QUEUE and not closed:
            return {
                "call_distribution": {
                    "handle_multiple_calls": False,
                    "ring_duration": 30,
                    "ring_mode": "simultaneous",
                    "skip_offline_device_phone_number": False,
                },
                "max_call_in_queue": 20,
                "max_wait_time": 300,
                "wrap_up_time": 30,
                "receive_call": True,
                "routing": {"action": 1},
            }
        if ext.type is ExtensionType.AUTO_RECEPTIONIST:
            return {"routing": {"action": 14}}
        out: Json = {"ring_mode": "simultaneous", "max_wait_time": 30, "routing": {"action": 1}}
        if ext.type is ExtensionType.USER:
            out["busy_routing"] = {"action": 21}
        return out

    def _holiday(self, ext: Extension, span: Json) -> Json:
        details = [
            {"sub_setting_type": "holiday", "settings": span},
            {"sub_setting_type": "call_handling", "settings": {"routing": {"action": 1}}},
        ]
        if ext.type is ExtensionType.USER:
            details.append({"sub_setting_type": "call_forwarding", "settings": self._zoom_apps()})
        return {"holiday_id": self.new_id(), "details": details}

    # ---- lookups ----------------------------------------------------------------------------
    def extension(self, extension_id: str) -> Extension | None:
        return self.extensions.get(extension_id)

    def holiday(self, extension_id: str, holiday_id: Any) -> Json:
        for entry in self.settings[extension_id]["holiday_hours"]:
            if entry["holiday_id"] == holiday_id:
                found: Json = entry
                return found
        raise holiday_missing()

    def _lists(self, ext_id: str, setting: str, holiday_id: str | None) -> list[list[Json]]:
        """The GET-shape lists a sub-setting of ``setting`` may live in."""
        tree = self.settings[ext_id]
        if setting != "holiday_hours":
            return [tree[setting]]
        if holiday_id is not None:
            return [self.holiday(ext_id, holiday_id)["details"]]
        return [h["details"] for h in tree["holiday_hours"]]

    def _forwarding(self, ext: Extension, setting: str, holiday_id: str | None) -> Json:
        fwd = section(self._lists(ext.extension_id, setting, holiday_id)[0], "call_forwarding")
        if fwd is None:
            raise not_supported()
        return fwd

    # ---- writes (already validated by validation.py) ------------------------------------------
    def add_holiday(self, ext: Extension, settings: Json) -> Json:
        holiday_span(settings["from"], settings["to"])
        span = {"name": settings["name"], "from": settings["from"], "to": settings["to"]}
        entry = self._holiday(ext, span)
        self.settings[ext.extension_id]["holiday_hours"].append(entry)
        return {"holiday_id": entry["holiday_id"]}

    def update_holiday(self, ext: Extension, settings: Json) -> None:
        span = section(self.holiday(ext.extension_id, settings["holiday_id"])["details"], "holiday")
        assert span is not None
        merged: dict[str, Any] = {k: settings.get(k, span[k]) for k in ("name", "from", "to")}
        holiday_span(merged["from"], merged["to"])
        span.update(merged)

    def add_forwarding(self, ext: Extension, setting: str, settings: Json) -> Json:
        if ext.type is not ExtensionType.USER:
            raise ZoomError(400, 400, FORWARDING_FEATURE_OFF)
        fwd = self._forwarding(ext, setting, settings.get("holiday_id"))
        entries: list[Json] = fwd["call_forwarding_settings"]
        if sum(1 for e in entries if "phone_number" in e) >= MAX_FORWARDING:
            raise too_many("call_forwarding_settings", MAX_FORWARDING)
        entry = {
            "id": self.new_id(),
            "description": settings.get("description", ""),
            "enable": True,
            "phone_number": settings["phone_number"],
        }
        entries.append(entry)
        return {"call_forwarding_id": entry["id"]}

    def update_forwarding(self, ext: Extension, setting: str, settings: Json) -> None:
        fwd = self._forwarding(ext, setting, settings.get("holiday_id"))
        by_id = {e["id"]: e for e in fwd["call_forwarding_settings"]}
        items = settings.get("call_forwarding_settings", [])
        for item in items:  # check everything before changing anything
            entry = by_id.get(item["id"])
            if entry is None:
                raise forwarding_missing(item["id"])
            if "phone_number" not in entry and ({"phone_number", "description"} & item.keys()):
                raise not_supported()  # Zoom's own entries can only be toggled
        for item in items:
            entry = by_id[item["id"]]
            for key in ("enable", "description", "phone_number"):
                if key in item:
                    entry[key] = item[key]
            if "external_contact" in item:
                entry["external_contact"] = dict(item["external_contact"])
        if "require_press_1_before_connecting" in settings:
            fwd["require_press_1_before_connecting"] = settings["require_press_1_before_connecting"]

    def update_custom_hours(self, ext: Extension, settings: Json) -> None:
        hours = section(self.settings[ext.extension_id]["business_hours"], "custom_hours")
        assert hours is not None
        if "type" in settings:
            hours["type"] = settings["type"]
        if "allow_members_to_reset" in settings:
            hours["allow_members_to_reset"] = settings["allow_members_to_reset"]
        days = {d["weekday"]: d for d in hours.get("custom_hours_settings", [])}
        for item in settings.get("custom_hours_settings", []):
            weekday = item["weekday"]
            day = {**days.get(weekday, {"weekday": weekday})}
            day.update({k: item[k] for k in ("type", "from", "to") if k in item})
            if day.get("type") != 2:
                day.pop("from", None)
                day.pop("to", None)
            days[weekday] = day
        hours["custom_hours_settings"] = [days[d] for d in sorted(days)]

    def update_call_handling(self, ext: Extension, setting: str, settings: Json) -> None:
        lists = self._lists(ext.extension_id, setting, settings.get("holiday_id"))
        handling = section(lists[0], "call_handling")
        assert handling is not None
        for key in _TARGETS & settings.keys():
            if settings[key] not in self.extensions:
                raise invalid(f"settings.{key}", f"no such extension: {settings[key]}")
        hidden, paths = hidden_in(setting), paths_in(setting, READ_PATHS)
        for key, value in sorted(settings.items(), key=lambda item: item[0] in _DESCRIPTIONS):
            if key in hidden:
                continue  # accepted, as Zoom takes one body for every setting type; not shown
            if key in _SAME_NAME:
                handling[key] = value
            elif key == "call_distribution":
                handling[key] = {**handling.get(key, {}), **value}
            elif key in paths:
                self._put(handling, paths[key], value)

    def _put(self, handling: Json, path: tuple[str, ...], value: Any) -> None:
        parent = handling
        for part in path[:-2]:
            parent = parent.setdefault(part, {})
        key, leaf = path[-2], path[-1]
        if len(path) == 3 and leaf in ("extension_id", "phone_number"):
            # A new target replaces the whole forward_to/operator object, as Zoom's read shows.
            target: Json = {leaf: value}
            other = self.extensions.get(value) if leaf == "extension_id" else None
            if other is not None:
                target.update(
                    id=other.extension_id,
                    display_name=other.name,
                    extension_number=other.extension_number,
                )
                if other.type.zoom_name in _TARGET_TYPES[key]:  # the spec's enums, as documented
                    target["extension_type"] = other.type.zoom_name
            parent[key] = target
            return
        parent.setdefault(key, {})[leaf] = value

    def delete_holiday(self, ext: Extension, holiday_id: str) -> None:
        holidays = self.settings[ext.extension_id]["holiday_hours"]
        entry = self.holiday(ext.extension_id, holiday_id)
        holidays.remove(entry)

    def delete_forwarding(self, ext: Extension, setting: str, forwarding_id: str) -> None:
        for entries in self._lists(ext.extension_id, setting, None):
            fwd = section(entries, "call_forwarding")
            items = [] if fwd is None else fwd["call_forwarding_settings"]
            for i, entry in enumerate(items):
                if entry["id"] == forwarding_id:
                    if "phone_number" not in entry:
                        raise not_supported()  # Zoom's own entries cannot be deleted
                    del items[i]
                    return
        raise forwarding_missing(forwarding_id)

    # ---- persistence ------------------------------------------------------------------------
    def to_json(self) -> Json:
        return {
            "version": STATE_VERSION,
            "seed": self.seed,
            "id_counter": self.id_counter,
            "extensions": [
                {
                    "extension_id": e.extension_id,
                    "extension_number": e.extension_number,
                    "name": e.name,
                    "email": e.email,
                    "type": e.type.value,
                    "site": e.site,
                    "country": e.country,
                    "subdivision": e.subdivision,
                }
                for e in self.extensions.values()
            ],
            "settings": self.settings,
        }

    @classmethod
    def from_json(cls, data: Json) -> AccountState:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported simulator state version {data.get('version')!r}")
        exts = [
            Extension(
                e["extension_id"],
                int(e["extension_number"]),
                e["name"],
                e["email"],
                ExtensionType(e["type"]),
                e["site"],
                e.get("country", ""),  # states saved before sites had countries
                e.get("subdivision", ""),
            )
            for e in data["extensions"]
        ]
        state = cls(exts, int(data["seed"]), settings=data["settings"])
        state.id_counter = int(data["id_counter"])
        return state

    def save(self, path: Path) -> None:
        """Write atomically: a crash leaves either the old file or the new one."""
        payload = orjson.dumps(self.to_json())
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> AccountState:
        return cls.from_json(orjson.loads(path.read_bytes()))
