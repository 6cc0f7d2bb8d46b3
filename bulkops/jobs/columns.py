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
import pandas as pd
import pyarrow.compute as pc

from ..model import Action, SettingType, SubSettingType
from .cells import Cells, Mask, among, build, equals, given, taken
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
from .specs import Coded, Specs, distinct_rows, first_rows

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


def _per_value(column: Coded, judge: Callable[[str], tuple[Any, bool]]) -> tuple[Coded, Mask]:
    """``judge`` once per distinct value of a coded column, "" for an empty cell or an absent
    column: (its results, which rows it accepted)."""
    texts = ["" if v is None else str(v) for v in column.values.tolist()] + [""]
    judged = [judge(text) for text in texts]
    results = np.empty(len(judged), dtype=object)
    results[:] = [r for r, _ in judged]
    accepted = np.array([ok for _, ok in judged], dtype=bool)
    codes = np.where(column.codes < 0, len(judged) - 1, column.codes)  # -1: the "" at the end
    return Coded(codes, results), accepted[codes]


def plain_specs(frame: pd.DataFrame, tz: ZoneInfo | None) -> tuple[Mask, Specs]:
    """Which rows of ``frame`` are plain (checked here, no problem), and their specs in order.

    ``frame``: the job file's known columns as text, indexed by spreadsheet row; ``tz``: the
    ``timezone=`` argument (already checked).
    """
    c = Cells(frame)
    ok = np.ones(c.size, dtype=bool)
    # Anything beyond the plain shapes: the per-row path.
    for name in ("settings", "hours"):
        ok &= ~c.given(name)
    action = c.coded("action")
    setting = c.coded("setting_type")
    ok &= among(action, [a.value for a in Action])
    ok &= among(setting, [s.value for s in SettingType])

    # Exactly one extension reference, in the format its column needs.
    refs = list(ExtensionRef)
    count = sum(
        (c.given(ref.value).astype(np.int64, copy=False) for ref in refs),
        np.zeros(c.size, np.int64),
    )
    ok &= count == 1
    ref_of = np.full(c.size, -1, dtype=np.int64)
    for i, ref in enumerate(refs):
        pattern = _REF_PATTERNS[ref]
        if pattern is not None:
            ok &= c.matches(ref.value, pattern)
        ref_of[c.given(ref.value)] = i

    # Cell formats.
    for name in ("holiday_id", "call_forwarding_id"):
        ok &= c.matches(name, _ID, each=True)
    ok &= c.matches("phone_number", _E164, each=True)
    ok &= _visible(c.coded("name"))
    zones, zone_ok = _per_value(c.coded("timezone"), _zone_judge(tz))
    ok &= zone_ok
    when: dict[str, Coded] = {}
    for name in ("from", "to"):
        when[name] = _when(c, name, zones, tz)
        ok &= given(when[name]) | ~c.given(name)
    both = np.flatnonzero(c.given("from") & c.given("to") & ok)
    if len(both):  # from < to, compared once per distinct pair
        start, end = taken(when["from"], both), taken(when["to"], both)
        pair, first = distinct_rows([start.codes, end.codes])
        before = start.values[start.codes[first]] < end.values[end.codes[first]]
        ok[both] = np.asarray(before, dtype=bool)[pair]

    sub = _sub_setting_type(c, action, setting)
    ok &= given(sub)
    shape = _shape(c, action, setting, sub)
    ok &= shape
    columns = build(c, ok, sub, ref_of, when)
    columns.update(_zone_notes(c, ok, zones))
    return ok, Specs(columns, {})


def _zone_notes(c: Cells, ok: Mask, zones: Coded) -> dict[str, Coded]:
    """What ``check_row`` notes of each plain row's zone: the zone its naive times were read in,
    or, when the row names none, its naive ``from``/``to`` (read again per extension later).

    A plain row's ``from``/``to`` parsed (or it would not be plain), so which of them are naive
    depends on their text alone: each distinct pair's note is made once and shared."""
    where = np.flatnonzero(ok)
    start, end = taken(c.coded("from"), where), taken(c.coded("to"), where)
    pair, first = distinct_rows([start.codes, end.codes])
    notes = np.empty(len(first) + 1, dtype=object)
    notes[:] = [
        tuple((name, text) for name, text in (("from", s), ("to", e)) if text and is_naive(text))
        for s, e in zip(
            taken(start, first).array().tolist(), taken(end, first).array().tolist(), strict=True
        )
    ] + [()]
    keys = np.empty(len(zones.values), dtype=object)
    keys[:] = [None if z is None else z.key for z in zones.values.tolist()]
    zone = Coded(zones.codes[where], keys)
    return {"zone": zone, "naive": Coded(np.where(given(zone), len(first), pair), notes)}


def _zone_judge(tz: ZoneInfo | None) -> Callable[[str], tuple[Any, bool]]:
    def judge(value: str) -> tuple[Any, bool]:
        zone, reason = parse_timezone(value)
        return (zone or tz), reason is None

    return judge


def _when(c: Cells, name: str, zones: Coded, tz: ZoneInfo | None) -> Coded:
    """``parse_when`` of column ``name`` once per distinct (text, timezone cell): the
    normalised values (None where a cell is empty or did not parse)."""
    if not c.given(name).any():
        return Coded(np.full(c.size, -1, dtype=np.int64), np.empty(0, dtype=object))
    text = c.coded(name)
    # The same text means another instant in another zone: each pair is parsed once. Without
    # a timezone column the text's own codes are the pairs (numbered as factorized: in order).
    if "timezone" in c.frame.columns:
        pair, first = distinct_rows([text.codes, c.coded("timezone").codes])
    else:
        pair, first = text.codes, first_rows(text.codes, text.count())
    end = name == "to"
    values = np.empty(len(first), dtype=object)
    values[:] = [
        parse_when(cell, zone, end=end)[0] if cell else None
        for cell, zone in zip(
            taken(text, first).array().tolist(), taken(zones, first).array().tolist(), strict=True
        )
    ]
    # Texts that read as the same instant ("2027-12-24", "2027-12-24 00:00") are one value, so
    # the values are distinct (a body made of distinct values is a distinct body: cells._bodies).
    same, instants = pd.factorize(values)
    return Coded(np.append(same, -1)[pair], np.asarray(instants, dtype=object), True)


def _sub_setting_type(c: Cells, action: Coded, setting: Coded) -> Coded:
    """Each row's sub_setting_type as the per-row path reads or infers it, as codes into
    ``SubSettingType``; none (-1) when it cannot tell (or the column's text is not one): those
    rows go the per-row way."""
    text = c.coded("sub_setting_type")
    index = {s.value: i for i, s in enumerate(_SUBS)}
    known = np.array([index.get(v, -1) for v in text.values.tolist()] + [-1], dtype=np.int64)
    sub = known[text.codes]  # code -1 (no such column) picks the -1 at the end
    empty = ~c.given("sub_setting_type")
    deletes = empty & equals(action, Action.DELETE.value)
    forwarding = c.given("call_forwarding_id") | c.given("phone_number")
    holiday = c.given("holiday_id") | c.given("name")
    sub[deletes & forwarding] = index[SubSettingType.CALL_FORWARDING.value]
    sub[deletes & ~forwarding & holiday] = index[SubSettingType.HOLIDAY.value]
    # An add or update of holiday_hours naming only the holiday means the holiday itself
    # (rows with hours or settings never reach here).
    implied = (
        empty
        & among(action, (Action.ADD.value, Action.UPDATE.value))
        & equals(setting, SettingType.HOLIDAY_HOURS.value)
        & _any(c, _HOLIDAY)
        & ~_any(c, _FORWARDING)
    )
    sub[implied] = index[SubSettingType.HOLIDAY.value]
    return Coded(sub, _SUBS, True)


#: The sub-setting types, the values of ``_sub_setting_type``'s codes.
_SUBS = np.array(list(SubSettingType), dtype=object)


def _visible(names: Coded) -> Mask:
    """Rows whose name is empty or has a visible character (``has_visible``), judged once per
    distinct name: one printable ASCII character is enough, else has_visible decides."""
    if names.text is None:
        seen = np.array([has_visible(v) for v in names.values.tolist()], dtype=bool)
    else:
        seen = pc.fill_null(pc.match_substring_regex(names.text, _VISIBLE), False)
        seen = seen.to_numpy(zero_copy_only=False).astype(bool)
        unsure = np.flatnonzero(~seen & ~names.missing())
        seen[unsure] = [has_visible(v) for v in names.values[unsure].tolist()]
    return np.append(seen | names.missing(), True)[names.codes]


def _any(c: Cells, names: tuple[str, ...]) -> Mask:
    out = np.zeros(c.size, dtype=bool)
    for name in names:
        out |= c.given(name)
    return out


def _shape(c: Cells, action: Coded, setting: Coded, sub: Coded) -> Mask:
    """Rows of a plain shape that give what it needs and nothing it does not use."""
    add, update, delete = (
        equals(action, a.value) for a in (Action.ADD, Action.UPDATE, Action.DELETE)
    )
    g = c.given
    holiday = equals(setting, SettingType.HOLIDAY_HOURS.value) & equals(sub, SubSettingType.HOLIDAY)
    holiday &= ~_any(c, _FORWARDING)
    needs_all = g("name") & g("from") & g("to")
    holiday_ok = holiday & (
        (add & needs_all & ~g("holiday_id"))
        | (update & needs_all)
        # a delete by id, or by name (from/to then narrow the lookup)
        | (delete & (g("holiday_id") | g("name")) & (g("name") | ~(g("from") | g("to"))))
    )
    forwarding = equals(setting, _PLAIN_FORWARDING[0]) | equals(setting, _PLAIN_FORWARDING[1])
    forwarding &= equals(sub, SubSettingType.CALL_FORWARDING)
    forwarding &= ~_any(c, _HOLIDAY)
    forwarding_ok = forwarding & (
        (add & g("phone_number") & ~g("call_forwarding_id"))
        | (delete & (g("call_forwarding_id") | g("phone_number")) & ~g("description"))
    )
    return np.asarray(holiday_ok | forwarding_ok, dtype=bool)
