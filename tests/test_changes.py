"""reports.changes: a setting in words, and the replay of an extension's operations over its
before-image (the end-to-end checks against the simulator are in test_preview.py)."""

from __future__ import annotations

from typing import Any

import pytest

from bulkops.model import Action, Operation, OpStatus, Outcome, SettingType, SubSettingType
from bulkops.reports.changes import Change, Replay
from bulkops.reports.words import NOTHING, UNKNOWN, entry_words, hours_words, span_words

_H, _B = SettingType.HOLIDAY_HOURS, SettingType.BUSINESS_HOURS
_OK = Outcome(OpStatus.SUCCEEDED)


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        pytest.param("2027-12-25T00:00:00Z", "2027-12-25T23:59:59Z", "2027-12-25", id="a-day"),
        pytest.param(
            "2027-12-24T00:00:00Z", "2027-12-26T23:59:00Z", "2027-12-24 – 2027-12-26", id="days"
        ),
        pytest.param(
            "2027-12-24T08:00:00Z", "2027-12-24T12:30:00Z", "2027-12-24 08:00–12:30 UTC", id="hours"
        ),
        pytest.param(
            "2027-12-24T22:00:00+01:00",
            "2027-12-25T20:00:00Z",
            "2027-12-24 21:00 – 2027-12-25 20:00 UTC",
            id="offset-in-utc",
        ),
        pytest.param(
            "2027-12-25T05:00:00Z", "2027-12-26T04:59:59Z", "2027-12-25 (UTC−05:00)", id="west"
        ),
        pytest.param(
            "2027-12-26T23:00:00Z",
            "2027-12-28T22:59:59Z",
            "2027-12-27 – 2027-12-28 (UTC+01:00)",
            id="east-days",
        ),
        pytest.param("soon", None, "soon – ?", id="unreadable"),
    ],
)
def test_span_words(start: str, end: str | None, words: str) -> None:
    assert span_words(start, end) == words


@pytest.mark.parametrize(
    ("item", "words"),
    [
        pytest.param({"phone_number": "+14155550100"}, "forward to +14155550100", id="number"),
        pytest.param(
            {"phone_number": "+14155550100", "description": "Desk", "enable": False},
            "forward to +14155550100 'Desk' (off)",
            id="described-and-off",
        ),
        pytest.param({"description": "Zoom Mobile Apps"}, "'Zoom Mobile Apps'", id="zoom-app"),
        pytest.param(
            {"external_contact": {"external_contact_id": "c1", "name": "Ann", "phone_numbers": []}},
            "external contact Ann ()",
            id="contact",
        ),
        pytest.param({}, "?", id="nothing-known"),
    ],
)
def test_entry_words(item: dict[str, Any], words: str) -> None:
    assert entry_words(item) == words


def test_hours_words() -> None:
    assert hours_words({"type": 1}) == "24/7"
    assert hours_words(None) == UNKNOWN
    days = [{"weekday": d, "type": 2, "from": "08:00", "to": "18:00"} for d in range(2, 7)]
    assert hours_words({"type": 2, "custom_hours_settings": days}) == (
        "Mon–Fri 08:00–18:00, Sat–Sun closed"
    )


def _op(
    seq: int, action: Action, setting: SettingType, sub: SubSettingType, **kw: Any
) -> Operation:
    return Operation(seq, f"op{seq}", seq + 2, action, "ext1", setting, sub, **kw)


def _body(holidays: list[Any] | None = None, **sections: list[Any]) -> dict[str, Any]:
    return {
        "business_hours": sections.get("business_hours", []),
        "closed_hours": sections.get("closed_hours", []),
        "holiday_hours": holidays or [],
    }


def _holiday(hid: str, name: str, day: str, *details: Any) -> dict[str, Any]:
    span = {"name": name, "from": f"{day}T00:00:00Z", "to": f"{day}T23:59:00Z"}
    return {
        "holiday_id": hid,
        "details": [{"sub_setting_type": "holiday", "settings": span}, *details],
    }


def test_an_extension_never_read_has_an_unknown_before_but_its_adds_are_known() -> None:
    replay = Replay(None)
    update = _op(0, Action.UPDATE, _B, SubSettingType.CUSTOM_HOURS, settings={"type": 1})
    assert replay.change(update, _OK) == Change(UNKNOWN, "24/7", False)
    add = _op(
        1,
        Action.ADD,
        _H,
        SubSettingType.HOLIDAY,
        settings={"name": "X", "from": "2027-01-01T00:00:00Z", "to": "2027-01-01T23:59:59Z"},
    )
    assert replay.change(add, _OK) == Change(NOTHING, "X: 2027-01-01", False)


def test_an_operation_that_did_not_take_effect_changes_nothing_for_the_next() -> None:
    replay = Replay(_body([_holiday("H1", "Day", "2027-02-02")]))
    rename = _op(
        0, Action.UPDATE, _H, SubSettingType.HOLIDAY, holiday_id="H1", settings={"name": "New"}
    )
    failed = replay.change(rename, Outcome(OpStatus.FAILED, message="400"))
    assert failed == Change("Day: 2027-02-02", "", False)
    assert replay.change(rename, _OK) == Change("Day: 2027-02-02", "New: 2027-02-02", False)
    again = replay.change(rename, _OK)  # the same update again: Zoom already holds it
    assert again == Change("New: 2027-02-02", "New: 2027-02-02", True)


def test_holiday_call_handling_and_forwarding_name_their_holiday() -> None:
    handling = {"sub_setting_type": "call_handling", "settings": {"routing": {"action": 1}}}
    forwarding = {
        "sub_setting_type": "call_forwarding",
        "settings": {
            "require_press_1_before_connecting": False,
            "call_forwarding_settings": [{"id": "F1", "phone_number": "+14155550100"}],
        },
    }
    replay = Replay(_body([_holiday("H1", "Day", "2027-02-02", handling, forwarding)]))
    action = _op(
        0,
        Action.UPDATE,
        _H,
        SubSettingType.CALL_HANDLING,
        holiday_name="Day",
        settings={"call_not_answer_action": 11},
    )
    assert replay.change(action, Outcome(OpStatus.SUCCEEDED, target_id="H1")) == Change(
        "Day: call_not_answer_action=1", "Day: call_not_answer_action=11", False
    )
    enable = _op(
        1,
        Action.UPDATE,
        _H,
        SubSettingType.CALL_FORWARDING,
        holiday_id="H1",
        settings={
            "call_forwarding_settings": [{"id": "F1", "enable": False}],
            "require_press_1_before_connecting": True,
        },
    )
    assert replay.change(enable, Outcome(OpStatus.SUCCEEDED, target_id="F1")) == Change(
        "Day: forward to +14155550100; require_press_1_before_connecting=false",
        "Day: forward to +14155550100 (off); require_press_1_before_connecting=true",
        False,
    )
    gone = _op(2, Action.DELETE, _H, SubSettingType.CALL_FORWARDING, holiday_id="H1")
    assert replay.change(gone, Outcome(OpStatus.SUCCEEDED, target_id="F1")) == Change(
        "Day: forward to +14155550100 (off)", NOTHING, False
    )
    missing = _op(3, Action.ADD, _H, SubSettingType.CALL_FORWARDING, holiday_name="Nope")
    assert replay.change(missing, Outcome(OpStatus.FAILED)).before == NOTHING


def test_partial_custom_hours_merge_with_the_days_zoom_has() -> None:
    days = [{"weekday": d, "type": 2, "from": "09:00", "to": "17:00"} for d in range(2, 7)]
    hours = {
        "sub_setting_type": "custom_hours",
        "settings": {"type": 2, "custom_hours_settings": days},
    }
    replay = Replay(_body(business_hours=[hours]))
    saturday = {
        "custom_hours_settings": [{"weekday": 7, "type": 2, "from": "10:00", "to": "12:00"}]
    }
    op = _op(0, Action.UPDATE, _B, SubSettingType.CUSTOM_HOURS, settings=saturday)
    assert replay.change(op, _OK) == Change(
        "Mon–Fri 09:00–17:00, Sat–Sun closed",
        "Mon–Fri 09:00–17:00, Sat 10:00–12:00, Sun closed",
        False,
    )
