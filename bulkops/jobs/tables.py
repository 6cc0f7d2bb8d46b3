"""Tables in and out: read a CSV, Parquet or .xlsx file with every cell as text, write reports.

**Reading** (job files, directory files): every cell is read as text, so nothing is ever
coerced. What a file must pass before it is parsed (a regular file, size, header width) and what
every cell must pass after is in ``intake``; Parquet specifics are in ``parquet``. Encodings, NUL
bytes and control characters, rows with more fields than the header, damaged Parquet and bad
headers are each reported as one ``JobFileError`` naming the file (and row where it can).

**Writing** (reports): a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage
return or NUL is run as a formula by spreadsheet programs ("CSV injection"); error messages come
from Zoom and names from job files, so neither is trusted. ``neutralise`` prefixes such a cell
with ``'``. It is applied to CSV outputs only (JSON and Parquet keep raw values), and in the job
files bulkops writes (failures.csv, undo.csv) only to free text that no rerun depends on: see
``bulkops.reports.results``. Every report is written to a temporary file in its destination
directory and renamed over the old one (``os.replace``), so a reader never sees half a file;
files are created with mode 0600 because they name the account's extensions and phone numbers.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pandas as pd

from ..errors import clip
from .checks import closest
from .intake import (
    CONTROL_RE,
    MAX_HEADER_CHARS,
    check_cells,
    check_header,
    decoded,
    echo,
    fail,
    read_regular,
    unknown_encoding,
    valid_utf8,
)
from .parquet import MAGIC, PARQUET_SUFFIXES, read_parquet
from .xlsx import is_xlsx, read_xlsx, refuse_other

# --- reading ---------------------------------------------------------------------------------

#: How far into the first data row its fields are counted before pandas parses the file.
FIRST_ROW_SCAN_CHARS = 1024 * 1024
#: Every byte but the control characters ``CONTROL_RE`` refuses.
_NOT_CONTROL = bytes(sorted(set(range(256)) - {*range(0x20), 0x7F} | {0x09, 0x0A, 0x0D}))
#: A file of white space and byte-order marks only (read no further than its first other byte).
_BLANK = re.compile(rb"[ \t\r\n\xef\xbb\xbf]*+\Z")
_FIELDS_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


@dataclass(frozen=True, slots=True)
class Table:
    """A file read as text: ``frame`` has one str column per header ("" when empty)."""

    path: str
    data: bytes
    frame: pd.DataFrame  # columns: normalised header names; index: spreadsheet row numbers
    sheets: tuple[str, ...] = ()  # an .xlsx workbook's sheets; the first is the one read


def is_parquet(path: str | Path, data: bytes) -> bool:
    return str(path).lower().endswith(PARQUET_SUFFIXES) or data[:4] == MAGIC


def read_table(
    path: str | Path,
    *,
    encoding: str | None = None,
    required: Sequence[str] = (),
    any_of: Sequence[str] = (),
    what: str = "job file",
    allow_empty: bool = False,
    sheet: str | None = None,
) -> Table:
    """Read a CSV or Parquet file with every cell as text; raise JobFileError when unreadable.

    ``required`` columns must all be present, at least one of ``any_of`` when given. A header
    with no rows is an error unless ``allow_empty``.
    """
    name = str(path)
    data = read_regular(path, what)
    if _BLANK.match(data):
        raise fail(name, f"the {what} is empty: it needs a header row and at least one row")
    expected = (*required, *any_of)
    refuse_other(name, data, what)
    sheets: list[str] = []
    if is_xlsx(path, data):
        frame, sheets = read_xlsx(name, data, what, expected, sheet)
    elif sheet is not None:
        raise fail(name, f"--sheet reads an .xlsx workbook; the {what} is not one: drop --sheet")
    elif is_parquet(path, data):
        frame = read_parquet(name, data, what, expected)
    else:
        frame = _read_csv(name, data, encoding, what, expected)

    missing = [c for c in required if c not in frame.columns]
    if any_of and not any(c in frame.columns for c in any_of):
        missing.append(" or ".join(any_of))
    if missing:
        header = echo(", ".join(map(str, frame.columns)), 200)
        raise fail(
            name,
            f"the {what} lacks column(s) {', '.join(missing)}; its header is {header}"
            + _misspelt(missing, [str(c) for c in frame.columns]),
            row=1,
        )
    blank = (frame == "").all(axis=1)
    frame = frame.loc[~blank]
    if frame.empty and not allow_empty:
        raise fail(name, f"the {what} has a header but no rows", row=1)
    return Table(name, data, frame, tuple(sheets))


def _read_csv(
    name: str, data: bytes, encoding: str | None, what: str, expected: Sequence[str]
) -> pd.DataFrame:
    codec = encoding or "utf-8-sig"
    try:
        kind = codecs.lookup(codec).name
    except LookupError:
        raise unknown_encoding(name, codec) from None
    utf8 = kind in ("utf-8", "utf-8-sig")
    # Valid UTF-8 is Arrow's to read as it is: the whole file is decoded only where its text is
    # read (another encoding, a control character, quotes), not as a copy of a million rows.
    whole = None if utf8 and valid_utf8(data) else decoded(name, data, codec, what)

    def text() -> str:
        nonlocal whole
        if whole is None:
            whole = decoded(name, data, codec, what)
        return whole

    # In UTF-8 a control character is its own byte and no other character holds that byte:
    # deleting every other byte (a C loop) finds one far faster than the pattern does.
    bad = CONTROL_RE.search(text()) if not utf8 or data.translate(None, _NOT_CONTROL) else None
    if bad:
        line = text().count("\n", 0, bad.start()) + 1
        char = "NUL bytes" if bad.group() == "\x00" else f"control character {bad.group()!r}"
        raise fail(
            name,
            f"the {what} contains {char} (line {line}): it is not a text CSV file",
            row=line,
        )
    header, first, cut = _leading_records(
        name, _leading(data, codec) if whole is None else whole, what
    )
    if len(header) == 1 and ";" in header[0]:
        parts = [p.strip().lower() for p in header[0].split(";")]
        if not expected or any(p in expected for p in parts):
            raise fail(
                name,
                f"the {what} looks ';'-separated; save it as comma-separated CSV",
                row=1,
                value=header[0],
            )
    columns = check_header(name, header, what, expected)
    if first is not None and len(first) > len(columns):
        raise _extra_fields(name, 2, len(first), len(columns), more=cut)
    # UTF-8 bytes go to Arrow as they are (no second copy); a byte-order mark is in the header
    # line, which it skips.
    frame = _read_unquoted(data if utf8 else text(), len(columns))
    if frame is not None:
        frame.columns = pd.Index(columns)
        check_cells(name, frame, controls=False)  # control characters: the whole text, above
        return frame
    try:
        frame = pd.read_csv(
            io.StringIO(text()),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            header=0,
            engine="c",
        )
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        fields = _FIELDS_RE.search(str(exc))
        if fields:
            raise _extra_fields(name, int(fields[2]), int(fields[3]), int(fields[1])) from None
        raise fail(name, f"the {what} is not well-formed CSV: {echo(str(exc), 200)}") from None
    if not isinstance(frame.index, pd.RangeIndex):
        # pandas takes a first row with surplus fields as an index: every column would shift.
        raise _extra_fields(name, 2, len(columns) + frame.index.nlevels, len(columns))
    frame.columns = pd.Index(columns)
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    frame = frame.fillna("").astype(str)
    check_cells(name, frame, controls=False)  # control characters: the whole text, above
    return frame


def _leading(data: bytes, codec: str) -> str:
    """As much of a valid UTF-8 file's text as ``_leading_records`` can read (and one character
    more, so it sees the text go on), as ``decoded`` has it."""
    chars = MAX_HEADER_CHARS + FIRST_ROW_SCAN_CHARS + 1
    decoder = codecs.getincrementaldecoder(codec)()
    # Four bytes at most per character, and two byte-order marks of three that are dropped; a
    # character cut at the end waits in the decoder, undecoded.
    text = decoder.decode(data[: 4 * chars + 6])
    return (text[1:] if text.startswith("\ufeff") else text)[:chars]


#: From this size on a CSV is parsed on Arrow's threads (a 1M-row migration file is ~80 MB).
THREADED_BYTES = 32 * 1024 * 1024


def _read_unquoted(text: str | bytes, width: int) -> pd.DataFrame | None:
    """A CSV without a quote character, read by Arrow's parser (several times faster than
    pandas' on a migration's million rows), or None for pandas to read it. ``text``: the file's
    text or its UTF-8 bytes.

    Without quotes a CSV is fields between commas and line breaks, which both parsers split
    alike; anything else (quotes, a row with too few or too many fields, a blank line) is left
    to pandas, so the same file gets the same frame and the same messages either way.
    """
    raw = text.encode() if isinstance(text, str) else text
    if b'"' in raw:
        return None
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    names = [f"c{i}" for i in range(width)]
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(raw),
            # One thread below THREADED_BYTES: the pool's buffers cost more memory than they
            # save time (a 200k-row file: +85 MB and 3× the CPU with threads, +53 MB without);
            # a million rows parse in half the time on two cores.
            read_options=pa_csv.ReadOptions(
                column_names=names, skip_rows=1, use_threads=len(raw) >= THREADED_BYTES
            ),
            parse_options=pa_csv.ParseOptions(quote_char=False, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                # pandas holds its text as large_string: read so, nothing is cast
                column_types=dict.fromkeys(names, pa.large_string()),
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, ValueError):
        return None
    frame: pd.DataFrame = table.to_pandas().astype(str)
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    return frame


def _extra_fields(
    name: str, row: int, fields: int, columns: int, *, more: bool = False
) -> Exception:
    return fail(
        name,
        f"row {row} has {fields:,}{' or more' if more else ''} fields but the header names "
        f"{columns:,} columns: quote values that contain a comma, or give the extra column a "
        "header",
        row=row,
    )


class _Lines:
    """Lines of ``text`` for ``csv.reader``, ending at ``limit`` characters (a line is cut)."""

    def __init__(self, text: str, limit: int) -> None:
        self.text = text
        self.pos = 0
        self.limit = limit
        self.cut = False  # a line was cut short at the limit

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        stop = min(len(self.text), self.limit)
        if self.pos >= stop:
            raise StopIteration
        end = self.text.find("\n", self.pos, stop)
        if end < 0:
            end = stop
            self.cut = stop < len(self.text)
        else:
            end += 1
        line, self.pos = self.text[self.pos : end], end
        return line


def _leading_records(name: str, text: str, what: str) -> tuple[list[str], list[str] | None, bool]:
    """The header and the first row as far as it is scanned (and whether that was all of it),
    read with bounded effort."""
    lines = _Lines(text, MAX_HEADER_CHARS)
    reader = csv.reader(lines)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise fail(name, f"the header row cannot be read: {echo(str(exc), 200)}", row=1) from None
    if lines.cut:
        raise fail(
            name,
            f"the first row of the {what} is longer than {MAX_HEADER_CHARS:,} characters: "
            "is it the right file, with a header row?",
            row=1,
        )
    lines.limit = lines.pos + FIRST_ROW_SCAN_CHARS
    try:
        # A row cut at the scan limit gives a lower bound on its fields, which is enough.
        first = next(reader, None)
    except csv.Error:
        first = None  # pandas reports it, with its row number
    return header, first, lines.cut


# --- writing ---------------------------------------------------------------------------------

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\x00")
_FORMULA_RE = r"^[=+\-@\t\r\x00]"
CONTROL_PATTERN = r" *[\x00-\x1f\x7f][\x00-\x1f\x7f ]*"
_CONTROL_RUN_RE = re.compile(CONTROL_PATTERN)
MESSAGE_LIMIT = 500


def is_formula(value: str) -> bool:
    return value.startswith(FORMULA_PREFIXES)


def neutralise(value: str) -> str:
    """``=SUM(A1)`` → ``'=SUM(A1)``; anything else unchanged."""
    return "'" + value if is_formula(value) else value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are neutralised (numbers and nulls untouched)."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if isinstance(column.dtype, pd.CategoricalDtype) and _is_text(column.cat.categories):
            column = column.astype("string")  # a plan's text columns are categoricals
        if _is_text(column):
            text = column.astype("string")
            risky = text.str.contains(_FORMULA_RE, regex=True, na=False)
            if risky.any():
                out[name] = text.mask(risky, "'" + text)
    return out


def _is_text(values: pd.Series | pd.Index) -> bool:
    return values.dtype == object or pd.api.types.is_string_dtype(values.dtype)


def one_line(value: str | None, limit: int = MESSAGE_LIMIT) -> str | None:
    """A message fit for one cell: control characters become spaces, length capped."""
    if value is None:
        return None
    return clip(_CONTROL_RUN_RE.sub(" ", value).strip(), limit)


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "w") -> Iterator[IO[str]]:
    """Open a temporary sibling of ``path`` (0600); on success rename it over ``path``."""
    with atomic_path(path) as tmp, open(tmp, mode, encoding="utf-8", newline="") as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for writers that want a name (Parquet)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)  # mkstemp creates the file with mode 0600
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    with atomic_file(path) as fh:
        fh.write(text)


def _misspelt(missing: Sequence[str], header: Sequence[str]) -> str:
    """``; did you mean 'action' for 'acton'?`` for header names close to a missing column."""
    hints = []
    for wanted in (w for group in missing for w in group.split(" or ")):
        if (near := closest(wanted, header, cutoff=0.75)) is not None:
            hints.append(f"{wanted!r} for {echo(near, 40)!r}")
    return f"; did you mean {', '.join(hints)}?" if hints else ""
