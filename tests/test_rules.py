"""Field rules: ids, phone numbers, dates and every row shape, as parametrized tables."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pytest

from bulkops.jobs.checks import (
    ExtensionRef,
    RowSpec,
    check_e164,
    check_id,
    parse_timezone,
    parse_when,
)
from bulkops.jobs.rules import check_row
from bulkops.model import ALLOWED, Action, SettingType, SubSettingType


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("nNGsNx2zRDyiIXWVI23FCQ", id="zoom-id"),
        pytest.param("a", id="one-char"),
        pytest.param("A-b_9", id="dash-underscore"),
        pytest.param("x" * 64, id="64-chars"),
    ],
)
def test_id_accepts(value: str) -> None:
    assert check_id(value) is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("../../users/me", id="path-traversal"),
        pytest.param("%2e%2e", id="percent-encoded"),
        pytest.param("a/b", id="slash"),
        pytest.param("a?x=1", id="query"),
        pytest.param("a#b", id="fragment"),
        pytest.param("", id="empty"),
        pytest.param(" abc", id="leading-space"),
        pytest.param("abc ", id="trailing-space"),
        pytest.param("abc\n", id="trailing-newline"),
        pytest.param("\u0430bc", id="cyrillic-a"),
        pytest.param("\uff41bc", id="fullwidth-a"),
        pytest.param("abc\u0661", id="arabic-digit"),
        pytest.param("x" * 65, id="65-chars"),
        pytest.param("a.b", id="dot"),
    ],
)
def test_id_rejects(value: str) -> None:
    assert check_id(value) is not None


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        pytest.param("+14155550123", None, id="us"),
        pytest.param("+442071234567", None, id="uk"),
        pytest.param("+12", None, id="shortest"),
        pytest.param("1.20589E+10", "scientific", id="excel-scientific"),
        pytest.param("14155550123", "'+' is missing", id="dropped-plus"),
        pytest.param("14155550123.0", "decimal", id="excel-float"),
        pytest.param("+04155550123", "E.164", id="leading-zero"),
        pytest.param("+1 415 555 0123", "E.164", id="spaces"),
        pytest.param("+1234567890123456", "E.164", id="16-digits"),
        pytest.param("+1", "E.164", id="too-short"),
        pytest.param("+\uff11415", "E.164", id="fullwidth-digit"),
    ],
)
def test_e164(value: str, fragment: str | None) -> None:
    reason = check_e164(value)
    if fragment is None:
        assert reason is None
    else:
        assert reason is not None and fragment in reason


BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("value", "tz", "end", "expected"),
    [
        pytest.param("2027-12-25T09:00:00Z", None, False, "2027-12-25T09:00:00Z", id="zulu"),
        pytest.param("2027-12-25T09:00:00+01:00", None, False, "2027-12-25T08:00:00Z", id="offset"),
        pytest.param(
            "2027-12-25T09:00:00-0500", None, False, "2027-12-25T14:00:00Z", id="offset-no-colon"
        ),
        pytest.param("2027-12-25", None, False, "2027-12-25T00:00:00Z", id="date-from-utc"),
        pytest.param("2027-12-25", None, True, "2027-12-25T23:59:59Z", id="date-to-utc"),
        pytest.param("2027-12-25", BERLIN, False, "2027-12-24T23:00:00Z", id="date-from-berlin"),
        pytest.param("2027-12-25", BERLIN, True, "2027-12-25T22:59:59Z", id="date-to-berlin"),
        pytest.param("2027-07-01 09:30", BERLIN, False, "2027-07-01T07:30:00Z", id="naive-summer"),
        pytest.param("2027-07-01T09:30:00Z", BERLIN, False, "2027-07-01T09:30:00Z", id="zone-wins"),
        pytest.param("0001-01-01", None, False, "0001-01-01T00:00:00Z", id="year-1-padded"),
        pytest.param("0999-05-01", None, True, "0999-05-01T23:59:59Z", id="year-999-padded"),
        pytest.param(
            "0001-01-01T00:30:00-01:00", None, False, "0001-01-01T01:30:00Z", id="year-1-west"
        ),
        pytest.param("9999-12-31", None, True, "9999-12-31T23:59:59Z", id="year-9999"),
        pytest.param(
            "9999-12-31T23:00:00+01:00", None, True, "9999-12-31T22:00:00Z", id="year-9999-east"
        ),
    ],
)
def test_parse_when_normalises(value: str, tz: ZoneInfo | None, end: bool, expected: str) -> None:
    assert parse_when(value, tz, end=end) == (expected, None)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("12/25/2027", id="us-format"),
        pytest.param("25.12.2027", id="german-format"),
        pytest.param("2027-02-30", id="no-such-day"),
        pytest.param("2027-12-25T25:00:00Z", id="hour-25"),
        pytest.param("2027-12-25T09:00:00.5Z", id="fraction"),
        pytest.param("2027-12-25T09:00:00+25:00", id="offset-range"),
        pytest.param("46746", id="excel-serial"),
        pytest.param("2027-12-25T09:00:00Z ", id="trailing-space"),
    ],
)
def test_parse_when_rejects(value: str) -> None:
    result, reason = parse_when(value, None, end=False)
    assert result is None and reason is not None


@pytest.mark.parametrize(
    ("value", "tz", "end"),
    [
        pytest.param("0001-01-01", BERLIN, False, id="year-1-east-of-utc"),
        pytest.param("0001-01-01T00:00:00+00:30", None, False, id="year-1-offset"),
        pytest.param("9999-12-31", ZoneInfo("America/New_York"), True, id="year-9999-west"),
        pytest.param("9999-12-31T23:00:00-02:00", None, True, id="year-9999-offset"),
    ],
)
def test_parse_when_refuses_what_leaves_the_years_1_to_9999(
    value: str, tz: ZoneInfo | None, end: bool
) -> None:
    """Converted to UTC these fall into year 0 or 10000, which Python cannot represent."""
    assert parse_when(value, tz, end=end) == (
        None,
        "is out of range: in UTC it falls before the year 1 or after 9999",
    )


def test_year_zero_and_five_digit_years_are_not_dates() -> None:
    for value in ("0000-01-01", "10000-01-01"):
        result, reason = parse_when(value, None, end=False)
        assert result is None and reason is not None and "ISO-8601" in reason


def test_a_holiday_in_year_1_is_sent_zero_padded() -> None:
    cells = row(**HOLIDAY, name="Epoch", **{"from": "0001-01-01", "to": "0001-01-02"})
    spec, problems = check_row(cells, file="f", row=2)
    assert problems == [] and spec is not None
    assert (spec.settings["from"], spec.settings["to"]) == (
        "0001-01-01T00:00:00Z",
        "0001-01-02T23:59:59Z",
    )


def test_a_year_out_of_range_is_a_row_error_not_a_crash() -> None:
    cells = row(**HOLIDAY, name="End", timezone="America/New_York", **{"from": "9999-12-31"})
    cells["to"] = "9999-12-31"
    spec, problems = check_row(cells, file="f", row=4)
    assert spec is None
    assert [(p.column, p.row) for p in problems] == [("to", 4)]
    assert "out of range" in problems[0].reason


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(" ", id="space"),
        pytest.param("   \t ", id="spaces-and-tab"),
        pytest.param("\u00a0\u3000", id="no-break-and-ideographic-space"),
        pytest.param("\u200b\u200d", id="zero-width"),
        pytest.param("\n", id="line-break"),
    ],
)
def test_a_name_of_only_whitespace_is_refused(name: str) -> None:
    cells = row(**HOLIDAY, name=name, **{"from": "2027-01-01", "to": "2027-01-01"})
    spec, problems = check_row(cells, file="f", row=2)
    assert spec is None
    assert [(p.column, p.reason) for p in problems] == [
        ("name", "has no visible characters: give the holiday a name")
    ]


def test_a_delete_by_a_blank_name_is_refused_too() -> None:
    cells = row(action="delete", setting_type="holiday_hours", name="  ")
    spec, problems = check_row(cells, file="f", row=2)
    assert spec is None and any("no visible characters" in p.reason for p in problems)


def test_a_name_with_spaces_around_a_word_is_kept() -> None:
    cells = row(**HOLIDAY, name=" Day off ", **{"from": "2027-01-01", "to": "2027-01-01"})
    spec, problems = check_row(cells, file="f", row=2)
    assert problems == [] and spec is not None and spec.settings["name"] == " Day off "


def test_timezone_names() -> None:
    assert parse_timezone("Europe/Berlin")[1] is None
    assert parse_timezone("Mars/Olympus")[1] is not None
    assert parse_timezone("../../etc/passwd")[1] is not None


def row(**cells: object) -> dict[str, str]:
    """Cells as the reader gives them; a dict ``settings`` is written as JSON."""
    out = {"extension_id": "ext1"}
    for key, value in cells.items():
        out[key] = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return {k: v for k, v in out.items() if v != "None"}


HOLIDAY = {"action": "add", "setting_type": "holiday_hours", "sub_setting_type": "holiday"}
CF_BH = {"action": "add", "setting_type": "business_hours", "sub_setting_type": "call_forwarding"}
CUSTOM = {"action": "update", "setting_type": "business_hours", "sub_setting_type": "custom_hours"}
CH_CLOSED = {
    "action": "update",
    "setting_type": "closed_hours",
    "sub_setting_type": "call_handling",
}
CH_HOLIDAY = {
    "action": "update",
    "setting_type": "holiday_hours",
    "sub_setting_type": "call_handling",
}
DAY = {"weekday": 2, "type": 2, "from": "09:00", "to": "17:00"}


@pytest.mark.parametrize(
    ("cells", "column", "fragment"),
    [
        pytest.param(
            row(**{**HOLIDAY, "action": "create"}), "action", "must be one of", id="bad-action"
        ),
        pytest.param(
            row(**{**HOLIDAY, "setting_type": ""}), "setting_type", "required", id="no-setting"
        ),
        pytest.param(
            row(**{**HOLIDAY, "sub_setting_type": "holidays"}),
            "sub_setting_type",
            "one of",
            id="bad-sub",
        ),
        pytest.param(
            row(**{**CUSTOM, "action": "add"}, settings={"type": 1}),
            "sub_setting_type",
            "does not support",
            id="add-custom-hours",
        ),
        pytest.param(
            row(
                action="update",
                setting_type="closed_hours",
                sub_setting_type="custom_hours",
                settings={"type": 1},
            ),
            "sub_setting_type",
            "does not support",
            id="closed-custom-hours",
        ),
        pytest.param(
            row(action="delete", setting_type="business_hours", sub_setting_type="call_handling"),
            "sub_setting_type",
            "does not support",
            id="delete-call-handling",
        ),
        pytest.param(
            row(action="delete", setting_type="holiday_hours"),
            "sub_setting_type",
            "is required",
            id="delete-uninferable",
        ),
        pytest.param(
            row(**HOLIDAY, name="X", **{"from": "2027-01-01"}), "to", "required", id="holiday-no-to"
        ),
        pytest.param(
            row(**HOLIDAY, name="X", **{"from": "2027-01-02", "to": "2027-01-01"}),
            "to",
            "after from",
            id="holiday-backwards",
        ),
        pytest.param(
            row(**HOLIDAY, name="X", holiday_id="h1", **{"from": "2027-01-01", "to": "2027-01-01"}),
            "holiday_id",
            "Zoom assigns",
            id="holiday-add-with-id",
        ),
        pytest.param(
            row(
                **HOLIDAY,
                name="X",
                phone_number="+12125550100",
                **{"from": "2027-01-01", "to": "2027-01-01"},
            ),
            "phone_number",
            "not used",
            id="holiday-unused-phone",
        ),
        pytest.param(
            row(
                **{**HOLIDAY, "action": "update"},
                holiday_id="h1",
                name="X",
                **{"from": "2027-01-01"},
            ),
            "to",
            "required",
            id="holiday-update-needs-all",
        ),
        pytest.param(
            row(**{**HOLIDAY, "action": "delete"}),
            "holiday_id",
            "give the holiday",
            id="holiday-delete-nothing",
        ),
        pytest.param(
            row(**{**HOLIDAY, "action": "delete"}, holiday_id="../x"),
            "holiday_id",
            "ASCII",
            id="holiday-delete-bad-id",
        ),
        pytest.param(row(**CF_BH), "phone_number", "required", id="cf-add-no-number"),
        pytest.param(
            row(**CF_BH, phone_number="12125550100"),
            "phone_number",
            "'+' is missing",
            id="cf-add-no-plus",
        ),
        pytest.param(
            row(**{**CF_BH, "setting_type": "holiday_hours"}, phone_number="+12125550100"),
            "holiday_id",
            "give the holiday",
            id="cf-holiday-no-holiday",
        ),
        pytest.param(
            row(**{**CF_BH, "action": "update"}, call_forwarding_id="cf1"),
            "description",
            "nothing to update",
            id="cf-update-nothing",
        ),
        pytest.param(
            row(**{**CF_BH, "action": "update"}, description="x"),
            "call_forwarding_id",
            "give call_forwarding_id",
            id="cf-update-no-target",
        ),
        pytest.param(
            row(
                **{**CF_BH, "action": "update"},
                settings={"call_forwarding_settings": [{"id": f"c{i}"} for i in range(11)]},
            ),
            "settings",
            "at most 10",
            id="cf-list-11",
        ),
        pytest.param(
            row(
                **{**CF_BH, "action": "update"},
                settings={"call_forwarding_settings": [{"enable": True}]},
            ),
            "settings",
            ".id is required",
            id="cf-list-no-id",
        ),
        pytest.param(
            row(
                **{**CF_BH, "action": "update"},
                settings={"call_forwarding_settings": [{"id": "a/b"}]},
            ),
            "settings",
            "ASCII",
            id="cf-list-bad-id",
        ),
        pytest.param(
            row(**{**CF_BH, "action": "delete"}),
            "call_forwarding_id",
            "give call_forwarding_id",
            id="cf-delete-nothing",
        ),
        pytest.param(
            row(
                **{**CF_BH, "action": "delete", "setting_type": "holiday_hours"},
                phone_number="+12125550100",
            ),
            "holiday_id",
            "give the holiday",
            id="cf-delete-number-no-holiday",
        ),
        pytest.param(row(**CUSTOM), "settings", "settings.type is required", id="custom-no-type"),
        pytest.param(
            row(**CUSTOM, settings={"type": "2"}),
            "settings",
            "must be 1 or 2",
            id="custom-type-string",
        ),
        pytest.param(
            row(**CUSTOM, settings={"type": 2}),
            "settings",
            "required when type is 2",
            id="custom-2-no-days",
        ),
        pytest.param(
            row(**CUSTOM, settings={"type": 2, "custom_hours_settings": [DAY] * 8}),
            "settings",
            "at most 7",
            id="custom-8-days",
        ),
        pytest.param(
            row(**CUSTOM, settings={"type": 2, "custom_hours_settings": [DAY, DAY]}),
            "settings",
            "appears twice",
            id="custom-dup-weekday",
        ),
        pytest.param(
            row(**CUSTOM, settings={"type": 2, "custom_hours_settings": [{**DAY, "weekday": 8}]}),
            "settings",
            "1–7",
            id="custom-weekday-8",
        ),
        pytest.param(
            row(**CUSTOM, settings={"type": 2, "custom_hours_settings": [{**DAY, "type": 3}]}),
            "settings",
            "0 (disabled)",
            id="custom-day-type-3",
        ),
        pytest.param(
            row(**CUSTOM, settings={"type": 2, "custom_hours_settings": [{**DAY, "from": "9:00"}]}),
            "settings",
            "HH:mm",
            id="custom-bad-hhmm",
        ),
        pytest.param(
            row(
                **CUSTOM, settings={"type": 2, "custom_hours_settings": [{**DAY, "from": "18:00"}]}
            ),
            "settings",
            "before to",
            id="custom-backwards",
        ),
        pytest.param(row(**CH_CLOSED), "settings", "is required", id="ch-empty"),
        pytest.param(
            row(**CH_CLOSED, settings={"call_not_answer_action": 13}),
            "settings",
            "must be one of",
            id="ch-action-13",
        ),
        pytest.param(
            row(**CH_CLOSED, settings={"call_not_answer_action": "1"}),
            "settings",
            "must be one of",
            id="ch-action-string",
        ),
        pytest.param(
            row(**CH_CLOSED, settings={"busy_on_another_call_action": 3}),
            "settings",
            "must be one of",
            id="ch-busy-3",
        ),
        pytest.param(
            row(**CH_CLOSED, settings={"ring_mode": "rotating"}),
            "settings",
            "simultaneous",
            id="ch-ring-mode",
        ),
        pytest.param(
            row(**CH_CLOSED, settings={"max_wait_time": 65}),
            "settings",
            "must be one of",
            id="ch-wait-65",
        ),
        pytest.param(
            row(**CH_CLOSED, settings={"max_wait_time": 2000}),
            "settings",
            "must be one of",
            id="ch-wait-2000",
        ),
        pytest.param(
            row(**CH_CLOSED, settings={"connect_to_operator": "yes"}),
            "settings",
            "true or false",
            id="ch-bool",
        ),
        pytest.param(
            row(**CH_CLOSED, settings={"max_call_in_queue": 0}),
            "settings",
            "max_call_in_queue must be a number from 1 to 60",
            id="ch-queue-holds-no-call",
        ),
        pytest.param(
            row(**CH_CLOSED, settings={"forward_to_zcc_phone_number": "+1 205 590 3036"}),
            "settings",
            "12055903036 or +12055903036",
            id="ch-zcc-number-spaces",
        ),
        pytest.param(
            row(**CH_CLOSED, settings={"call_not_answer_action": 10}),
            "phone_number",
            "required when",
            id="ch-10-no-number",
        ),
        pytest.param(
            row(**CH_CLOSED, settings={"forward_to_extension_id": "../me"}),
            "settings",
            "ASCII",
            id="ch-forward-bad-id",
        ),
        pytest.param(
            row(**CH_CLOSED, settings={"call_distribution": {"ring_mode": "random"}}),
            "settings",
            "ring_mode",
            id="ch-distribution",
        ),
        pytest.param(
            row(**CH_HOLIDAY, settings={"call_not_answer_action": 1}),
            "holiday_id",
            "give the holiday",
            id="ch-holiday-no-holiday",
        ),
        pytest.param(
            row(
                **CH_CLOSED, phone_number="+12125550100", settings={"phone_number": "+12125550199"}
            ),
            "phone_number",
            "conflicts",
            id="flat-vs-settings",
        ),
        pytest.param(
            row(**CH_CLOSED, settings="[1, 2]"), "settings", "JSON object", id="settings-array"
        ),
        pytest.param(
            row(**CH_CLOSED, settings="{call_not_answer_action: 1}"),
            "settings",
            "JSON object",
            id="settings-not-json",
        ),
        pytest.param(
            row(**CH_CLOSED, settings={"call_not_answer_action": 1}, timezone="Mars/Base"),
            "timezone",
            "IANA",
            id="bad-timezone",
        ),
        pytest.param(
            {
                **row(**CH_CLOSED, settings={"call_not_answer_action": 1}),
                "extension_number": "1101",
            },
            "extension_number",
            "exactly one target",
            id="two-targets",
        ),
        pytest.param(
            {k: v for k, v in row(**CH_CLOSED).items() if k != "extension_id"},
            "extension_id",
            "exactly one target",
            id="no-target",
        ),
        pytest.param(
            {
                **row(**CH_CLOSED, settings={"ring_mode": "sequential"}),
                "extension_id": "",
                "extension_number": "1.101E+3",
            },
            "extension_number",
            "scientific",
            id="extension-number-excel",
        ),
        pytest.param(
            {
                **row(**CH_CLOSED, settings={"ring_mode": "sequential"}),
                "extension_id": "",
                "email": "nobody",
            },
            "email",
            "email address",
            id="bad-email",
        ),
    ],
)
def test_row_errors(cells: dict[str, str], column: str, fragment: str) -> None:
    spec, problems = check_row(cells, file="job.csv", row=7)
    errors = [p for p in problems if p.severity == "error"]
    assert spec is None
    assert any(p.column == column and fragment in p.reason for p in errors), [
        str(p) for p in problems
    ]
    assert all(p.file == "job.csv" and p.row == 7 for p in problems)


def test_holiday_add_spec() -> None:
    cells = row(
        **HOLIDAY,
        name="Christmas",
        timezone="Europe/Berlin",
        **{"from": "2027-12-25", "to": "2027-12-26"},
    )
    spec, problems = check_row(cells, file="f", row=2)
    assert problems == []
    assert spec == RowSpec(
        row=2,
        action=Action.ADD,
        setting_type=SettingType.HOLIDAY_HOURS,
        sub_setting_type=SubSettingType.HOLIDAY,
        settings={
            "name": "Christmas",
            "from": "2027-12-24T23:00:00Z",
            "to": "2027-12-26T22:59:59Z",
        },
        ref=ExtensionRef.EXTENSION_ID,
        ref_value="ext1",
        holiday_name="Christmas",
        holiday_from="2027-12-24T23:00:00Z",
        holiday_to="2027-12-26T22:59:59Z",
        zone="Europe/Berlin",
    )


@pytest.mark.parametrize(
    ("cells", "sub", "expect"),
    [
        pytest.param(
            row(action="delete", setting_type="holiday_hours", name="X", **{"from": "2026-12-25"}),
            "holiday",
            {"holiday_name": "X", "holiday_from": "2026-12-25T00:00:00Z", "holiday_id": None},
            id="delete-holiday-by-name",
        ),
        pytest.param(
            row(action="delete", setting_type="holiday_hours", holiday_id="h1"),
            "holiday",
            {"holiday_id": "h1"},
            id="delete-holiday-by-id",
        ),
        pytest.param(
            row(action="delete", setting_type="closed_hours", phone_number="+12125550100"),
            "call_forwarding",
            {"phone_number": "+12125550100", "call_forwarding_id": None},
            id="delete-cf-by-number",
        ),
        pytest.param(
            row(action="delete", setting_type="holiday_hours", call_forwarding_id="cf9"),
            "call_forwarding",
            {"call_forwarding_id": "cf9"},
            id="delete-holiday-cf-by-id",
        ),
    ],
)
def test_delete_infers_sub_setting_type(
    cells: dict[str, str], sub: str, expect: dict[str, object]
) -> None:
    spec, problems = check_row(cells, file="f", row=2)
    assert spec is not None, problems
    assert spec.sub_setting_type == sub and spec.settings == {}
    for key, value in expect.items():
        assert getattr(spec, key) == value


def test_update_forwarding_by_number_leaves_id_to_the_engine() -> None:
    cells = row(
        action="update",
        setting_type="business_hours",
        sub_setting_type="call_forwarding",
        phone_number="+12125550100",
        description="desk",
        settings={"enable": False},
    )
    spec, problems = check_row(cells, file="f", row=2)
    assert spec is not None, problems
    assert spec.call_forwarding_id is None and spec.phone_number == "+12125550100"
    assert spec.settings == {"call_forwarding_settings": [{"description": "desk", "enable": False}]}


def test_holiday_call_handling_by_name() -> None:
    cells = row(**CH_HOLIDAY, name="Christmas", settings={"call_not_answer_action": 11})
    spec, problems = check_row(cells, file="f", row=2)
    assert spec is not None, problems
    assert (spec.holiday_name, spec.holiday_id) == ("Christmas", None)
    assert spec.settings == {"call_not_answer_action": 11}


@pytest.mark.parametrize("number", ["12055903036", "+12055903036"])
def test_the_contact_center_number_takes_the_specs_form_and_e164(number: str) -> None:
    """The spec says E.164 but writes its examples without '+'; undo writes back what it read."""
    settings = {"call_not_answer_action": 19, "forward_to_zcc_phone_number": number}
    spec, problems = check_row(row(**CH_CLOSED, settings=settings), file="f", row=2)
    assert spec is not None and problems == []
    assert spec.settings["forward_to_zcc_phone_number"] == number


def test_unknown_settings_key_is_a_warning() -> None:
    cells = row(**CH_CLOSED, settings={"call_not_answer_action": 1, "brand_new_zoom_field": 3})
    spec, problems = check_row(cells, file="f", row=2)
    assert spec is not None
    assert spec.settings["brand_new_zoom_field"] == 3
    assert [(p.severity, p.value) for p in problems] == [("warning", "brand_new_zoom_field")]


def test_same_value_flat_and_settings_is_fine() -> None:
    cells = row(**CF_BH, phone_number="+12125550100", settings={"phone_number": "+12125550100"})
    spec, problems = check_row(cells, file="f", row=2)
    assert spec is not None and problems == []


def test_every_allowed_combination_has_a_valid_row() -> None:
    """A minimal valid row exists for every (action, setting, sub) Zoom allows."""
    extra: dict[SubSettingType, dict[Action, dict[str, object]]] = {
        SubSettingType.HOLIDAY: {
            Action.ADD: {"name": "H", "from": "2027-01-01", "to": "2027-01-01"},
            Action.UPDATE: {
                "holiday_id": "h1",
                "name": "H",
                "from": "2027-01-01",
                "to": "2027-01-01",
            },
            Action.DELETE: {"holiday_id": "h1"},
        },
        SubSettingType.CALL_FORWARDING: {
            Action.ADD: {"phone_number": "+12125550100", "holiday_id": "h1"},
            Action.UPDATE: {"call_forwarding_id": "c1", "description": "d", "holiday_id": "h1"},
            Action.DELETE: {"call_forwarding_id": "c1"},
        },
        SubSettingType.CUSTOM_HOURS: {Action.UPDATE: {"settings": {"type": 1}}},
        SubSettingType.CALL_HANDLING: {
            Action.UPDATE: {"settings": {"call_not_answer_action": 1}, "holiday_id": "h1"}
        },
    }
    for (setting, sub), actions in ALLOWED.items():
        for action in actions:
            cells = dict(extra[sub][action])
            if setting is not SettingType.HOLIDAY_HOURS and sub is not SubSettingType.HOLIDAY:
                cells.pop("holiday_id", None)
            spec, problems = check_row(
                row(action=action, setting_type=setting, sub_setting_type=sub, **cells),
                file="f",
                row=2,
            )
            assert spec is not None and problems == [], (action, setting, sub, problems)


CH_BUSINESS = {**CH_CLOSED, "setting_type": "business_hours"}
QUEUE_DISTRIBUTION = {"ring_mode": "simultaneous", "ring_duration": 30}


@pytest.mark.parametrize(
    ("settings", "warned"),
    [
        pytest.param({"max_wait_time": 30}, True, id="user-wait-alone"),
        pytest.param({"ring_mode": "simultaneous"}, True, id="user-ring-alone"),
        pytest.param({"ring_mode": "simultaneous", "max_wait_time": 30}, False, id="user-both"),
        # What `bulkops export` writes for a call queue: its own max wait, no user ring_mode.
        pytest.param(
            {"call_distribution": QUEUE_DISTRIBUTION, "max_wait_time": 300}, False, id="queue"
        ),
    ],
)
def test_ring_mode_and_max_wait_time_pair_only_for_a_user_body(
    settings: dict[str, object], warned: bool
) -> None:
    spec, problems = check_row(row(**CH_BUSINESS, settings=settings), file="f", row=2)
    assert spec is not None
    assert [p.value for p in problems] == (["ring_mode/max_wait_time"] if warned else [])
