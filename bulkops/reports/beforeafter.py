"""The before → after section of report.html, grouped by extension.

After a run it is "Changes" (what the operations that succeeded changed); after a dry run or
``bulkops diff`` it is "Preview" (what the job would change, and what is already in place). The
words are ``reports.changes``'s, the same as in results.csv and diff.csv.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .html import e

MAX_EXTENSIONS = 300  # extensions shown; the files hold them all
_COLUMNS = (
    ("source_row", "row"),
    ("action", "action"),
    ("setting_type", "setting"),
    ("sub_setting_type", "sub"),
    ("status", "status"),
    ("before", "before"),
    ("after", "after"),
)


def _heading(rows: list[dict[str, Any]]) -> str:
    first = rows[0]
    parts = [str(first["extension_id"])]
    for key in ("extension_number", "extension_name", "site"):
        value = first.get(key)
        if isinstance(value, str) and value:
            parts.append(value)
    return " · ".join(parts)


def section_html(frame: pd.DataFrame, *, preview: bool, total: int | None = None) -> str:
    """The section for ``frame`` (rows as in results.csv or diff.csv, in plan order).

    A preview lists every row with its no-op flag; after a run only what succeeded changed
    something, so only those rows are listed. ``total``: the rows the files hold, when
    ``frame`` is a part of them.
    """
    key, title = ("preview", "Preview") if preview else ("changes", "Changes")
    listed = len(frame)
    if not preview and len(frame):
        frame = frame[frame["status"] == "succeeded"]
    if not len(frame):
        empty = "The job changes nothing." if preview else "No operation has changed anything."
        return f'<section id="{key}"><h2>{title}</h2><p class="empty">{empty}</p></section>'
    groups: dict[str, list[dict[str, Any]]] = {}
    for raw in frame.sort_values("seq").to_dict("records"):
        groups.setdefault(str(raw["extension_id"]), []).append({str(k): v for k, v in raw.items()})
    head = "".join(f"<th>{e(label)}</th>" for _, label in _COLUMNS)
    out = []
    for i, (extension_id, rows) in enumerate(groups.items()):
        if i == MAX_EXTENSIONS:
            break
        body = []
        for rec in rows:
            noop = bool(rec.get("noop")) if preview else False
            cells = "".join(
                f'<td class="c-{name}">{e(rec.get(name))}</td>'
                if name != "after"
                else f'<td class="c-after">→ {e(rec.get(name))}'
                + (' <span class="noop">no-op</span>' if noop else "")
                + "</td>"
                for name, _ in _COLUMNS
            )
            body.append(f'<tr class="change{" is-noop" if noop else ""}">{cells}</tr>')
        out.append(
            f'<details class="extension" open data-extension="{e(extension_id)}"><summary>'
            f"{e(_heading(rows))} ({len(rows):,})</summary><table><thead><tr>{head}</tr>"
            f"</thead><tbody>{''.join(body)}</tbody></table></details>"
        )
    shown = min(len(groups), MAX_EXTENSIONS)
    where = "diff.csv and diff.parquet" if preview else "results.csv and results.parquet"
    note = f"{shown:,} of {len(groups):,} extension(s)"
    if total is not None and total > listed:
        note += f", from the {listed:,} operations listed below of {total:,}"
    intro = (
        "What Zoom has now and what it will have after the job, per extension (nothing was sent)."
        if preview
        else "What each operation that succeeded changed: before → after, per extension."
    )
    return (
        f'<section id="{key}"><h2>{title}</h2><p>{e(intro)} {e(note)}; every row is in '
        f"{e(where)}.</p>{''.join(out)}</section>"
    )
