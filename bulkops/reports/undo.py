"""undo.csv: a job file that reverses what a run changed, built from the before-images.

Its rows are job rows (``bulkops.jobrows``): each targets one ``extension_id``, free text that
looks like a formula travels in ``settings``, and every row is checked with the job-file rules
before it is written; a row that would not pass is left out and explained. The builder streams:
it hands each row and each note to the caller as it makes them and keeps only counts, so a
million-operation state costs no more memory than a small one.

## What undo.csv does

It reverses the operations that **succeeded**, newest first:

| the run did | undo.csv does |
|---|---|
| add holiday / add forwarding number | delete it by the id Zoom returned |
| update holiday | update it back to the snapshot's name, from and to |
| update business_hours/custom_hours | update back to the snapshot's ``type`` and all its weekdays |
| update call forwarding | update each entry back to its old description, enable, number |
| update call_handling | update back every changed field the GET returns (``zoom.schema`` reads) |
| delete holiday | add it again with its old name/from/to, and its external forwarding numbers |
| delete forwarding number | add it again with its old number and description |

## What cannot be undone (each case is a ``note`` in undo.csv or a line in undo-notes.txt)

- ``already_present``/``already_absent`` operations changed nothing: nothing to undo.
- A re-added holiday or forwarding number gets a **new id**; a re-added holiday's call handling
  and Zoom's own forwarding entries come back at Zoom's defaults, a re-added forwarding number
  comes back enabled.
- A deleted forwarding entry to an **external contact** cannot be re-added: Zoom's add takes a
  phone number only (a note names the contact and its numbers). An update that changed an entry's
  external contact is reversed, with the old ``external_contact_id``.
- call_handling fields the GET does not return keep their new value: which ones depends on the
  setting type (``zoom.schema``: e.g. the holiday-hours GET has no ``busy_routing``, only the
  business-hours GET shows the call-queue fields). A field that had no value before cannot be
  "unset" by a PATCH.
- Extensions without a snapshot (read skipped with ``--no-precheck``) have no before-image:
  their updates and deletes cannot be reversed (their adds still can).
- Operations whose outcome is unknown (``in_flight``) or not run are not reversed: finish the
  job (or rerun it, which reconciles), then regenerate the reports.
- Anything changed outside this job after the snapshot is overwritten by the undo.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Container
from typing import Any

from ..model import Action, Operation, Outcome, SettingType, SubSettingType
from ..state.schema import op_record
from ..zoom import schema
from ..zoom.match import ForwardingEntry, minute, name_key
from .before import MISSING, Snapshot, read_back, section, span_columns
from .jobrows import Json, Row, holiday_ref, make_row, named
from .undo_out import SEQ_AT, Step, UndoOutput, holiday_undo_cells

#: Zoom's add takes a phone number only: an external contact cannot come back through a job row.
_NO_CONTACT = (
    "%s cannot be re-added by a job row (Zoom's add takes a phone number, not an external "
    "contact): add it again in Zoom"
)


def _contacts_changed(items: object) -> set[str]:
    """Ids of the entries whose external contact an update's list set."""
    items = items if isinstance(items, list) else []
    return {str(i["id"]) for i in items if isinstance(i, dict) and "external_contact" in i}


# --- undo ---------------------------------------------------------------------------------


class UndoBuilder:
    """Feed succeeded operations newest first; collect undo rows and what cannot be undone.

    Each row is checked with the job-file rules before it is handed on, ``batch`` operations at a
    time (``reports.undo_out``); the rows and notes reach the callbacks in the order they were
    made. Call ``finish`` after the last operation.
    """

    def __init__(
        self,
        snapshot: Callable[[str], Json | None],
        deleted: Container[tuple[str, str]],
        on_row: Callable[[Row], object],
        on_note: Callable[[str], object],
        *,
        batch: int = 1,
        on_cells: Callable[[list[str]], object] | None = None,
        on_op: Callable[[int], object] | None = None,
    ) -> None:
        """``on_cells``: for the rows made whole from an operation's cells (a holiday add's
        undo), the cells of ``UNDO_COLUMNS``; by default they reach ``on_row`` as a ``Row``.
        ``on_op``: told each operation's seq before its rows and notes reach the callbacks."""
        # ``deleted``: (extension_id, id) of every holiday and forwarding entry the job deleted.
        self._load = functools.lru_cache(maxsize=2048)(snapshot)
        self.deleted = deleted
        self.readded: set[tuple[str, str, str]] = set()  # (extension, kind, natural key)
        self._out = UndoOutput(on_row, on_note, batch=batch, on_cells=on_cells, on_op=on_op)
        self.result = self._out.result
        self._steps: list[Step] = []  # what the operation being added made

    def _snap(self, extension_id: str) -> Snapshot | None:
        body = self._load(extension_id)
        return None if body is None else Snapshot(body)

    def note(self, text: str) -> None:
        self._steps.append(("note", text, None))

    def cannot(self, op: Operation, why: str) -> None:
        self._steps.append(("cannot", why, None))

    def emit(self, op: Operation, row: Row, note: str) -> None:
        self._steps.append(("row", note, row))

    def add(self, op: Operation, outcome: Outcome) -> None:
        """One succeeded operation and its outcome (call in reverse plan order)."""
        self._steps = []
        self._build(op, outcome)
        self._out.hold(op, self._steps)

    def add_raw(self, raw: tuple[Any, ...]) -> None:
        """``add`` of a row as ``StateReader.raw_records`` reads it: a holiday add's undo (the
        commonest of a large job's) is made from its cells without decoding the operation."""
        cells = holiday_undo_cells(raw)
        if cells is None:
            record = op_record(raw)
            self.add(record.op, record.outcome)
            return
        self._out.hold_made(cells, raw[SEQ_AT])

    def finish(self) -> None:
        """Hand on what is still held: call after the last operation."""
        self._out.finish()

    def _build(self, op: Operation, outcome: Outcome) -> None:
        sub, action = op.sub_setting_type, op.action
        if action is Action.ADD:
            self._undo_add(op, outcome)
            return
        snap = self._snap(op.extension_id)
        if snap is None:
            self.cannot(op, "no before-image (the extension was not read before its write)")
        elif sub is SubSettingType.HOLIDAY:
            (self._undo_holiday_delete if action is Action.DELETE else self._undo_holiday)(
                op, outcome, snap
            )
        elif sub is SubSettingType.CALL_FORWARDING:
            if action is Action.DELETE:
                self._undo_forwarding_delete(op, outcome, snap)
            else:
                self._undo_forwarding_update(op, outcome, snap)
        elif sub is SubSettingType.CUSTOM_HOURS:
            self._undo_custom_hours(op, snap)
        else:
            self._undo_call_handling(op, outcome, snap)

    # -- per kind ----------------------------------------------------------------------------

    def _under_deleted_holiday(self, op: Operation, snap: Snapshot | None) -> bool:
        if op.setting_type is not SettingType.HOLIDAY_HOURS:
            return False
        hid = op.holiday_id
        if hid is None and snap is not None:
            hid = snap.holiday_by_name(op.holiday_name, op.holiday_from)
        return hid is not None and (op.extension_id, hid) in self.deleted

    def _undo_add(self, op: Operation, outcome: Outcome) -> None:
        created = outcome.created_id
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
        # Read only here: a large job's holiday adds would each cost a lookup for nothing.
        if self._under_deleted_holiday(op, self._snap(op.extension_id)):
            self.cannot(op, "its holiday was deleted by this job; the holiday's re-add covers it")
            return
        if created is None:
            self.cannot(op, "Zoom's answer with the new forwarding entry's id was not recorded")
            return
        flat: dict[str, str | None] = {"call_forwarding_id": created}
        if op.setting_type is SettingType.HOLIDAY_HOURS:
            flat.update(holiday_ref(op))
        row = make_row(
            Action.DELETE,
            op.setting_type,
            SubSettingType.CALL_FORWARDING,
            op.extension_id,
            flat,
            {},
        )
        self.emit(op, row, f"delete the forwarding to {op.phone_number} it added")

    def _holiday_id(self, op: Operation, outcome: Outcome) -> str | None:
        return op.holiday_id or outcome.target_id

    def _undo_holiday(self, op: Operation, outcome: Outcome, snap: Snapshot) -> None:
        hid = self._holiday_id(op, outcome)
        if hid is not None and (op.extension_id, hid) in self.deleted:
            self.cannot(op, "the holiday was deleted later in this job; its re-add restores it")
            return
        found = snap.holiday(hid)
        if found is None:
            self.cannot(op, f"holiday {hid} is not in the before-image (added by this job?)")
            return
        flat = {"holiday_id": hid, **span_columns(found[0])}
        row = make_row(
            Action.UPDATE, op.setting_type, SubSettingType.HOLIDAY, op.extension_id, flat, {}
        )
        self.emit(op, row, "restore the holiday's old name, from and to")

    def _undo_holiday_delete(self, op: Operation, outcome: Outcome, snap: Snapshot) -> None:
        hid = self._holiday_id(op, outcome)
        found = snap.holiday(hid)
        if found is None:
            self.cannot(op, f"holiday {hid} is not in the before-image")
            return
        span, details = found
        ref = span_columns(span)
        key = (op.extension_id, "holiday", f"{name_key(ref['name'])}|{minute(ref['from'])}")
        if key in self.readded:
            self.cannot(op, "a holiday with the same name and from is already re-added")
            return
        self.readded.add(key)
        row = make_row(
            Action.ADD, op.setting_type, SubSettingType.HOLIDAY, op.extension_id, ref, {}
        )
        note = "re-add the deleted holiday (it gets a new id; its call handling is Zoom's default)"
        self.emit(op, row, note)
        fwd = section(details, "call_forwarding") or {}
        for item in fwd.get("call_forwarding_settings") or []:
            entry = ForwardingEntry.read(item)
            if entry is not None and entry.is_contact and not entry.phone_number:
                self.note(f"row {op.row} on {named(op)}: " + _NO_CONTACT % entry.describe())
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

    def _undo_forwarding_delete(self, op: Operation, outcome: Outcome, snap: Snapshot) -> None:
        forwarding_id = op.call_forwarding_id or outcome.target_id
        found = snap.forwarding_item(op.setting_type, forwarding_id)
        if found is None:
            self.cannot(op, f"forwarding entry {forwarding_id} is not in the before-image")
            return
        hid, item = found
        entry = ForwardingEntry.read(item) or ForwardingEntry(str(forwarding_id))
        if not entry.phone_number:
            why = _NO_CONTACT if entry.is_contact else "%s is Zoom's own: only Zoom adds it"
            self.cannot(op, why % entry.describe())
            return
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
        if entry.contact_id:
            note += f"; its link to external contact {entry.contact_id} is not restored"
        self.emit(op, row, note)

    def _undo_forwarding_update(self, op: Operation, outcome: Outcome, snap: Snapshot) -> None:
        items = op.settings.get("call_forwarding_settings")
        ids: list[str] = []
        if isinstance(items, list):
            ids = [str(i["id"]) for i in items if isinstance(i, dict) and i.get("id")]
        if not ids and outcome.target_id:
            ids = [outcome.target_id]
        restored: list[Json] = []
        holiday: str | None = None
        skipped: list[str] = []
        for forwarding_id in ids:
            found = snap.forwarding_item(op.setting_type, forwarding_id)
            if found is None or (op.extension_id, forwarding_id) in self.deleted:
                skipped.append(forwarding_id)
                continue
            holiday, old = found
            entry: Json = {"id": forwarding_id}
            keys = ("enable",) if "phone_number" not in old else ("description", "enable")
            entry.update({k: old[k] for k in keys if k in old})
            if "phone_number" in old:
                entry["phone_number"] = old["phone_number"]
            read = ForwardingEntry.read(old)
            if read is not None and read.contact_id and forwarding_id in _contacts_changed(items):
                entry["external_contact"] = {"external_contact_id": read.contact_id}
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

    def _name_to_id(self, op: Operation, snap: Snapshot) -> str | None:
        return snap.holiday_by_name(op.holiday_name, op.holiday_from)

    def _undo_custom_hours(self, op: Operation, snap: Snapshot) -> None:
        old = section(snap.entries(SettingType.BUSINESS_HOURS, None), "custom_hours")
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

    def _undo_call_handling(self, op: Operation, outcome: Outcome, snap: Snapshot) -> None:
        hid: str | None = None
        if op.setting_type is SettingType.HOLIDAY_HOURS:
            hid = op.holiday_id or outcome.target_id or self._name_to_id(op, snap)
            if hid is not None and (op.extension_id, hid) in self.deleted:
                self.cannot(op, "its holiday was deleted later in this job; the re-add covers it")
                return
        old = section(snap.entries(op.setting_type, hid), "call_handling")
        if old is None:
            self.cannot(op, "the before-image has no call_handling for it")
            return
        reads = schema.section(op.setting_type, SubSettingType.CALL_HANDLING)
        settings: Json = {}
        lost: list[str] = []
        for key in op.settings:
            if key == schema.HOLIDAY_ID:
                continue
            value = read_back(old, reads.reads(key))
            if value is MISSING:
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
            self.note(f"row {op.row} on {op.extension_id}: partly reversed: {kept}")
        self.emit(op, row, note)
