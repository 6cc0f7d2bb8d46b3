"""A job file's checked rows as columns: what planning reads of a million rows without a
``RowSpec`` object (and its ``settings`` dict) per row.

``Specs`` is a sequence of ``RowSpec`` in job-file order. Rows checked one by one (``rules``)
keep the spec their rules built; the plain rows checked by columns (``columns``) are only
columns, and a ``RowSpec`` is made for one of them when something asks for it by position or
iterates (the per-extension checks of a directory job, a problem's wording). Planning's bulk
steps (``directory.resolve``, ``zones.operation_zones``, ``conflicts.find_conflicts``) read the
columns directly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd
import pyarrow as pa
from pandas.api.extensions import ExtensionArray

from ..model import Action, SettingType, SubSettingType
from .checks import ExtensionRef, RowSpec

Column = npt.NDArray[np.object_]
IntArray = npt.NDArray[np.int64]
#: Text held by pandas as Arrow's (a "str" array): a column read from the job file, taken as
#: it is rather than as a Python string per cell.
Texts = ExtensionArray

#: The RowSpec fields held as columns (``settings`` as sorted-key JSON text).
FIELDS = (
    "row",
    "action",
    "setting_type",
    "sub_setting_type",
    "holiday_id",
    "call_forwarding_id",
    "holiday_name",
    "holiday_from",
    "holiday_to",
    "phone_number",
    "ref",
    "ref_value",
    "zone",
    "naive",
)
SETTINGS = "settings"


def settings_text(settings: dict[str, Any]) -> str:
    """A body as planning stores it: JSON with sorted keys."""
    return orjson.dumps(settings, option=orjson.OPT_SORT_KEYS).decode()


def distinct_rows(
    columns: Sequence[npt.NDArray[Any]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(code per row, first row of each code) of the rows' combined values: equal cells in
    every column, equal code (numbered in order of first appearance). Integer columns are taken
    as codes already (-1 and up, as ``Coded`` holds them): no hashing but the last."""
    combined = np.zeros(len(columns[0]), dtype=np.int64)
    span = 1  # combined < span
    for column in columns:
        if column.dtype.kind in "iu":
            codes = column.astype(np.int64, copy=False) + 1
            size = int(codes.max()) + 1 if len(codes) else 1
        else:
            found, uniques = pd.factorize(column)
            codes, size = found.astype(np.int64, copy=False) + 1, len(uniques) + 1
        if span * size >= 2**62:  # renumbered densely, so the product cannot overflow
            combined, distinct = pd.factorize(combined)
            span = len(distinct)
        combined = combined * size + codes
        span *= size
    if span <= max(len(combined), 1 << 16):  # small enough to number without hashing
        combined, _ = first_seen(combined, span)
    else:
        combined, _ = pd.factorize(combined)
    combined = combined.astype(np.int64, copy=False)
    return combined, first_rows(combined, int(combined.max()) + 1 if len(combined) else 0)


def first_rows(codes: npt.NDArray[np.integer[Any]], count: int) -> IntArray:
    """Where each of the codes 0 … count-1 first appears (a scatter in reverse: the first row
    writes last)."""
    first = np.zeros(count, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return first


def first_seen(codes: IntArray, span: int) -> tuple[IntArray, IntArray]:
    """Codes in [-1, span) numbered again in order of first appearance, -1 kept (what
    ``pd.factorize`` gives, without hashing: the codes are small integers already), and the old
    code of each new one. Where each first appears is found by a scatter in reverse: the first
    row writes last."""
    rows = len(codes)
    first_at = np.full(span + 1, rows, dtype=np.int64)
    first_at[codes[::-1] + 1] = np.arange(rows - 1, -1, -1)
    used = np.flatnonzero(first_at[1:] < rows)
    order = used[np.argsort(first_at[1:][used], kind="stable")]
    renumber = np.full(span + 1, -1, dtype=np.int64)
    renumber[order + 1] = np.arange(len(order))
    return renumber[codes + 1], order


@dataclass(frozen=True, slots=True)
class Coded:
    """A column as a code per row into ``values`` (-1: None): a million cells of a handful of
    distinct values (a holiday's name, its dates, its body, an enum) kept without a Python
    object per cell, and taken as codes by the plan's categorical columns."""

    codes: IntArray
    #: The values, or None where only ``text`` holds them: ``values`` then makes them from it
    #: when first asked (half a million holiday ids are checked, joined into bodies and made
    #: the plan's categories by Arrow, never as Python strings).
    stored: Column | None
    #: The values are pairwise distinct, None at most once (a factorization's): ``canonical``
    #: then numbers them without hashing them again (half a million holiday ids at 1M rows).
    distinct: bool = False
    #: ``values`` as Arrow text, None as null, where they were read from Arrow (an array, or
    #: chunks: the bodies): the plan's categories and a body's JSON cells are made from it,
    #: not from a Python string per value.
    text: pa.Array | pa.ChunkedArray | None = None

    @classmethod
    def of(cls, column: Column) -> Coded:
        codes, distinct = pd.factorize(column)
        return cls(codes.astype(np.int64, copy=False), np.asarray(distinct, dtype=object), True)

    @property
    def values(self) -> Column:
        if self.stored is None:
            if self.text is None:
                raise ValueError("a Coded column needs its values or their text")
            made: Column = self.text.to_numpy(zero_copy_only=False)  # None for null
            object.__setattr__(self, "stored", made)  # made once, as the field it stands for
            return made
        return self.stored

    def count(self) -> int:
        """How many values there are (without making them)."""
        return len(self.text) if self.stored is None and self.text is not None else len(self.values)

    def missing(self) -> npt.NDArray[np.bool_]:
        """Which values are None (without making them)."""
        if self.stored is None and self.text is not None:
            valid = self.text.is_valid().to_numpy(zero_copy_only=False)
            return np.asarray(~valid, dtype=bool)
        return np.asarray(pd.isna(self.values), dtype=bool)

    def array(self) -> Column:
        """The column, a cell per row."""
        values = self.values
        with_none = np.empty(len(values) + 1, dtype=object)
        with_none[: len(values)] = values
        picked: Column = with_none[self.codes]  # code -1 picks the None at the end
        return picked

    def canonical(self) -> Coded:
        """The codes and values ``pd.factorize`` gives ``array()``: equal values merged,
        numbered in order of first appearance, only those some row uses, None as -1. Values
        held only as text stay so."""
        lazy = self.stored is None
        text = None
        distinct: Column | None
        if self.distinct:  # each value its own number, None's -1
            known = ~self.missing()
            same = np.where(known, np.cumsum(known) - 1, -1)
            size = int(known.sum())
            distinct = None if lazy else self.values[known]
            text = self.text if self.text is None or known.all() else self.text.filter(known)
        elif lazy and self.text is not None:  # hashed by Arrow
            found, uniques = pd.array(self.text, dtype="str").factorize()
            same, size, distinct = found, len(uniques), None
            text = pa.array(uniques)
        else:
            found, uniques = pd.factorize(self.values)  # the few values: duplicates merged
            same, distinct = found, np.asarray(uniques, dtype=object)
            size = len(distinct)
            if self.text is not None:  # each distinct value's text where it first appears
                at = np.flatnonzero(found >= 0)
                text = self.text.take(at[first_rows(found[at], size)])
        merged = np.append(same.astype(np.int64, copy=False), -1)[self.codes]
        codes, order = first_seen(merged, size)
        if text is not None and not np.array_equal(order, np.arange(size)):
            text = text.take(order)  # in order already (a factorization's): no copy
        return Coded(codes, None if distinct is None else distinct[order], True, text)


class SpecColumns(Mapping[str, Column]):
    """The spec fields by name: arrays of objects, or ``Coded`` columns, integer arrays (the
    rows) and Arrow text (``Texts``) made arrays of objects when first read as such."""

    __slots__ = ("_held", "_made")

    def __init__(self, held: Mapping[str, Column | Coded | IntArray | Texts]) -> None:
        self._held = dict(held)
        self._made: dict[str, Column] = {}

    def __getitem__(self, name: str) -> Column:
        if name not in self._made:
            held = self._held[name]
            made: Column
            if isinstance(held, Coded):
                made = held.array()
            elif isinstance(held, np.ndarray):
                made = held.astype(object, copy=False)
            else:
                made = held.to_numpy(dtype=object)
            self._made[name] = made  # an array of objects is taken as it is
        return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._held)

    def __len__(self) -> int:
        return len(self._held)

    def texts(self, name: str) -> Column | Texts:
        """Column ``name`` as it is held when that is Arrow text, else as objects."""
        held = self._held[name]
        return held if isinstance(held, ExtensionArray) else self[name]

    def coded(self, name: str) -> Coded:
        """Column ``name`` as codes (factorized here when it is held as an array)."""
        held = self._held[name]
        return held if isinstance(held, Coded) else Coded.of(self[name])

    def take(self, name: str, rows: IntArray) -> Column:
        """Column ``name`` at ``rows`` (no array of the whole column made for it)."""
        held = self._held[name]
        if isinstance(held, Coded):
            return Coded(held.codes[rows], held.stored, held.distinct, held.text).array()
        return self[name][rows]

    def rows(self) -> IntArray:
        """Each spec's job-file row."""
        held = self._held["row"]
        if isinstance(held, np.ndarray) and held.dtype.kind == "i":
            return held.astype(np.int64, copy=False)
        return np.asarray(self["row"], dtype=np.int64)

    def size(self) -> int:
        held = self._held["row"]
        return len(held.codes if isinstance(held, Coded) else held)


class Specs(Sequence[RowSpec]):
    """Row templates in job-file order: ``columns`` for all, ``built`` specs where a row's rules
    built one (those are returned as they are, so a caller sees the same object each time)."""

    __slots__ = ("built", "columns")

    def __init__(
        self,
        columns: Mapping[str, Column | Coded | IntArray | Texts],
        built: dict[int, RowSpec],
    ) -> None:
        self.columns = SpecColumns(columns)
        self.built = built

    @classmethod
    def of(cls, specs: Sequence[RowSpec]) -> Specs:
        """Specs of ``specs`` (already built, e.g. by the per-row rules)."""
        if isinstance(specs, Specs):
            return specs
        return cls(_columns_of(specs), dict(enumerate(specs)))

    @classmethod
    def merge(cls, size: int, parts: Sequence[tuple[npt.NDArray[np.int64], Specs]]) -> Specs:
        """One ``Specs`` of ``size`` rows from parts, each placed at its positions."""
        columns = {name: np.empty(size, dtype=object) for name in (*FIELDS, SETTINGS)}
        built: dict[int, RowSpec] = {}
        for at, part in parts:
            for name, values in part.columns.items():
                columns[name][at] = values
            built.update(zip(at[list(part.built)].tolist(), part.built.values(), strict=True))
        return cls(columns, built)

    def __len__(self) -> int:
        return self.columns.size()

    @overload
    def __getitem__(self, index: int) -> RowSpec: ...

    @overload
    def __getitem__(self, index: slice) -> list[RowSpec]: ...

    def __getitem__(self, index: int | slice) -> RowSpec | list[RowSpec]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        spec = self.built.get(index)
        return self._make(index) if spec is None else spec

    def __iter__(self) -> Iterator[RowSpec]:
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Specs({list(self)!r})"

    def _make(self, i: int) -> RowSpec:
        c = self.columns
        return RowSpec(
            int(c["row"][i]),
            Action(c["action"][i]),
            SettingType(c["setting_type"][i]),
            SubSettingType(c["sub_setting_type"][i]),
            orjson.loads(c[SETTINGS][i]),
            ExtensionRef(c["ref"][i]),
            c["ref_value"][i],
            c["holiday_id"][i],
            c["call_forwarding_id"][i],
            c["holiday_name"][i],
            c["holiday_from"][i],
            c["holiday_to"][i],
            c["phone_number"][i],
            c["zone"][i],
            c["naive"][i],
        )


def _columns_of(specs: Sequence[RowSpec]) -> dict[str, Column]:
    size = len(specs)
    values = list(zip(*map(attrgetter(*FIELDS), specs), strict=True)) or [()] * len(FIELDS)
    columns: dict[str, Column] = {}
    for name, column in zip(FIELDS, values, strict=True):
        array = np.empty(size, dtype=object)
        array[:] = list(column)  # a list of tuples (``naive``) stays one tuple per cell
        columns[name] = array
    columns[SETTINGS] = np.asarray([settings_text(s.settings) for s in specs], dtype=object)
    return columns
