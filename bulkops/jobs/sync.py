"""Sync jobs: a job's rows as the whole truth for one scope of each extension it names.

``bulkops run JOB --sync holiday_hours --window 2027-01-01..2027-12-31`` converges every named
extension's holidays that start in the window on the job's holiday rows; ``--sync
call_forwarding`` converges the forwarding lists the job's rows name on their numbers. This
module is the pure half: the flags (:func:`parse_window`, :class:`SyncSpec`), the check of the
rows (:func:`check_rows`) and the convergence of one extension (:func:`converge`), from its
desired add rows and its current :class:`~bulkops.zoom.view.ExtensionView` to the adds, updates
and deletes that make the two agree. Reading Zoom and recording the result is
``run.sync``'s; the engine carries the operations out like any others.

The window holds the days from its first to its last, both included, counted in the zone the
job's rows of that extension were read in: ``--timezone`` when given, else the extension's own
zone from the directory (``jobs.zones``), else UTC. A Berlin extension's 2027 window so starts
at midnight in Berlin, as its date-only rows do. A holiday is in the window when its ``from``
instant is; a holiday whose ``from`` cannot be read is outside it, since a sync never deletes
what it cannot place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ConfigError, Problem
from ..model import Action, Operation, SettingType, SubSettingType
from ..zoom.match import ForwardingEntry, instant, minute, name_key, phone_key, same_minute
from ..zoom.view import ExtensionView, Holiday
from .checks import DEFAULT_ZONE, ZONE_COLUMN

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SyncScope",
    "SyncSpec",
    "Window",
    "check_rows",
    "converge",
    "extension_zones",
    "parse_window",
]

WINDOW_SEPARATOR = ".."


class SyncScope(StrEnum):
    """What a sync job's rows are the whole truth for."""

    HOLIDAY_HOURS = "holiday_hours"  # the holidays that start in the window
    CALL_FORWARDING = "call_forwarding"  # each forwarding list the rows name, by number

    @property
    def item(self) -> SubSettingType:
        """The sub-setting a sync row of this scope adds."""
        if self is SyncScope.HOLIDAY_HOURS:
            return SubSettingType.HOLIDAY
        return SubSettingType.CALL_FORWARDING


@dataclass(frozen=True, slots=True)
class Window:
    """The days ``first`` to ``last``, both included, as the zone ``zone`` counts them; no
    ``zone`` (no ``--timezone``): each extension's, given by :meth:`in_zone` (UTC until then)."""

    first: date
    last: date
    zone: str | None = None

    def in_zone(self, zone: str) -> Window:
        """The window as an extension in ``zone`` counts it (a ``--timezone`` window stays)."""
        return self if self.zone is not None else replace(self, zone=zone)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), self._tz).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the window."""
        after = self.last + timedelta(days=1)
        return datetime.combine(after, time(), self._tz).astimezone(UTC)

    @property
    def _tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone or DEFAULT_ZONE)

    def holds(self, when: str | None) -> bool:
        """Whether the Zoom date-time ``when`` falls in the window (unreadable: no)."""
        at = instant(when)
        return at is not None and self.start <= at < self.end

    def __str__(self) -> str:
        zone = self.zone or "each extension's zone"
        return f"{self.first.isoformat()}{WINDOW_SEPARATOR}{self.last.isoformat()} ({zone})"


def parse_window(text: str, zone: str | None = None) -> Window:
    """``2027-01-01..2027-12-31`` in ``zone`` (default: each extension's); ConfigError saying
    what to write."""
    example = f"write it as FIRST{WINDOW_SEPARATOR}LAST, e.g. 2027-01-01..2027-12-31"
    first_text, sep, last_text = text.strip().partition(WINDOW_SEPARATOR)
    if not sep:
        raise ConfigError(f"--window {text!r} has no {WINDOW_SEPARATOR!r}: {example}")
    days: list[date] = []
    for part, which in ((first_text, "first"), (last_text, "last")):
        try:
            days.append(date.fromisoformat(part.strip()))
        except ValueError:
            raise ConfigError(
                f"--window {text!r}: its {which} day {part.strip()!r} is not a date "
                f"(YYYY-MM-DD): {example}"
            ) from None
    first, last = days
    if last < first:
        raise ConfigError(
            f"--window {text!r} ends before it starts: put the earlier day first ({example})"
        )
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"--timezone {zone!r} is not an IANA time zone name") from None
    return Window(first, last, zone)


@dataclass(frozen=True, slots=True)
class SyncSpec:
    """A sync job's declared scope and, for holidays, its window."""

    scope: SyncScope
    window: Window | None = None

    @classmethod
    def of(cls, scope: str, window: str | None, zone: str | None = None) -> SyncSpec:
        """The spec of the ``--sync``/``--window`` flags, or ConfigError saying what is wrong."""
        try:
            chosen = SyncScope(scope)
        except ValueError:
            kinds = " or ".join(s.value for s in SyncScope)
            raise ConfigError(
                f"--sync {scope!r} is not a scope a job can sync: use {kinds}"
            ) from None
        if chosen is SyncScope.HOLIDAY_HOURS and window is None:
            raise ConfigError(
                "--sync holiday_hours needs --window FIRST..LAST: the days whose holidays the "
                "job's rows replace (holidays outside it are left alone)"
            )
        if chosen is SyncScope.CALL_FORWARDING and window is not None:
            raise ConfigError(
                "--window goes with --sync holiday_hours only: a forwarding sync replaces "
                "every forwarding list its rows name"
            )
        return cls(chosen, None if window is None else parse_window(window, zone))

    @property
    def identity(self) -> str:
        """What makes two syncs of one job file different jobs (part of the state's job hash)."""
        return f"sync={self.scope.value};window={self.window or ''}"


def extension_zones(frame: pd.DataFrame) -> dict[str, str]:
    """Extension id → the zone its operations' times were read in (a plan frame's column)."""
    if ZONE_COLUMN not in frame.columns:
        return {}
    pairs = frame[["extension_id", ZONE_COLUMN]].drop_duplicates("extension_id")
    return {str(e): str(z) for e, z in zip(pairs["extension_id"], pairs[ZONE_COLUMN], strict=True)}


def check_rows(
    ops: Iterable[Operation],
    spec: SyncSpec,
    file: str,
    zones: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Problems with a job's operations as the desired state of ``spec`` (one per source row).

    A sync job's rows are plain add rows of the scope's item: the deletes and updates are the
    sync's to decide. Every holiday must start in the window, which is what it replaces, as its
    extension's zone (``zones``, from :func:`extension_zones`) counts it.
    """
    zones = zones or {}
    problems: dict[int, Problem] = {}
    item = spec.scope.item
    for op in ops:
        if op.row in problems:
            continue
        reason: str | None = None
        column = "action"
        value: str | None = op.action.value
        if op.action is not Action.ADD or op.sub_setting_type is not item:
            reason = (
                f"a --sync {spec.scope.value} job lists the {item.value} items to have, as add "
                f"rows of sub_setting_type {item.value}; the sync itself decides what to update "
                "and delete. Move this row to another job file"
            )
            if op.action is Action.ADD:
                column, value = "sub_setting_type", op.sub_setting_type.value
        elif spec.window is not None and not (
            window := spec.window.in_zone(zones.get(op.extension_id, DEFAULT_ZONE))
        ).holds(op.holiday_from):
            column, value = "from", op.holiday_from
            reason = (
                f"this holiday does not start in the --window {window}: the sync replaces "
                "the holidays of that window only. Widen the window or drop the row"
            )
        if reason is not None:
            problems[op.row] = Problem(file, op.row, column, value, reason)
    return [problems[row] for row in sorted(problems)]


# -- convergence ------------------------------------------------------------------------------


def converge(
    desired: Sequence[Operation], view: ExtensionView, spec: SyncSpec, zone: str = DEFAULT_ZONE
) -> list[Operation]:
    """The operations that turn ``view`` into ``desired`` within ``spec``'s scope, for one
    extension: deletes first, then updates, then adds (a name freed before it is reused).

    ``desired`` are the extension's add rows (checked by :func:`check_rows`), at least one: an
    extension the job does not name is not in its scope. The operations returned carry the ids
    they act on (no lookup by name at run time), their template's ``seq`` and an ``op_id``
    derived from what they do; the caller numbers them. Nothing outside the scope, or
    outside the window, is ever deleted; an extension already converged gets no operation.
    ``zone``: the extension's, which counts the window unless ``--timezone`` gave it one.
    """
    if spec.scope is SyncScope.HOLIDAY_HOURS:
        assert spec.window is not None  # SyncSpec.of requires it
        changes = _converge_holidays(desired, view, spec.window.in_zone(zone))
    else:
        changes = _converge_forwarding(desired, view)
    order = {Action.DELETE: 0, Action.UPDATE: 1, Action.ADD: 2}
    return sorted(changes, key=lambda op: order[op.action])


def _converge_holidays(
    desired: Sequence[Operation], view: ExtensionView, window: Window
) -> list[Operation]:
    current = [h for h in view.holidays if window.holds(h.from_)]
    claimed: dict[int, Holiday] = {}  # index in desired -> the holiday that becomes it
    free = list(current)
    # Exact matches first, so that a same-named holiday is never moved onto another's dates.
    for i, op in enumerate(desired):
        for h in free:
            if _same_holiday(h, op):
                claimed[i] = h
                free.remove(h)
                break
    out: list[Operation] = []
    for i, op in enumerate(desired):
        if i in claimed:
            continue
        named = [h for h in free if name_key(h.name) == name_key(op.holiday_name)]
        if not named:
            out.append(op)
            continue
        nearest = min(named, key=lambda h: _distance(h.from_, op.holiday_from))
        free.remove(nearest)
        out.append(
            replace(
                op,
                action=Action.UPDATE,
                holiday_id=nearest.holiday_id,
                op_id=_op_id(op.op_id, "update", nearest.holiday_id),
            )
        )
    template = desired[0]
    for h in free:
        out.append(
            replace(
                template,
                op_id=_op_id(template.op_id, "delete holiday", h.holiday_id),
                row=0,
                action=Action.DELETE,
                settings={},
                holiday_id=h.holiday_id,
                holiday_name=h.name,
                holiday_from=h.from_,
                holiday_to=h.to,
            )
        )
    return out


def _same_holiday(h: Holiday, op: Operation) -> bool:
    return (
        name_key(h.name) == name_key(op.holiday_name)
        and same_minute(h.from_, op.holiday_from)
        and (op.holiday_to is None or same_minute(h.to, op.holiday_to))
    )


def _distance(a: str | None, b: str | None) -> float:
    ma, mb = minute(a), minute(b)
    return float("inf") if ma is None or mb is None else abs((ma - mb).total_seconds())


def _converge_forwarding(desired: Sequence[Operation], view: ExtensionView) -> list[Operation]:
    """Each forwarding list the rows name becomes exactly their numbers. Zoom's own app entries
    and external contacts are not numbers a row can list: they are left alone."""
    lists: dict[tuple[SettingType, str | None, str | None], list[Operation]] = {}
    for op in desired:
        lists.setdefault((op.setting_type, op.holiday_name, op.holiday_from), []).append(op)
    out: list[Operation] = []
    for (setting, name, when), ops in lists.items():
        holiday_id: str | None = None
        if setting is SettingType.HOLIDAY_HOURS:
            pick = view.pick_holiday(name or "", when)
            if pick.id is None:  # not there, or not one: the engine says so per row
                out.extend(ops)
                continue
            holiday_id = pick.id
        entries = _entries(view, setting, holiday_id)
        out.extend(_converge_list(ops, entries, holiday_id))
    return out


def _entries(
    view: ExtensionView, setting: SettingType, holiday_id: str | None
) -> list[ForwardingEntry]:
    if setting is SettingType.HOLIDAY_HOURS:
        return next((h.forwarding for h in view.holidays if h.holiday_id == holiday_id), [])
    return view.forwarding.get(setting.value, [])


def _converge_list(
    desired: Sequence[Operation], entries: Sequence[ForwardingEntry], holiday_id: str | None
) -> list[Operation]:
    numbered = [e for e in entries if e.phone_number and not e.is_contact]
    keep: set[str] = set()
    out: list[Operation] = []
    for op in desired:
        key = phone_key(op.phone_number)
        # The number's own entry before a contact that also reaches it: the entry is kept.
        found = sorted((e for e in entries if key in e.numbers), key=lambda e: e.is_contact)
        target = op if holiday_id is None else replace(op, holiday_id=holiday_id)
        if not found:
            out.append(target)
            continue
        keep.add(found[0].id)
        wanted = op.settings.get("description")
        own = found[0].phone_number is not None and not found[0].is_contact
        if own and isinstance(wanted, str) and wanted != (found[0].description or ""):
            out.append(
                replace(
                    target,
                    action=Action.UPDATE,
                    call_forwarding_id=found[0].id,
                    settings={"description": wanted},
                    op_id=_op_id(op.op_id, "update", found[0].id),
                )
            )
    template = desired[0]
    for e in numbered:
        if e.id in keep:
            continue
        out.append(
            replace(
                template,
                op_id=_op_id(template.op_id, "delete forwarding", e.id),
                row=0,
                action=Action.DELETE,
                settings={},
                holiday_id=holiday_id,
                call_forwarding_id=e.id,
                phone_number=e.phone_number,
            )
        )
    return out


def _op_id(*parts: str) -> str:
    """A 16-hex-digit id, a function of ``parts`` only: an expansion recorded once keeps it."""
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=8).hexdigest()
