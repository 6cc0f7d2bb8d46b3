"""The values that travel through bulkops: setting kinds, operations and their outcomes.

Each value is defined once, here. The tables and files that hold an ``Operation`` or an
``Outcome`` (the plan frame, the checkpoint's ``ops`` table, results.csv) take their columns from
``OPERATION_COLUMNS`` and ``OUTCOME_COLUMNS``, which ``columns_of`` reads off the dataclasses'
fields; ``record_of`` writes a value as cells and ``field_reader`` reads cells back
(``operation_from_record`` for one plan row).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson


class Action(StrEnum):
    ADD = "add"
    UPDATE = "update"
    DELETE = "delete"

    @property
    def method(self) -> str:
        return _METHODS[self]


_METHODS = {Action.ADD: "POST", Action.UPDATE: "PATCH", Action.DELETE: "DELETE"}


class SettingType(StrEnum):
    BUSINESS_HOURS = "business_hours"
    CLOSED_HOURS = "closed_hours"
    HOLIDAY_HOURS = "holiday_hours"


class SubSettingType(StrEnum):
    HOLIDAY = "holiday"
    CALL_FORWARDING = "call_forwarding"
    CUSTOM_HOURS = "custom_hours"
    CALL_HANDLING = "call_handling"


_A, _U, _D = Action.ADD, Action.UPDATE, Action.DELETE
_S = SettingType
_SUB = SubSettingType

#: Which actions Zoom accepts for each settingType × sub_setting_type (zoom-api.md, "Bodies").
ALLOWED: dict[tuple[SettingType, SubSettingType], frozenset[Action]] = {
    (_S.BUSINESS_HOURS, _SUB.CALL_FORWARDING): frozenset({_A, _U, _D}),
    (_S.BUSINESS_HOURS, _SUB.CUSTOM_HOURS): frozenset({_U}),
    (_S.BUSINESS_HOURS, _SUB.CALL_HANDLING): frozenset({_U}),
    (_S.CLOSED_HOURS, _SUB.CALL_FORWARDING): frozenset({_A, _U, _D}),
    (_S.CLOSED_HOURS, _SUB.CALL_HANDLING): frozenset({_U}),
    (_S.HOLIDAY_HOURS, _SUB.HOLIDAY): frozenset({_A, _U, _D}),
    (_S.HOLIDAY_HOURS, _SUB.CALL_FORWARDING): frozenset({_A, _U, _D}),
    (_S.HOLIDAY_HOURS, _SUB.CALL_HANDLING): frozenset({_U}),
}


def allowed(action: Action, setting: SettingType, sub: SubSettingType) -> bool:
    return action in ALLOWED.get((setting, sub), frozenset())


class OpStatus(StrEnum):
    """Where an operation stands. The first two are transient; the rest are final."""

    PENDING = "pending"  # planned, nothing sent yet
    IN_FLIGHT = "in_flight"  # intent recorded durably; the outcome is not yet known
    SUCCEEDED = "succeeded"
    ALREADY_PRESENT = "already_present"  # an add whose item was found in place: not re-added
    ALREADY_ABSENT = "already_absent"  # a delete whose item was already gone
    FAILED = "failed"
    SKIPPED = "skipped"  # not attempted because an earlier operation on the extension failed
    NOT_RUN = "not_run"  # the run stopped before reaching it (resumable)
    # Only in a dry run's throw-away state: the write that would be sent, resolved but not sent.
    WOULD_CHANGE = "would_change"

    @property
    def final(self) -> bool:
        return self not in (OpStatus.PENDING, OpStatus.IN_FLIGHT, OpStatus.NOT_RUN)


@dataclass(frozen=True, slots=True)
class Operation:
    """One request-to-be against one extension, in plan order.

    ``settings`` is the ``settings`` object of the request body as far as the job file knows it;
    ids that must be looked up at run time (``needs_lookup``) are filled in by the engine.
    """

    seq: int  # position in the plan, 0-based; plan order is execution order per extension
    op_id: str  # deterministic: job-file content hash + source row + target
    row: int  # source row as the user sees it (header = row 1)
    action: Action
    extension_id: str
    setting_type: SettingType
    sub_setting_type: SubSettingType
    settings: dict[str, Any] = field(default_factory=dict)
    holiday_id: str | None = None  # the holiday this operation targets or lives under
    call_forwarding_id: str | None = None
    # Natural keys, used to find an id by name at run time and to reconcile ambiguous adds.
    holiday_name: str | None = None
    holiday_from: str | None = None  # yyyy-MM-ddTHH:mm:ssZ, narrows a lookup by name
    holiday_to: str | None = None
    phone_number: str | None = None
    extension_number: str | None = None  # from the directory, for reports only
    extension_name: str | None = None

    @property
    def method(self) -> str:
        return self.action.method

    @property
    def needs_lookup(self) -> bool:
        """True when an id the request needs must be read from the extension first."""
        adds_holiday = self.action is Action.ADD and self.sub_setting_type is SubSettingType.HOLIDAY
        # Every holiday-hours request except adding a holiday names a holiday.
        if (
            self.setting_type is SettingType.HOLIDAY_HOURS
            and self.holiday_id is None
            and not adds_holiday
        ):
            return True
        if (
            self.sub_setting_type is SubSettingType.CALL_FORWARDING
            and self.action is not Action.ADD
        ):
            return self.call_forwarding_id is None
        return False


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where one operation ended, or why it went back to pending: the engine decides it, the
    checkpoint stores it, the reports read it back. The one way an outcome travels."""

    status: OpStatus
    http_status: int | None = None
    zoom_code: int | None = None
    message: str | None = None
    created_id: str | None = None  # the id Zoom gave what this operation added
    target_id: str | None = None  # the id the operation acted on (looked up, or created)
    tracking_id: str | None = None  # Zoom's x-zm-trackingid, for support tickets
    reconciled: bool = False  # the result was established by a read after an ambiguous answer
    latency_ms: float | None = None


# --- columns: every table and file that holds these values derives its layout from here ------

Cell = str | int | float | None  # what a cell holds, in SQLite and in a plan frame


class ColumnKind(StrEnum):
    INT = "int"
    REAL = "real"
    BOOL = "bool"  # stored as 0/1
    TEXT = "text"  # a string, or a str enum stored by its value
    JSON_OBJECT = "json_object"  # a dict stored as JSON text


@dataclass(frozen=True, slots=True)
class Column:
    """One field of a value as a table column: its name, its cells' kind, and their codec."""

    name: str
    kind: ColumnKind
    nullable: bool
    enum: type[StrEnum] | None = None  # the enum a TEXT column's values belong to
    # cell -> field value; chosen once per column, as reports decode millions of cells
    decode: Callable[[Any], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "decode", _decoder(self))

    def encode(self, value: Any) -> Cell:
        if value is None:
            return None
        if self.kind is ColumnKind.JSON_OBJECT:
            return orjson.dumps(value).decode()
        if self.kind is ColumnKind.BOOL:
            return int(value)
        if isinstance(value, StrEnum):
            return value.value
        return typing.cast(Cell, value)


def _decoder(column: Column) -> Callable[[Any], Any]:
    convert: Callable[[Any], Any]
    if column.enum is not None:
        enum = column.enum
        members: dict[Any, StrEnum] = {m.value: m for m in enum}  # faster than calling the enum
        convert = lambda value: members.get(value) or enum(value)  # noqa: E731
    elif column.kind is ColumnKind.JSON_OBJECT:
        empty: dict[str, Any] | None = None if column.nullable else {}
        convert = lambda text: dict(orjson.loads(text)) if text else empty  # noqa: E731
    else:
        convert = {ColumnKind.INT: int, ColumnKind.REAL: float, ColumnKind.BOOL: bool}.get(
            column.kind, str
        )

    def decode(cell: Any) -> Any:
        # SQLite marks a missing value as NULL, a plan frame (pandas) as NaN.
        if cell is None or (isinstance(cell, float) and cell != cell):  # NaN
            if column.nullable:
                return None
            if column.kind is ColumnKind.JSON_OBJECT:
                return {}
            raise ValueError(f"the {column.name} column has no value")
        return convert(cell)

    return decode


def _column(name: str, hint: Any) -> Column:
    members = typing.get_args(hint)
    nullable = type(None) in members
    if nullable:
        (hint,) = (m for m in members if m is not type(None))
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return Column(name, ColumnKind.TEXT, nullable, hint)
    kinds = {
        bool: ColumnKind.BOOL,
        int: ColumnKind.INT,
        float: ColumnKind.REAL,
        str: ColumnKind.TEXT,
    }
    if hint in kinds:
        return Column(name, kinds[hint], nullable)
    if typing.get_origin(hint) is dict:
        return Column(name, ColumnKind.JSON_OBJECT, nullable)
    raise TypeError(f"{name}: {hint!r} has no column kind; add one to bulkops.model._column")


def columns_of(cls: type[Any], *, skip: Collection[str] = ()) -> tuple[Column, ...]:
    """The fields of dataclass ``cls`` (but ``skip``) as columns, in field order."""
    hints = typing.get_type_hints(cls)
    return tuple(
        _column(f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.name not in skip
    )


def record_of(value: Any, columns: Collection[Column]) -> dict[str, Cell]:
    """``value``'s fields as cells, keyed by column name (``load(dump(x)) == x``)."""
    return {c.name: c.encode(getattr(value, c.name)) for c in columns}


def field_reader(
    columns: Sequence[Column], *, native: Collection[ColumnKind] = ()
) -> Callable[[Sequence[Any]], list[Any]]:
    """A function from cells in ``columns`` order to the fields' values.

    Cells of a ``native`` kind are taken as they come: a store that types its columns (SQLite's
    INTEGER, REAL and TEXT, with NOT NULL where a field needs a value) hands them back right, and
    a report reads millions. Every other cell is decoded (enums, JSON, booleans; a plan frame's
    NaN and numpy scalars).
    """
    decoders = [
        (i, c.decode) for i, c in enumerate(columns) if c.enum is not None or c.kind not in native
    ]
    width = len(columns)

    def read(cells: Sequence[Any]) -> list[Any]:
        values = list(cells)
        if len(values) != width:
            raise ValueError(f"{len(values)} cells for {width} columns")
        for i, decode in decoders:
            values[i] = decode(values[i])
        return values

    return read


OPERATION_COLUMNS = columns_of(Operation)
OUTCOME_COLUMNS = columns_of(Outcome)
OPERATION_COLUMN_NAMES = tuple(c.name for c in OPERATION_COLUMNS)
_read_operation = field_reader(OPERATION_COLUMNS)


def operation_from_record(record: Mapping[str, Any]) -> Operation:
    """One row of operation columns (a plan frame's record, a checkpoint row) as an Operation;
    a column the record lacks reads as missing."""
    return Operation(*_read_operation([record.get(name) for name in OPERATION_COLUMN_NAMES]))
