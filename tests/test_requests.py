"""How operations become requests, and how the extension's GET resolves names and natural keys."""

from __future__ import annotations

from typing import Any

import pytest

from bulkops.model import Action, Operation, SettingType, SubSettingType
from bulkops.zoom import routes as rq
from bulkops.zoom.match import Pick, same_minute
from bulkops.zoom.view import ExtensionView

A, S, SUB = Action, SettingType, SubSettingType

GET_BODY: dict[str, Any] = {
    "business_hours": [
        {"sub_setting_type": "custom_hours", "settings": {"type": 1}},
        {
            "sub_setting_type": "call_forwarding",
            "settings": {
                "call_forwarding_settings": [
                    {"id": "zm1", "description": "Zoom Mobile Apps", "enable": True},
                    {"id": "fw1", "phone_number": "+12025550100", "description": "desk"},
                ]
            },
        },
    ],
    "closed_hours": [],
    "holiday_hours": [
        {
            "holiday_id": "h1",
            "details": [
                {
                    "sub_setting_type": "holiday",
                    "settings": {
                        "name": "New Year",
                        "from": "2027-01-01T00:00:00Z",
                        "to": "2027-01-02T00:00:00Z",
                    },
                },
                {
                    "sub_setting_type": "call_forwarding",
                    "settings": {
                        "call_forwarding_settings": [{"id": "hf1", "phone_number": "+4930123456"}]
                    },
                },
            ],
        },
        {
            "holiday_id": "h2",
            "details": [
                {
                    "sub_setting_type": "holiday",
                    "settings": {"name": "Twice", "from": "2027-05-01T00:00:00Z"},
                }
            ],
        },
        {
            "holiday_id": "h3",
            "details": [
                {
                    "sub_setting_type": "holiday",
                    "settings": {"name": "Twice", "from": "2027-06-01T00:00:00Z"},
                }
            ],
        },
    ],
}


def op(action: Action, setting: SettingType, sub: SubSettingType, **kw: Any) -> Operation:
    return Operation(
        seq=0,
        op_id="x",
        row=2,
        action=action,
        extension_id="ext1",
        setting_type=setting,
        sub_setting_type=sub,
        **kw,
    )


def view() -> ExtensionView:
    return ExtensionView.parse(GET_BODY)


def test_view_parses_holidays_and_forwarding() -> None:
    v = view()
    assert v.pick_holiday("New Year") == Pick("h1")
    assert v.pick_holiday("Twice").candidates == (
        "'Twice' 2027-05-01T00:00:00Z to ? (holiday_id h2)",
        "'Twice' 2027-06-01T00:00:00Z to ? (holiday_id h3)",
    )
    assert v.pick_holiday("Twice", "2027-06-01T01:00:00+01:00") == Pick("h3")
    assert [e.id for e in v.forwarding_entries("business_hours", "+12025550100")] == ["fw1"]
    assert [e.id for e in v.forwarding_entries("holiday_hours", "+4930123456", "h1")] == ["hf1"]
    assert v.forwarding_entries("closed_hours", "+12025550100") == []
    # Zoom's own app entry is read too, by its id.
    assert v.has_forwarding("business_hours", "zm1")


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        pytest.param(
            op(
                A.ADD,
                S.HOLIDAY_HOURS,
                SUB.HOLIDAY,
                settings={"name": "New Year"},
                holiday_name="New Year",
                holiday_from="2027-01-01T00:00:00Z",
                holiday_to="2027-01-02T00:00:00Z",
            ),
            rq.Resolution(holiday_id="h1", present=True),
            id="add-holiday-present",
        ),
        pytest.param(
            op(
                A.ADD,
                S.HOLIDAY_HOURS,
                SUB.HOLIDAY,
                holiday_name="New Year",
                holiday_from="2028-01-01T00:00:00Z",
                holiday_to="2028-01-02T00:00:00Z",
            ),
            rq.Resolution(),
            id="add-holiday-other-year-is-new",
        ),
        pytest.param(
            op(A.DELETE, S.HOLIDAY_HOURS, SUB.HOLIDAY, holiday_name="New Year"),
            rq.Resolution(holiday_id="h1"),
            id="delete-by-name",
        ),
        pytest.param(
            op(A.DELETE, S.HOLIDAY_HOURS, SUB.HOLIDAY, holiday_name="Gone"),
            rq.Resolution(absent=True),
            id="delete-by-name-absent",
        ),
        pytest.param(
            op(A.DELETE, S.HOLIDAY_HOURS, SUB.HOLIDAY, holiday_id="zz"),
            rq.Resolution(holiday_id="zz", absent=True),
            id="delete-by-id-absent",
        ),
        pytest.param(
            op(A.UPDATE, S.HOLIDAY_HOURS, SUB.HOLIDAY, holiday_name="Gone"),
            rq.Resolution(problem="no holiday named 'Gone' on this extension"),
            id="update-missing",
        ),
        pytest.param(
            op(A.ADD, S.BUSINESS_HOURS, SUB.CALL_FORWARDING, phone_number="+12025550100"),
            rq.Resolution(None, "fw1", present=True),
            id="add-forwarding-present",
        ),
        pytest.param(
            op(
                A.ADD,
                S.HOLIDAY_HOURS,
                SUB.CALL_FORWARDING,
                holiday_name="New Year",
                phone_number="+4930999",
            ),
            rq.Resolution(holiday_id="h1"),
            id="add-forwarding-under-named-holiday",
        ),
        pytest.param(
            op(A.DELETE, S.BUSINESS_HOURS, SUB.CALL_FORWARDING, phone_number="+19999"),
            rq.Resolution(absent=True),
            id="delete-forwarding-absent",
        ),
        pytest.param(
            op(A.UPDATE, S.BUSINESS_HOURS, SUB.CALL_FORWARDING, phone_number="+12025550100"),
            rq.Resolution(forwarding_id="fw1"),
            id="update-forwarding-by-number",
        ),
    ],
)
def test_resolve(operation: Operation, expected: rq.Resolution) -> None:
    assert rq.resolve(operation, view()) == expected


def test_resolve_ambiguous_name_lists_the_candidates() -> None:
    res = rq.resolve(op(A.DELETE, S.HOLIDAY_HOURS, SUB.HOLIDAY, holiday_name="Twice"), view())
    assert res.problem is not None and res.holiday_id is None
    assert "fits 2 holidays" in res.problem and "give holiday_id" in res.problem
    assert "2027-05-01T00:00:00Z to ? (holiday_id h2)" in res.problem
    assert "2027-06-01T00:00:00Z to ? (holiday_id h3)" in res.problem


def test_build_bodies() -> None:
    add = op(A.ADD, S.HOLIDAY_HOURS, SUB.HOLIDAY, settings={"name": "X", "from": "a", "to": "b"})
    assert rq.build(add, rq.Resolution()) == rq.Request(
        "POST",
        "ext1",
        "holiday_hours",
        {"sub_setting_type": "holiday", "settings": {"name": "X", "from": "a", "to": "b"}},
        None,
    )
    fwd = op(
        A.ADD,
        S.HOLIDAY_HOURS,
        SUB.CALL_FORWARDING,
        settings={"phone_number": "+1555", "holiday_id": "old"},
    )
    assert rq.build(fwd, rq.Resolution(holiday_id="h1")).body == {
        "sub_setting_type": "call_forwarding",
        "settings": {"phone_number": "+1555", "holiday_id": "h1"},
    }
    upd = op(
        A.UPDATE,
        S.BUSINESS_HOURS,
        SUB.CALL_FORWARDING,
        settings={"description": "new", "enable": False},
    )
    assert rq.build(upd, rq.Resolution(forwarding_id="fw1")).body == {
        "sub_setting_type": "call_forwarding",
        "settings": {
            "call_forwarding_settings": [{"id": "fw1", "description": "new", "enable": False}]
        },
    }
    delete = op(A.DELETE, S.CLOSED_HOURS, SUB.CALL_FORWARDING)
    assert rq.build(delete, rq.Resolution(forwarding_id="fw9")) == rq.Request(
        "DELETE", "ext1", "closed_hours", None, {"call_forwarding_id": "fw9"}
    )


def test_apply_to_view_keeps_lane_current() -> None:
    v = view()
    add = op(
        A.ADD,
        S.HOLIDAY_HOURS,
        SUB.HOLIDAY,
        holiday_name="Fresh",
        holiday_from="2027-03-01T00:00:00Z",
    )
    rq.apply_to_view(v, add, rq.Resolution(), "h9")
    fwd = op(
        A.ADD, S.HOLIDAY_HOURS, SUB.CALL_FORWARDING, holiday_name="Fresh", phone_number="+1555"
    )
    res = rq.resolve(fwd, v)
    assert res.holiday_id == "h9" and not res.present
    rq.apply_to_view(v, fwd, res, "f9")
    assert rq.resolve(fwd, v).present
    rq.apply_to_view(
        v, op(A.DELETE, S.HOLIDAY_HOURS, SUB.HOLIDAY), rq.Resolution(holiday_id="h9"), None
    )
    assert v.pick_holiday("Fresh") == Pick()


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("2027-01-01T00:00:00Z", "2027-01-01T01:00:00+01:00", True),
        ("2027-01-01T00:00:00Z", "2027-01-01T00:00:00.000Z", True),
        ("2027-01-01T23:59:59Z", "2027-01-01T23:59:00Z", True),
        ("2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z", False),
        ("2027-01-01T00:00:00Z", "2027-01-01T00:01:00Z", False),
        ("garbage", "garbage", True),
        (None, "2027-01-01T00:00:00Z", False),
    ],
)
def test_same_minute(a: str | None, b: str | None, same: bool) -> None:
    assert same_minute(a, b) is same
