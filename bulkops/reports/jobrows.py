"""Operations written back as job rows: the one row that performs a planned operation again.

failures.csv (``bulkops.report``) and undo.csv (``bulkops.undo``) are valid job files
(``bulkops validate`` passes; the extra columns ``error``, ``http_status``, ``zoom_code``,
``source_row`` and ``note`` are only warnings). Every row targets one ``extension_id``, so a
selector row comes back as one row per extension it reached. Each field is written in exactly one
place, a flat column or ``settings``: a free-text value (holiday ``name``, ``description``) that a
spreadsheet would run as a formula (``=SUM(A1)``) goes into the ``settings`` JSON instead of its
column, so the cell starts with ``{`` and the value reaches Zoom unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..jobs.columns import plain_specs
from ..jobs.rules import check_row
from ..jobs.tables import is_formula
from ..model import Action, Operation, SettingType, SubSettingType

JOB_COLUMNS = (
    "action",
    "setting_type",
    "sub_setting_type",
    "extension_id",
    "name",
    "from",
    "to",
    "holiday_id",
    "phone_number",
    "description",
    "call_forwarding_id",
    "settings",
)
_FREE_TEXT = ("name", "description")

Json = dict[str, Any]
Row = dict[str, str]


# --- one operation as a job-file row ---------------------------------------------------------


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def make_row(
    action: Action,
    setting: SettingType,
    sub: SubSettingType,
    extension_id: str,
    flat: Mapping[str, str | None],
    settings: Json,
) -> Row:
    """A job row; flat free text that looks like a formula moves into ``settings``."""
    body = dict(settings)
    row: Row = dict.fromkeys(JOB_COLUMNS, "")
    row.update(
        action=action.value,
        setting_type=setting.value,
        sub_setting_type=sub.value,
        extension_id=extension_id,
    )
    for name, value in flat.items():
        if value is None:
            continue
        if name in _FREE_TEXT and is_formula(value):
            body[name] = value
        else:
            row[name] = value
    row["settings"] = _dumps(body) if body else ""
    return row


def named(op: Operation) -> str:
    """An operation's extension as a reader knows it, from the directory when the plan had one:
    ``Ada Lovelace (ext 1001, id abc…)``; else its extension id alone."""
    number = f"ext {op.extension_number}, " if op.extension_number else ""
    if not (op.extension_name or number):
        return op.extension_id
    name = f"{op.extension_name} " if op.extension_name else ""
    return f"{name}({number}id {op.extension_id})"


def holiday_ref(op: Operation) -> dict[str, str | None]:
    if op.holiday_id is not None:
        return {"holiday_id": op.holiday_id}
    return {"name": op.holiday_name, "from": op.holiday_from, "to": op.holiday_to}


def job_row(op: Operation) -> Row:
    """The row that performs ``op`` again, rebuilt from its stored fields."""
    s = dict(op.settings)
    sub = op.sub_setting_type
    flat: dict[str, str | None] = {}
    if sub is SubSettingType.HOLIDAY:
        for key in ("name", "from", "to", "holiday_id"):
            s.pop(key, None)
        if op.action is Action.DELETE:
            flat = {"holiday_id": op.holiday_id}
            if op.holiday_id is None:
                flat.update(name=op.holiday_name, **{"from": op.holiday_from, "to": op.holiday_to})
        else:
            flat = {
                "holiday_id": op.holiday_id,
                "name": op.settings.get("name"),
                "from": op.settings.get("from"),
                "to": op.settings.get("to"),
            }
    elif sub is SubSettingType.CALL_FORWARDING:
        s.pop("holiday_id", None)
        if op.setting_type is SettingType.HOLIDAY_HOURS:
            flat.update(holiday_ref(op))
        if op.action is Action.ADD:
            flat["phone_number"] = s.pop("phone_number", None) or op.phone_number
            flat["description"] = s.pop("description", None)
        else:
            flat["call_forwarding_id"] = op.call_forwarding_id
            flat["phone_number"] = op.phone_number
            items = s.get("call_forwarding_settings")
            if isinstance(items, list) and len(items) == 1 and _flat_item(items[0], op):
                item = s.pop("call_forwarding_settings")[0]
                flat["phone_number"] = item.get("phone_number", op.phone_number)
                flat["description"] = item.get("description")
                if "enable" in item:
                    s["enable"] = item["enable"]
    else:
        s.pop("holiday_id", None)
        if op.setting_type is SettingType.HOLIDAY_HOURS:
            flat.update(holiday_ref(op))
    return make_row(op.action, op.setting_type, sub, op.extension_id, flat, s)


def _flat_item(item: Any, op: Operation) -> bool:
    """A one-entry list that a row's flat columns made (or could have made)."""
    return (
        isinstance(item, dict)
        and set(item) <= {"id", "phone_number", "description", "enable"}
        and item.get("id") in (None, op.call_forwarding_id)
        and (item.get("id") is not None or op.phone_number is not None)
    )


def row_problem(row: Row, *, file: str, number: int) -> str | None:
    """Why the job-file rules would refuse ``row`` (None when it passes)."""
    cells = {k: v for k, v in row.items() if k in JOB_COLUMNS}
    spec, problems = check_row(cells, file=file, row=number)
    if spec is not None:
        return None
    return "; ".join(str(p) for p in problems if p.severity == "error")


#: Fewer rows than this are checked one by one: a frame costs more than it saves for them.
_FRAME_AT_LEAST = 64


def accepted_rows(rows: list[Row]) -> list[bool]:
    """Which ``rows`` the job-file rules surely accept (checked by columns, all at once); the
    others are for ``row_problem`` to judge, one by one."""
    if len(rows) < _FRAME_AT_LEAST:
        return [False] * len(rows)
    import pandas as pd

    frame = pd.DataFrame([[row[c] for c in JOB_COLUMNS] for row in rows], columns=JOB_COLUMNS)
    ok, _ = plain_specs(frame.astype("str"), None)
    return [bool(x) for x in ok]
