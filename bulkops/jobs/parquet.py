"""Parquet job and directory files, read as text exactly like CSV files are.

Every column must be stored as text (``string``, ``large_string``, ``string_view``, or all
null); a ``settings`` column may also be a struct, map or list, turned into the JSON a CSV cell
would hold. A column of another type is refused before any data is read, so no number or date
is ever coerced. The footer (where Parquet keeps its schema) is bounded before it is parsed, the
header passes the checks a CSV header passes, and every cell the checks a CSV cell passes.

The read is single-threaded on purpose: an error raised right after a threaded read let the
interpreter exit while Arrow's pool threads were still starting, and the C++ runtime aborted
("terminate called without an active exception", exit 134) in about one run in ten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pandas as pd

from .intake import MAX_FILE_BYTES, check_cells, check_header, echo, fail

PARQUET_SUFFIXES = (".parquet", ".pq")
MAGIC = b"PAR1"
#: A footer this large describes far more than MAX_COLUMNS columns (about 150 bytes each).
MAX_FOOTER_BYTES = 8 * 1024 * 1024


def read_parquet(name: str, data: bytes, what: str, expected: Sequence[str]) -> pd.DataFrame:
    """One str column per header name, indexed by spreadsheet row (the header is row 1)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if len(data) >= 12 and data[-4:] == MAGIC:
        footer = int.from_bytes(data[-8:-4], "little")
        if footer > MAX_FOOTER_BYTES:
            raise fail(
                name,
                f"the {what}'s Parquet footer is {footer:,} bytes; the limit is "
                f"{MAX_FOOTER_BYTES:,}: is it the right file?",
            )
    try:
        source = pq.ParquetFile(pa.BufferReader(data))
        schema = source.schema_arrow
        metadata = source.metadata
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, … for damaged files
        raise fail(
            name, f"the {what} is not a readable Parquet file: {echo(str(exc), 200)}"
        ) from None
    columns = check_header(name, schema.names, what, expected)
    for field, column in zip(schema, columns, strict=True):
        kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        if not (_is_text(kind) or (column == "settings" and _is_nested(kind))):
            raise fail(
                name,
                f"column {echo(column)!r} has Parquet type {echo(str(kind))}; store every "
                "column as string (settings may also be a struct) so no value is coerced",
                row=1,
                value=column,
            )
    stored = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    if stored > MAX_FILE_BYTES:
        raise fail(
            name,
            f"the {what} holds {stored:,} bytes of data once uncompressed; the limit is "
            f"{MAX_FILE_BYTES:,}: split it into several job files",
        )
    try:
        table = source.read(use_threads=False)
    except Exception as exc:
        raise fail(
            name, f"the {what} is not a readable Parquet file: {echo(str(exc), 200)}"
        ) from None
    out: dict[str, list[str]] = {}
    for field, column, values in zip(table.schema, columns, table.columns, strict=True):
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
            values = values.cast(kind)
        if _is_text(kind):
            out[column] = _texts(name, column, values)
        else:
            out[column] = [_settings_json(name, row, v) for row, v in _numbered(values)]
    frame = pd.DataFrame(out, columns=columns, dtype=str)
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    check_cells(name, frame, controls=True)
    return frame


def _is_text(kind: Any) -> bool:
    import pyarrow as pa

    is_view = getattr(pa.types, "is_string_view", None)  # pyarrow 16 and later
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_null(kind)
        or (is_view is not None and is_view(kind))
    )


def _is_nested(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_struct(kind) or pa.types.is_map(kind) or pa.types.is_list(kind))


def _numbered(values: Any) -> list[tuple[int, Any]]:
    return list(enumerate(values.to_pylist(), start=2))


def _texts(name: str, column: str, values: Any) -> list[str]:
    """The column's cells as str; Parquet does not promise valid UTF-8, CSV reading does."""
    import pyarrow as pa

    try:
        return ["" if v is None else v for v in values.to_pylist()]
    except UnicodeDecodeError:
        bad = (r for r, raw in _numbered(values.cast(pa.large_binary())) if not _utf8(raw))
        raise fail(
            name,
            "the cell is not valid UTF-8 text: store the column as UTF-8 strings",
            row=next(bad, None),
            column=column,
        ) from None


def _utf8(raw: bytes | None) -> bool:
    try:
        (raw or b"").decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _settings_json(name: str, row: int, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(x, tuple) and len(x) == 2 for x in value):
        value = dict(value)  # a Parquet map arrives as a list of (key, value) pairs
    try:
        return orjson.dumps(_drop_nulls(value)).decode()
    except orjson.JSONEncodeError as exc:
        raise fail(
            name,
            f"the settings hold a value JSON cannot carry ({echo(str(exc))}): store numbers, "
            "text, booleans, lists and structs only",
            row=row,
            column="settings",
        ) from None


def _drop_nulls(value: Any) -> Any:
    """A struct column gives every row every field; the absent ones come back as null."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value
