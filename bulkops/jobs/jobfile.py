"""Read job files safely: CSV or Parquet in, checked rows out, every defect reported at once.

## Job-file format

A job file is a table, one operation template per row: **CSV** (UTF-8, with or without a BOM;
other encodings with `encoding=` / `--encoding`), **Parquet** (recognised by a `.parquet`/`.pq`
suffix or its `PAR1` magic bytes) or an **.xlsx** workbook (its first sheet; see ``xlsx``). Every cell is read as text, so nothing is ever coerced: a
spreadsheet's damage (`1.20589E+10`, a dropped `+`, `1234.0`, lost leading zeros) is reported
with the offending value, never repaired. Column names use Zoom's own field names; they are
matched case-insensitively and surrounding spaces are ignored. Blank rows are skipped. Rows are
numbered as a spreadsheet shows them: the header is row 1, the first data row is row 2.

| column | meaning |
|---|---|
| `action` | `add` \\| `update` \\| `delete` (required) |
| `setting_type` | `business_hours` \\| `closed_hours` \\| `holiday_hours` (required) |
| `sub_setting_type` | `holiday` \\| `call_forwarding` \\| `custom_hours` \\| `call_handling`; may be left empty for a delete: `call_forwarding_id`/`phone_number` mean `call_forwarding`, else `holiday_id`/`name` mean `holiday` |
| **extensions** — exactly one of: | |
| `extension_id` | the Zoom extension id (`nNGsNx2zRDyiIXWVI23FCQ`) |
| `extension_number` | looked up in the directory file (needs `--directory`) |
| `email` | looked up in the directory file, ignoring the case of ASCII letters only (needs `--directory`) |
| `target` | a selector over the directory: one operation per matching extension (grammar below) |
| **settings** | |
| `name`, `from`, `to` | the holiday: its name and start/end (see Dates) |
| `holiday_id` | the holiday to update/delete, or the holiday a holiday-hours forwarding/call-handling row lives under |
| `phone_number` | E.164 (`+14155550123`): the forwarding number, or call_handling's `phone_number` |
| `description` | the forwarding number's description (or call_handling's `description`) |
| `call_forwarding_id` | the forwarding entry to update/delete |
| `settings` | a JSON object (CSV) or a struct / JSON string (Parquet) with the rest of the body's `settings`: `type`, `custom_hours_settings`, call-handling fields, `call_forwarding_settings`, `require_press_1_before_connecting`, … |
| `timezone` | IANA zone (`Europe/Berlin`) for this row's date-only and naive times |
| `hours` | business hours in words (`Mon-Fri 08:00-18:00`, `24/7`, `closed`; grammar in ``hours``) for update business_hours/custom_hours, which it implies |

Flat columns and `settings` merge into one body; the same field given in both with different
values is an error. The `source_*` columns ``bulkops export`` writes (``INFORMATIONAL_COLUMNS``)
are read as information and never sent. Other unknown columns and unknown `settings` keys are
warnings (Zoom has many
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
values are read in the row's `timezone`, else the `timezone=` argument, else the extension's
`timezone` in the directory (``zones``: one row, each extension's own instants), else UTC. A
date-only `from` is 00:00:00 of that day; a date-only `to` is **23:59:59** of that day (the whole day,
and back-to-back holidays never overlap). Everything is sent as UTC `yyyy-MM-ddTHH:mm:ssZ`
(the year always four digits); `from` must be before `to`. Years 0001–9999 are accepted; a
value that leaves that range once converted to UTC is refused.

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
An `extension_id` that the directory (when given) does not list is a warning; one that is an
entity's own `id` in the directory (a user id, a queue id) is an error naming its extension id.
With a `type` column, what the extension's type does not take is an error (``kinds``).

**Limits**: only regular files are read (a FIFO, a device such as `/dev/zero` or a directory
is refused before it is opened); a file holds at most 512 MB (a Parquet file also once
uncompressed), its header at most 1,000 columns within 64 KiB, a cell at most 10,000
characters. NUL bytes, control characters, undecodable text and unreadable Parquet are reported
as one problem each; Parquet cells pass the same checks as CSV cells. A row with more fields
than the header is an error naming that row. A `name` of only spaces is refused. Messages quote
at most 80 characters of a file, and nothing of a file whose first row names none of the
expected columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import Problem
from .checks import RowSpec, did_you_mean, parse_timezone
from .columns import plain_specs
from .intake import echo, job_digest_beside
from .rules import KNOWN_COLUMNS, REF_COLUMNS, check_row
from .specs import Specs
from .tables import read_table

if TYPE_CHECKING:
    from hashlib import _Hash as Digest

#: What ``bulkops export`` writes beside the job columns: the exported account's ids and
#: directory attributes of each row. Read as information (no warning), never sent: they say
#: where a row came from, and an admin copies an id into ``holiday_id``/``call_forwarding_id``
#: to write an update or delete by id.
INFORMATIONAL_COLUMNS = (
    "source_extension_id",
    "source_extension_number",
    "source_email",
    "source_holiday_id",
    "source_call_forwarding_id",
)
_READ = KNOWN_COLUMNS | frozenset(INFORMATIONAL_COLUMNS)


@dataclass(frozen=True, slots=True)
class JobRows:
    """A job file after row checks: the valid row templates and every problem found."""

    path: str
    # Of the file's bytes (intake.job_digest): where the job hash starts. A hash object has no
    # equality of its own; equal files give equal specs and problems, which are compared.
    digest: Digest = field(compare=False)
    specs: Specs  # a Sequence[RowSpec]
    problems: list[Problem]
    rows: int  # non-blank data rows read


def load(
    path: str | Path,
    *,
    encoding: str | None = None,
    timezone: str | None = None,
    sheet: str | None = None,
) -> JobRows:
    """Read and check every row of a job file (``sheet``: of a workbook, else its first).
    Unreadable files raise JobFileError."""
    # A header alone is a job with nothing to do: a failures.csv of a run where nothing failed.
    table = read_table(
        path,
        encoding=encoding,
        required=("action", "setting_type"),
        any_of=REF_COLUMNS,
        allow_empty=True,
        sheet=sheet,
    )
    # The file's bytes are hashed beside the checks below, and let go once hashed: the checks
    # are planning's peak.
    digest, name, whole, sheets = (
        job_digest_beside(table.data),
        table.path,
        table.frame,
        table.sheets,
    )
    del table
    problems: list[Problem] = []
    if whole.empty:
        nothing = "the job file has a header but no rows: there is nothing to do"
        problems.append(Problem(name, 1, None, None, nothing, "warning"))
    if len(sheets) > 1 and sheet is None:
        others = ", ".join(repr(s) for s in sheets[1:])
        read = f"the workbook has {len(sheets)} sheets; only the first, "
        problems.append(
            Problem(
                name,
                None,
                None,
                None,
                echo(f"{read}{sheets[0]!r}, was read ({others} ignored)", 300),
                "warning",
            )
        )
    tz, reason = parse_timezone(timezone or "")
    if reason:
        problems.append(Problem(name, None, "timezone", timezone, f"timezone= {reason}"))
    for column in whole.columns:
        if column not in _READ:
            problems.append(
                Problem(
                    name,
                    1,
                    echo(str(column)),
                    None,
                    "unknown column, ignored"
                    + did_you_mean(str(column), _READ)
                    + "; known: "
                    + ", ".join(sorted(KNOWN_COLUMNS))
                    + "; informational (read, never sent): "
                    + ", ".join(INFORMATIONAL_COLUMNS),
                    "warning",
                )
            )
    known = [c for c in whole.columns if c in KNOWN_COLUMNS]
    frame = whole[known]
    # Plain rows are checked by columns; the rest one by one, by the rules that word problems.
    plain, checked = plain_specs(frame, tz)
    if plain.all():
        return JobRows(name, digest(), Specs.of(checked), problems, len(whole))
    rest = frame[~plain]
    by_rows = zip(rest.index.tolist(), _rows(rest), strict=True)
    kept = np.zeros(len(plain), dtype=bool)  # rows that give a spec, plain or by the rules
    kept[plain] = True
    specs: list[RowSpec] = []
    for at in np.flatnonzero(~plain).tolist():
        row, values = next(by_rows)
        spec, found = check_row(dict(zip(known, values, strict=True)), file=name, row=row, tz=tz)
        problems.extend(found)
        if spec is not None:
            specs.append(spec)
            kept[at] = True
    # Each spec's place among the kept rows, in job-file row order.
    place = np.cumsum(kept) - 1
    merged = Specs.merge(
        int(kept.sum()),
        [(place[plain], Specs.of(checked)), (place[kept & ~plain], Specs.of(specs))],
    )
    return JobRows(name, digest(), merged, problems, len(whole))


def _rows(frame: pd.DataFrame) -> Iterable[tuple[str, ...]]:
    return frame.itertuples(index=False, name=None)
