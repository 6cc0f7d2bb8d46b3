"""Duplicates and contradictions: rows that repeat or undo each other on one extension.

``find_conflicts`` checks the expanded plan frame (``expand.expand``) per extension, vectorised,
under the policy in the ``jobfile`` docstring: the same operation twice, the same item added
twice (adds are not idempotent), an add and a delete of the same item, and two different
updates of the same item. Each finding is one error per (row, earlier row) that names how many
extensions it hits and one of them; at most ``MAX_CONFLICTS_REPORTED`` are listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import Problem
from ..model import Action, SubSettingType
from .checks import RowSpec
from .directory import IntArray, Resolution
from .specs import FIELDS, SETTINGS, Column, Specs, Texts, distinct_rows, first_rows

MAX_CONFLICTS_REPORTED = 200
#: What an add creates as a new item (adds of these are not idempotent).
_ITEM_SUBS = (SubSettingType.HOLIDAY, SubSettingType.CALL_FORWARDING)


#: The RowSpec fields a template frame holds: the row's own, not how its targets and zone were
#: read (``ref``, ``zone``…), and ``settings`` (as sorted JSON text).
_TEMPLATE_FIELDS = (
    *(name for name in FIELDS if name not in ("ref", "ref_value", "zone", "naive")),
    SETTINGS,
)


#: The fields a conflict key is made of (all but ``row``).
_KEY_FIELDS = _TEMPLATE_FIELDS[1:]


def template_frame(specs: Sequence[RowSpec], at: IntArray | None = None) -> pd.DataFrame:
    """The row templates (all, or those ``at``) as columns (object dtype, None where a field is
    not given), from the job's columns (``specs``). Enum fields hold their members: a StrEnum
    member is its value as text."""
    columns = Specs.of(specs).columns
    rows = np.arange(len(specs)) if at is None else at
    # dtype=object: pandas would otherwise convert every text column to Arrow strings.
    return pd.DataFrame({name: columns.take(name, rows) for name in _TEMPLATE_FIELDS}, dtype=object)


def extension_codes(resolution: Resolution) -> tuple[IntArray, Column | Texts]:
    """Each operation's extension as a code (0, 1, … in order of first appearance) and the
    distinct extension ids: factorized once per plan for the op ids, the ``extension_id``
    column and the conflict checks (hashing a million distinct ids takes a sixth of a second).
    Directory ids are unique, so where every operation has a directory position the positions
    are factorized instead, as integers, to the same codes."""
    position, ids = resolution.position, resolution.extension_id
    if len(position) and int(position.min()) >= 0:
        codes, first = pd.factorize(position)
        return codes.astype(np.int64, copy=False), np.asarray(
            ids[first_rows(codes, len(first))], dtype=object
        )
    if isinstance(ids, Texts):  # Arrow text is hashed by Arrow, and stays Arrow's
        codes, text = ids.factorize()
        return codes.astype(np.int64, copy=False), text
    codes, uniques = pd.factorize(ids)
    return codes.astype(np.int64, copy=False), np.asarray(uniques, dtype=object)


def _text(values: pd.Series, none: str) -> pa.Array:
    """A template column as Arrow text, ``none`` where the field is not given."""
    return pc.fill_null(
        pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True), none
    )


def _keys(templates: pd.DataFrame) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Per row template: (what the operation acts on, the holiday's from when it narrows it,
    full signature), as the exact strings a template's fields spell, joined by Arrow's
    element-wise kernels (a million rows cost no Python loop)."""

    def join(*parts: pa.Array | str) -> pa.Array:
        return pc.binary_join_element_wise(*parts, "|")

    sub = _text(templates["sub_setting_type"], "")
    setting = _text(templates["setting_type"], "")
    hid = _text(templates["holiday_id"], "")
    start = _text(templates["holiday_from"], "")
    holiday = join(hid, _text(templates["holiday_name"], ""))
    is_holiday = pc.equal(sub, SubSettingType.HOLIDAY.value)
    is_forwarding = pc.equal(sub, SubSettingType.CALL_FORWARDING.value)
    holiday_entity = pc.if_else(
        pc.not_equal(hid, ""),
        join("holiday", pc.binary_join_element_wise("id", hid, ":")),
        join("holiday", _text(templates["holiday_name"], "None")),
    )
    fid = _text(templates["call_forwarding_id"], "")
    phone = _text(templates["phone_number"], "None")
    number = pc.if_else(pc.not_equal(fid, ""), pc.binary_join_element_wise("id", fid, ":"), phone)
    entity = pc.if_else(
        is_holiday,
        holiday_entity,
        pc.if_else(
            is_forwarding,
            join("forwarding", setting, holiday, start, number),
            join(sub, setting, holiday, start),
        ),
    )
    when = pc.if_else(is_holiday, start, "")
    sig = join(
        _text(templates["action"], ""),
        entity,
        when,
        _text(templates["holiday_to"], "None"),
        phone,
        _text(templates["settings"], ""),
    )
    return entity, when, sig


def _codes(values: pa.Array) -> IntArray:
    """Equal strings, equal codes (0, 1, … in order of first appearance)."""
    codes: IntArray = pc.dictionary_encode(values).indices.to_numpy().astype(np.int64, copy=False)
    return codes


def find_conflicts(
    frame: pd.DataFrame,
    specs: Sequence[RowSpec],
    resolution: Resolution,
    *,
    file: str,
    extensions: tuple[IntArray, Column | Texts] | None = None,
) -> list[Problem]:
    """Duplicates and contradictions per extension (policy in the jobfile docstring).
    ``extensions``: each operation's extension code and the distinct ids
    (``extension_codes``)."""
    if not len(frame):
        return []
    ext, ext_ids = extension_codes(resolution) if extensions is None else extensions
    # Only operations on an extension that has more than one can conflict: the others (a
    # migration's one row per extension) need no keys at all.
    shared = np.bincount(ext, minlength=len(ext_ids))[ext] > 1
    if not shared.any():
        return []
    columns = Specs.of(specs).columns
    ext, spec = ext[shared], resolution.spec[shared]
    needed = np.unique(spec)
    # Keys depend on a template's fields alone, not on its row or extension: a holiday rolled
    # out row by row to thousands of extensions is spelled once (equal codes, equal fields;
    # equal fields under other codes give equal keys, compared as text below).
    same, first = distinct_rows([columns.coded(name).codes[needed] for name in _KEY_FIELDS])
    entity_text, when_text, sig = _keys(template_frame(specs, needed[first]))
    action = columns["action"]
    sub = columns["sub_setting_type"]
    adds = (action == Action.ADD) & np.isin(sub, [s.value for s in _ITEM_SUBS])
    # An add is a duplicate when its item (with from) repeats; anything else when it repeats.
    dup_key = pc.if_else(
        pa.array(adds[needed][first]),
        pc.binary_join_element_wise("add", entity_text, when_text, "|"),
        sig,
    )
    # Per spec, -1 for those none of whose operations share an extension (never compared).
    entity, when, dup_code = (np.full(len(specs), -1, dtype=np.int64) for _ in range(3))
    entity[needed] = _codes(entity_text)[same]
    when[needed] = _codes(when_text)[same]
    dup_code[needed] = _codes(dup_key)[same]
    no_when = np.zeros(len(specs), dtype=bool)
    no_when[needed] = pc.equal(when_text, "").to_numpy(zero_copy_only=False)[same]
    del entity_text, when_text, sig, dup_key  # the text of a million keys, no longer needed
    problems: list[Problem] = []

    if int(dup_code.max()) + 1 < len(needed):
        pairs = _repeats(ext, dup_code[spec], spec)
        problems += _report(pairs, specs, ext_ids, file, "repeats row {first}", adds)

    is_delete = action == Action.DELETE
    if adds.any() and is_delete.any() and np.intersect1d(entity[adds], entity[is_delete]).size:
        on = pd.DataFrame({"ext": ext, "entity": entity[spec], "spec": spec})
        left = on[adds[spec]]
        right = on[is_delete[spec]]
        both = left.merge(right, on=["ext", "entity"], suffixes=("", "_other"))
        add_at, del_at = both["spec"].to_numpy(), both["spec_other"].to_numpy()
        both = both[no_when[del_at] | (when[del_at] == when[add_at])]
        pairs = pd.DataFrame(
            {
                "later": np.maximum(both["spec"], both["spec_other"]),
                "earlier": np.minimum(both["spec"], both["spec_other"]),
                "ext": both["ext"],
            }
        )
        problems += _report(
            pairs, specs, ext_ids, file, "adds and deletes the same item as row {first}", None
        )

    is_update = action == Action.UPDATE
    if is_update.any():
        upd_entity = entity[is_update]
        upd_sig = np.asarray(dup_code)[is_update]
        per_entity = pd.DataFrame({"e": upd_entity, "s": upd_sig}).drop_duplicates()
        if per_entity["e"].duplicated().any():
            on = pd.DataFrame({"ext": ext, "e": entity[spec], "s": dup_code[spec], "spec": spec})
            on = on[is_update[spec]].drop_duplicates(["ext", "e", "s"])
            first = on.groupby(["ext", "e"])["spec"].transform("first")
            later = on[["ext", "e"]].duplicated()
            pairs = pd.DataFrame(
                {"later": on["spec"][later], "earlier": first[later], "ext": on["ext"][later]}
            )
            problems += _report(
                pairs,
                specs,
                ext_ids,
                file,
                "changes the same item differently from row {first}; merge the rows",
                None,
            )
    return problems


def _repeats(ext: IntArray, code: IntArray, spec: IntArray) -> pd.DataFrame:
    """Each operation whose (extension, code) an earlier one has, and that earlier one's spec."""
    pair, first = distinct_rows([ext, code])
    later = np.ones(len(pair), dtype=bool)
    later[first] = False
    return pd.DataFrame(
        {"later": spec[later], "earlier": spec[first[pair[later]]], "ext": ext[later]}
    )


def _report(
    pairs: pd.DataFrame,
    specs: Sequence[RowSpec],
    ids: Any,
    file: str,
    reason: str,
    adds: npt.NDArray[np.bool_] | None,
) -> list[Problem]:
    if pairs.empty:
        return []
    # By job-file row: a row read in several zones (jobs.zones) is several specs, one problem.
    rows = Specs.of(specs).columns.rows()
    pairs = pairs.assign(
        later_row=rows[pairs["later"].to_numpy(dtype=np.int64)],
        earlier_row=rows[pairs["earlier"].to_numpy(dtype=np.int64)],
    )
    grouped = pairs.groupby(["later_row", "earlier_row"], sort=True).agg(
        later=("later", "first"), count=("ext", "count"), example=("ext", "min")
    )
    problems: list[Problem] = []
    found: list[tuple[Any, Any, Any, Any, Any]] = list(
        grouped.reset_index().itertuples(index=False, name=None)
    )
    for _, first_row, later, count, example in found[:MAX_CONFLICTS_REPORTED]:
        spec = specs[int(later)]
        why = reason.format(first=int(first_row))
        if adds is not None and adds[int(later)]:
            why = f"adds the same item as row {int(first_row)} (adds are not idempotent)"
        where = f" on {int(count):,} extension(s), e.g. {ids[int(example)]}"
        problems.append(Problem(file, spec.row, spec.ref.value, spec.ref_value, why + where))
    return problems
