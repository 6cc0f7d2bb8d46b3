"""Validation by columns: the common rows of a job file checked once per column, not per row.

A migration's job file has a row per extension and setting, nearly all of a few shapes: holiday
add/update/delete and forwarding add/delete of business or closed hours, with no ``settings``
JSON and no ``hours``. ``plain_specs`` checks each column of the whole frame at once (enums,
the one-reference rule, ids, E.164, names, dates with their time zones, from < to, the columns
each shape uses) and gives those rows' spec fields as columns (``specs.Specs``: no ``RowSpec``
object or ``settings`` dict per row until one is asked for). Every other row, and every row
that fails any of these checks, is left to the per-row path (``rules.check_row``), so a
problem is reported by exactly the code, with exactly the words, it always was.

The contract, pinned by a property test: a row this module accepts is one ``check_row`` accepts
with no problem at all and turns into an equal spec. Each column check is therefore a subset of
its per-row check: patterns spell out ASCII classes (a regex engine's ``\\d``/``\\s`` may differ
from Python's), and dates, zones and names are judged by the per-row functions themselves, once
per distinct value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..model import Action, SettingType, SubSettingType
from .checks import (
    E164_RE,
    EXTENSION_NUMBER_RE,
    ID_RE,
    ExtensionRef,
    has_visible,
    is_naive,
    parse_timezone,
    parse_when,
)
from .specs import SETTINGS, Column, Specs, distinct_rows

Mask = npt.NDArray[np.bool_]

#: ASCII-only patterns, so any regex engine reads them as ``checks`` does. EMAIL is a subset of
#: ``checks.EMAIL_RE`` (no '@', no white space): a cell it refuses goes the per-row way.
_ID = ID_RE.pattern
_E164 = E164_RE.pattern
_EXTENSION_NUMBER = EXTENSION_NUMBER_RE.pattern
_EMAIL = r"[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+"
_VISIBLE = r"[!-~]"  # one printable ASCII character is enough for has_visible
_REF_PATTERNS = {
    ExtensionRef.EXTENSION_ID: _ID,
    ExtensionRef.EXTENSION_NUMBER: _EXTENSION_NUMBER,
    ExtensionRef.EMAIL: _EMAIL,
    ExtensionRef.SELECTOR: None,  # checked against the directory, when the row is expanded
}
#: Setting types whose forwarding rows need no holiday: the plain forwarding shapes.
_PLAIN_FORWARDING = (SettingType.BUSINESS_HOURS.value, SettingType.CLOSED_HOURS.value)
_HOLIDAY = ("name", "from", "to", "holiday_id")
_FORWARDING = ("phone_number", "call_forwarding_id", "description")


class _Columns:
    """The frame's text columns as arrays, an absent column read as all empty."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.size = len(frame)
        self._given: dict[str, Mask] = {}
        self._empty: pd.Series | None = None

    def text(self, name: str) -> pd.Series:
        if name in self.frame.columns:
            return self.frame[name]
        if self._empty is None:  # made once: a million-row column of "" is not free
            self._empty = pd.Series([""] * self.size, index=self.frame.index, dtype="str")
        return self._empty

    def given(self, name: str) -> Mask:
        if name not in self._given:
            if name in self.frame.columns:
                self._given[name] = self.frame[name].ne("").to_numpy(dtype=bool)
            else:
                self._given[name] = np.zeros(self.size, dtype=bool)
        return self._given[name]

    def values(self, name: str) -> list[Any]:
        """The column as a list, None where empty (the per-row path's 'not given')."""
        given = self.given(name)
        text = self.text(name).to_numpy(dtype=object)
        text[~given] = None
        values: list[Any] = text.tolist()
        return values

    def matches(self, name: str, pattern: str) -> Mask:
        """Empty, or the whole cell matches ``pattern``."""
        if name not in self.frame.columns:
            return np.ones(self.size, dtype=bool)
        hit = self.frame[name].str.fullmatch(pattern).to_numpy(dtype=bool, na_value=False)
        return hit | ~self.given(name)


def _per_value(
    values: pd.Series, judge: Callable[[str], tuple[Any, bool]]
) -> tuple[npt.NDArray[Any], Mask]:
    """``judge`` once per distinct value: (results per row, which rows it accepted)."""
    codes, uniques = pd.factorize(values)
    judged = [judge(str(u)) for u in uniques]
    results = np.array([r for r, _ in judged] + [None], dtype=object)
    accepted = np.array([ok for _, ok in judged] + [False], dtype=bool)
    return results[codes], accepted[codes]


def plain_specs(frame: pd.DataFrame, tz: ZoneInfo | None) -> tuple[Mask, Specs]:
    """Which rows of ``frame`` are plain (checked here, no problem), and their specs in order.

    ``frame``: the job file's known columns as text, indexed by spreadsheet row; ``tz``: the
    ``timezone=`` argument (already checked).
    """
    c = _Columns(frame)
    ok = np.ones(c.size, dtype=bool)
    # Anything beyond the plain shapes: the per-row path.
    for name in ("settings", "hours"):
        ok &= ~c.given(name)
    action = c.text("action")
    setting = c.text("setting_type")
    ok &= action.isin([a.value for a in Action]).to_numpy(dtype=bool)
    ok &= setting.isin([s.value for s in SettingType]).to_numpy(dtype=bool)

    # Exactly one extension reference, in the format its column needs.
    refs = list(ExtensionRef)
    count = sum((c.given(ref.value).astype(np.int64) for ref in refs), np.zeros(c.size, np.int64))
    ok &= count == 1
    ref_of = np.full(c.size, -1, dtype=np.int64)
    for i, ref in enumerate(refs):
        pattern = _REF_PATTERNS[ref]
        if pattern is not None:
            ok &= c.matches(ref.value, pattern)
        ref_of[c.given(ref.value)] = i

    # Cell formats.
    for name in ("holiday_id", "call_forwarding_id"):
        ok &= c.matches(name, _ID)
    ok &= c.matches("phone_number", _E164)
    if "name" in frame.columns:
        visible = c.text("name").str.contains(_VISIBLE).to_numpy(dtype=bool) | ~c.given("name")
        unsure = ~visible & c.given("name")
        if unsure.any():  # nothing printable in ASCII: has_visible decides, per distinct name
            _, seen = _per_value(c.text("name")[unsure], lambda v: (None, has_visible(v)))
            visible[np.flatnonzero(unsure)] = seen
        ok &= visible

    zones, zone_ok = _per_value(c.text("timezone"), _zone_judge(tz))
    ok &= zone_ok
    when: dict[str, list[Any]] = {}
    for name in ("from", "to"):
        when[name], parsed = _when(c, name, zones, tz)
        ok &= parsed | ~c.given(name)
    both = c.given("from") & c.given("to") & ok
    if both.any():
        start = np.array(when["from"], dtype=object)[both]
        end = np.array(when["to"], dtype=object)[both]
        ok[np.flatnonzero(both)] = (start < end).astype(bool)

    sub = _sub_setting_type(c, action, setting)
    ok &= sub != ""
    shape = _shape(c, action.to_numpy(dtype=object), setting.to_numpy(dtype=object), sub)
    ok &= shape
    columns = _build(c, ok, sub, ref_of, when)
    columns.update(_zone_notes(c, ok, zones))
    return ok, Specs(columns, {})


def _zone_notes(c: _Columns, ok: Mask, zones: npt.NDArray[Any]) -> dict[str, Column]:
    """What ``check_row`` notes of each plain row's zone: the zone its naive times were read in,
    or, when the row names none, its naive ``from``/``to`` (read again per extension later).

    A plain row's ``from``/``to`` parsed (or it would not be plain), so which of them are naive
    depends on their text alone: each distinct pair's note is made once and shared."""
    where = np.flatnonzero(ok)
    start_codes, starts = pd.factorize(c.text("from").to_numpy(dtype=object)[where])
    end_codes, ends = pd.factorize(c.text("to").to_numpy(dtype=object)[where])
    pair_codes, pairs = pd.factorize(start_codes.astype(np.int64) * len(ends) + end_codes)
    notes = np.empty(len(pairs) + 1, dtype=object)
    notes[:] = [
        tuple(
            (name, text)
            for name, text in (("from", starts[p // len(ends)]), ("to", ends[p % len(ends)]))
            if text and is_naive(text)
        )
        for p in pairs.tolist()
    ] + [()]
    keys = np.array([None if z is None else z.key for z in zones[where].tolist()], dtype=object)
    named = pd.notna(keys)
    return {"zone": keys, "naive": notes[np.where(named, len(pairs), pair_codes)]}


def _zone_judge(tz: ZoneInfo | None) -> Callable[[str], tuple[Any, bool]]:
    def judge(value: str) -> tuple[Any, bool]:
        zone, reason = parse_timezone(value)
        return (zone or tz), reason is None

    return judge


def _when(
    c: _Columns, name: str, zones: npt.NDArray[Any], tz: ZoneInfo | None
) -> tuple[list[Any], Mask]:
    """``parse_when`` of column ``name`` once per distinct (text, timezone cell): the
    normalised values and which parsed."""
    if not c.given(name).any():
        return [None] * c.size, np.zeros(c.size, dtype=bool)
    text_codes, _ = pd.factorize(c.text(name))
    zone_codes, zone_cells = pd.factorize(c.text("timezone"))
    # The same text means another instant in another zone: each pair is parsed once.
    codes, _ = pd.factorize(text_codes.astype(np.int64) * len(zone_cells) + zone_codes)
    first = np.zeros(codes.max() + 1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    text = c.text(name).to_numpy(dtype=object)
    end = name == "to"
    parsed = [
        parse_when(text[i], zones[i], end=end) if text[i] else (None, None) for i in first.tolist()
    ]
    values = np.array([v for v, _ in parsed], dtype=object)
    good = np.array([v is not None for v, _ in parsed], dtype=bool)
    return values[codes].tolist(), good[codes]


def _sub_setting_type(c: _Columns, action: pd.Series, setting: pd.Series) -> npt.NDArray[Any]:
    """Each row's sub_setting_type as the per-row path reads or infers it; "" when it cannot
    tell (or the column's text is not one): those rows go the per-row way."""
    given = c.text("sub_setting_type").to_numpy(dtype=object)
    valid = np.isin(given, [s.value for s in SubSettingType])
    sub = np.where(valid, given, "").astype(object)
    empty = ~c.given("sub_setting_type")
    deletes = empty & action.eq(Action.DELETE.value).to_numpy(dtype=bool)
    forwarding = c.given("call_forwarding_id") | c.given("phone_number")
    holiday = c.given("holiday_id") | c.given("name")
    sub[deletes & forwarding] = SubSettingType.CALL_FORWARDING.value
    sub[deletes & ~forwarding & holiday] = SubSettingType.HOLIDAY.value
    # An add or update of holiday_hours naming only the holiday means the holiday itself
    # (rows with hours or settings never reach here).
    adds_or_updates = action.isin((Action.ADD.value, Action.UPDATE.value)).to_numpy(dtype=bool)
    implied = (
        empty
        & adds_or_updates
        & setting.eq(SettingType.HOLIDAY_HOURS.value).to_numpy(dtype=bool)
        & _any(c, _HOLIDAY)
        & ~_any(c, _FORWARDING)
    )
    sub[implied] = SubSettingType.HOLIDAY.value
    return sub


def _any(c: _Columns, names: tuple[str, ...]) -> Mask:
    out = np.zeros(c.size, dtype=bool)
    for name in names:
        out |= c.given(name)
    return out


def _shape(
    c: _Columns, action: npt.NDArray[Any], setting: npt.NDArray[Any], sub: npt.NDArray[Any]
) -> Mask:
    """Rows of a plain shape that give what it needs and nothing it does not use."""
    add, update, delete = (action == a.value for a in (Action.ADD, Action.UPDATE, Action.DELETE))
    g = c.given
    holiday = (setting == SettingType.HOLIDAY_HOURS.value) & (sub == SubSettingType.HOLIDAY.value)
    holiday &= ~_any(c, _FORWARDING)
    needs_all = g("name") & g("from") & g("to")
    holiday_ok = holiday & (
        (add & needs_all & ~g("holiday_id"))
        | (update & needs_all)
        # a delete by id, or by name (from/to then narrow the lookup)
        | (delete & (g("holiday_id") | g("name")) & (g("name") | ~(g("from") | g("to"))))
    )
    forwarding = np.isin(setting, _PLAIN_FORWARDING) & (sub == SubSettingType.CALL_FORWARDING.value)
    forwarding &= ~_any(c, _HOLIDAY)
    forwarding_ok = forwarding & (
        (add & g("phone_number") & ~g("call_forwarding_id"))
        | (delete & (g("call_forwarding_id") | g("phone_number")) & ~g("description"))
    )
    return np.asarray(holiday_ok | forwarding_ok, dtype=bool)


def _build(
    c: _Columns,
    ok: Mask,
    sub: npt.NDArray[Any],
    ref_of: npt.NDArray[np.int64],
    when: dict[str, list[Any]],
) -> dict[str, Column]:
    """The plain rows' spec fields as columns, field for field what ``fields`` writes for them,
    ``settings`` as the sorted-key JSON text planning stores (``specs``)."""
    where = np.flatnonzero(ok)
    size = len(where)
    action = c.text("action").to_numpy(dtype=object)[where]
    sub = sub[where]
    cell = {
        name: np.asarray(values, dtype=object)[where]
        for name, values in (
            ("name", c.values("name")),
            ("from", when["from"]),
            ("to", when["to"]),
            ("holiday_id", c.values("holiday_id")),
            ("phone_number", c.values("phone_number")),
            ("description", c.values("description")),
            ("call_forwarding_id", c.values("call_forwarding_id")),
        )
    }
    ref_value = np.full(size, "", dtype=object)
    for i, ref in enumerate(ExtensionRef):
        mine = ref_of[where] == i
        ref_value[mine] = c.text(ref.value).to_numpy(dtype=object)[where][mine]
    holiday = sub == SubSettingType.HOLIDAY.value
    update = action == Action.UPDATE.value
    # What _shape admits makes most fields the cell itself: a holiday row gives no forwarding
    # cells and a forwarding row no holiday cells. An update keeps its times in the body only;
    # a forwarding delete by id looks nothing up by number.
    by_id = ~holiday & pd.notna(cell["call_forwarding_id"])
    columns: dict[str, Column] = {
        "row": c.frame.index.to_numpy(dtype=np.int64)[where].astype(object),
        "action": _enums(action, Action),
        "setting_type": _enums(c.text("setting_type").to_numpy(dtype=object)[where], SettingType),
        "sub_setting_type": _enums(sub, SubSettingType),
        "holiday_id": cell["holiday_id"],
        "call_forwarding_id": cell["call_forwarding_id"],
        "holiday_name": cell["name"],
        "holiday_from": _blank(cell["from"], holiday & update),
        "holiday_to": _blank(cell["to"], holiday & update),
        "phone_number": _blank(cell["phone_number"], by_id),
        "ref": np.array(list(ExtensionRef), dtype=object)[ref_of[where]],
        "ref_value": ref_value,
        SETTINGS: _bodies(action, holiday, cell),
    }
    return columns


def _blank(values: Column, where: Mask) -> Column:
    """``values`` with None ``where`` the field is not the spec's."""
    out = values.copy()
    out[where] = None
    return out


def _enums(values: npt.NDArray[Any], kind: type[Any]) -> Column:
    codes, uniques = pd.factorize(values)
    members = np.empty(len(uniques) + 1, dtype=object)
    members[:] = [kind(u) for u in uniques] + [None]
    picked: Column = members[codes]
    return picked


def _json(values: Column) -> pa.Array:
    """Each text as a JSON string."""
    return pa.array([orjson.dumps(v).decode() for v in values.tolist()], type=pa.string())


def _bodies(action: Column, holiday: Mask, cell: dict[str, Column]) -> Column:
    """Each plain row's ``settings`` as ``orjson.dumps(body, OPT_SORT_KEYS)`` spells it: the
    body ``fields`` builds for its shape, made once per distinct body (a holiday rolled out to
    many extensions is one body) and joined from JSON-encoded cells by Arrow."""
    out = np.full(len(action), "{}", dtype=object)  # deletes send no body

    def put(at: Mask, *parts: str) -> None:
        """Rows ``at`` get ``parts`` joined: JSON text as is, ``$column`` as that cell encoded."""
        if not at.any():
            return
        names = [p[1:] for p in parts if p.startswith("$")]
        codes, first = distinct_rows([cell[name][at] for name in names])
        pieces = [_json(cell[p[1:]][at][first]) if p.startswith("$") else p for p in parts]
        joined = pc.binary_join_element_wise(*pieces, "").to_numpy(zero_copy_only=False)
        out[at] = joined[codes]

    add, update = action == Action.ADD.value, action == Action.UPDATE.value
    with_id = pd.notna(cell["holiday_id"])
    with_text = pd.notna(cell["description"])
    times = ('{"from":', "$from", ',"name":', "$name", ',"to":', "$to", "}")
    put(holiday & add, *times)
    put(holiday & update & ~with_id, *times)
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
    return out
