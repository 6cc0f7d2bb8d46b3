"""An extension's call handling, as Zoom's GET shows it, written as the job rows that recreate it.

``bulkops export`` reads each extension once and hands the body here. The rows are job rows
(``reports.jobrows``), each checked with the job-file rules before it is kept, so the file passes
``bulkops validate`` as written; a row that would not pass is left out and explained in a note.

## What the rows do (run against the same account or another one)

| the GET shows | the export writes |
|---|---|
| a holiday | ``add holiday_hours/holiday`` with its name, from and to (UTC) |
| a forwarding number (any setting type) | ``add …/call_forwarding`` with its number and description; a holiday's names its holiday by name, from and to |
| a disabled number, or ``require_press_1_before_connecting`` on | an ``update …/call_forwarding`` after the add, found by its number |
| one of Zoom's own entries ("Zoom Mobile Apps" …) switched off | an ``update …/call_forwarding`` by its ``call_forwarding_id``: this account's id |
| business hours | ``update business_hours/custom_hours`` with ``type``, every weekday, ``allow_members_to_reset`` |
| call handling (business, closed, each holiday) | ``update …/call_handling`` with every field the GET shows (``zoom.schema`` reads) |

Adds are natural-keyed, so a rerun against an extension that still has the item finds it and
sends nothing for it (``already_present``). The ids Zoom uses travel beside the job columns, in
informational columns the job reader reads but never sends (``ID_COLUMNS``): an admin copies
them into ``holiday_id`` / ``call_forwarding_id`` to write updates and deletes by id.

## What cannot be exported (each is a note)

- A forwarding entry to an **external contact** without a number: Zoom's add takes a number.
- Call-handling values the GET does not show for that setting type (``zoom.schema``).
- Values that name other objects of the account (``forward_to_extension_id``, greeting and
  prompt ids, ``call_forwarding_id`` of Zoom's own entries) are this account's ids: on another
  account they must be rewritten (see README, "Export and migration").
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..jobs.jobfile import INFORMATIONAL_COLUMNS
from ..model import Action, SettingType, SubSettingType
from ..zoom import schema
from ..zoom.match import ForwardingEntry
from .before import MISSING, Snapshot, read_back, section, span_columns
from .jobrows import JOB_COLUMNS, Json, Row, make_row, row_problem

#: The ids (and directory attributes) of the exported account, beside the job columns. The job
#: reader knows them as informational columns (no warning, never sent): they address nothing.
ID_COLUMNS = INFORMATIONAL_COLUMNS
#: How the rows may name their extension: the job-file column that carries it.
ADDRESS_COLUMNS = ("extension_id", "extension_number", "email")

_PRESS_1 = "require_press_1_before_connecting"
_B, _C, _H = SettingType.BUSINESS_HOURS, SettingType.CLOSED_HOURS, SettingType.HOLIDAY_HOURS
_FORWARDING, _HANDLING = SubSettingType.CALL_FORWARDING, SubSettingType.CALL_HANDLING


def columns(address: str) -> tuple[str, ...]:
    """The export's header: the job columns, addressed by ``address``, then ``ID_COLUMNS``."""
    return (*(address if c == "extension_id" else c for c in JOB_COLUMNS), *ID_COLUMNS)


@dataclass(frozen=True, slots=True)
class Exported:
    """One extension to export: its id and what the directory says of it."""

    extension_id: str
    extension_number: str = ""
    email: str = ""

    def address(self, column: str) -> str:
        return str(getattr(self, column))


@dataclass(slots=True)
class ExtensionRows:
    """The rows of one extension, and why anything it holds is not among them."""

    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Builder:
    def __init__(self, ext: Exported, address: str, first_row: int) -> None:
        self.ext = ext
        self.address = address
        self.first_row = first_row  # the file row the next kept row gets (header is row 1)
        self.out = ExtensionRows()

    def note(self, text: str) -> None:
        self.out.notes.append(f"{self.ext.extension_id}: {text}")

    def emit(
        self,
        action: Action,
        setting: SettingType,
        sub: SubSettingType,
        flat: dict[str, str | None],
        settings: Json,
        *,
        holiday_id: str | None = None,
        forwarding_id: str | None = None,
        what: str,
    ) -> None:
        row = make_row(action, setting, sub, self.ext.extension_id, flat, settings)
        number = self.first_row + len(self.out.rows)
        problem = row_problem(row, file="export", number=number)
        if problem is not None:
            self.note(f"{what} is left out: its row would not be a valid job row ({problem})")
            return
        row[self.address] = self.ext.address(self.address)
        if self.address != "extension_id":
            del row["extension_id"]
        row.update(
            source_extension_id=self.ext.extension_id,
            source_extension_number=self.ext.extension_number,
            source_email=self.ext.email,
            source_holiday_id=holiday_id or "",
            source_call_forwarding_id=forwarding_id or "",
        )
        self.out.rows.append(row)


def extension_rows(
    body: Json,
    ext: Exported,
    setting_types: frozenset[SettingType],
    *,
    address: str = "extension_id",
    first_row: int = 2,
) -> ExtensionRows:
    """The rows that recreate what ``body`` (the extension's GET) shows for ``setting_types``.

    ``first_row`` is the file row the first of them will be (for the messages of a row the job
    rules would refuse). Business hours, then closed hours, then each holiday with its own
    forwarding and call handling: a holiday is added before the rows that name it.
    """
    build = _Builder(ext, address, first_row)
    snap = Snapshot(body)
    if _B in setting_types:
        _custom_hours(build, section(body.get(_B.value), "custom_hours"))
    for setting in (_B, _C):
        if setting in setting_types:
            entries = snap.entries(setting, None)
            _call_handling(build, setting, section(entries, "call_handling"), {}, None)
            _forwarding(build, setting, section(entries, "call_forwarding"), {}, None)
    if _H in setting_types:
        for holiday_id, span, details in snap.holidays():
            ref = span_columns(span)
            build.emit(
                Action.ADD,
                _H,
                SubSettingType.HOLIDAY,
                dict(ref),
                {},
                holiday_id=holiday_id,
                what=f"holiday {ref['name']!r}",
            )
            _forwarding(build, _H, section(details, "call_forwarding"), ref, holiday_id)
            _call_handling(build, _H, section(details, "call_handling"), ref, holiday_id)
    return build.out


def _custom_hours(build: _Builder, hours: Json | None) -> None:
    if not hours or "type" not in hours:
        return
    settings: Json = {"type": hours["type"]}
    days = hours.get("custom_hours_settings")
    if isinstance(days, list) and days:
        settings["custom_hours_settings"] = [_day(d) for d in days if isinstance(d, dict)]
    if "allow_members_to_reset" in hours:
        settings["allow_members_to_reset"] = hours["allow_members_to_reset"]
    build.emit(
        Action.UPDATE, _B, SubSettingType.CUSTOM_HOURS, {}, settings, what="the business hours"
    )


def _day(day: Json) -> Json:
    """A weekday as Zoom takes it: from/to only where the day has custom hours (type 2)."""
    keys = ("weekday", "type", "from", "to") if day.get("type") == 2 else ("weekday", "type")
    return {k: day[k] for k in keys if k in day}


def _call_handling(
    build: _Builder,
    setting: SettingType,
    handling: Json | None,
    ref: dict[str, str | None],
    holiday_id: str | None,
) -> None:
    if not handling:
        return
    settings: Json = {}
    for name, value in _shown_fields(setting, handling):
        settings[name] = value
    if not settings:
        return
    build.emit(
        Action.UPDATE,
        setting,
        _HANDLING,
        dict(ref),
        settings,
        holiday_id=holiday_id,
        what=f"the {setting.value} call handling",
    )


def _shown_fields(setting: SettingType, handling: Json) -> Iterator[tuple[str, Any]]:
    """Each call-handling field the GET shows a value for, under its written name."""
    for spec in schema.section(setting, _HANDLING).patch:
        if spec.name == schema.HOLIDAY_ID or not spec.reads:
            continue
        value = read_back(handling, spec.reads)
        if value is not MISSING:
            yield spec.name, value


def _forwarding(
    build: _Builder,
    setting: SettingType,
    fwd: Json | None,
    ref: dict[str, str | None],
    holiday_id: str | None,
) -> None:
    if not fwd:
        return
    items = [i for i in fwd.get(schema.FORWARDING_ENTRIES) or [] if isinstance(i, dict)]
    entries = [(item, e) for item in items if (e := ForwardingEntry.read(item)) is not None]
    where = f"{setting.value} forwarding" + (f" of holiday {ref['name']!r}" if ref else "")
    # A list-wide flag, written once with one entry: a number (found by number on any account)
    # rather than one of Zoom's own entries (found by this account's id). Off is Zoom's default.
    carrier: str | None = None
    if fwd.get(_PRESS_1) is True:
        numbered = [e.id for _, e in entries if e.phone_number]
        own = [e.id for _, e in entries if not e.phone_number and not e.is_contact]
        carrier = next(iter(numbered + own), None)
        if carrier is None:
            build.note(f"{where}: {_PRESS_1} is on, but no entry can carry it in a job row")
    for item, entry in entries:
        changes: Json = {}
        if item.get("enable") is False:
            changes["enable"] = False
        if entry.id == carrier:
            changes[_PRESS_1] = True
        if entry.phone_number:
            if entry.is_contact:
                build.note(f"{where}: {entry.describe()} is exported as its number only")
            flat = {**ref, "phone_number": entry.phone_number, "description": entry.description}
            build.emit(
                Action.ADD,
                setting,
                _FORWARDING,
                flat,
                {},
                holiday_id=holiday_id,
                forwarding_id=entry.id,
                what=f"{where} to {entry.phone_number}",
            )
            if changes:
                build.emit(
                    Action.UPDATE,
                    setting,
                    _FORWARDING,
                    {**ref, "phone_number": entry.phone_number},
                    changes,
                    holiday_id=holiday_id,
                    forwarding_id=entry.id,
                    what=f"{where} to {entry.phone_number} (switched off)",
                )
        elif entry.is_contact:
            build.note(
                f"{where}: {entry.describe()} cannot be written by a job row (Zoom's add takes a "
                "phone number, not an external contact): add it again in Zoom"
            )
        elif changes:  # one of Zoom's own entries, switched off or carrying the flag
            build.emit(
                Action.UPDATE,
                setting,
                _FORWARDING,
                {**ref, "call_forwarding_id": entry.id},
                changes,
                holiday_id=holiday_id,
                forwarding_id=entry.id,
                what=f"{where}: {entry.describe()}",
            )


def from_directory(
    path: Path,
    target: str | None,
    extension_ids: Sequence[str],
    address: str,
    *,
    encoding: str | None = None,
) -> list[Exported]:
    """The extensions of the directory file ``path`` that ``target`` selects (every one when
    None), narrowed to ``extension_ids`` when given, in directory order; ConfigError when none
    is, or when the directory lacks the ``address`` column."""
    from ..jobs.directory import load_directory, parse_selector

    directory = load_directory(path, encoding=encoding)
    frame = directory.frame
    text = target or "*"
    try:
        positions = directory.match(parse_selector(text)).tolist()
    except ValueError as exc:
        raise ConfigError(f"--target {text!r} {exc}") from None
    except KeyError as exc:
        have = ", ".join(map(str, frame.columns))
        raise ConfigError(
            f"--target uses column {exc.args[0]!r}, which {directory.path} lacks; it has {have}"
        ) from None
    if extension_ids:
        wanted = set(extension_ids)
        positions = [p for p in positions if frame["extension_id"].iat[p] in wanted]
    if not positions:
        raise ConfigError(
            f"no extension of {directory.path} matches --target {text!r}: compare its values "
            "with the directory's (a selector is column=value[,value…][&column=value…])"
        )
    if address != "extension_id" and address not in frame.columns:
        raise ConfigError(f"--address-by {address}: {directory.path} has no {address} column")

    def cell(position: int, column: str) -> str:
        return str(frame[column].iat[position]) if column in frame.columns else ""

    return [
        Exported(cell(p, "extension_id"), cell(p, "extension_number"), cell(p, "email"))
        for p in positions
    ]


def write_rows(path: Path, header: Sequence[str], rows: Sequence[Row]) -> None:
    """CSV or Parquet, atomically and mode 0600 (it holds the account's ids), like the reports."""
    from ..jobs.tables import atomic_file, atomic_path

    try:
        if path.suffix.lower() == ".csv":
            with atomic_file(path) as fh:
                out = csv.writer(fh, lineterminator="\n")
                out.writerow(header)
                out.writerows([row.get(c, "") for c in header] for row in rows)
            return
        import pandas as pd

        frame = pd.DataFrame(
            [[row.get(c, "") for c in header] for row in rows], columns=list(header), dtype="string"
        )
        with atomic_path(path) as tmp:
            frame.to_parquet(tmp, index=False)
    except OSError as exc:
        raise ConfigError(f"cannot write --out {path}: {exc.strerror or exc}") from None
