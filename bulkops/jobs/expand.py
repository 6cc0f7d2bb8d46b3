"""Rows × extensions → the plan frame, vectorised: no Python object per operation.

``expand`` turns each row template (the job's columns, ``specs.Specs``) and the extensions a
``Resolution`` pairs it with into one frame row per operation, with ids, directory names and the
zone its naive times were read in; ``_op_ids`` gives each operation its deterministic id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from ..model import OPERATION_COLUMN_NAMES
from .checks import ZONE_COLUMN, RowSpec
from .conflicts import extension_codes
from .directory import Directory, IntArray, Resolution
from .specs import Coded, Column, Specs, Texts
from .zones import operation_zones

#: The plan frame's columns: the fields of ``model.Operation``, in order, then the zone.
PLAN_COLUMNS = (*OPERATION_COLUMN_NAMES, ZONE_COLUMN)
#: Columns ``expand`` computes per target; the rest are copied from the row's template.
_PER_TARGET = (
    "seq",
    "op_id",
    "row",
    "extension_id",
    "extension_number",
    "extension_name",
    ZONE_COLUMN,
)
#: Columns copied from the row template: categoricals, shared by every operation of a row.
_TEMPLATE = tuple(name for name in PLAN_COLUMNS if name not in _PER_TARGET)


def _categorical(column: Coded, take: IntArray | None) -> pd.Categorical:
    """``column[take]`` (None: the whole column) as a categorical: one copy of each distinct
    string, int codes per row (the categories in order of first appearance among all rows, as
    ``pd.factorize`` has them)."""
    coded = column.canonical()
    if coded.text is None:
        categories = pd.Index([str(u) for u in coded.values], dtype="str")
    else:  # text read from Arrow stays Arrow's (a pandas str column holds large_string)
        categories = pd.Index(coded.text.cast(pa.large_string()), dtype="str")
    if take is None:
        return _from_codes(coded.codes, categories)
    return _from_codes(coded.codes[take] if len(take) else take, categories)


#: pandas' own constructor of a categorical dtype from categories it knows are distinct.
_FAST_DTYPE = getattr(pd.CategoricalDtype, "_from_fastpath", None)


def _from_codes(codes: npt.NDArray[np.integer[Any]], categories: pd.Index) -> pd.Categorical:
    """``pd.Categorical.from_codes`` for ``categories`` distinct by construction (the uniques
    of a factorization, spelled as text). Checking them distinct again hashes every one: a
    sixth of a second for the half million holiday ids of a million-row job. The check is
    only skipped where pandas offers its fast path; the dtype made is the checked one."""
    if _FAST_DTYPE is None:
        return pd.Categorical.from_codes(codes, categories=categories)
    return pd.Categorical.from_codes(codes, dtype=_FAST_DTYPE(categories, False))


def _per_operation(distinct: Column | Texts, codes: IntArray) -> Any:
    """``distinct[codes]`` as pandas text; codes in order of first appearance, so as many
    distinct values as operations (a migration's extension per row) is each in turn."""
    text: Any
    if isinstance(distinct, np.ndarray):
        text = pd.array(distinct, dtype="str")
    else:  # Arrow text already: no copy of its cells
        text = distinct.astype("str", copy=False)
    return text if len(distinct) == len(codes) else text.take(codes)


def expand(
    specs: Sequence[RowSpec],
    resolution: Resolution,
    directory: Directory | None,
    job_hash: str,
    extensions: tuple[IntArray, Column | Texts] | None = None,
) -> pd.DataFrame:
    """The plan frame: one row per (row template, extension it names), vectorised.
    ``extensions``: ``extension_codes(resolution)``, when the caller has it already."""
    take = resolution.spec
    templates = Specs.of(specs).columns
    # A row per operation in order (a migration's job file): the templates are the operations.
    whole = len(take) == len(specs) and np.array_equal(take, np.arange(len(take)))
    rows = templates.rows() if len(specs) else take
    if not whole:
        rows = rows[take]
    ext_codes, ext_ids = extension_codes(resolution) if extensions is None else extensions
    columns: dict[str, Any] = {
        "seq": np.arange(len(take), dtype=np.int64),
        "op_id": _op_ids(job_hash, rows, ext_codes),
        "row": rows,
        "extension_id": _per_operation(ext_ids, ext_codes),
    }
    for name in _TEMPLATE:
        columns[name] = _categorical(templates.coded(name), None if whole else take)
    for name, source in (("extension_number", "extension_number"), ("extension_name", "name")):
        if directory is not None and source in directory.frame.columns:
            known = directory.frame[source].replace("", None)
            codes, uniques = pd.factorize(known.astype(object), use_na_sentinel=True)
            position = resolution.position
            picked = np.where(position >= 0, codes[np.clip(position, 0, None)], -1)
            categories = pd.Index([str(u) for u in uniques], dtype="str")
            columns[name] = _from_codes(picked, categories)
        else:
            columns[name] = pd.Categorical.from_codes(
                np.full(len(take), -1), categories=pd.Index([], dtype="str")
            )
    zones, known_zones = operation_zones(specs, resolution, directory)
    columns[ZONE_COLUMN] = _from_codes(zones, pd.Index(known_zones, dtype="str"))
    frame = pd.DataFrame({name: columns[name] for name in PLAN_COLUMNS})
    frame.attrs["job_hash"] = job_hash
    return frame


def _key(job_hash: str) -> np.uint64:
    """The job's 64-bit id key."""
    seed = hashlib.blake2b(bytes.fromhex(job_hash), digest_size=8, person=b"bulkops op ids")
    return np.uint64(int.from_bytes(seed.digest(), "big"))


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser: a bijection on 64 bits, so distinct inputs stay distinct."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


_HEX = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2")


def _op_ids(job_hash: str, rows: IntArray, ext_codes: IntArray) -> Any:
    """Deterministic 16-hex-digit ids from (job hash, source row, extension), vectorised.

    An operation is its job-file row and its extension's code (0, 1, … in order of first
    appearance: ``extension_codes``), both below 2**32, packed into 64 bits and put through
    splitmix64 keyed by the job hash (``_key``): a bijection, so a plan's distinct (row,
    extension) pairs get distinct ids by construction, with no hash of an id's text. The codes
    follow from the job file and the directory, both in the job hash, so the same inputs give
    the same ids. Ids are only ever compared within a plan: a stored plan keeps the ids it was
    stored with.
    """
    row: npt.NDArray[np.uint64] = np.asarray(rows, dtype=np.uint64)
    code: npt.NDArray[np.uint64] = np.asarray(ext_codes, dtype=np.uint64)
    if len(row) and max(int(row.max()), int(code.max())) >> 32:
        raise AssertionError("more than 2**32 rows or extensions; please report this job file")
    with np.errstate(over="ignore"):
        mixed = _mix(((row << np.uint64(32)) | code) ^ _key(job_hash)).astype(">u8")
    ordered = np.sort(mixed)
    if (ordered[1:] == ordered[:-1]).any():  # a (row, extension) pair twice: a planning bug
        raise AssertionError("operation id repeated; please report this job file")
    text = np.ascontiguousarray(_HEX[mixed.view(np.uint8).reshape(-1, 8)]).view("S16").ravel()
    return pd.array(pa.array(text, type=pa.binary(16)).cast(pa.string()), dtype="str")
