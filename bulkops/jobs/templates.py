"""Example jobs for ``bulkops init``: each validates as written against the sample directory.

CSV has no comments, so the explanations live in a README.txt beside the jobs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError

_WEEK = (
    '"{""type"": 2, ""custom_hours_settings"": ['
    '{""weekday"": 1, ""type"": 0}, '
    + ", ".join(
        f'{{""weekday"": {d}, ""type"": 2, ""from"": ""08:30"", ""to"": ""17:30""}}'
        for d in range(2, 7)
    )
    + ', {""weekday"": 7, ""type"": 0}]}"'
)

TEMPLATES: dict[str, str] = {
    "holiday-rollout.csv": (
        "action,setting_type,sub_setting_type,target,name,from,to\n"
        "add,holiday_hours,holiday,site=New York,Independence Day (observed),2027-07-05,2027-07-05\n"
        "add,holiday_hours,holiday,site=London,Boxing Day (observed),2027-12-28,2027-12-28\n"
        "add,holiday_hours,holiday,site=Berlin,Second Day of Christmas,2027-12-26,2027-12-26\n"
        "add,holiday_hours,holiday,*,Company Shutdown,2027-12-29,2027-12-31\n"
    ),
    "business-hours.csv": (
        "action,setting_type,sub_setting_type,extension_number,hours,settings\n"
        "update,business_hours,,3101,Mon-Fri 08:30-17:30,\n"
        "update,business_hours,,3102,Mon-Thu 08:00-17:00; Fri 08:00-15:00,\n"
        f"update,business_hours,custom_hours,3103,,{_WEEK}\n"
        "update,business_hours,,1101,24/7,\n"
    ),
    "call-forwarding.csv": (
        "action,setting_type,sub_setting_type,target,phone_number,description,settings\n"
        "add,closed_hours,call_forwarding,site=London&type=user,+442071234567,London front desk,\n"
        "update,closed_hours,call_handling,site=London&type=user,,,"
        '"{""call_not_answer_action"": 1, ""allow_callers_check_voicemail"": true}"\n'
    ),
    "cleanup.csv": (
        "action,setting_type,sub_setting_type,target,name,from\n"
        "delete,holiday_hours,holiday,*,Company Shutdown,2026-12-29\n"
        "delete,holiday_hours,,site=New York,Independence Day (observed),\n"
    ),
    "README.txt": """\
Example bulkops jobs. Every file validates as written against directory.csv (the sample
directory: 60 extensions in New York, London and Berlin). Try one without sending anything:

    bulkops validate holiday-rollout.csv --directory directory.csv
    bulkops plan holiday-rollout.csv --directory directory.csv
    bulkops run holiday-rollout.csv --directory directory.csv --simulate   # the built-in simulator

Point --directory at your own export (columns extension_id, extension_number, name, email, type,
site, and optionally country, subdivision and timezone) to use them on your account. One row is one
change; a `target` selects extensions from the directory (`*`, `site=London`,
`site=London&type=user`), `extension_number`/`email`/`extension_id` name one.

holiday-rollout.csv
    Adds holidays. Dates without a time mean the whole day (from 00:00 to 23:59:59) in the
    row's `timezone` column, else --timezone, else each extension's own `timezone` in the
    directory, else UTC. Zoom finds holidays by name: keep names unique per
    extension and year. Rather than typing calendars, generate them:
        bulkops holidays --by-site --directory directory.csv --year 2027 --out holidays.csv
        bulkops holidays --country GB --subdiv SCT --year 2027 --target 'site=Glasgow'

business-hours.csv
    Replaces business hours. Say them in words in `hours` ("Mon-Fri 08:30-17:30",
    "Mon-Thu 08:00-17:00; Fri 08:00-15:00", "24/7", "closed"; days not named are closed), or
    give Zoom's body as JSON in `settings` (row 4): type 1 = 24 hours, type 2 = custom with one
    entry per weekday, where weekday 1 is SUNDAY and 7 is Saturday; an entry's type 0 = closed,
    2 = open from..to (HH:mm). `bulkops plan` shows every row's hours in words.

call-forwarding.csv
    Adds a forwarding number to the closed hours of London's users and sets what happens to an
    unanswered call (call_not_answer_action 1 = voicemail). Phone numbers are E.164 (+44...).

cleanup.csv
    Deletes holidays by name. `from` tells apart same-named holidays of different years;
    `sub_setting_type` may be left empty for a delete.
""",
}


def write_templates(
    folder: Path, *, force: bool = False, extra: Mapping[str, str] | None = None
) -> list[Path]:
    """Write the templates (and ``extra`` name → text) into ``folder``; refuse to overwrite."""
    files = {**TEMPLATES, **(extra or {})}
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file; name a folder for the example jobs")
    existing = [name for name in files if (folder / name).exists()]
    if existing and not force:
        raise ConfigError(
            f"{folder} already has {', '.join(existing)}; pass --force to overwrite them, "
            "or name another folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = folder / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text, "utf-8")
        os.replace(tmp, path)  # a crash never leaves half an example behind
        written.append(path)
    return written
