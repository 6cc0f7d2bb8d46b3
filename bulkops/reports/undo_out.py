"""undo.csv's rows on their way out (``reports.undo`` makes them): checked by the job-file rules
a batch at a time, then handed on with the notes in the order they were made.

Checked one by one, the rules cost more than building a row. ``UndoOutput`` holds up to
``batch`` operations' rows and notes, checks their rows as one frame
(``jobrows.accepted_rows``), and sends only the rows that check leaves to the per-row rules
(``row_problem``) for their message. A holiday add's undo row (``added_holiday_undo``) is made
from the operation's cells without decoding it, valid by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..jobs.checks import check_id
from ..model import Action, Operation, SettingType, SubSettingType
from ..state.schema import OPS_COLUMN_NAMES
from .jobrows import JOB_COLUMNS, Row, accepted_rows, named, row_problem

#: What building one operation's undo made, in order: ("row", its note, the row), or a line for
#: undo-notes.txt: ("note", the line, None) or ("cannot", why, None); ("made", "", row): a row
#: ``added_holiday_undo`` made whole, valid by construction.
Step = tuple[Literal["row", "made", "note", "cannot"], str, Row | None]


_AT = {name: i for i, name in enumerate(OPS_COLUMN_NAMES)}


def added_holiday_undo(raw: tuple[Any, ...]) -> Row | None:
    """The undo row of a succeeded holiday add, from its ops row (``OPS_COLUMN_NAMES``): what
    ``UndoBuilder.add`` makes of it, note and source_row included; None for any other operation.

    Valid by construction, so not checked row by row: a holiday delete that names one extension
    and the holiday by id, both ids checked here as the job-file rules check them (``check_id``),
    is a row those rules accept (a test holds a sample of them to the rules).
    """
    if raw[_AT["action"]] != Action.ADD.value:
        return None
    setting = raw[_AT["setting_type"]]
    if setting != SettingType.HOLIDAY_HOURS.value:
        return None
    if raw[_AT["sub_setting_type"]] != SubSettingType.HOLIDAY.value:
        return None
    created, extension_id = raw[_AT["created_id"]], raw[_AT["extension_id"]]
    if not isinstance(created, str) or check_id(created) or check_id(extension_id):
        return None
    row = dict.fromkeys(JOB_COLUMNS, "")
    row.update(
        action=Action.DELETE.value,
        setting_type=setting,
        sub_setting_type=SubSettingType.HOLIDAY.value,
        extension_id=extension_id,
        holiday_id=created,
    )
    source = raw[_AT["row"]]
    row["note"] = f"undoes row {source}: delete the holiday {raw[_AT['holiday_name']]!r} it added"
    row["source_row"] = str(source)
    return row


@dataclass(slots=True)
class UndoResult:
    """Counts only: the rows and notes themselves went to the builder's callbacks."""

    rows: int = 0  # undo rows emitted
    notes: int = 0  # lines for undo-notes.txt: what cannot be (fully) reversed
    reversible: int = 0
    not_reversible: int = 0


class UndoOutput:
    """Each operation's steps, held until ``finish`` checks their rows and hands all on."""

    def __init__(
        self, on_row: Callable[[Row], object], on_note: Callable[[str], object], *, batch: int
    ) -> None:
        self.result = UndoResult()
        self._on_row = on_row
        self._on_note = on_note
        self._batch = batch
        self._waiting: list[tuple[Operation | None, list[Step]]] = []

    def hold(self, op: Operation | None, steps: list[Step]) -> None:
        """What building ``op``'s undo made (``op`` None: one row ``added_holiday_undo`` made)."""
        self._waiting.append((op, steps))
        if len(self._waiting) >= self._batch:
            self.finish()

    def finish(self) -> None:
        """Check the waiting rows and hand them and the notes on, in the order they were made."""
        made = [row for _, steps in self._waiting for kind, _, row in steps if kind == "row"]
        sure = iter(accepted_rows([row for row in made if row is not None]))
        for op, steps in self._waiting:
            rows_before, notes_before = self.result.rows, self.result.notes
            for kind, text, row in steps:
                if row is not None and (kind == "made" or op is None):
                    self.result.rows += 1
                    self._on_row(row)
                elif op is None:
                    continue  # only made rows come without their operation
                elif row is not None:
                    self._write_row(op, row, text, checked=next(sure))
                elif kind == "note":
                    self._write_note(text)
                else:
                    self._write_cannot(op, text)
            if self.result.rows > rows_before:
                self.result.reversible += 1
            elif self.result.notes == notes_before and op is not None:
                self._write_cannot(op, "nothing to reverse")
        self._waiting = []

    def _write_note(self, text: str) -> None:
        self.result.notes += 1
        self._on_note(text)

    def _write_cannot(self, op: Operation, why: str) -> None:
        self.result.not_reversible += 1
        self._write_note(
            f"row {op.row} ({op.action.value} {op.setting_type.value}/"
            f"{op.sub_setting_type.value} on {named(op)}): {why}"
        )

    def _write_row(self, op: Operation, row: Row, note: str, *, checked: bool) -> None:
        if not checked:
            problem = row_problem(row, file="undo.csv", number=self.result.rows + 2)
            if problem is not None:
                self._write_cannot(
                    op, f"the reversing row would not be a valid job row ({problem})"
                )
                return
        row["note"] = f"undoes row {op.row}: {note}"
        row["source_row"] = str(op.row)
        self.result.rows += 1
        self._on_row(row)
