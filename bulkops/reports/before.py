"""Before-images: Zoom's GET of an extension as the first read stored it, and lookups on it.

``bulkops.undo`` reads the old values to restore from here, at the read paths
``bulkops.zoom.schema`` gives for each field a job can write.
"""

from __future__ import annotations

from typing import Any

from ..model import SettingType
from ..zoom.match import pick_holiday, zoom_time
from ..zoom.schema import Path
from ..zoom.view import Holiday
from .jobrows import Json


def get_path(tree: Any, path: Path) -> Any:
    for part in path:
        if not isinstance(tree, dict) or part not in tree:
            return MISSING
        tree = tree[part]
    return tree


MISSING = object()


def read_back(settings: Json, paths: tuple[Path, ...]) -> Any:
    """The first value the GET shows at one of ``paths`` (preferred first), else ``MISSING``.

    A null counts as not shown: a PATCH cannot set a field back to "no value".
    """
    for path in paths:
        value = get_path(settings, path)
        if value is not MISSING and value is not None:
            return value
    return MISSING


def span_columns(span: Json) -> dict[str, str | None]:
    """A before-image's holiday as job-row columns, its times written the way Zoom takes them."""
    start, end = zoom_time(_text(span.get("from"))), zoom_time(_text(span.get("to")))
    return {"name": _text(span.get("name")), "from": start, "to": end}


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
        """The holiday a row named, by the run's own rule (``zoom.match``); None if not one."""
        spans = [
            Holiday(
                hid, str(span.get("name") or ""), _text(span.get("from")), _text(span.get("to"))
            )
            for hid, span, _ in self.holidays()
        ]
        return pick_holiday(spans, name, from_).id

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


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
