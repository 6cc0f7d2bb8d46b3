"""A job file's text columns for the checks by columns (``columns``), and the plain rows' spec
columns built from them.

The frame's columns are Arrow strings. A column of a million cells with a handful of distinct
values (an action, a holiday's name, its dates) is read as codes into its distinct values
(``Cells.coded``): one Python string per distinct value, not per cell. ``build`` gives the plain
rows' spec fields as such codes (``specs.Coded``) wherever a field has few values or is
compared and joined rather than read, and the plan's categorical columns take the codes as they
are (``expand``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..model import Action, SettingType, SubSettingType
from .checks import ExtensionRef
from .specs import SETTINGS, Coded, Column, IntArray, Texts, distinct_rows

Mask = npt.NDArray[np.bool_]


class Cells:
    """The frame's text columns as arrays, an absent column read as all empty."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.size = len(frame)
        self._given: dict[str, Mask] = {}
        self._coded: dict[str, Coded] = {}
        self._empty: pd.Series | None = None

    def text(self, name: str) -> pd.Series:
        if name in self.frame.columns:
            return self.frame[name]
        if self._empty is None:  # made once, by Arrow: a million-row column of "" is not free
            cells = pa.array([""], pa.large_string()).take(np.zeros(self.size, dtype=np.int64))
            self._empty = cells.to_pandas().astype("str").set_axis(self.frame.index)
        return self._empty

    def given(self, name: str) -> Mask:
        if name not in self._given:
            if name in self.frame.columns:
                self._given[name] = self.frame[name].ne("").to_numpy(dtype=bool)
            else:
                self._given[name] = np.zeros(self.size, dtype=bool)
        return self._given[name]

    def coded(self, name: str) -> Coded:
        """The column as codes into its distinct values, None for an empty cell (the per-row
        path's 'not given'): Arrow hashes the cells, Python sees each distinct value once."""
        if name not in self._coded:
            if name in self.frame.columns:
                codes, distinct = pd.factorize(self.frame[name])
                text = pa.array(distinct.array)  # the uniques' own Arrow text, not a copy
                empty = pc.equal(text, "")
                text = pc.if_else(empty, None, text) if pc.any(empty).as_py() else text
                # Values are made from the text only when asked for (Coded.values).
                self._coded[name] = Coded(codes.astype(np.int64, copy=False), None, True, text)
            else:  # every absent column shares one array of codes, read-only
                self._coded[name] = Coded(self._absent(), _NONE, True)
        return self._coded[name]

    def _absent(self) -> IntArray:
        for column in self._coded.values():
            if column.stored is _NONE:
                return column.codes
        codes = np.full(self.size, -1, dtype=np.int64)
        codes.flags.writeable = False
        return codes

    def objects(self, name: str) -> Column:
        """The column as an array of text, a Python string per cell."""
        text: Column = self.text(name).to_numpy(dtype=object)
        return text

    def matches(self, name: str, pattern: str, *, each: bool = False) -> Mask:
        """Empty, or the whole cell matches ``pattern``. ``each``: judged once per distinct
        value (``coded``), for a column that is coded anyway (ids a million rows repeat)."""
        if name not in self.frame.columns:
            return np.ones(self.size, dtype=bool)
        if each:
            column = self.coded(name)
            given = column.values if column.text is None else column.text
            text = pd.Series(pd.array(given, dtype="str"))
            seen = text.str.fullmatch(pattern).to_numpy(dtype=bool, na_value=False)
            return np.append(seen | column.missing(), True)[column.codes]
        hit = self.frame[name].str.fullmatch(pattern).to_numpy(dtype=bool, na_value=False)
        return hit | ~self.given(name)


_NONE: Column = np.empty(0, dtype=object)


def taken(column: Coded, where: npt.NDArray[np.intp]) -> Coded:
    """The rows ``where`` (increasing) of ``column``: all of them is the column itself."""
    if len(where) == len(column.codes):
        return column
    return Coded(column.codes[where], column.stored, column.distinct, column.text)


def equals(column: Coded, value: object) -> Mask:
    """Which rows hold ``value``."""
    if column.stored is None and column.text is not None:  # compared by Arrow, as text
        same = pc.equal(column.text, pa.scalar(str(value), column.text.type))
        found = np.asarray(pc.fill_null(same, False).to_numpy(zero_copy_only=False), dtype=bool)
    else:
        found = np.asarray(column.values == value, dtype=bool)
    hit: Mask = np.append(found, False)[column.codes]
    return hit


def among(column: Coded, values: Sequence[str]) -> Mask:
    """Which rows hold one of ``values``."""
    wanted = set(values)
    hit: Mask = np.array([v in wanted for v in column.values.tolist()] + [False])[column.codes]
    return hit


def given(column: Coded) -> Mask:
    """Which rows hold a value (not None)."""
    hit: Mask = np.append(~column.missing(), False)[column.codes]
    return hit


def build(
    c: Cells,
    ok: Mask,
    sub: Coded,
    ref_of: npt.NDArray[np.int64],
    when: dict[str, Coded],
) -> dict[str, Column | Coded | IntArray | Texts]:
    """The plain rows' spec fields as columns, field for field what ``fields`` writes for them,
    ``settings`` as the sorted-key JSON text planning stores (``specs``)."""
    where = np.flatnonzero(ok)
    action = taken(c.coded("action"), where)
    sub = taken(sub, where)
    cell = {
        name: taken(column, where)
        for name, column in (
            ("name", c.coded("name")),
            ("from", when["from"]),
            ("to", when["to"]),
            ("holiday_id", c.coded("holiday_id")),
            ("phone_number", c.coded("phone_number")),
            ("description", c.coded("description")),
            ("call_forwarding_id", c.coded("call_forwarding_id")),
        )
    }
    ref_value = _references(c, ref_of, where)
    holiday = equals(sub, SubSettingType.HOLIDAY)
    update = equals(action, Action.UPDATE.value)
    # What _shape admits makes most fields the cell itself: a holiday row gives no forwarding
    # cells and a forwarding row no holiday cells. An update keeps its times in the body only;
    # a forwarding delete by id looks nothing up by number.
    by_id = ~holiday & given(cell["call_forwarding_id"])
    columns: dict[str, Column | Coded | IntArray | Texts] = {
        "row": c.frame.index.to_numpy(dtype=np.int64)[where],
        "action": _enums(action, Action),
        "setting_type": _enums(taken(c.coded("setting_type"), where), SettingType),
        "sub_setting_type": sub,
        "holiday_id": cell["holiday_id"],
        "call_forwarding_id": cell["call_forwarding_id"],
        "holiday_name": cell["name"],
        "holiday_from": _blank(cell["from"], holiday & update),
        "holiday_to": _blank(cell["to"], holiday & update),
        "phone_number": _blank(cell["phone_number"], by_id),
        "ref": Coded(ref_of[where], np.array(list(ExtensionRef), dtype=object)),
        "ref_value": ref_value,
        SETTINGS: _bodies(action, holiday, cell),
    }
    return columns


def _references(c: Cells, ref_of: IntArray, where: npt.NDArray[np.intp]) -> Column | Texts:
    """Each row's reference text: the column's own Arrow text when every row names the same
    reference column (a migration's extension_id: a million ids are hashed by Arrow and become
    the plan's column as they are, no Python string each), else a Python string per row."""
    kinds = ref_of[where]
    if len(kinds) and (kinds == kinds[0]).all():
        text: Texts = c.text(list(ExtensionRef)[int(kinds[0])].value).array
        return text if len(where) == c.size else text.take(where)
    values: Column = np.full(len(where), "", dtype=object)
    for i, ref in enumerate(ExtensionRef):
        mine = ref_of[where] == i
        if mine.any():
            values[mine] = c.objects(ref.value)[where][mine]
    return values


def _blank(column: Coded, where: Mask) -> Coded:
    """``column`` with None ``where`` the field is not the spec's."""
    if not where.any():  # a million rows' codes are not copied for nothing
        return column
    return Coded(np.where(where, -1, column.codes), column.stored, column.distinct, column.text)


def _enums(column: Coded, kind: type[Any]) -> Coded:
    """Text codes as codes into ``kind``'s members (every row a plain row: a valid value)."""
    members = np.empty(len(column.values), dtype=object)
    known = {member.value for member in kind}
    members[:] = [kind(v) if v in known else None for v in column.values]
    return Coded(column.codes, members)


#: What orjson escapes in a string (checked against every code point): any other text is its
#: own JSON between quotes.
_ESCAPED = r'[\x00-\x1f"\\]'


def _json(column: Coded) -> pa.Array:
    """Each value as ``orjson.dumps`` spells it, then ``null`` (for code -1): quoted by Arrow,
    from the values' Arrow text where the column has it (``Coded.text``), orjson only for the
    values with a character to escape."""
    if column.text is None:
        text = pa.array([*column.values.tolist(), None], type=pa.string())
    else:
        text = pa.concat_arrays([column.text.cast(pa.string()), pa.nulls(1, pa.string())])
    out = pc.fill_null(pc.binary_join_element_wise('"', text, '"', ""), "null")
    escape = np.flatnonzero(pc.fill_null(pc.match_substring_regex(text, _ESCAPED), False))
    if not len(escape):
        return out
    spelled = out.to_pylist()
    for i in escape.tolist():
        spelled[i] = orjson.dumps(column.values[i]).decode()
    return pa.array(spelled, type=pa.string())


def _bodies(action: Coded, holiday: Mask, cell: dict[str, Coded]) -> Coded:
    """Each plain row's ``settings`` as ``orjson.dumps(body, OPT_SORT_KEYS)`` spells it: the
    body ``fields`` builds for its shape, made once per distinct body (a holiday rolled out to
    many extensions is one body) and joined from JSON-encoded cells by Arrow."""
    codes = np.zeros(len(action.codes), dtype=np.int64)
    texts: list[pa.Array] = [pa.array(["{}"], type=pa.string())]  # deletes send no body
    count = 1  # bodies so far
    distinct = True  # every cell a distinct value of its column: every body a distinct body
    spelled: dict[str, pa.Array] = {}  # per column, each distinct value as JSON

    def cells(name: str, rows: npt.NDArray[np.intp]) -> pa.Array:
        """Column ``name``'s cells at ``rows`` as JSON."""
        if name not in spelled:
            spelled[name] = _json(cell[name])
        picked = cell[name].codes[rows]
        return spelled[name].take(np.where(picked < 0, cell[name].count(), picked))

    def put(at: Mask, *parts: str) -> None:
        """Rows ``at`` get ``parts`` joined: JSON text as is, ``$column`` as that cell encoded."""
        if not at.any():
            return
        names = [p[1:] for p in parts if p.startswith("$")]
        nonlocal count, distinct
        distinct &= all(cell[name].distinct for name in names)
        same, first = distinct_rows([cell[name].codes[at] for name in names])
        rows = np.flatnonzero(at)[first]
        pieces = [cells(p[1:], rows) if p.startswith("$") else p for p in parts]
        joined = pc.binary_join_element_wise(*pieces, "")
        codes[at] = count + same
        count += len(joined)
        texts.append(joined.cast(pa.string()))

    add, update = equals(action, Action.ADD.value), equals(action, Action.UPDATE.value)
    with_id = given(cell["holiday_id"])
    with_text = given(cell["description"])
    # Each template once: bodies of two templates differ (a key only one of them has), and
    # within one, distinct cells make distinct bodies, so the bodies are distinct values when
    # every cell is a distinct value of its column (a factorization's: ``distinct``).
    put(
        holiday & (add | update & ~with_id),
        '{"from":', "$from", ',"name":', "$name", ',"to":', "$to", "}",
    )  # fmt: skip
    put(
        holiday & update & with_id,
        '{"from":', "$from", ',"holiday_id":', "$holiday_id", ',"name":', "$name", ',"to":',
        "$to", "}",
    )  # fmt: skip
    put(~holiday & add & ~with_text, '{"phone_number":', "$phone_number", "}")
    put(
        ~holiday & add & with_text,
        '{"description":',
        "$description",
        ',"phone_number":',
        "$phone_number",
        "}",
    )
    # Text only, in the parts joined (no copy into one array): a body becomes a Python string
    # when a row's spec is made (Coded.values).
    return Coded(codes, None, distinct, pa.chunked_array(texts))
