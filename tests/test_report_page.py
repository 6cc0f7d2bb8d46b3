"""report.html's tables, drawn column by column with each distinct value escaped once."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pandas as pd

from bulkops.reports.beforeafter import MAX_EXTENSIONS, section_html
from bulkops.reports.collected import Collected, collect
from bulkops.reports.html import _table_html, e, escaped_column


def test_a_column_is_escaped_cell_by_cell_whatever_its_values() -> None:
    # 1, 1.0 and True are one dict key and three texts; NaN is never equal to itself.
    values = [1, 1.0, True, pd.NA, math.nan, None, "<a href='x'>&</a>", np.int64(1), 1, "1", ["<"]]
    frame = pd.DataFrame({"mixed": pd.Series(values, dtype=object)})
    wrapped = escaped_column(frame, "mixed", "<td>", "</td>")
    assert wrapped == [f"<td>{e(v)}</td>" for v in values]
    assert wrapped[:3] == ["<td>1</td>", "<td>1.0</td>", "<td>True</td>"]
    assert wrapped[3:6] == ["<td></td>"] * 3
    assert wrapped[6] == "<td>&lt;a href=&#x27;x&#x27;&gt;&amp;&lt;/a&gt;</td>"
    assert wrapped[-1] == "<td>[&#x27;&lt;&#x27;]</td>"  # unhashable: escaped all the same
    typed = pd.DataFrame({"n": pd.array([3, None, 3], dtype="Int64")})
    assert escaped_column(typed, "n") == ["3", "", "3"]
    assert escaped_column(typed, "absent", "<td>", "</td>") == ["<td></td>"] * 3


def _results(extensions: int, per_extension: int) -> pd.DataFrame:
    """Rows as results.csv has them, out of plan order; every third operation failed."""
    n = extensions * per_extension
    order = np.random.default_rng(7).permutation(n)
    frame = pd.DataFrame(
        {
            "seq": pd.array(order, dtype="Int64"),
            "source_row": pd.array(order + 2, dtype="Int64"),
            "extension_id": [f"ext{s // per_extension:04d}" for s in order],
            "extension_number": [f"{1000 + s // per_extension}" for s in order],
            "extension_name": pd.array(
                [None if s % 5 == 0 else f"Name <{s // per_extension}>" for s in order],
                dtype="string",
            ),
            "action": "add",
            "setting_type": "holiday_hours",
            "sub_setting_type": "holiday",
            "status": ["failed" if s % 3 == 0 else "succeeded" for s in order],
            "before": "none",
            "after": [f"Day {s} & night" for s in order],
        }
    )
    frame["noop"] = [s % 2 == 0 for s in order]
    return frame


def test_changes_show_the_first_extensions_in_plan_order_with_their_succeeded_rows() -> None:
    frame = _results(MAX_EXTENSIONS + 50, 3)
    page = section_html(frame, preview=False, total=10_000)
    drawn = re.findall(r'data-extension="(ext\d+)"><summary>([^<]*)</summary>', page)
    assert [x for x, _ in drawn] == [f"ext{i:04d}" for i in range(MAX_EXTENSIONS)]
    # Extension 0 holds seqs 0, 1, 2: seq 0 failed. Its first row shown is seq 1, whose name
    # (seq % 5 != 0) is shown escaped.
    assert drawn[0][1] == "ext0000 · 1000 · Name &lt;0&gt; (2)"
    first = page.split("</details>")[0]
    rows = re.findall(r'<td class="c-source_row">(\d+)</td>', first)
    assert rows == ["3", "4"]  # seq 1 and 2, in plan order
    assert '<td class="c-after">→ Day 1 &amp; night</td>' in first
    assert "no-op" not in page  # after a run nothing is flagged
    assert f"{MAX_EXTENSIONS:,} of {MAX_EXTENSIONS + 50:,} extension(s)" in page
    assert f"from the {len(frame):,} operations listed below of 10,000" in page


def test_a_preview_lists_every_row_and_flags_the_no_ops() -> None:
    frame = _results(4, 2)
    frame["site"] = ["Berlin" if s < 4 else "" for s in frame["seq"]]
    page = section_html(frame, preview=True)
    assert page.count('<tr class="change is-noop">') == 4  # the even seqs
    assert page.count('<span class="noop">no-op</span></td></tr>') == 4
    assert page.count('<tr class="change">') == 4
    assert "ext0001 · 1001 · Name &lt;1&gt; · Berlin (2)" in page
    assert "ext0002 · 1002 · Name &lt;2&gt; (2)" in page  # no site: nothing added
    assert "4 of 4 extension(s); every row is in diff.csv and diff.parquet" in page


def test_the_operations_table_has_a_row_per_operation_with_its_status() -> None:
    frame = _results(3, 2).sort_values("seq")
    acc = Collected(total=100)
    table = _table_html(acc, frame)
    rows = re.findall(r'<tr class="st-(\w+)" data-status="(\w+)">(.*?)</tr>', table)
    assert [(a, b) for a, b, _ in rows] == [(s, s) for s in frame["status"]]
    cells = re.findall(r"<td>(.*?)</td>", rows[1][2])
    assert cells[:5] == ["1", "3", "ext0000", "1000", "Name &lt;0&gt;"]
    assert cells[8:10] == ["", ""]  # holiday, number: columns the frame does not have
    assert "Showing 6 of 100 operations, failures first" in table


def test_collect_counts_each_kind_and_status_and_groups_failures_across_chunks() -> None:
    frame = _results(6, 4)
    frame.loc[frame["seq"] % 4 == 1, "action"] = "delete"
    frame.loc[frame["seq"] % 5 == 2, "status"] = "not_run"
    frame["http_status"] = pd.array([409] * len(frame), dtype="Int64")
    frame["zoom_code"] = pd.array([None] * len(frame), dtype="Int64")
    frame["message"] = [f"Holiday exists: {'x' * 16}{s}" for s in frame["seq"]]
    acc = Collected()
    for start in range(0, len(frame), 7):
        collect(acc, frame.iloc[start : start + 7])
    assert acc.total == len(frame)
    assert acc.counts == Counter(frame["status"])
    kinds = frame["action"] + " holiday_hours/holiday"
    want: dict[str, Counter[str]] = {}
    for kind, status in zip(kinds, frame["status"], strict=True):
        want.setdefault(kind, Counter())[status] += 1
    assert acc.by_operation == want
    [group] = acc.groups.values()  # the ids differ, the error does not
    assert (group.status, group.http_status, group.zoom_code) == ("failed", 409, None)
    assert group.message == "Holiday exists: …" and group.count == acc.counts["failed"]
    assert [x["seq"] for x in group.examples] == frame.loc[frame["status"] == "failed", "seq"][
        :3
    ].tolist()
