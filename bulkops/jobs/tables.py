"""Tables in and out: read a CSV or Parquet file with every cell as text, write reports safely.

**Reading** (job files, directory files): every cell is read as text, so nothing is ever
coerced; size limits, encodings, NUL bytes and control characters, damaged Parquet and bad
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

import contextlib
import csv
import io
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
import pandas as pd

from ..errors import JobFileError, Problem

# --- reading ---------------------------------------------------------------------------------

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_FIELD_CHARS = 10_000
MAX_REPORTED_CELLS = 20  # per column: enough to see the pattern, not a flood
PARQUET_SUFFIXES = (".parquet", ".pq")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Table:
    """A file read as text: ``frame`` has one str column per header ("" when empty)."""

    path: str
    data: bytes
    frame: pd.DataFrame  # columns: normalised header names; index: spreadsheet row numbers


def _fail(
    path: str, reason: str, *, row: int | None = None, value: str | None = None
) -> JobFileError:
    return JobFileError([Problem(path, row, None, value, reason)])


def is_parquet(path: str | Path, data: bytes) -> bool:
    return str(path).lower().endswith(PARQUET_SUFFIXES) or data[:4] == b"PAR1"


def read_table(
    path: str | Path,
    *,
    encoding: str | None = None,
    required: Sequence[str] = (),
    any_of: Sequence[str] = (),
    what: str = "job file",
    allow_empty: bool = False,
) -> Table:
    """Read a CSV or Parquet file with every cell as text; raise JobFileError when unreadable.

    ``required`` columns must all be present, at least one of ``any_of`` when given. A header
    with no rows is an error unless ``allow_empty``.
    """
    name = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise _fail(name, f"the {what} is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}")
        data = Path(path).read_bytes()
    except OSError as exc:
        raise _fail(name, f"cannot read the {what}: {exc.strerror or exc}") from None
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise _fail(name, f"the {what} is empty: it needs a header row and at least one row")
    frame = (
        _read_parquet(name, data, what)
        if is_parquet(path, data)
        else _read_csv(name, data, encoding, what)
    )

    missing = [c for c in required if c not in frame.columns]
    if any_of and not any(c in frame.columns for c in any_of):
        missing.append(" or ".join(any_of))
    if missing:
        raise _fail(
            name,
            f"the {what} lacks column(s) {', '.join(missing)}; its header is "
            f"{', '.join(map(str, frame.columns)) or '(empty)'}",
            row=1,
        )
    _check_sizes(name, frame)
    blank = (frame == "").all(axis=1)
    frame = frame.loc[~blank]
    if frame.empty and not allow_empty:
        raise _fail(name, f"the {what} has a header but no rows", row=1)
    return Table(name, data, frame)


def _read_csv(name: str, data: bytes, encoding: str | None, what: str) -> pd.DataFrame:
    codec = encoding or "utf-8-sig"
    try:
        text = data.decode(codec)
    except LookupError:
        raise _fail(name, f"unknown encoding {codec!r}: use e.g. utf-8, cp1252, utf-16") from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _fail(
            name,
            f"the {what} is not valid {codec} text (byte {exc.start}, line {line}): save it as "
            "UTF-8 CSV, or pass the file's encoding (e.g. cp1252, utf-16)",
            row=line,
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    bad = _CONTROL_RE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        char = "NUL bytes" if bad.group() == "\x00" else f"control character {bad.group()!r}"
        raise _fail(
            name,
            f"the {what} contains {char} (line {line}): it is not a text CSV file",
            row=line,
        )
    try:
        header = next(csv.reader(io.StringIO(text)), [])
    except csv.Error as exc:
        raise _fail(name, f"the header row cannot be read: {exc}", row=1) from None
    columns = [h.strip().lower() for h in header]
    _check_header(name, columns, what)
    if len(columns) == 1 and ";" in header[0]:
        raise _fail(
            name,
            f"the {what} looks ';'-separated; save it as comma-separated CSV",
            row=1,
            value=header[0],
        )
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            header=0,
            engine="c",
        )
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        raise _fail(name, f"the {what} is not well-formed CSV: {exc}") from None
    frame.columns = pd.Index(columns)
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    return frame.fillna("").astype(str)


def _check_header(name: str, columns: list[str], what: str) -> None:
    if not columns or all(not c for c in columns):
        raise _fail(name, f"the {what} has no header row", row=1)
    if "" in columns:
        raise _fail(name, f"column {columns.index('') + 1} of the header has no name", row=1)
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            raise _fail(name, f"column {c!r} appears twice in the header", row=1, value=c)
        seen.add(c)


def _read_parquet(name: str, data: bytes, what: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, … for damaged files
        raise _fail(name, f"the {what} is not a readable Parquet file: {exc}") from None
    columns = [str(c).strip().lower() for c in table.column_names]
    _check_header(name, columns, what)
    out: dict[str, list[str]] = {}
    for field, column, col in zip(table.schema, columns, table.columns, strict=True):
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
            col = col.cast(kind)
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind):
            out[column] = ["" if v is None else v for v in col.to_pylist()]
        elif column == "settings" and (
            pa.types.is_struct(kind) or pa.types.is_map(kind) or pa.types.is_list(kind)
        ):
            out[column] = [_settings_json(v) for v in col.to_pylist()]
        else:
            raise _fail(
                name,
                f"column {column!r} has Parquet type {kind}; store every column as string "
                "(settings may also be a struct) so no value is coerced",
                row=1,
                value=column,
            )
    frame = pd.DataFrame(out, columns=columns, dtype=str)
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    return frame


def _settings_json(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(x, tuple) and len(x) == 2 for x in value):
        value = dict(value)  # a Parquet map arrives as a list of (key, value) pairs
    return orjson.dumps(_drop_nulls(value)).decode()


def _drop_nulls(value: Any) -> Any:
    """A struct column gives every row every field; the absent ones come back as null."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _check_sizes(name: str, frame: pd.DataFrame) -> None:
    problems: list[Problem] = []
    for column in frame.columns:
        lengths = frame[column].str.len()
        over = lengths[lengths > MAX_FIELD_CHARS]
        rows: list[Any] = over.index.tolist()[:MAX_REPORTED_CELLS]
        for row, length in zip(rows, over.tolist(), strict=False):
            problems.append(
                Problem(
                    name,
                    int(row),
                    str(column),
                    str(frame.at[row, column])[:40],
                    f"the cell holds {int(length):,} characters; the limit is {MAX_FIELD_CHARS:,}",
                )
            )
    if problems:
        raise JobFileError(problems)


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
        if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            text = column.astype("string")
            risky = text.str.contains(_FORMULA_RE, regex=True, na=False)
            if risky.any():
                out[name] = text.mask(risky, "'" + text)
    return out


def one_line(value: str | None, limit: int = MESSAGE_LIMIT) -> str | None:
    """A message fit for one cell: control characters become spaces, length capped."""
    if value is None:
        return None
    text = _CONTROL_RUN_RE.sub(" ", value).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
