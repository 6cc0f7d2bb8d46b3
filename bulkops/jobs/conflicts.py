"""Duplicates and contradictions: rows that repeat or undo each other on one extension.

``find_conflicts`` checks the expanded plan frame (``plan.expand``) per extension, vectorised,
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
import orjson
import pandas as pd

from ..errors import Problem
from ..model import Action, SubSettingType
from .checks import RowSpec
from .directory import IntArray, Resolution

MAX_CONFLICTS_REPORTED = 200
#: What an add creates as a new item (adds of these are not idempotent).
_ITEM_SUBS = (SubSettingType.HOLIDAY, SubSettingType.CALL_FORWARDING)


def _keys(spec: RowSpec) -> tuple[str, str, str]:
    """(what the operation acts on, the holiday's from when it narrows it, full signature)."""
    holiday = f"{spec.holiday_id or ''}|{spec.holiday_name or ''}"
    sub = spec.sub_setting_type
    if sub == SubSettingType.HOLIDAY:
        entity = (
            f"holiday|id:{spec.holiday_id}" if spec.holiday_id else f"holiday|{spec.holiday_name}"
        )
        when = spec.holiday_from or ""
    elif sub == SubSettingType.CALL_FORWARDING:
        number = f"id:{spec.call_forwarding_id}" if spec.call_forwarding_id else spec.phone_number
        entity = f"forwarding|{spec.setting_type}|{holiday}|{spec.holiday_from or ''}|{number}"
        when = ""
    else:
        entity = f"{sub}|{spec.setting_type}|{holiday}|{spec.holiday_from or ''}"
        when = ""
    body = orjson.dumps(spec.settings, option=orjson.OPT_SORT_KEYS).decode()
    # One f-string, not a join over str(): this runs once per job-file row.
    sig = f"{spec.action}|{entity}|{when}|{spec.holiday_to}|{spec.phone_number}|{body}"
    return entity, when, sig


def find_conflicts(
    frame: pd.DataFrame, specs: Sequence[RowSpec], resolution: Resolution, *, file: str
) -> list[Problem]:
    """Duplicates and contradictions per extension (policy in the jobfile docstring)."""
    if not len(frame):
        return []
    keys = [_keys(s) for s in specs]
    entity = pd.factorize(pd.Series([k[0] for k in keys], dtype=object))[0]
    when = [k[1] for k in keys]
    actions = [s.action for s in specs]
    adds = np.array(
        [
            a == Action.ADD and s.sub_setting_type in _ITEM_SUBS
            for a, s in zip(actions, specs, strict=True)
        ]
    )
    # An add is a duplicate when its item (with from) repeats; anything else when it repeats.
    dup_key = [f"add|{k[0]}|{k[1]}" if add else k[2] for k, add in zip(keys, adds, strict=True)]
    dup_code = pd.factorize(pd.Series(dup_key, dtype=object))[0]
    ext_codes, ext_ids = pd.factorize(resolution.extension_id)
    ext = ext_codes.astype(np.int64)
    spec = resolution.spec
    problems: list[Problem] = []

    if len(set(dup_code.tolist())) < len(specs):
        pairs = _repeats(ext, dup_code[spec], spec)
        problems += _report(pairs, specs, ext_ids, file, "repeats row {first}", adds)

    is_delete = np.array([a == Action.DELETE for a in actions])
    if adds.any() and is_delete.any() and set(entity[adds]) & set(entity[is_delete]):
        on = pd.DataFrame({"ext": ext, "entity": entity[spec], "spec": spec})
        left = on[adds[spec]]
        right = on[is_delete[spec]]
        both = left.merge(right, on=["ext", "entity"], suffixes=("", "_other"))
        add_from = np.array(when, dtype=object)[both["spec"].to_numpy()]
        del_from = np.array(when, dtype=object)[both["spec_other"].to_numpy()]
        both = both[(del_from == "") | (del_from == add_from)]
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

    is_update = np.array([a == Action.UPDATE for a in actions])
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
    on = pd.DataFrame({"ext": ext, "code": code, "spec": spec})
    first = on.groupby(["ext", "code"])["spec"].transform("first")
    later = on.duplicated(["ext", "code"])
    return pd.DataFrame(
        {"later": on["spec"][later], "earlier": first[later], "ext": on["ext"][later]}
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
    rows = np.array([s.row for s in specs], dtype=np.int64)
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
