"""Excel workbooks: an ``.xlsx`` job or directory file is read like a CSV, every cell as text.

The first sheet is read, or the one ``--sheet`` names (a workbook with more sheets and no
``--sheet`` says which one it took). Cells become the text a CSV export would hold: numbers as
written (``1234``, ``1.5``; a 12-digit phone number without its ``+`` stays without it and is
reported, never repaired), a date cell as its date (``2027-12-25``, so a ``to`` date still means
the whole day) or date-time, a time as ``HH:mm``, TRUE/FALSE as ``true``/``false``. Older and
other binary spreadsheets (``.xls``, ``.xlsb``, ``.ods``, ``.numbers``) are refused with one
sentence: bulkops reads no format it cannot check.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import JobFileError
from .intake import MAX_FILE_BYTES, check_cells, check_header, echo, fail

XLSX_SUFFIXES = (".xlsx", ".xlsm")
#: Spreadsheets bulkops refuses, by suffix or by their first bytes (the OLE2 container of .xls).
OTHER_SPREADSHEETS = (".xls", ".xlsb", ".ods", ".numbers")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"


def is_xlsx(path: str | Path, data: bytes) -> bool:
    return str(path).lower().endswith(XLSX_SUFFIXES) or (
        data[:4] == _ZIP_MAGIC and b"xl/" in data[:4096]
    )


def refuse_other(name: str, data: bytes, what: str) -> None:
    """Raise the one-sentence refusal for a binary spreadsheet bulkops does not read."""
    if name.lower().endswith(OTHER_SPREADSHEETS) or data[:8] == _OLE_MAGIC:
        raise fail(
            name,
            f"the {what} is a spreadsheet format bulkops does not read: save it as .xlsx or "
            "as UTF-8 CSV and pass that file",
        )


def read_xlsx(
    name: str, data: bytes, what: str, expected: tuple[str, ...], sheet: str | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """The sheet named ``sheet`` (else the first) as one str column per header, rows indexed as
    the sheet numbers them, and the names of every sheet in the workbook."""
    import openpyxl  # type: ignore[import-untyped]  # no stubs shipped

    unreadable = (
        f"the {what} is not a readable .xlsx workbook: open it in a spreadsheet program and "
        "save it again as .xlsx or UTF-8 CSV"
    )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise fail(name, unreadable) from None
    if unpacked > MAX_FILE_BYTES:  # a small archive can unpack into gigabytes
        raise fail(
            name,
            f"the {what} unpacks to {unpacked:,} bytes; the limit is {MAX_FILE_BYTES:,}: "
            "split it into several job files",
        )
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheets = list(book.sheetnames)
        if sheet is not None and sheet not in sheets:
            book.close()
            named = ", ".join(repr(s) for s in sheets)
            raise fail(name, f"the {what} has no sheet {echo(sheet)!r}; its sheets: {named}")
        chosen = book[sheet] if sheet is not None else book.worksheets[0]
        rows = [[_text(v) for v in row] for row in chosen.iter_rows(values_only=True)]
        book.close()
    except JobFileError:
        raise
    except Exception as exc:  # openpyxl raises KeyError, InvalidFileException, … on damage
        raise fail(name, f"{unreadable} ({echo(str(exc), 120)})") from None
    if not rows:
        raise fail(name, f"the {what}'s first sheet is empty: it needs a header row", row=1)
    header = rows[0]
    while header and header[-1] == "":  # a sheet's used range often runs past its last column
        header = header[:-1]
    columns = check_header(name, header, what, expected)
    body = [(row + [""] * len(columns))[: len(columns)] for row in rows[1:]]
    for number, row in enumerate(rows[1:], start=2):
        if any(cell for cell in row[len(columns) :]):
            raise fail(
                name,
                f"row {number} has a value beyond the last named column: give that column a "
                "header or clear the cell",
                row=number,
            )
    frame = pd.DataFrame(body, columns=columns, dtype=str)
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    check_cells(name, frame, controls=True)
    return frame, sheets


def _text(value: Any) -> str:
    """A cell as the text a CSV export holds."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        # Excel stores a date as midnight of that day: a `to` date must stay a whole day.
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
