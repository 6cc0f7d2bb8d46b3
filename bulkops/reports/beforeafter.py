"""The before → after section of report.html, grouped by extension.

After a run it is "Changes" (what the operations that succeeded changed); after a dry run or
``bulkops diff`` it is "Preview" (what the job would change, and what is already in place). The
words are ``reports.changes``'s, the same as in results.csv and diff.csv.
"""

from __future__ import annotations

import pandas as pd

from .html import e, escaped_column

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


def _heading(frame: pd.DataFrame, at: int) -> str:
    """The extension of row ``at`` (a position), with its number, name and site when known."""
    parts = [str(frame["extension_id"].iat[at])]
    for key in ("extension_number", "extension_name", "site"):
        value = frame[key].iat[at] if key in frame else None
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
    frame = frame.sort_values("seq")
    # Row positions by extension, in the order each first appears; only the first
    # MAX_EXTENSIONS are drawn, so only their cells are escaped (column by column).
    groups: dict[str, list[int]] = {}
    for at, extension_id in enumerate(frame["extension_id"].tolist()):
        groups.setdefault(str(extension_id), []).append(at)
    drawn = list(groups.items())[:MAX_EXTENSIONS]
    rows = [at for _, positions in drawn for at in positions]
    part = frame.take(rows)
    # ``after`` is the last column: its cell is left open for the no-op flag.
    columns = [
        escaped_column(part, name, f'<td class="c-{name}">', "</td>")
        for name, _ in _COLUMNS
        if name != "after"
    ]
    afters = escaped_column(part, "after", '<td class="c-after">→ ')
    noops = [bool(v) for v in part["noop"].tolist()] if preview and "noop" in part else None
    at_row = 0
    head = "".join(f"<th>{e(label)}</th>" for _, label in _COLUMNS)
    out = []
    for extension_id, positions in drawn:
        body = []
        for _ in positions:
            noop = noops[at_row] if noops is not None else False
            cells = "".join(c[at_row] for c in columns) + afters[at_row]
            flag = ' <span class="noop">no-op</span>' if noop else ""
            body.append(f'<tr class="change{" is-noop" if noop else ""}">{cells}{flag}</td></tr>')
            at_row += 1
        out.append(
            f'<details class="extension" open data-extension="{e(extension_id)}"><summary>'
            f"{e(_heading(frame, positions[0]))} ({len(positions):,})</summary><table><thead>"
            f"<tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></details>"
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
