"""What every input file passes before a parser sees it, and what every cell passes after.

A job or directory file must be a **regular file** of at most ``MAX_FILE_BYTES``: a FIFO blocks
forever, ``/dev/zero`` never ends and a directory is no table, so each is refused from its
``stat`` before it is opened. Its **header** names at most ``MAX_COLUMNS`` columns within
``MAX_HEADER_CHARS``, checked on a bounded read before the rows are parsed, so a hostile or
mistaken file costs one bounded read, not minutes and gigabytes. Every **cell**, CSV or Parquet
alike, is plain text (no NUL or other control characters) of at most ``MAX_FIELD_CHARS``.

Errors quote file content only clipped (:func:`echo`), and only from a file that looks like the
file asked for: a first row naming none of the expected columns is described, never quoted, so
pointing bulkops at a key file or ``/etc/shadow`` does not copy its first line into a cron mail.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import JobFileError, Problem, clip

if TYPE_CHECKING:  # a resumed run hashes its files here without loading pandas
    from hashlib import _Hash as Digest

    import pandas as pd

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_COLUMNS = 1_000
MAX_HEADER_CHARS = 64 * 1024
MAX_FIELD_CHARS = 10_000
MAX_REPORTED_CELLS = 20  # per column: enough to see the pattern, not a flood
ECHO_CHARS = 80  # the most of a file's content one message quotes
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Opening a FIFO that was swapped in after the stat must not block either.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
_KINDS: tuple[tuple[Callable[[int], bool], str], ...] = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def echo(value: str, limit: int = ECHO_CHARS) -> str:
    """File content fit to quote in a message: at most ``limit`` characters."""
    return clip(value, limit)


def fail(
    path: str,
    reason: str,
    *,
    row: int | None = None,
    column: str | None = None,
    value: str | None = None,
) -> JobFileError:
    shown = None if value is None else echo(value)
    return JobFileError([Problem(path, row, column, shown, reason)])


def read_regular(path: str | Path, what: str) -> bytes:
    """The bytes of a regular file of at most ``MAX_FILE_BYTES``; JobFileError for anything else."""
    name = str(path)
    try:
        _check_regular(name, os.stat(path), what)
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise fail(name, f"cannot read the {what}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb", buffering=0) as fh:
        try:
            info = os.fstat(fh.fileno())
            _check_regular(name, info, what)  # replaced since the stat?
            data = _read_bounded(fh, info.st_size)
        except OSError as exc:
            raise fail(name, f"cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise _too_big(name, len(data), what)
    return data


def _read_bounded(fh: BinaryIO, size: int) -> bytes:
    """At most ``MAX_FILE_BYTES + 1`` bytes. ``read(n)`` allocates ``n`` bytes up front, so the
    first read asks for the size ``stat`` gave and only a file growing meanwhile reads on."""
    limit = MAX_FILE_BYTES + 1
    chunks: list[bytes] = []
    total, want = 0, min(size, MAX_FILE_BYTES) + 1
    while total < limit:
        chunk = fh.read(min(want, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        want = 1024 * 1024
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _check_regular(name: str, info: os.stat_result, what: str) -> None:
    if stat.S_ISREG(info.st_mode):
        if info.st_size > MAX_FILE_BYTES:
            raise _too_big(name, info.st_size, what)
        return
    kind = next((k for test, k in _KINDS if test(info.st_mode)), "a special file")
    raise fail(
        name,
        f"the {what} is {kind}, not a regular file: save the CSV or Parquet data to a file "
        "and give its path",
    )


def _too_big(name: str, size: int, what: str) -> JobFileError:
    return fail(
        name,
        f"the {what} is {size:,} bytes or more; the limit is {MAX_FILE_BYTES:,}: split it "
        "into several job files",
    )


def check_header(name: str, header: Sequence[Any], what: str, expected: Sequence[str]) -> list[str]:
    """The normalised column names of ``header`` (lower case, trimmed); JobFileError when the
    header is too wide, names none of ``expected``, or has an empty or repeated name."""
    if len(header) > MAX_COLUMNS:
        raise fail(
            name,
            f"the first row of the {what} has {len(header):,} columns; the limit is "
            f"{MAX_COLUMNS:,}: is it the right file?",
            row=1,
        )
    columns = [str(h).strip().lower() for h in header]
    if not columns or all(not c for c in columns):
        raise fail(name, f"the {what} has no header row", row=1)
    if expected and not any(c in expected for c in columns):
        raise fail(
            name,
            f"the first row of the {what} names none of the columns {', '.join(expected)}: "
            "is it the right file, with a header row? (its content is not shown)",
            row=1,
        )
    if "" in columns:
        raise fail(name, f"column {columns.index('') + 1} of the header has no name", row=1)
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            raise fail(name, f"column {echo(c)!r} appears twice in the header", row=1, value=c)
        seen.add(c)
    return columns


def check_cells(name: str, frame: pd.DataFrame, *, controls: bool) -> None:
    """Every cell within ``MAX_FIELD_CHARS`` and, with ``controls``, free of control characters.

    A CSV file is searched for control characters as a whole before it is parsed (the message
    names its line); a Parquet file has no lines, so its cells are searched here.
    """
    problems: list[Problem] = []
    for column in frame.columns:
        text = frame[column]
        if controls:
            bad = text[text.str.contains(CONTROL_RE.pattern, regex=True)]
            rows: list[Any] = bad.index.tolist()[:MAX_REPORTED_CELLS]
            for row, value in zip(rows, bad.tolist(), strict=False):
                char = CONTROL_RE.search(value)
                assert char is not None  # selected by the same pattern
                what = (
                    "NUL bytes" if char.group() == "\x00" else f"control character {char.group()!r}"
                )
                problems.append(
                    Problem(
                        name,
                        int(row),
                        str(column),
                        echo(value),
                        f"the cell contains {what}: job-file cells are plain text",
                    )
                )
        if _bytes_at_most(text, MAX_FIELD_CHARS):
            continue  # a character is at least a byte: no cell is too long
        lengths = text.str.len()
        over = lengths[lengths > MAX_FIELD_CHARS]
        rows = over.index.tolist()[:MAX_REPORTED_CELLS]
        for row, length in zip(rows, over.tolist(), strict=False):
            problems.append(
                Problem(
                    name,
                    int(row),
                    str(column),
                    str(text.at[row])[:40],
                    f"the cell holds {int(length):,} characters; the limit is {MAX_FIELD_CHARS:,}",
                )
            )
    if problems:
        raise JobFileError(problems)


def decoded(name: str, data: bytes, codec: str, what: str) -> str:
    """The file's text (a byte-order mark dropped), or the error that says where it is not."""
    try:
        text = data.decode(codec)
    except LookupError:  # a codec that is not a text encoding (hex, rot13)
        raise unknown_encoding(name, codec) from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise fail(
            name,
            f"the {what} is not valid {codec} text (byte {exc.start}, line {line}): save it as "
            "UTF-8 CSV, or pass the file's encoding (e.g. cp1252, utf-16)",
            row=line,
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def unknown_encoding(name: str, codec: str) -> Exception:
    """The error for an encoding Python does not know as a text encoding."""
    return fail(name, f"unknown encoding {echo(codec)!r}: use e.g. utf-8, cp1252, utf-16")


def valid_utf8(data: bytes) -> bool:
    """Whether ``data`` decodes as UTF-8, told by Arrow's validation (no text made)."""
    import numpy as np
    import pyarrow as pa

    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    cells = pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(data))
    try:
        cells.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _bytes_at_most(text: pd.Series, limit: int) -> bool:
    """Whether every cell of an Arrow-backed text column is at most ``limit`` bytes of UTF-8,
    told from Arrow's offsets without reading the text (False when it cannot tell)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(text.dtype, pd.StringDtype) or text.dtype.storage != "pyarrow":
        return False
    longest = pc.max(pc.binary_length(pa.array(text.array))).as_py()
    return longest is None or int(longest) <= limit


def job_hash_of(
    path: str | Path,
    *,
    directory: str | Path | None = None,
    encoding: str | None = None,
    timezone: str | None = None,
    sheet: str | None = None,
) -> str:
    """The ``job_hash`` ``build_plan`` gives these files, from their bytes alone (nothing parsed
    or checked): how a run finds that its checkpoint already holds this job's plan.

    Raises JobFileError when a file cannot be read.
    """
    data = read_regular(path, "job file")
    directory_data = None if directory is None else read_regular(directory, "directory")
    return job_hash(data, directory_data, encoding, timezone, sheet)


def job_digest(data: bytes) -> Digest:
    """Where ``job_hash`` starts from the job file's bytes: taken as soon as they are read, so
    that planning need not keep them."""
    return hashlib.sha256(data)


#: From this size the job file's bytes are hashed on a thread of their own (``job_digest_beside``).
BESIDE_BYTES = 4 * 1024 * 1024


def job_digest_beside(data: bytes) -> Callable[[], Digest]:
    """``job_digest`` of ``data`` taken on another thread (hashlib lets go of the GIL over
    large data) while the caller goes on: the call returned waits for it (and raises what it
    raised). A 1M-row file's SHA-256 (0.04 s) then costs no time beside its checks. Small
    data is hashed at once."""
    if len(data) < BESIDE_BYTES:
        digest = job_digest(data)
        return lambda: digest
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1, thread_name_prefix="bulkops-digest")
    future = pool.submit(job_digest, data)
    pool.shutdown(wait=False)  # the thread ends when the digest is taken
    return future.result


def job_hash(
    data: bytes | Digest,
    directory_data: bytes | None,
    encoding: str | None,
    timezone: str | None,
    sheet: str | None = None,
) -> str:
    """sha256 of the job file's bytes (or their ``job_digest``), the directory file's, and the
    arguments that change how the same bytes are read."""
    digest = job_digest(data) if isinstance(data, bytes) else data.copy()
    if directory_data is not None:
        digest.update(b"\0directory\0" + directory_data)
    for name, value in (("encoding", encoding), ("timezone", timezone), ("sheet", sheet)):
        if value:
            digest.update(f"\0{name}={value}".encode())
    return digest.hexdigest()
