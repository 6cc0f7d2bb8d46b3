"""What one pass over the results gathers for summary.json and report.html.

``write_results`` feeds each shaped chunk of results to ``collect``; ``build_summary`` and the
page read the counts and the failure groups back. It sits below all three so that none of them
imports another for it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..model import OpStatus

EXAMPLES = 3  # operations shown per failure group
_BAD = (OpStatus.FAILED.value, OpStatus.SKIPPED.value)
# Ids and phone numbers differ between otherwise equal errors: they must not split a group.
_ID_LIKE = re.compile(r"[A-Za-z0-9_-]{16,}|\+[1-9][0-9]{1,14}")


@dataclass(slots=True)
class FailureGroup:
    status: str
    http_status: int | None
    zoom_code: int | None
    message: str
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class Collected:
    """Counts by status and by operation kind, and the failures grouped by error."""

    total: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    by_operation: dict[str, Counter[str]] = field(default_factory=dict)
    groups: dict[tuple[Any, ...], FailureGroup] = field(default_factory=dict)


_KIND = ("action", "setting_type", "sub_setting_type")


def collect(acc: Collected, frame: pd.DataFrame) -> None:
    """Add one chunk of results (columns as in results.csv) to ``acc``."""
    acc.total += len(frame)
    # Grouped by the columns themselves: a handful of groups, each named once, where a kind
    # string made per row cost more than the grouping.
    sizes = frame.groupby([*_KIND, "status"], sort=False, dropna=False).size()
    groups: list[tuple[tuple[Any, Any, Any, Any], int]] = list(sizes.items())  # type: ignore[arg-type]
    for (action, setting, sub, status), n in groups:
        if pd.isna(status):  # no status (the state's column is NOT NULL): counted nowhere
            continue
        missing = any(pd.isna(part) for part in (action, setting, sub))
        kind = "<NA>" if missing else f"{action} {setting}/{sub}"
        acc.counts[str(status)] += int(n)
        acc.by_operation.setdefault(kind, Counter())[str(status)] += int(n)
    bad = frame[frame["status"].isin(_BAD)]
    if len(bad):
        _group_failures(acc, bad)


_SHOWN = (
    "seq",
    "source_row",
    "extension_id",
    "extension_number",
    "extension_name",
    "action",
    "setting_type",
    "sub_setting_type",
)
#: The results columns ``collect`` reads (a caller with wider rows may hand it only these).
COLUMNS_READ = (*_SHOWN, "status", "http_status", "zoom_code", "message")


def _group_failures(acc: Collected, bad: pd.DataFrame) -> None:
    # Column lists, not records: a large failed job has many rows and few groups, and only the
    # first EXAMPLES of a group need their shown cells.
    messages = [m if isinstance(m, str) else "" for m in bad["message"].tolist()]
    keys = zip(
        bad["status"].astype(str).tolist(),
        (_plain(v) for v in bad["http_status"].tolist()),
        (_plain(v) for v in bad["zoom_code"].tolist()),
        messages,
        strict=True,
    )
    plain: dict[str, str] = {}  # a failure's message is often many failures' message
    for i, (status, http, code, message) in enumerate(keys):
        http = None if http is None else int(http)
        code = None if code is None else int(code)
        shown = plain.get(message)
        if shown is None:
            shown = plain[message] = _ID_LIKE.sub("…", message)
        key = (status, http, code, shown)
        group = acc.groups.get(key)
        if group is None:
            group = acc.groups[key] = FailureGroup(status, http, code, key[3])
        group.count += 1
        if len(group.examples) < EXAMPLES:
            example = {k: _plain(bad[k].iat[i]) if k in bad else None for k in _SHOWN}
            example["message"] = message
            group.examples.append(example)


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value
