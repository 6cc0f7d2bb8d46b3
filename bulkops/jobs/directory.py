"""The directory file (extension ids and their attributes) and the selectors that match it.

Grammar of a selector (the job file's ``target`` column)::

    selector := "*" | clause ("&" clause)*
    clause   := column "=" value ("," value)*

``column`` is any directory column; values compare case-insensitively after trimming spaces;
``,`` separates alternatives, ``&`` joins clauses that must all match.

A pulled directory (``bulkops directory pull``) has ``site_name`` where a hand-made one has
``site``; the reader adds ``site`` from it. Optional columns beyond ``ATTRIBUTES`` are kept and
selectable like any other: ``country``
(ISO 3166 alpha-2) and ``subdivision`` give a site's holiday calendar to ``bulkops holidays
--by-site`` (``jobs.calendar``), and ``country=GB`` works as a selector clause. Three have a
meaning of their own (the columns ``bulkops directory pull`` writes):

- ``id``: the entity's own id (a user id, a queue id). Zoom's lists give it next to the
  extension id and both look alike; a job row that puts one in ``extension_id`` is an error that
  names the right extension id (``resolve``).
- ``timezone``: the extension's IANA zone, in which its date-only and naive times are read
  (``jobs.zones``); a name that is not a zone is a directory error.
- ``type``: ``user``, ``call_queue``… What a row may send depends on it (``jobs.kinds``).

Emails (an ``email`` reference, an ``email=`` clause, the directory's uniqueness check) ignore
the case of the ASCII letters A–Z only, and nothing else: Unicode case folding would let the
Kelvin sign ``K`` match ``k`` and ``ß`` match ``ss``, which a mail server would not. Other columns
(site names and the like) compare with Unicode case folding, so ``MÜNCHEN`` matches ``München``.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import JobFileError, Problem
from .checks import ID_RE, ExtensionRef, RowSpec, did_you_mean, parse_timezone
from .intake import echo
from .specs import Column, Specs, Texts
from .tables import read_table

MAX_REPORTED = 20  # per kind of directory defect
ATTRIBUTES = ("extension_id", "extension_number", "name", "email", "type", "site")
#: The column holding each entity's own id (user id, queue id…), not its extension id.
ENTITY_ID = "id"
TIMEZONE = "timezone"
TYPE = "type"

IntArray = npt.NDArray[np.int64]

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fold_email(value: str) -> str:
    """An email's lookup key: A–Z become a–z, every other character stays as it is."""
    return value.translate(_ASCII_LOWER)


def _fold(column: str) -> Callable[[str], str]:
    return fold_email if column == ExtensionRef.EMAIL.value else str.casefold


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed ``target``: every clause must match; no clauses means every extension."""

    text: str
    clauses: tuple[tuple[str, frozenset[str]], ...] = ()


def parse_selector(text: str) -> Selector:
    """Parse a selector; raise ValueError with what a valid one looks like."""
    body = text.strip()
    if body == "*":
        return Selector(text)
    example = "use * or column=value[,value…][&column=value…], e.g. site=London,Berlin&type=user"
    if not body:
        raise ValueError("is empty; " + example)
    clauses: list[tuple[str, frozenset[str]]] = []
    for part in body.split("&"):
        column, eq, values = part.partition("=")
        column = column.strip().lower()
        if not eq or not column:
            raise ValueError(f"clause {echo(part.strip())!r} is not column=value; " + example)
        items = [_fold(column)(v.strip()) for v in values.split(",")]
        if any(not v for v in items):
            raise ValueError(f"clause {echo(part.strip())!r} has an empty value; " + example)
        clauses.append((column, frozenset(items)))
    return Selector(text, tuple(clauses))


@dataclass(frozen=True, slots=True)
class Directory:
    """The extensions a job may name, in file order (``frame`` has a 0-based RangeIndex)."""

    path: str
    data: bytes
    frame: pd.DataFrame
    _folded: dict[str, pd.Series] = field(default_factory=dict, repr=False)
    _index: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.frame)

    def column(self, name: str) -> pd.Series:
        """A column trimmed and case-folded, for selector matching (computed once)."""
        if name not in self._folded:
            trimmed = self.frame[name].str.strip()
            self._folded[name] = (
                trimmed.str.translate(_ASCII_LOWER)
                if name == ExtensionRef.EMAIL.value
                else trimmed.str.casefold()
            )
        return self._folded[name]

    def position(self, ref: ExtensionRef, value: str) -> int | None:
        """The row of the extension whose ``ref`` column (not a selector) holds ``value``."""
        return self.find(ref.value, value)

    def find(self, column: str, value: str) -> int | None:
        """The first row whose ``column`` holds exactly ``value`` (emails: A–Z folded)."""
        if column not in self._index:
            values = (
                self.frame[column] if column in self.frame.columns else pd.Series([], dtype=str)
            )
            if column == ExtensionRef.EMAIL.value:
                values = values.str.translate(_ASCII_LOWER)
            index: dict[str, int] = {}
            for i, v in enumerate(values.tolist()):
                if v:
                    index.setdefault(v, i)
            self._index[column] = index
        return self._index[column].get(
            fold_email(value) if column == ExtensionRef.EMAIL.value else value
        )

    def values(self, column: str) -> npt.NDArray[np.object_]:
        """A column's trimmed text per directory row ("" throughout when the directory lacks it)."""
        if column not in self.frame.columns:
            return np.full(len(self.frame), "", dtype=object)
        return self.frame[column].str.strip().to_numpy(dtype=object)

    def describe(self, position: int) -> str:
        """An extension as a person reads it: ``Ada Lovelace (ext 1001)``, else its id."""
        rec = self.frame.iloc[position]
        name = str(rec.get("name", "") or "").strip()
        number = str(rec.get("extension_number", "") or "").strip()
        if name and number:
            return f"{name} (ext {number})"
        return name or (f"ext {number}" if number else str(rec["extension_id"]))

    def match(self, selector: Selector) -> IntArray:
        """Positions of the matching extensions, in directory order. KeyError: unknown column."""
        mask = np.ones(len(self.frame), dtype=bool)
        for column, values in selector.clauses:
            if column not in self.frame.columns:
                raise KeyError(column)
            mask &= self.column(column).isin(values).to_numpy(dtype=bool)
        return np.flatnonzero(mask).astype(np.int64)


def read_directory(
    path: str | Path, *, encoding: str | None = None
) -> tuple[Directory | None, list[Problem]]:
    """Read and check a directory file; the directory is None when it has errors."""
    try:
        table = read_table(path, encoding=encoding, required=("extension_id",), what="directory")
    except JobFileError as exc:
        return None, exc.problems
    frame = table.frame.reset_index(names="_row")
    if "site" not in frame.columns and "site_name" in frame.columns:
        # A pulled directory names the site as Zoom does; `site=London` selects it all the same.
        frame["site"] = frame["site_name"]
    problems: list[Problem] = []

    def report(mask: pd.Series, column: str, reason: str) -> None:
        bad = frame.loc[mask.to_numpy(dtype=bool)]
        for row, value in zip(
            bad["_row"].tolist()[:MAX_REPORTED], bad[column].tolist(), strict=False
        ):
            problems.append(Problem(table.path, int(row), column, str(value), reason))
        if len(bad) > MAX_REPORTED:
            problems.append(
                Problem(table.path, None, column, None, f"… and {len(bad) - MAX_REPORTED} more")
            )

    ids = frame["extension_id"]
    report(
        ~ids.str.fullmatch(ID_RE.pattern),
        "extension_id",
        "must be a Zoom extension id: 1–64 ASCII letters, digits, '-' or '_'",
    )
    report(ids.duplicated(keep="first"), "extension_id", "appears twice in the directory")
    for column in ("extension_number", "email"):
        if column in frame.columns:
            values = frame[column]
            if column == ExtensionRef.EMAIL.value:
                values = values.str.translate(_ASCII_LOWER)
            report(
                values.ne("") & values.duplicated(keep="first"),
                column,
                "appears twice in the directory, so a reference to it is ambiguous",
            )
    if TIMEZONE in frame.columns:
        zones = frame[TIMEZONE].str.strip()
        reasons = {z: parse_timezone(z)[1] for z in zones.unique().tolist() if z}
        for zone, reason in reasons.items():
            if reason:
                report(zones.eq(zone), TIMEZONE, reason)
    if problems:
        return None, problems
    return Directory(table.path, table.data, frame.drop(columns="_row")), []


def load_directory(path: str | Path, *, encoding: str | None = None) -> Directory:
    directory, problems = read_directory(path, encoding=encoding)
    if directory is None:
        raise JobFileError(problems)
    return directory


@dataclass(frozen=True, slots=True)
class Resolution:
    """Which extensions each row acts on: parallel arrays, ordered by row, then directory order."""

    spec: IntArray  # index into the list of RowSpec
    position: IntArray  # directory row, or -1 for an extension_id the directory does not list
    extension_id: Column | Texts  # as the job file's column held them, or a string each


def resolve(
    specs: Sequence[RowSpec], directory: Directory | None, *, file: str
) -> tuple[Resolution, list[Problem]]:
    """Resolve every row's extension reference, reporting unknown ones and empty selectors."""
    if directory is None:
        return _without_directory(specs, file)
    problems: list[Problem] = []
    one_spec: list[int] = []
    one_pos: list[int] = []
    one_id: list[str] = []
    many_spec: list[IntArray] = []
    many_pos: list[IntArray] = []
    matched: dict[str, IntArray | str] = {}  # selector text → positions or the reason it fails
    hints = _zero_hints(directory)

    for i, (row, ref, value) in enumerate(_references(specs)):
        column = ref.value
        if ref is ExtensionRef.EXTENSION_ID:
            pos = directory.position(ref, value)
            entity = directory.find(ENTITY_ID, value) if pos is None else None
            if entity is not None:
                problems.append(
                    Problem(file, row, column, value, _entity_id_reason(directory, entity))
                )
                continue
            if pos is None:
                problems.append(
                    Problem(
                        file,
                        row,
                        column,
                        value,
                        f"is not in the directory {directory.path}; used as given",
                        "warning",
                    )
                )
            one_spec.append(i)
            one_pos.append(-1 if pos is None else pos)
            one_id.append(value)
            continue
        if ref is ExtensionRef.SELECTOR:
            found = matched.get(value)
            if found is None:
                found = _select(directory, value)
                matched[value] = found
            if isinstance(found, str):
                problems.append(Problem(file, row, column, value, found))
            else:
                many_spec.append(np.full(len(found), i, dtype=np.int64))
                many_pos.append(found)
            continue
        pos = directory.position(ref, value)
        if pos is None:
            reason = f"is not in the directory {directory.path}"
            if ref is ExtensionRef.EXTENSION_NUMBER and value in hints:
                reason += f"; did you mean {hints[value]!r}? (a spreadsheet drops leading zeros)"
            problems.append(Problem(file, row, column, value, reason))
            continue
        one_spec.append(i)
        one_pos.append(pos)
        one_id.append("")

    spec_arr = np.concatenate([np.asarray(one_spec, dtype=np.int64), *many_spec])
    pos_arr = np.concatenate([np.asarray(one_pos, dtype=np.int64), *many_pos])
    raw = np.concatenate(
        [np.asarray(one_id, dtype=object), np.full(len(spec_arr) - len(one_id), "", dtype=object)]
    )
    order = np.argsort(spec_arr, kind="stable")
    spec_arr, pos_arr, raw = spec_arr[order], pos_arr[order], raw[order]
    if len(directory):
        known = directory.frame["extension_id"].to_numpy(dtype=object)
        ids = np.where(pos_arr >= 0, known[np.clip(pos_arr, 0, None)], raw)
    else:
        ids = raw
    return Resolution(spec_arr, pos_arr, ids), problems


def _references(specs: Sequence[RowSpec]) -> Iterator[tuple[int, ExtensionRef, str]]:
    """Each spec's (row, reference column, its text), from the columns when there are."""
    if isinstance(specs, Specs):
        c = specs.columns
        return zip(c["row"].tolist(), c["ref"].tolist(), c["ref_value"].tolist(), strict=True)
    return ((s.row, s.ref, s.ref_value) for s in specs)


def _without_directory(specs: Sequence[RowSpec], file: str) -> tuple[Resolution, list[Problem]]:
    """``resolve`` with no directory, by arrays: an extension id is used as given (a migration's
    million rows each name one), any other reference needs the directory."""
    columns = Specs.of(specs).columns if isinstance(specs, Specs) else None
    values: Column | Texts
    if columns is None:
        refs = np.asarray([s.ref for s in specs], dtype=object)
        values = np.asarray([s.ref_value for s in specs], dtype=object)
    else:
        refs, values = columns["ref"], columns.texts("ref_value")
    by_id = refs == ExtensionRef.EXTENSION_ID
    problems = [
        Problem(
            file,
            specs[i].row,
            specs[i].ref.value,
            specs[i].ref_value,
            f"a {specs[i].ref.value} needs a directory file (--directory)",
        )
        for i in np.flatnonzero(~by_id).tolist()
    ]
    keep = np.flatnonzero(by_id).astype(np.int64)
    ids = values if len(keep) == len(values) else values[keep]
    return Resolution(keep, np.full(len(keep), -1, dtype=np.int64), ids), problems


def _entity_id_reason(directory: Directory, position: int) -> str:
    """Why an entity's own id is not its extension id, and the one to use instead."""
    kind = str(directory.values(TYPE)[position]).replace("_", " ") or "entity"
    right = directory.frame["extension_id"].iloc[position]
    return (
        f"is the {kind} id of {directory.describe(position)}, not an extension id; its extension "
        f"id is {right}: put that in extension_id (Zoom's lists give both ids, and the "
        "call-handling endpoint takes only the extension id)"
    )


def _select(directory: Directory, text: str) -> IntArray | str:
    try:
        selector = parse_selector(text)
        found = directory.match(selector)
    except ValueError as exc:
        return f"is not a valid selector: {exc}"
    except KeyError as exc:
        columns = echo(", ".join(map(str, directory.frame.columns)), 200)
        hint = did_you_mean(str(exc.args[0]), map(str, directory.frame.columns))
        return (
            f"uses column {echo(exc.args[0])!r}{hint}, which the directory lacks; it has {columns}"
        )
    if not len(found):
        return "matches no extension in the directory" + _value_hints(directory, selector)
    return found


def _value_hints(directory: Directory, selector: Selector) -> str:
    """Each selector value no extension has, with the directory's closest (a site, a type)."""
    hints = []
    for column, values in selector.clauses:
        have = set(directory.column(column).tolist())
        for value in values:
            if value not in have:
                hint = did_you_mean(value, directory.frame[column].str.strip().unique().tolist())
                if hint:
                    hints.append(f"{column}={value}{hint}")
    return ": " + "; ".join(hints) if hints else ""


def _zero_hints(directory: Directory | None) -> dict[str, str]:
    """Extension numbers with leading zeros, keyed by what a spreadsheet turns them into."""
    if directory is None or "extension_number" not in directory.frame.columns:
        return {}
    numbers = [n for n in directory.frame["extension_number"].tolist() if n.startswith("0")]
    return {n.lstrip("0"): n for n in numbers if n.lstrip("0")}
