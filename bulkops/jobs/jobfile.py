"""Read job files safely: CSV or Parquet in, checked rows out, every defect reported at once.

## Job-file format

A job file is a table, one operation template per row: **CSV** (UTF-8, with or without a BOM;
other encodings with `encoding=` / `--encoding`) or **Parquet** (recognised by a `.parquet`/`.pq`
suffix or its `PAR1` magic bytes). Every cell is read as text, so nothing is ever coerced: a
spreadsheet's damage (`1.20589E+10`, a dropped `+`, `1234.0`, lost leading zeros) is reported
with the offending value, never repaired. Column names use Zoom's own field names; they are
matched case-insensitively and surrounding spaces are ignored. Blank rows are skipped. Rows are
numbered as a spreadsheet shows them: the header is row 1, the first data row is row 2.

| column | meaning |
|---|---|
| `action` | `add` \\| `update` \\| `delete` (required) |
| `setting_type` | `business_hours` \\| `closed_hours` \\| `holiday_hours` (required) |
| `sub_setting_type` | `holiday` \\| `call_forwarding` \\| `custom_hours` \\| `call_handling`; may be left empty for a delete: `call_forwarding_id`/`phone_number` mean `call_forwarding`, else `holiday_id`/`name` mean `holiday` |
| **target** — exactly one of: | |
| `extension_id` | the Zoom extension id (`nNGsNx2zRDyiIXWVI23FCQ`) |
| `extension_number` | looked up in the directory file (needs `--directory`) |
| `email` | looked up in the directory file, case-insensitively (needs `--directory`) |
| `target` | a selector over the directory: one operation per matching extension (grammar below) |
| **settings** | |
| `name`, `from`, `to` | the holiday: its name and start/end (see Dates) |
| `holiday_id` | the holiday to update/delete, or the holiday a holiday-hours forwarding/call-handling row lives under |
| `phone_number` | E.164 (`+14155550123`): the forwarding number, or call_handling's `phone_number` |
| `description` | the forwarding number's description (or call_handling's `description`) |
| `call_forwarding_id` | the forwarding entry to update/delete |
| `settings` | a JSON object (CSV) or a struct / JSON string (Parquet) with the rest of the body's `settings`: `type`, `custom_hours_settings`, call-handling fields, `call_forwarding_settings`, `require_press_1_before_connecting`, … |
| `timezone` | IANA zone (`Europe/Berlin`) for this row's date-only and naive times |

Flat columns and `settings` merge into one body; the same field given in both with different
values is an error. Unknown columns and unknown `settings` keys are warnings (Zoom has many
fields; unknown keys are sent as given). A value in a column the operation does not use is an
error, so a misplaced value never silently does nothing.

**What each operation needs**

| operation | required | optional |
|---|---|---|
| add holiday_hours/holiday | `name`, `from`, `to` | |
| update holiday_hours/holiday | `name`, `from`, `to` (the new values); `holiday_id`, or else the holiday is found by `name` | |
| delete holiday_hours/holiday | `holiday_id` or `name` | `from`, `to` narrow a lookup by name |
| add */call_forwarding | `phone_number`; for holiday_hours the holiday (`holiday_id` or `name` [+ `from`/`to`]) | `description` |
| update */call_forwarding | `call_forwarding_id`, or `phone_number` to find it; something to change: `description`, `settings.enable`, `settings.require_press_1_before_connecting`, or a full `settings.call_forwarding_settings` list (≤ 10 items, each with `id`); for holiday_hours the holiday | |
| delete */call_forwarding | `call_forwarding_id` or `phone_number`; for holiday_hours found by `phone_number`, the holiday | |
| update business_hours/custom_hours | `settings.type` 1 (24 h) or 2 (custom); for 2 `settings.custom_hours_settings` (≤ 7 items, `weekday` 1–7 unique, 1 = Sunday; `type` 0/1/2; `from` < `to` as `HH:mm` when 2) | `settings.allow_members_to_reset` |
| update */call_handling | at least one call-handling field; for holiday_hours the holiday | |

Call-handling checks: `call_not_answer_action` ∈ 1–12, 14, 15, 18, 19 (not 13); 10 needs
`phone_number`; `busy_on_another_call_action` ∈ 1, 2, 4, 6–10, 12, 21, 22 (users only — not
checked against the extension's type); `ring_mode` `simultaneous`|`sequential`; `max_wait_time`
10–60 step 5, or 120, 180, 240, 300, 600, 900, 1200, 1500, 1800 (Zoom allows the long values
for call-queue overflow only; bulkops accepts them for any type); `wrap_up_time` 0, 10–60 step
5, 120–300 step 60; `max_call_in_queue` 0–60; phone-number fields E.164; extension-id fields as
ids below. Giving only one of `ring_mode`/`max_wait_time` on business hours is a warning.

**Ids** (`extension_id`, `holiday_id`, `call_forwarding_id`) go into the request URL and must be
1–64 ASCII letters, digits, `-` or `_`: `a/b`, `../x`, `%2e`, spaces and look-alike Unicode are
rejected. **Phone numbers** must match `^\\+[1-9]\\d{1,14}$`.

**Dates** (`from`, `to`) are ISO-8601: `2027-12-25T09:00:00Z`, `2027-12-25T09:00:00+01:00`,
`2027-12-25T09:00` / `2027-12-25 09:00` (naive), or a date `2027-12-25`. Naive and date-only
values are read in the row's `timezone`, else the `timezone=` argument, else UTC. A date-only
`from` is 00:00:00 of that day; a date-only `to` is **23:59:59** of that day (the whole day,
and back-to-back holidays never overlap). Everything is sent as UTC `yyyy-MM-ddTHH:mm:ssZ`;
`from` must be before `to`.

**Selectors** (`target` column), matched against the directory file:

    selector := "*" | clause ("&" clause)*
    clause   := column "=" value ("," value)*
    column   := any directory column: extension_id, extension_number, name, email, type, site, …

A clause matches when the column equals one of its values, compared case-insensitively after
trimming spaces; clauses joined by `&` must all match. Examples: `*` (every extension),
`type=call_queue`, `site=New York&type=user`, `site=London,Berlin`. Values cannot contain `&`
or `,`. A selector matching no extension is an error. Selector rows expand in directory order.

**Directory file** (`--directory`, CSV or Parquet): `extension_id` (required, unique) plus
any of `extension_number`, `name`, `email`, `type`, `site`, … Non-empty extension numbers and
emails must be unique.

**Duplicates and contradictions** are checked after expansion, per extension, and are errors:
- the same operation twice (e.g. an explicit row and a selector row hitting one extension);
- adding the same holiday (`name` + `from`) or forwarding number twice — adds are not idempotent;
- adding and deleting the same holiday or forwarding number (a delete by name without `from`
  matches every `from`; give the old `from` to replace last year's holiday with this year's);
- two different updates of the same item (the same custom hours, call handling, holiday or
  forwarding entry): merge them into one row.
An `extension_id` that the directory (when given) does not list is a warning.

**Limits**: a cell holds at most 10,000 characters, a file at most 512 MB; NUL bytes, control
characters, undecodable text and unreadable Parquet are reported as one problem each.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from ..errors import JobFileError, Problem
from .rules import KNOWN_COLUMNS, TARGET_COLUMNS, RowSpec, check_row, parse_timezone

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


@dataclass(frozen=True, slots=True)
class JobRows:
    """A job file after row checks: the valid row templates and every problem found."""

    path: str
    data: bytes
    specs: list[RowSpec]
    problems: list[Problem]
    rows: int  # non-blank data rows read


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


def load(path: str | Path, *, encoding: str | None = None, timezone: str | None = None) -> JobRows:
    """Read and check every row of a job file. Unreadable files raise JobFileError."""
    # A header alone is a job with nothing to do: a failures.csv of a run where nothing failed.
    table = read_table(
        path,
        encoding=encoding,
        required=("action", "setting_type"),
        any_of=TARGET_COLUMNS,
        allow_empty=True,
    )
    problems: list[Problem] = []
    if table.frame.empty:
        nothing = "the job file has a header but no rows: there is nothing to do"
        problems.append(Problem(table.path, 1, None, None, nothing, "warning"))
    tz, reason = parse_timezone(timezone or "")
    if reason:
        problems.append(Problem(table.path, None, "timezone", timezone, f"timezone= {reason}"))
    for column in table.frame.columns:
        if column not in KNOWN_COLUMNS:
            problems.append(
                Problem(
                    table.path,
                    1,
                    str(column),
                    None,
                    "unknown column, ignored; known: " + ", ".join(sorted(KNOWN_COLUMNS)),
                    "warning",
                )
            )
    known = [c for c in table.frame.columns if c in KNOWN_COLUMNS]
    specs: list[RowSpec] = []
    for row, values in zip(table.frame.index, _rows(table.frame, known), strict=True):
        spec, found = check_row(
            dict(zip(known, values, strict=True)), file=table.path, row=int(row), tz=tz
        )
        problems.extend(found)
        if spec is not None:
            specs.append(spec)
    return JobRows(table.path, table.data, specs, problems, len(table.frame))


def _rows(frame: pd.DataFrame, columns: Sequence[str]) -> Iterable[tuple[str, ...]]:
    return frame[list(columns)].itertuples(index=False, name=None)


def validate(
    path: str | Path,
    *,
    directory: str | Path | None = None,
    encoding: str | None = None,
    timezone: str | None = None,
) -> list[Problem]:
    """Every problem of a job file (errors and warnings), expansion included; sends nothing."""
    from .plan import validate as _validate  # plan builds on this module

    return _validate(path, directory=directory, encoding=encoding, timezone=timezone)
