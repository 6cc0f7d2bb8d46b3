"""What every settings body of a row is checked for, whatever its sub_setting_type: flat
columns it does not use, keys bulkops does not know, and the shape of a list of objects."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .checks import RowCheck, RowSpec

__all__ = ["objects", "row_kind", "unknown_keys", "unused"]


def unused(r: RowCheck, flat: Mapping[str, str], used: set[str], what: str) -> None:
    for name, value in flat.items():
        if name not in used:
            r.error(name, value, f"is not used by {what}: remove it or check the row")


def unknown_keys(
    r: RowCheck, settings: Mapping[str, Any], known: frozenset[str], what: str
) -> None:
    for key in settings:
        if key not in known:
            r.warn("settings", key, f"is not a setting bulkops knows for {what}; sent as given")


def objects(
    r: RowCheck,
    value: object,
    where: str,
    *,
    most: int | None,
    expected: str,
    empty: bool = True,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The objects of a list in ``settings`` with where each stands, after checking its shape."""
    if not isinstance(value, list) or (not value and not empty):
        r.error("settings", value, f"{where} must be {expected}")
        return
    if most is not None and len(value) > most:
        r.error("settings", f"{len(value)} items", f"{where} holds at most {most} items")
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            r.error("settings", item, f"{at} must be an object")
            continue
        yield at, item


def row_kind(spec: RowSpec) -> str:
    """How messages name the kind of row: ``update business_hours/custom_hours``."""
    return f"{spec.action} {spec.setting_type}/{spec.sub_setting_type}"
