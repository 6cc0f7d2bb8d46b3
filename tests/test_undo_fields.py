"""undo.csv restores every call_handling field the GET shows, read where zoom.schema says.

Before the schema, undo's own read table lacked description, busy_description, the three
voicemail-greeting flags, the contact-center and Teams targets and allow_members_to_reset, so
their old values were noted as lost although the before-image held them.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkops.config import AccountPlan, Credentials
from bulkops.model import Action, Operation, OpStatus, Outcome, SettingType, SubSettingType
from bulkops.progress import PlainDisplay
from bulkops.reports.jobrows import Row
from bulkops.reports.undo import UndoBuilder
from bulkops.runner import RunOutcome, RunSettings, run_job
from bulkops.simulator import (
    ExtensionType,
    RunningSimulator,
    SimConfig,
    Simulator,
    generate_directory,
    run_simulator,
    write_directory,
)

CREDS = Credentials("undo-account", "undo-client", "undo-secret")


def _op(
    setting: SettingType, settings: dict[str, Any], holiday_id: str | None = None
) -> tuple[Operation, Outcome]:
    op = Operation(
        seq=0,
        op_id="op0",
        row=2,
        action=Action.UPDATE,
        extension_id="extA",
        setting_type=setting,
        sub_setting_type=SubSettingType.CALL_HANDLING,
        settings=settings,
        holiday_id=holiday_id,
    )
    return op, Outcome(OpStatus.SUCCEEDED, http_status=204, target_id=holiday_id)


def _undo(snapshot: dict[str, Any], op: tuple[Operation, Outcome]) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    notes: list[str] = []
    builder = UndoBuilder(lambda _ext: snapshot, set(), rows.append, notes.append)
    builder.add(*op)
    return rows, notes


def _restored(row: Row) -> dict[str, Any]:
    """The settings an undo row sends: its settings JSON and the flat columns that join it."""
    body: dict[str, Any] = orjson.loads(row["settings"]) if row["settings"] else {}
    body.update({k: row[k] for k in ("phone_number", "description") if row[k]})
    return body


def _handling(settings: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"sub_setting_type": "call_handling", "settings": settings}]


OLD_BUSINESS = {
    "allow_members_to_reset": False,
    "routing": {
        "action": 10,
        "forward_to": {
            "phone_number": "+14155550100",
            "description": "Front desk",
            "zcc_phone_number": "+14155550111",
            "partner_contact_center_id": "pcc-old",
            "teams_app_id": "teams-old",
        },
        "overflow_play_callee_voicemail_greeting": False,
        "play_callee_voicemail_greeting": False,
    },
    "busy_routing": {
        "action": 10,
        "forward_to": {"phone_number": "+14155550122", "description": "Busy desk"},
        "busy_play_callee_voicemail_greeting": False,
    },
}
RESTORED_BUSINESS = {
    "allow_members_to_reset": False,
    "call_not_answer_action": 10,
    "phone_number": "+14155550100",
    "description": "Front desk",
    "forward_to_zcc_phone_number": "+14155550111",
    "forward_to_partner_contact_center_id": "pcc-old",
    "forward_to_teams_id": "teams-old",
    "overflow_play_callee_voicemail_greeting": False,
    "play_callee_voicemail_greeting": False,
    "busy_on_another_call_action": 10,
    "busy_phone_number": "+14155550122",
    "busy_description": "Busy desk",
    "busy_play_callee_voicemail_greeting": False,
}


def test_undo_restores_the_fields_the_old_read_table_lost() -> None:
    snapshot = {"business_hours": _handling(OLD_BUSINESS), "closed_hours": [], "holiday_hours": []}
    changed = {k: (not v if isinstance(v, bool) else v) for k, v in RESTORED_BUSINESS.items()}
    rows, notes = _undo(snapshot, _op(SettingType.BUSINESS_HOURS, changed))
    assert notes == []
    assert [_restored(r) for r in rows] == [RESTORED_BUSINESS]


def _holiday_snapshot(handling: dict[str, Any]) -> dict[str, Any]:
    span = {"name": "Day", "from": "2027-01-01T00:00:00Z", "to": "2027-01-01T23:59:00Z"}
    details = [{"sub_setting_type": "holiday", "settings": span}, *_handling(handling)]
    return {
        "business_hours": [],
        "closed_hours": [],
        "holiday_hours": [{"holiday_id": "H1", "details": details}],
    }


@pytest.mark.parametrize(
    ("handling", "restored"),
    [
        pytest.param(
            {"call_not_answer_action": 9, "connect_to_operator": True},
            {"call_not_answer_action": 9, "connect_to_operator": True},
            id="flat-forms",
        ),
        pytest.param(
            {"call_not_answer_action": 9, "routing": {"action": 2, "connect_to_operator": False}},
            {"call_not_answer_action": 2, "connect_to_operator": False},
            id="routing-first",
        ),
    ],
)
def test_undo_reads_the_holiday_get_flat_or_in_routing(
    handling: dict[str, Any], restored: dict[str, Any]
) -> None:
    snapshot = _holiday_snapshot(handling)
    changed = {"call_not_answer_action": 11, "connect_to_operator": True}
    op = _op(SettingType.HOLIDAY_HOURS, changed, holiday_id="H1")
    rows, notes = _undo(snapshot, op)
    assert notes == []
    assert [(r["holiday_id"], _restored(r)) for r in rows] == [("H1", restored)]


def test_undo_notes_only_what_the_setting_types_get_does_not_return() -> None:
    # The holiday GET keeps the busy greeting in routing and has no busy_routing at all.
    handling = {"routing": {"action": 1, "busy_play_callee_voicemail_greeting": True}}
    op = _op(
        SettingType.HOLIDAY_HOURS,
        {"busy_play_callee_voicemail_greeting": False, "busy_on_another_call_action": 22},
        holiday_id="H1",
    )
    rows, notes = _undo(_holiday_snapshot(handling), op)
    assert [_restored(r) for r in rows] == [{"busy_play_callee_voicemail_greeting": True}]
    assert notes == [
        "row 2 on extA: partly reversed: keeps the new value of busy_on_another_call_action "
        "(no previous value in the GET)"
    ]
    # Only the business-hours GET shows the call-queue fields.
    closed = {"closed_hours": _handling({"greeting_prompt": {"id": "p1"}})}
    rows, notes = _undo(closed, _op(SettingType.CLOSED_HOURS, {"greeting_prompt_id": "p2"}))
    assert rows == [] and notes == [
        "row 2 (update closed_hours/call_handling on extA): "
        "the GET shows no previous value of greeting_prompt_id"
    ]


# --- end to end against the simulator ---------------------------------------------------------

_USER_OLD = {
    "call_not_answer_action": 10,
    "phone_number": "+14155550100",
    "description": "Old desk",
    "play_callee_voicemail_greeting": False,
    "overflow_play_callee_voicemail_greeting": False,
    "busy_on_another_call_action": 10,
    "busy_phone_number": "+14155550101",
    "busy_description": "Old busy",
    "busy_play_callee_voicemail_greeting": False,
}
_QUEUE_OLD = {
    "allow_members_to_reset": False,
    "call_not_answer_action": 19,
    "forward_to_zcc_phone_number": "+14155550300",
}
_RECEPTIONIST_OLD = {
    "call_not_answer_action": 15,
    "forward_to_partner_contact_center_id": "pcc-old",
}
_TEAMS_OLD = {"call_not_answer_action": 18, "forward_to_teams_id": "teams-old"}
_HOLIDAY_OLD = {"call_not_answer_action": 10, "phone_number": "+14155550400", "description": "Old"}


def _new(old: dict[str, Any]) -> dict[str, Any]:
    """Every value changed: flags flipped, texts and numbers renewed, actions kept."""
    out: dict[str, Any] = {}
    for key, value in old.items():
        if isinstance(value, bool):
            out[key] = not value
        elif key.endswith("action"):
            out[key] = value
        elif value.startswith("+"):
            out[key] = value[:-1] + "9"
        else:
            out[key] = value.replace("old", "new").replace("Old", "New")
    return out


async def _run(job: Path, state: Path, running: RunningSimulator) -> RunOutcome:
    env = CREDS.as_env()
    settings = RunSettings(
        job=job,
        state_dir=state,
        account_plan=AccountPlan.BUSINESS,
        rate=200,
        api_url=running.api_url,
        oauth_url=running.oauth_url,
    )
    out = io.StringIO()
    return await run_job(settings, env=env, display=PlainDisplay(out), out=out)


def _patch(sim: Simulator, ext: str, setting: str, settings: dict[str, Any]) -> None:
    body = orjson.dumps({"sub_setting_type": "call_handling", "settings": settings})
    assert sim.write("PATCH", ext, setting, body, {}).status == 204


async def test_undo_puts_the_simulator_back_field_for_field(tmp_path: Path) -> None:
    directory, zoom = tmp_path / "directory.csv", tmp_path / "zoom.json"
    exts = generate_directory(16, 2026)
    write_directory(exts, directory)
    config = SimConfig(directory=directory, state_file=zoom, rate=None, credentials=CREDS)
    sim = Simulator(config)
    first = {kind: next(e.extension_id for e in exts if e.type is kind) for kind in ExtensionType}
    user, queue = first[ExtensionType.USER], first[ExtensionType.CALL_QUEUE]
    receptionist = first[ExtensionType.AUTO_RECEPTIONIST]
    span = {"name": "Undo Day", "from": "2027-04-01T00:00:00Z", "to": "2027-04-01T23:59:00Z"}
    added = sim.write(
        "POST",
        user,
        "holiday_hours",
        orjson.dumps({"sub_setting_type": "holiday", "settings": span}),
        {},
    )
    holiday = added.body["holiday_id"]
    # (extension, setting_type, holiday_id, old values): the state the job changes
    writes = [
        (user, "business_hours", "", _USER_OLD),
        (queue, "business_hours", "", _QUEUE_OLD),
        (queue, "closed_hours", "", _TEAMS_OLD),
        (receptionist, "closed_hours", "", _RECEPTIONIST_OLD),
        (user, "holiday_hours", holiday, _HOLIDAY_OLD),
    ]
    for ext, setting, hid, old in writes:
        _patch(sim, ext, setting, {**old, **({"holiday_id": hid} if hid else {})})
    sim.save()
    touched = sorted({w[0] for w in writes})
    before = {x: sim.settings(x) for x in touched}

    job = io.StringIO()
    out = csv.writer(job, lineterminator="\n")
    out.writerow(
        ["action", "setting_type", "sub_setting_type", "extension_id", "holiday_id", "settings"]
    )
    for ext, setting, hid, old in writes:
        out.writerow(["update", setting, "call_handling", ext, hid, json.dumps(_new(old))])
    (tmp_path / "job.csv").write_text(job.getvalue())

    async with run_simulator(config) as running:
        done = await _run(tmp_path / "job.csv", tmp_path / "state", running)
        assert done.exit_code == 0
        assert all(running.simulator.settings(x) != before[x] for x in touched)
        notes = done.reports["undo-notes.txt"].read_text()
        assert "keeps the new value" not in notes and "no previous value" not in notes, notes
        undone = await _run(done.reports["undo.csv"], tmp_path / "undo-state", running)
        assert undone.exit_code == 0
        for x in touched:
            assert running.simulator.settings(x) == before[x], x
