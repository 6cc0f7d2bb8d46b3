"""results.csv's text from the Arrow table results.parquet is written from.

The file used to be pandas' ``to_csv`` of the frame after ``jobs.tables.neutralise_frame``;
this writes the same bytes (tests/test_report_writer.py compares them) at a fraction of the
cost, every cell made by Arrow. ``pyarrow.csv.write_csv`` cannot: it quotes every text cell.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from typing import Any

_FORMULA_START = r"^[=+\-@\t\r\x00]"  # jobs.tables.FORMULA_PREFIXES, as Arrow's regex


@functools.cache
def _needs_quotes() -> str:
    """The characters that make ``csv.writer`` quote a cell (``"``, ``,``, newline on 3.11),
    asked of it, so the Arrow writer below quotes exactly where pandas' writer (csv.writer) did."""
    found = []
    for code in range(128):
        cell = io.StringIO()
        csv.writer(cell, lineterminator="\n").writerow([f"a{chr(code)}b", ""])
        if cell.getvalue().startswith('"'):
            found.append(re.escape(chr(code)))
    return "[" + "".join(found) + "]"


def _guarded(column: Any, quote: str) -> Any:
    """Text cells as csv.writer wrote them after ``neutralise``: formula-looking ones prefixed
    with ``'``, then the ones with a quote, comma or newline quoted."""
    import pyarrow.compute as pc

    risky = pc.match_substring_regex(column, _FORMULA_START)
    column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '""'), '"', "")
    return pc.if_else(pc.match_substring_regex(column, quote), quoted, column)


def csv_text(table: Any) -> str:
    """``csv_lines`` joined: the text of a CSV file's rows."""
    if table.num_rows == 0:
        return ""
    return "\n".join(csv_lines(table).to_pylist()) + "\n"


def csv_lines(table: Any) -> Any:
    """Each row's line of a CSV file for an Arrow table (results.parquet's), as an Arrow string
    array without line ends: byte for byte what pandas' writer made of the same rows after
    ``neutralise_frame``, by the cells' Arrow types:
    null an empty cell, an int its digits, a float its ``repr``, a time UTC to the millisecond,
    a boolean ``true``/``false``, text guarded as ``jobs.tables.neutralise`` guards it and
    quoted where ``csv.writer`` quotes.

    Every cell is made in Arrow, column by column, and the lines joined there: no Python
    object per cell but the floats'.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    quote = _needs_quotes()
    cells = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_timestamp(kind):
            # Arrow's cast of a naive ms time writes "YYYY-MM-DD HH:MM:SS.mmm", a tenth of the
            # cost of strftime: the same cells once the space is a T and a Z follows.
            text = pc.cast(pc.cast(column, pa.timestamp("ms")), pa.string())
            column = pc.binary_join_element_wise(pc.replace_substring(text, " ", "T"), "Z", "")
        elif pa.types.is_boolean(kind):
            column = pc.if_else(column, "true", "false")
        elif pa.types.is_floating(kind):  # Arrow writes 21.0 as "21"; csv.writer wrote repr
            column = pa.array(
                [None if v is None else repr(v) for v in column.to_pylist()], pa.string()
            )
        elif pa.types.is_integer(kind):
            column = pc.cast(column, pa.string())
        elif pc.any(pc.match_substring_regex(column, f"{_FORMULA_START}|{quote}")).as_py():
            column = _guarded(column, quote)  # most columns have no such cell: one scan
        cells.append(pc.fill_null(column, ""))
    return pc.binary_join_element_wise(*cells, ",")
