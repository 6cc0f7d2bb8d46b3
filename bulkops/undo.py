"""Job files written back from the state: failures.csv rows, and undo.csv from the before-images.

Both files are valid job files (``bulkops validate`` passes; the extra columns ``error``,
``http_status``, ``zoom_code``, ``source_row`` and ``note`` are only warnings). Every row targets
one ``extension_id``, so a selector row comes back as one row per extension it reached. Each
field is written in exactly one place, a flat column or ``settings``: a free-text value
(holiday ``name``, ``description``) that a spreadsheet would run as a formula (``=SUM(A1)``) goes
into the ``settings`` JSON instead of its column, so the cell starts with ``{`` and the value
reaches Zoom unchanged. Every row is checked with the job-file rules before it is written; a row
that would not pass is left out and explained.

## What undo.csv does

It reverses the operations that **succeeded**, newest first:

| the run did | undo.csv does |
|---|---|
| add holiday / add forwarding number | delete it by the id Zoom returned |
| update holiday | update it back to the snapshot's name, from and to |
| update business_hours/custom_hours | update back to the snapshot's ``type`` and all its weekdays |
| update call forwarding | update each entry back to its old description, enable, number |
| update call_handling | update back every changed field the GET returns (read paths below) |
| delete holiday | add it again with its old name/from/to, and its external forwarding numbers |
| delete forwarding number | add it again with its old number and description |

## What cannot be undone (each case is a ``note`` in undo.csv or a line in undo-notes.txt)

- ``already_present``/``already_absent`` operations changed nothing: nothing to undo.
- A re-added holiday or forwarding number gets a **new id**; a re-added holiday's call handling
  and Zoom's own forwarding entries come back at Zoom's defaults, a re-added forwarding number
  comes back enabled.
- call_handling fields the GET does not return (or returns under a name bulkops does not know)
  keep their new value; a field that had no value before cannot be "unset" by a PATCH.
- Extensions without a snapshot (read skipped with ``--no-precheck``) have no before-image:
  their updates and deletes cannot be reversed (their adds still can).
- Operations whose outcome is unknown (``in_flight``) or not run are not reversed: finish the
  job (or rerun it, which reconciles), then regenerate the reports.
- Anything changed outside this job after the snapshot is overwritten by the undo.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from .csvsafe import is_formula
from .model import Action, SettingType, SubSettingType
from .rules import check_row
from .view import same_instant

JOB_COLUMNS = (
    "action",
    "setting_type",
    "sub_setting_type",
    "extension_id",
    "name",
    "from",
    "to",
    "holiday_id",
    "phone_number",
    "description",
    "call_forwarding_id",
    "settings",
)
_FREE_TEXT = ("name", "description")

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

Json = dict[str, Any]
Row = dict[str, str]


@dataclass(frozen=True, slots=True)
class StoredOp:
    """One row of the ``ops`` table, as far as the written-back job files need it."""

    seq: int
    row: int
    action: Action
    extension_id: str
    setting_type: SettingType
    sub_setting_type: SubSettingType
    settings: Json
    holiday_id: str | None
    call_forwarding_id: str | None
    holiday_name: str | None
    holiday_from: str | None
    holiday_to: str | None
    phone_number: str | None
    status: str
    created_id: str | None
    target_id: str | None
    message: str | None
    http_status: int | None
    zoom_code: int | None

    COLUMNS = (
        "seq, row, action, extension_id, setting_type, sub_setting_type, settings, holiday_id, "
        "call_forwarding_id, holiday_name, holiday_from, holiday_to, phone_number, status, "
        "created_id, target_id, message, http_status, zoom_code"
    )

    @classmethod
    def from_row(cls, r: tuple[Any, ...]) -> StoredOp:
        return cls(
            int(r[0]),
            int(r[1]),
            Action(r[2]),
            r[3],
            SettingType(r[4]),
            SubSettingType(r[5]),
            dict(orjson.loads(r[6])) if r[6] else {},
            *r[7:],
        )


def iter_ops(conn: sqlite3.Connection, where: str, order: str) -> Iterator[StoredOp]:
    """``where``/``order`` are this module's own constant SQL fragments."""
    cur = conn.execute(f"SELECT {StoredOp.COLUMNS} FROM ops WHERE {where} ORDER BY {order}")
    while batch := cur.fetchmany(2000):
        for r in batch:
            yield StoredOp.from_row(r)


# --- one operation as a job-file row ---------------------------------------------------------


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def make_row(
    action: Action,
    setting: SettingType,
    sub: SubSettingType,
    extension_id: str,
    flat: Mapping[str, str | None],
    settings: Json,
) -> Row:
    """A job row; flat free text that looks like a formula moves into ``settings``."""
    body = dict(settings)
    row: Row = dict.fromkeys(JOB_COLUMNS, "")
    row.update(
        action=action.value,
        setting_type=setting.value,
        sub_setting_type=sub.value,
        extension_id=extension_id,
    )
    for name, value in flat.items():
        if value is None:
            continue
        if name in _FREE_TEXT and is_formula(value):
            body[name] = value
        else:
            row[name] = value
    row["settings"] = _dumps(body) if body else ""
    return row


def _holiday_ref(op: StoredOp) -> dict[str, str | None]:
    if op.holiday_id is not None:
        return {"holiday_id": op.holiday_id}
    return {"name": op.holiday_name, "from": op.holiday_from, "to": op.holiday_to}


def job_row(op: StoredOp) -> Row:
    """The row that performs ``op`` again, rebuilt from its stored fields."""
    s = dict(op.settings)
    sub = op.sub_setting_type
    flat: dict[str, str | None] = {}
    if sub is SubSettingType.HOLIDAY:
        for key in ("name", "from", "to", "holiday_id"):
            s.pop(key, None)
        if op.action is Action.DELETE:
            flat = {"holiday_id": op.holiday_id}
            if op.holiday_id is None:
                flat.update(name=op.holiday_name, **{"from": op.holiday_from, "to": op.holiday_to})
        else:
            flat = {
                "holiday_id": op.holiday_id,
                "name": op.settings.get("name"),
                "from": op.settings.get("from"),
                "to": op.settings.get("to"),
            }
    elif sub is SubSettingType.CALL_FORWARDING:
        s.pop("holiday_id", None)
        if op.setting_type is SettingType.HOLIDAY_HOURS:
            flat.update(_holiday_ref(op))
        if op.action is Action.ADD:
            flat["phone_number"] = s.pop("phone_number", None) or op.phone_number
            flat["description"] = s.pop("description", None)
        else:
            flat["call_forwarding_id"] = op.call_forwarding_id
            flat["phone_number"] = op.phone_number
            items = s.get("call_forwarding_settings")
            if isinstance(items, list) and len(items) == 1 and _flat_item(items[0], op):
                item = s.pop("call_forwarding_settings")[0]
                flat["phone_number"] = item.get("phone_number", op.phone_number)
                flat["description"] = item.get("description")
                if "enable" in item:
                    s["enable"] = item["enable"]
    else:
        s.pop("holiday_id", None)
        if op.setting_type is SettingType.HOLIDAY_HOURS:
            flat.update(_holiday_ref(op))
    return make_row(op.action, op.setting_type, sub, op.extension_id, flat, s)


def _flat_item(item: Any, op: StoredOp) -> bool:
    """A one-entry list that a row's flat columns made (or could have made)."""
    return (
        isinstance(item, dict)
        and set(item) <= {"id", "phone_number", "description", "enable"}
        and item.get("id") in (None, op.call_forwarding_id)
        and (item.get("id") is not None or op.phone_number is not None)
    )


def row_problem(row: Row, *, file: str, number: int) -> str | None:
    """Why the job-file rules would refuse ``row`` (None when it passes)."""
    cells = {k: v for k, v in row.items() if k in JOB_COLUMNS}
    spec, problems = check_row(cells, file=file, row=number)
    if spec is not None:
        return None
    return "; ".join(str(p) for p in problems if p.severity == "error")


# --- undo ---------------------------------------------------------------------------------


@dataclass(slots=True)
class UndoResult:
    rows: list[Row] = field(default_factory=list)  # each with a "note" (and "source_row")
    notes: list[str] = field(default_factory=list)  # what cannot be reversed, one line each
    reversible: int = 0
    not_reversible: int = 0


def _get(tree: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(tree, dict) or part not in tree:
            return _MISSING
        tree = tree[part]
    return tree


_MISSING = object()


def _section(entries: Any, sub: str) -> Json | None:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("sub_setting_type") == sub:
            settings = entry.get("settings")
            return settings if isinstance(settings, dict) else None
    return None


class _Snapshot:
    """The before-image of one extension (Zoom's GET shape) and lookups on it."""

    def __init__(self, body: Json) -> None:
        self.body = body

    def holidays(self) -> list[tuple[str, Json, list[Any]]]:
        out = []
        for item in self.body.get("holiday_hours") or []:
            if isinstance(item, dict) and item.get("holiday_id"):
                details = item.get("details") or []
                out.append((str(item["holiday_id"]), _section(details, "holiday") or {}, details))
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
        return _section(self.entries(setting, holiday_id), "call_forwarding")

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


class UndoBuilder:
    """Feed succeeded operations newest first; collect undo rows and what cannot be undone."""

    def __init__(self, snapshot: Callable[[str], Json | None], deleted: set[tuple[str, str]]):
        # ``deleted``: (extension_id, id) of every holiday and forwarding entry the job deleted.
        self._load = functools.lru_cache(maxsize=2048)(snapshot)
        self.deleted = deleted
        self.readded: set[tuple[str, str, str]] = set()  # (extension, kind, natural key)
        self.result = UndoResult()

    def _snap(self, extension_id: str) -> _Snapshot | None:
        body = self._load(extension_id)
        return None if body is None else _Snapshot(body)

    def cannot(self, op: StoredOp, why: str) -> None:
        self.result.not_reversible += 1
        self.result.notes.append(
            f"row {op.row} ({op.action.value} {op.setting_type.value}/"
            f"{op.sub_setting_type.value} on {op.extension_id}): {why}"
        )

    def emit(self, op: StoredOp, row: Row, note: str) -> None:
        problem = row_problem(row, file="undo.csv", number=len(self.result.rows) + 2)
        if problem is not None:
            self.cannot(op, f"the reversing row would not be a valid job row ({problem})")
            return
        row["note"] = f"undoes row {op.row}: {note}"
        row["source_row"] = str(op.row)
        self.result.rows.append(row)

    def add(self, op: StoredOp) -> None:
        """One succeeded operation (call in reverse plan order)."""
        sub, action = op.sub_setting_type, op.action
        before = len(self.result.rows)
        notes = len(self.result.notes)
        if action is Action.ADD:
            self._undo_add(op)
        else:
            snap = self._snap(op.extension_id)
            if snap is None:
                self.cannot(op, "no before-image (the extension was not read before its write)")
            elif sub is SubSettingType.HOLIDAY:
                (self._undo_holiday_delete if action is Action.DELETE else self._undo_holiday)(
                    op, snap
                )
            elif sub is SubSettingType.CALL_FORWARDING:
                if action is Action.DELETE:
                    self._undo_forwarding_delete(op, snap)
                else:
                    self._undo_forwarding_update(op, snap)
            elif sub is SubSettingType.CUSTOM_HOURS:
                self._undo_custom_hours(op, snap)
            else:
                self._undo_call_handling(op, snap)
        if len(self.result.rows) > before:
            self.result.reversible += 1
        elif len(self.result.notes) == notes:
            self.cannot(op, "nothing to reverse")

    # -- per kind ----------------------------------------------------------------------------

    def _under_deleted_holiday(self, op: StoredOp, snap: _Snapshot | None) -> bool:
        if op.setting_type is not SettingType.HOLIDAY_HOURS:
            return False
        hid = op.holiday_id
        if hid is None and snap is not None:
            hid = snap.holiday_by_name(op.holiday_name, op.holiday_from)
        return hid is not None and (op.extension_id, hid) in self.deleted

    def _undo_add(self, op: StoredOp) -> None:
        created = op.created_id
        snap = self._snap(op.extension_id)
        if op.sub_setting_type is SubSettingType.HOLIDAY:
            if created is None:
                self.cannot(op, "Zoom's answer with the new holiday's id was not recorded")
                return
            row = make_row(
                Action.DELETE,
                op.setting_type,
                SubSettingType.HOLIDAY,
                op.extension_id,
                {"holiday_id": created},
                {},
            )
            self.emit(op, row, f"delete the holiday {op.holiday_name!r} it added")
            return
        if self._under_deleted_holiday(op, snap):
            self.cannot(op, "its holiday was deleted by this job; the holiday's re-add covers it")
            return
        if created is None:
            self.cannot(op, "Zoom's answer with the new forwarding entry's id was not recorded")
            return
        flat: dict[str, str | None] = {"call_forwarding_id": created}
        if op.setting_type is SettingType.HOLIDAY_HOURS:
            flat.update(_holiday_ref(op))
        row = make_row(
            Action.DELETE,
            op.setting_type,
            SubSettingType.CALL_FORWARDING,
            op.extension_id,
            flat,
            {},
        )
        self.emit(op, row, f"delete the forwarding to {op.phone_number} it added")

    def _holiday_id(self, op: StoredOp) -> str | None:
        return op.holiday_id or op.target_id

    def _undo_holiday(self, op: StoredOp, snap: _Snapshot) -> None:
        hid = self._holiday_id(op)
        if hid is not None and (op.extension_id, hid) in self.deleted:
            self.cannot(op, "the holiday was deleted later in this job; its re-add restores it")
            return
        found = snap.holiday(hid)
        if found is None:
            self.cannot(op, f"holiday {hid} is not in the before-image (added by this job?)")
            return
        span = found[0]
        flat = {"holiday_id": hid, "name": span.get("name"), "from": span.get("from")}
        flat["to"] = span.get("to")
        row = make_row(
            Action.UPDATE, op.setting_type, SubSettingType.HOLIDAY, op.extension_id, flat, {}
        )
        self.emit(op, row, "restore the holiday's old name, from and to")

    def _undo_holiday_delete(self, op: StoredOp, snap: _Snapshot) -> None:
        hid = self._holiday_id(op)
        found = snap.holiday(hid)
        if found is None:
            self.cannot(op, f"holiday {hid} is not in the before-image")
            return
        span, details = found
        key = (op.extension_id, "holiday", f"{span.get('name')}|{span.get('from')}")
        if key in self.readded:
            self.cannot(op, "a holiday with the same name and from is already re-added")
            return
        self.readded.add(key)
        ref = {"name": span.get("name"), "from": span.get("from"), "to": span.get("to")}
        row = make_row(
            Action.ADD, op.setting_type, SubSettingType.HOLIDAY, op.extension_id, ref, {}
        )
        note = "re-add the deleted holiday (it gets a new id; its call handling is Zoom's default)"
        self.emit(op, row, note)
        fwd = _section(details, "call_forwarding") or {}
        for item in fwd.get("call_forwarding_settings") or []:
            if isinstance(item, dict) and item.get("phone_number"):
                flat = {**ref, "phone_number": item["phone_number"]}
                flat["description"] = item.get("description") or None
                row = make_row(
                    Action.ADD,
                    op.setting_type,
                    SubSettingType.CALL_FORWARDING,
                    op.extension_id,
                    flat,
                    {},
                )
                self.emit(op, row, "re-add a forwarding number of the deleted holiday")

    def _undo_forwarding_delete(self, op: StoredOp, snap: _Snapshot) -> None:
        fid = op.call_forwarding_id or op.target_id
        found = snap.forwarding_item(op.setting_type, fid)
        if found is None or not found[1].get("phone_number"):
            self.cannot(op, f"forwarding entry {fid} is not in the before-image")
            return
        hid, item = found
        if hid is not None and (op.extension_id, hid) in self.deleted:
            self.cannot(op, "its holiday was deleted later in this job; the re-add covers it")
            return
        flat: dict[str, str | None] = {
            "phone_number": item["phone_number"],
            "description": item.get("description") or None,
        }
        if hid is not None:
            flat["holiday_id"] = hid
        row = make_row(
            Action.ADD,
            op.setting_type,
            SubSettingType.CALL_FORWARDING,
            op.extension_id,
            flat,
            {},
        )
        note = "re-add the deleted forwarding number (new id"
        note += ", comes back enabled)" if item.get("enable") is False else ")"
        self.emit(op, row, note)

    def _undo_forwarding_update(self, op: StoredOp, snap: _Snapshot) -> None:
        items = op.settings.get("call_forwarding_settings")
        ids: list[str] = []
        if isinstance(items, list):
            ids = [str(i["id"]) for i in items if isinstance(i, dict) and i.get("id")]
        if not ids and op.target_id:
            ids = [op.target_id]
        restored: list[Json] = []
        holiday: str | None = None
        skipped: list[str] = []
        for fid in ids:
            found = snap.forwarding_item(op.setting_type, fid)
            if found is None or (op.extension_id, fid) in self.deleted:
                skipped.append(fid)
                continue
            holiday, old = found
            entry: Json = {"id": fid}
            keys = ("enable",) if "phone_number" not in old else ("description", "enable")
            entry.update({k: old[k] for k in keys if k in old})
            if "phone_number" in old:
                entry["phone_number"] = old["phone_number"]
            restored.append(entry)
        settings: Json = {}
        if restored:
            settings["call_forwarding_settings"] = restored
        if "require_press_1_before_connecting" in op.settings:
            fwd = snap.forwarding(op.setting_type, holiday) or {}
            if "require_press_1_before_connecting" in fwd:
                settings["require_press_1_before_connecting"] = fwd[
                    "require_press_1_before_connecting"
                ]
        if not settings:
            self.cannot(op, f"forwarding entries {', '.join(skipped)} are not in the before-image")
            return
        flat: dict[str, str | None] = {
            "call_forwarding_id": restored[0]["id"] if restored else ids[0]
        }
        if op.setting_type is SettingType.HOLIDAY_HOURS:
            flat["holiday_id"] = holiday or op.holiday_id or self._name_to_id(op, snap)
        row = make_row(
            Action.UPDATE,
            op.setting_type,
            SubSettingType.CALL_FORWARDING,
            op.extension_id,
            flat,
            settings,
        )
        extra = f"; not in the before-image: {', '.join(skipped)}" if skipped else ""
        self.emit(op, row, "restore the forwarding entries' old description/enable" + extra)

    def _name_to_id(self, op: StoredOp, snap: _Snapshot) -> str | None:
        return snap.holiday_by_name(op.holiday_name, op.holiday_from)

    def _undo_custom_hours(self, op: StoredOp, snap: _Snapshot) -> None:
        old = _section(snap.entries(SettingType.BUSINESS_HOURS, None), "custom_hours")
        if not old or "type" not in old:
            self.cannot(op, "the before-image has no custom_hours")
            return
        settings: Json = {"type": old["type"]}
        days = old.get("custom_hours_settings")
        if isinstance(days, list) and days:
            settings["custom_hours_settings"] = days
        if "allow_members_to_reset" in op.settings and "allow_members_to_reset" in old:
            settings["allow_members_to_reset"] = old["allow_members_to_reset"]
        row = make_row(
            Action.UPDATE,
            SettingType.BUSINESS_HOURS,
            SubSettingType.CUSTOM_HOURS,
            op.extension_id,
            {},
            settings,
        )
        self.emit(op, row, "restore the old business hours")

    def _undo_call_handling(self, op: StoredOp, snap: _Snapshot) -> None:
        hid: str | None = None
        if op.setting_type is SettingType.HOLIDAY_HOURS:
            hid = op.holiday_id or op.target_id or self._name_to_id(op, snap)
            if hid is not None and (op.extension_id, hid) in self.deleted:
                self.cannot(op, "its holiday was deleted later in this job; the re-add covers it")
                return
        old = _section(snap.entries(op.setting_type, hid), "call_handling")
        if old is None:
            self.cannot(op, "the before-image has no call_handling for it")
            return
        settings: Json = {}
        lost: list[str] = []
        for key in op.settings:
            if key == "holiday_id":
                continue
            path = READ_PATHS.get(key)
            value = _MISSING if path is None else _get(old, path)
            if value is _MISSING or value is None:
                lost.append(key)
            else:
                settings[key] = value
        if not settings:
            self.cannot(op, f"the GET shows no previous value of {', '.join(lost)}")
            return
        flat: dict[str, str | None] = {}
        if hid is not None:
            flat["holiday_id"] = hid
        row = make_row(
            Action.UPDATE,
            op.setting_type,
            SubSettingType.CALL_HANDLING,
            op.extension_id,
            flat,
            settings,
        )
        note = "restore the old call handling"
        if lost:
            kept = f"keeps the new value of {', '.join(lost)} (no previous value in the GET)"
            note += "; " + kept
            self.result.notes.append(f"row {op.row} on {op.extension_id}: partly reversed: {kept}")
        self.emit(op, row, note)
