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
from operator import itemgetter
from typing import Any, Literal

from ..jobs.checks import check_id
from ..model import Action, Operation, SettingType, SubSettingType
from ..state.schema import OPS_COLUMN_NAMES
from .jobrows import JOB_COLUMNS, Row, accepted_rows, named, row_problem

#: What building one operation's undo made, in order: ("row", its note, the row), or a line for
#: undo-notes.txt: ("note", the line, None) or ("cannot", why, None).
Step = tuple[Literal["row", "note", "cannot"], str, Row | None]

UNDO_COLUMNS = (*JOB_COLUMNS, "note", "source_row")

_AT = {name: i for i, name in enumerate(OPS_COLUMN_NAMES)}
_CELL = {name: i for i, name in enumerate(UNDO_COLUMNS)}
_DELETE_HOLIDAY = [""] * len(UNDO_COLUMNS)  # the cells every holiday add's undo row shares
_DELETE_HOLIDAY[_CELL["action"]] = Action.DELETE.value
_DELETE_HOLIDAY[_CELL["setting_type"]] = SettingType.HOLIDAY_HOURS.value
_DELETE_HOLIDAY[_CELL["sub_setting_type"]] = SubSettingType.HOLIDAY.value
# Looked up once here, not per row: a large job runs this for each holiday it added.
_KIND = itemgetter(_AT["action"], _AT["setting_type"], _AT["sub_setting_type"])
_ADD_HOLIDAY = (Action.ADD.value, SettingType.HOLIDAY_HOURS.value, SubSettingType.HOLIDAY.value)
_CELLS = itemgetter(_AT["created_id"], _AT["extension_id"], _AT["row"], _AT["holiday_name"])
_EXTENSION, _HOLIDAY = _CELL["extension_id"], _CELL["holiday_id"]
_NOTE, _SOURCE = _CELL["note"], _CELL["source_row"]
SEQ_AT = _AT["seq"]


def added_holiday_undo(raw: tuple[Any, ...]) -> Row | None:
    """``holiday_undo_cells`` as a row keyed by ``UNDO_COLUMNS``."""
    cells = holiday_undo_cells(raw)
    return None if cells is None else dict(zip(UNDO_COLUMNS, cells, strict=True))


def holiday_undo_cells(raw: tuple[Any, ...]) -> list[str] | None:
    """The undo row of a succeeded holiday add, from its ops row (``OPS_COLUMN_NAMES``), as the
    cells of ``UNDO_COLUMNS``: what ``UndoBuilder.add`` makes of it, note and source_row
    included; None for any other operation. A list, not a ``Row``: a large job has one per
    holiday it added, and csv.writer takes it as it is.

    Valid by construction, so not checked row by row: a holiday delete that names one extension
    and the holiday by id, both ids checked here as the job-file rules check them (``check_id``),
    is a row those rules accept (a test holds a sample of them to the rules).
    """
    if _KIND(raw) != _ADD_HOLIDAY:
        return None
    created, extension_id, source, name = _CELLS(raw)
    if not isinstance(created, str) or check_id(created) or check_id(extension_id):
        return None
    cells = _DELETE_HOLIDAY.copy()
    cells[_EXTENSION] = extension_id
    cells[_HOLIDAY] = created
    cells[_NOTE] = f"undoes row {source}: delete the holiday {name!r} it added"
    cells[_SOURCE] = str(source)
    return cells


@dataclass(frozen=True, slots=True)
class _Made:
    seq: int
    cells: list[str]


@dataclass(slots=True)
class UndoResult:
    """Counts only: the rows and notes themselves went to the builder's callbacks."""

    rows: int = 0  # undo rows emitted
    notes: int = 0  # lines for undo-notes.txt: what cannot be (fully) reversed
    reversible: int = 0
    not_reversible: int = 0
    # Rows the job-file rules refused: their note names the row's number in undo.csv, which
    # depends on every row before it (a report cache cannot keep such a note: ``reports.render``).
    refused: int = 0


class UndoOutput:
    """Each operation's steps, held until ``finish`` checks their rows and hands all on."""

    def __init__(
        self,
        on_row: Callable[[Row], object],
        on_note: Callable[[str], object],
        *,
        batch: int,
        on_cells: Callable[[list[str]], object] | None = None,
        on_op: Callable[[int], object] | None = None,
    ) -> None:
        """``on_op``: called with an operation's seq before its rows and notes are handed on."""
        self.result = UndoResult()
        self._on_op = on_op
        self._on_row = on_row
        self._on_note = on_note
        self._on_cells = on_cells or (lambda c: on_row(dict(zip(UNDO_COLUMNS, c, strict=True))))
        self._batch = batch
        # An operation and its steps, or a row ``holiday_undo_cells`` made.
        self._waiting: list[tuple[Operation, list[Step]] | _Made] = []

    def hold(self, op: Operation, steps: list[Step]) -> None:
        """What building ``op``'s undo made."""
        self._waiting.append((op, steps))
        if len(self._waiting) >= self._batch:
            self.finish()

    def hold_made(self, cells: list[str], seq: int) -> None:
        """A row ``holiday_undo_cells`` made (of operation ``seq``), valid by construction:
        handed on unchecked."""
        self._waiting.append(_Made(seq, cells))
        if len(self._waiting) >= self._batch:
            self.finish()

    def finish(self) -> None:
        """Check the waiting rows and hand them and the notes on, in the order they were made."""
        made = [
            row
            for entry in self._waiting
            if isinstance(entry, tuple)
            for kind, _, row in entry[1]
            if kind == "row" and row is not None
        ]
        sure = iter(accepted_rows(made))
        for entry in self._waiting:
            if self._on_op is not None:
                self._on_op(entry.seq if isinstance(entry, _Made) else entry[0].seq)
            if isinstance(entry, _Made):
                self.result.rows += 1
                self.result.reversible += 1
                self._on_cells(entry.cells)
                continue
            op, steps = entry
            rows_before, notes_before = self.result.rows, self.result.notes
            for kind, text, row in steps:
                if row is not None:
                    self._write_row(op, row, text, checked=next(sure))
                elif kind == "note":
                    self._write_note(text)
                else:
                    self._write_cannot(op, text)
            if self.result.rows > rows_before:
                self.result.reversible += 1
            elif self.result.notes == notes_before:
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
                self.result.refused += 1
                self._write_cannot(
                    op, f"the reversing row would not be a valid job row ({problem})"
                )
                return
        row["note"] = f"undoes row {op.row}: {note}"
        row["source_row"] = str(op.row)
        self.result.rows += 1
        self._on_row(row)
