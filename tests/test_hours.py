"""Plain business hours: the grammar, Zoom's body (against the OpenAPI extract), words, and the
Monday-first warning on a JSON body."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkops.jobs.hours import (
    DAYS,
    ZOOM_WEEKDAY,
    Hours,
    HoursError,
    from_body,
    parse_hours,
    weekday_names,
)
from bulkops.jobs.rules import check_row
from bulkops.simulator import validation as zoom_checks

SETTINGS = "/phone/extension/{extensionId}/call_handling/settings/{settingType}"
CUSTOM = {"action": "update", "setting_type": "business_hours", "extension_id": "ext1"}


@pytest.fixture(scope="module")
def custom_hours_schema(openapi_spec_path: Path) -> dict[str, Any]:
    """The PATCH body's custom_hours ``settings`` schema, closed: a key it lacks is an error."""
    spec = json.loads(openapi_spec_path.read_text())
    body = spec["paths"][SETTINGS]["patch"]["requestBody"]["content"]["application/json"]
    variants = body["schema"]["oneOf"]
    found = next(
        v for v in variants if v["properties"]["sub_setting_type"]["enum"] == ["custom_hours"]
    )
    schema: dict[str, Any] = copy.deepcopy(found["properties"]["settings"])
    schema["additionalProperties"] = False
    schema["properties"]["custom_hours_settings"]["items"]["additionalProperties"] = False
    return schema


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Mon-Fri 08:00-18:00", "Mon–Fri 08:00–18:00, Sat–Sun closed"),
        (
            "Mon-Thu 08:00-17:00; Fri 08:00-15:00",
            "Mon–Thu 08:00–17:00, Fri 08:00–15:00, Sat–Sun closed",
        ),
        ("24/7", "24/7"),
        ("closed", "closed every day"),
        (
            "mon - fri 08:00 - 18:00 ; sat 10:00-14:00",
            "Mon–Fri 08:00–18:00, Sat 10:00–14:00, Sun closed",
        ),
        ("Sat,Sun all day", "Mon–Fri closed, Sat–Sun all day"),
        ("Sun-Thu 07:00-16:00", "Mon–Thu 07:00–16:00, Fri–Sat closed, Sun 07:00–16:00"),
        ("Monday-Friday 09:00-17:00; Sat closed", "Mon–Fri 09:00–17:00, Sat–Sun closed"),
        ("Mon 24h", "Mon all day, Tue–Sun closed"),
    ],
)
def test_every_form_reads_and_says_its_week(text: str, words: str) -> None:
    assert parse_hours(text).words() == words


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Mon-Fri 08:00-12:00,13:00-17:00", "one from-to span per weekday"),
        ("Mon-Fri 8:00-18:00", "write 08:00"),
        ("Mon-Fri 08:00-24:00", "write 23:59, or 'all day'"),
        ("Mon-Fri 18:00-08:00", "ends before it starts"),
        ("Mon-Fri 08:00-08:00", "ends before it starts"),
        ("Mo-Fr 08:00-18:00", "'Mo' is not a day"),
        ("Mon-Fri", "needs days and times"),
        ("Mon-Fri 08:00", "not a span"),
        ("Mon-Fri 08:00-18:00; Fri 08:00-12:00", "names Fri twice"),
        ("Mon-Fri 08:00-18:00;;", "empty part"),
        ("", "is empty"),
        ("Mon-Fri 08:00-noon", "'noon' is not a time"),
        ("Mon 25:00-26:00", "not a time"),
    ],
)
def test_bad_forms_say_what_to_write(text: str, fragment: str) -> None:
    with pytest.raises(HoursError) as err:
        parse_hours(text)
    assert fragment in str(err.value)


def test_the_body_counts_from_sunday_as_the_spec_does(openapi_spec_path: Path) -> None:
    spec = openapi_spec_path.read_text()
    described = dict(re.findall(r"`([1-7])` &mdash; (\w+)day", spec))
    names = {"Sun": "Sun", "Mon": "Mon", "Tues": "Tue", "Wednes": "Wed", "Thurs": "Thu"}
    names |= {"Fri": "Fri", "Satur": "Sat"}
    assert {names[d]: int(n) for n, d in described.items()} == ZOOM_WEEKDAY
    body = parse_hours("Mon-Fri 08:00-18:00").body()
    assert body["type"] == 2
    days = {d["weekday"]: d for d in body["custom_hours_settings"]}
    assert days[2] == {"weekday": 2, "type": 2, "from": "08:00", "to": "18:00"}  # Monday
    assert days[1] == {"weekday": 1, "type": 0}  # Sunday
    assert days[7] == {"weekday": 7, "type": 0}  # Saturday


@pytest.mark.parametrize(
    "text",
    ["Mon-Fri 08:00-18:00", "24/7", "closed", "Sat,Sun all day; Mon 09:00-12:00"],
)
def test_the_body_fits_the_spec_and_the_simulator(
    text: str, custom_hours_schema: dict[str, Any]
) -> None:
    body = parse_hours(text).body()
    jsonschema.validate(body, custom_hours_schema)
    zoom_checks.custom_hours(body)  # the faithful simulator takes it too


def test_closed_is_every_day_disabled_not_24_hours() -> None:
    body = parse_hours("closed").body()
    assert body["type"] == 2
    assert [d["type"] for d in body["custom_hours_settings"]] == [0] * 7


_TIME = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
_SPAN = st.tuples(_TIME, _TIME).filter(lambda s: s[0] < s[1])
_WEEK = st.lists(st.one_of(st.none(), st.just("all day"), _SPAN), min_size=7, max_size=7)


@given(_WEEK)
def test_words_and_body_round_trip(days: list[Any]) -> None:
    week = Hours(tuple(days))
    assert from_body(week.body()) == week
    parts = [f"{DAYS[i]} " + _said(d) for i, d in enumerate(days)]
    assert parse_hours("; ".join(parts)) == week


def _said(day: Any) -> str:
    if day is None:
        return "closed"
    return day if isinstance(day, str) else f"{day[0]}-{day[1]}"


@given(st.text(max_size=40))
def test_any_text_reads_or_says_why(text: str) -> None:
    try:
        week = parse_hours(text)
    except HoursError as exc:
        assert str(exc)
    else:
        jsonschema.validate(week.body(), {"type": "object"})
        assert week.words()


def test_an_hours_row_implies_custom_hours_and_writes_the_body() -> None:
    spec, problems = check_row({**CUSTOM, "hours": "Mon-Fri 08:00-18:00"}, file="j.csv", row=2)
    assert problems == []
    assert spec is not None and spec.sub_setting_type == "custom_hours"
    assert spec.settings == parse_hours("Mon-Fri 08:00-18:00").body()


def test_hours_and_a_json_body_together_are_refused() -> None:
    cells = {**CUSTOM, "hours": "24/7", "settings": '{"type": 2}'}
    spec, problems = check_row(cells, file="j.csv", row=2)
    assert spec is None
    assert any("give the hours once" in p.reason for p in problems)


def test_a_bad_hours_cell_names_the_column() -> None:
    spec, problems = check_row({**CUSTOM, "hours": "Mon-Fri 8:00-18:00"}, file="j.csv", row=2)
    assert spec is None
    assert [(p.column, p.reason) for p in problems] == [
        ("hours", "'8:00' is not HH:mm: write 08:00")
    ]


def test_hours_on_another_sub_setting_is_an_error() -> None:
    cells = {**CUSTOM, "sub_setting_type": "call_handling", "hours": "24/7"}
    cells["settings"] = '{"ring_mode": "simultaneous", "max_wait_time": 30}'
    spec, problems = check_row(cells, file="j.csv", row=2)
    assert spec is None
    assert any(p.column == "hours" and "is not used" in p.reason for p in problems)


def _days_json(weekdays: list[int]) -> str:
    days = [{"weekday": w, "type": 2, "from": "08:00", "to": "18:00"} for w in weekdays]
    return json.dumps({"type": 2, "custom_hours_settings": days})


def test_a_monday_first_json_week_is_warned_by_its_real_days() -> None:
    cells = {**CUSTOM, "sub_setting_type": "custom_hours", "settings": _days_json([1, 2, 3, 4, 5])}
    spec, problems = check_row(cells, file="j.csv", row=2)
    assert spec is not None  # a warning, not an error: Sun–Thu may be meant
    assert [p.severity for p in problems] == ["warning"]
    assert "weekday 1 is Sunday: these hours apply Sun–Thu" in problems[0].reason
    assert "for Mon–Fri use 2–6 or the `hours` column" in problems[0].reason


@pytest.mark.parametrize("weekdays", [[2, 3, 4, 5, 6], [1, 2, 3, 4], [1, 2, 3, 4, 5, 6]])
def test_other_json_weeks_are_not_warned(weekdays: list[int]) -> None:
    cells = {**CUSTOM, "sub_setting_type": "custom_hours", "settings": _days_json(weekdays)}
    assert check_row(cells, file="j.csv", row=2)[1] == []


def test_sun_thu_in_words_is_not_warned() -> None:
    spec, problems = check_row({**CUSTOM, "hours": "Sun-Thu 08:00-18:00"}, file="j.csv", row=2)
    assert spec is not None and problems == []


def test_weekday_names() -> None:
    assert weekday_names([1, 2, 3, 4, 5]) == "Sun–Thu"
    assert weekday_names([1, 7]) == "Sun, Sat"


def test_from_body_reads_only_a_whole_body() -> None:
    assert from_body({}) is None
    assert from_body({"type": 2, "custom_hours_settings": [{"weekday": 9}]}) is None
    assert from_body({"type": 1}) == Hours(("all day",) * 7, always=True)
