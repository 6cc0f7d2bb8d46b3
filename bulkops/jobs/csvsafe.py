"""Writing report files safely: spreadsheet-formula neutralising, single-line text, atomic 0600.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or NUL is run as a
formula by spreadsheet programs ("CSV injection"); error messages come from Zoom and names from
job files, so neither is trusted. ``neutralise`` prefixes such a cell with ``'``. It is applied
to CSV outputs only (JSON and Parquet keep raw values), and in the job files bulkops writes
(failures.csv, undo.csv) only to free text that no rerun depends on: see ``bulkops.report``.

Every report is written to a temporary file in its destination directory and renamed over the
old one (``os.replace``), so a reader never sees half a file; files are created with mode 0600
because they name the account's extensions and phone numbers.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\x00")
_FORMULA_RE = r"^[=+\-@\t\r\x00]"
CONTROL_PATTERN = r" *[\x00-\x1f\x7f][\x00-\x1f\x7f ]*"
_CONTROL_RE = re.compile(CONTROL_PATTERN)
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
    text = _CONTROL_RE.sub(" ", value).strip()
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
