"""Extension types: what a row may send to a user, a call queue… once the directory says which.

Without a directory ``rules`` and ``fields`` accept the union of what Zoom takes from any type.
With a ``type`` column each operation is checked against its extension's type before anything
is sent, from the prose of Zoom's call-handling spec (the PATCH body of the extract vendored as
tests/data/zoom-phone-call-handling.openapi.json) and Zoom's API notes (zoom-api.md):

- busy-call settings (``busy_on_another_call_action`` and the ``busy_*`` fields that go with
  it): "Only required for the `call_handling` sub-setting and only the `User` supports it";
- ``max_wait_time`` above 60: the 10–60 values are the ring time of "`simultaneous` ring mode or
  … `sequential` ring mode"; the longer ones are "the overflow option for `Call Queue`";
- call forwarding entries: "When a call is forwarded to a personal phone number, whether the
  user must press 1 …"; Zoom answers other types "the Call Forwarding to External Numbers
  feature is not enabled" (zoom-api.md: "Call forwarding to external numbers is a user
  feature");
- common areas and Zoom Rooms are not extensions of ``/phone/extension/{extensionId}/…`` at all
  (zoom-api.md: common areas "are served by their own endpoint family").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import Problem
from ..model import Action, SettingType, SubSettingType
from ..zoom import schema
from .checks import ExtensionRef, RowSpec, show_value
from .directory import TYPE, Directory, Resolution
from .specs import Specs

USER, CALL_QUEUE = "user", "call_queue"
#: Types a directory may list that the extension endpoint does not serve, and where they are.
ELSEWHERE = {
    "common_area": "the common-area endpoints, /phone/common_areas/{commonAreaId}/…",
    "zoom_room": "the Zoom Rooms endpoints, /rooms/{roomId}/…",
}
#: Busy-call fields of the call_handling body: busy_on_another_call_action and its companions.
BUSY_FIELDS = frozenset(
    name
    for name in schema.section(SettingType.BUSINESS_HOURS, SubSettingType.CALL_HANDLING).names(
        Action.UPDATE
    )
    if name.startswith("busy_")
)
#: The longest ring time any type takes; above it, only a call queue's overflow wait.
LONGEST_RING = 60
EXAMPLES = 3  # extensions named per problem


@dataclass(frozen=True, slots=True)
class TypeRule:
    """One thing a row sends that only some extension types take."""

    column: str
    value: str
    allowed: frozenset[str]
    reason: str  # ends the sentence "... {reason}; N of the extensions …"


def rules_of(spec: RowSpec) -> list[TypeRule]:
    """What of ``spec`` depends on the extension's type."""
    out: list[TypeRule] = []
    sub = spec.sub_setting_type
    if sub is SubSettingType.CALL_FORWARDING:
        out.append(
            TypeRule(
                "sub_setting_type",
                sub.value,
                frozenset({USER}),
                "call forwarding entries are a user feature (Zoom refuses them elsewhere: "
                "'Call Forwarding to External Numbers feature is not enabled')",
            )
        )
    if sub is SubSettingType.CALL_HANDLING:
        busy = sorted(BUSY_FIELDS & spec.settings.keys())
        if busy:
            out.append(
                TypeRule(
                    "settings",
                    ", ".join(busy),
                    frozenset({USER}),
                    "busy-call settings are for users only (Zoom: 'only the User supports it')",
                )
            )
        wait = spec.settings.get("max_wait_time")
        if isinstance(wait, int) and wait > LONGEST_RING:
            out.append(
                TypeRule(
                    "settings",
                    f"max_wait_time={show_value(wait)}",
                    frozenset({CALL_QUEUE}),
                    f"a max_wait_time above {LONGEST_RING} s is a call queue's overflow wait; "
                    f"other types ring for 10–{LONGEST_RING} s",
                )
            )
    return out


def check_types(
    specs: Sequence[RowSpec], resolution: Resolution, directory: Directory | None, *, file: str
) -> list[Problem]:
    """One problem per job-file row and rule that some extension of the row breaks (errors).

    A row read in several zones is several specs (``zones``); its extensions are taken together.
    """
    if directory is None or TYPE not in directory.frame.columns or not len(resolution.spec):
        return []
    types = directory.values(TYPE)
    position = resolution.position
    op_type = np.where(position >= 0, types[np.clip(position, 0, None)], "")
    rows = specs.columns.rows() if isinstance(specs, Specs) else [s.row for s in specs]
    op_row = np.asarray(rows, dtype=np.int64)[resolution.spec]
    unserved = {int(r) for r in np.unique(op_row[np.isin(op_type, list(ELSEWHERE))])}
    ruled: dict[int, tuple[RowSpec, list[TypeRule]]] = {}
    for spec in _candidates(specs, unserved):
        if spec.row not in ruled:
            found = rules_of(spec)
            if found or spec.row in unserved:
                ruled[spec.row] = (spec, found)
    if not ruled:
        return []
    chosen = np.flatnonzero(np.isin(op_row, list(ruled)))
    order = chosen[np.argsort(op_row[chosen], kind="stable")]  # by row, then plan order
    rows, starts = np.unique(op_row[order], return_index=True)
    ends = [*starts[1:].tolist(), len(order)]
    problems: list[Problem] = []
    for row, start, end in zip(rows.tolist(), starts.tolist(), ends, strict=True):
        spec, rules = ruled[row]
        ops = order[start:end]
        kinds = op_type[ops]
        if row in unserved:
            where = np.isin(kinds, list(ELSEWHERE))
            problems.append(_elsewhere(spec, directory, position[ops][where], kinds, file))
            continue
        for rule in rules:
            bad = (kinds != "") & ~np.isin(kinds, list(rule.allowed))
            if bad.any():
                names = _names(directory, position[ops][bad])
                allowed = " or ".join(sorted(t.replace("_", " ") + "s" for t in rule.allowed))
                problems.append(
                    Problem(
                        file,
                        spec.row,
                        rule.column,
                        rule.value,
                        f"{rule.reason}; {int(bad.sum()):,} of the extensions this row names "
                        f"are not {allowed}: {names}. Send it only to {allowed}"
                        + _narrow(spec, rule.allowed),
                    )
                )
    return problems


def _candidates(specs: Sequence[RowSpec], unserved: set[int]) -> Iterable[RowSpec]:
    """The specs that may carry a rule: of a job's columns, only the rows built by the rules
    (any body), forwarding rows and rows naming unserved extensions (plain rows have no
    call-handling body), so a million plain holiday rows are not each made a RowSpec."""
    if not isinstance(specs, Specs):
        return specs
    c = specs.columns
    pick = np.asarray(c["sub_setting_type"] == SubSettingType.CALL_FORWARDING, dtype=bool)
    pick |= np.isin(c.rows(), list(unserved))
    pick[list(specs.built)] = True
    return (specs[i] for i in np.flatnonzero(pick).tolist())


def _elsewhere(
    spec: RowSpec,
    directory: Directory,
    positions: npt.NDArray[Any],
    kinds: npt.NDArray[Any],
    file: str,
) -> Problem:
    found = sorted({str(k) for k in kinds if k in ELSEWHERE})
    where = "; ".join(f"{k.replace('_', ' ')}s: {ELSEWHERE[k]}" for k in found)
    return Problem(
        file,
        spec.row,
        spec.ref.value,
        spec.ref_value,
        f"names {len(positions):,} extension(s) the call-handling endpoint "
        f"(/phone/extension/{{extensionId}}/…) does not serve: {_names(directory, positions)}. "
        f"Change them through {where}; leave them out of this job",
    )


def _names(directory: Directory, positions: npt.NDArray[Any]) -> str:
    types = directory.values(TYPE)
    shown = [f"{directory.describe(int(p))}, {types[int(p)]}" for p in positions[:EXAMPLES]]
    more = f" and {len(positions) - EXAMPLES:,} more" if len(positions) > EXAMPLES else ""
    return "; ".join(shown) + more


def _narrow(spec: RowSpec, allowed: frozenset[str]) -> str:
    """How to narrow a selector row to the types it may reach."""
    if spec.ref is not ExtensionRef.SELECTOR or "type=" in spec.ref_value.replace(" ", "").lower():
        return ""
    clause = "type=" + ",".join(sorted(allowed))
    joined = clause if spec.ref_value.strip() == "*" else f"{spec.ref_value.strip()}&{clause}"
    return f", e.g. target {joined!r}"
