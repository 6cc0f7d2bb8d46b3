"""What a directory from Zoom adds to a job: the id pitfall, type rules and local time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkops.errors import JobFileError, Problem
from bulkops.jobs.plan import build_plan, format_summary, validate, write_plan
from bulkops.jobs.rules import check_row
from bulkops.jobs.zones import relocalise
from bulkops.model import Action, Operation, SettingType, SubSettingType
from bulkops.reports.collected import Collected, collect
from bulkops.reports.jobrows import named

# The columns `bulkops directory pull` writes, by hand: one user and one queue per zone, a
# London auto receptionist and a Berlin shared line group.
DIRECTORY = """\
extension_id,extension_number,email,name,type,site_id,site_name,timezone,country,status,id
extAda00000000000000001,1001,ada@example.com,Ada Lovelace,user,s1,New York,America/New_York,US,active,usrAda0000000000000001
extQny00000000000000002,1002,,NY Sales Queue,call_queue,s1,New York,America/New_York,US,active,cqNY00000000000000002
extBob00000000000000003,2001,bob@example.com,Bob Shaw,user,s2,London,Europe/London,GB,active,usrBob0000000000000003
extIvr00000000000000004,2002,,London IVR,auto_receptionist,s2,London,Europe/London,GB,active,arLN00000000000000004
extCle00000000000000005,3001,cleo@example.com,Cleo Weber,user,s3,Berlin,Europe/Berlin,DE,active,usrCle0000000000000005
extSlg00000000000000006,3002,,Berlin Desk Group,shared_line_group,s3,Berlin,Europe/Berlin,DE,active,slgB00000000000000006
"""
ADA, QUEUE_NY = "extAda00000000000000001", "extQny00000000000000002"
ZONE_OF = {
    "1001": "America/New_York",
    "1002": "America/New_York",
    "2001": "Europe/London",
    "2002": "Europe/London",
    "3001": "Europe/Berlin",
    "3002": "Europe/Berlin",
}


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "directory.csv"
    path.write_text(DIRECTORY)
    return path


def job(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.csv"
    path.write_text(text)
    return path


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


# --- the id pitfall ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_id", "words", "right"),
    [
        pytest.param(
            "usrAda0000000000000001", "user id of Ada Lovelace (ext 1001)", ADA, id="user"
        ),
        pytest.param(
            "cqNY00000000000000002", "call queue id of NY Sales Queue (ext 1002)", QUEUE_NY, id="q"
        ),
    ],
)
def test_an_entity_id_in_extension_id_names_the_extension_id(
    tmp_path: Path, directory: Path, given_id: str, words: str, right: str
) -> None:
    path = job(
        tmp_path,
        "action,setting_type,sub_setting_type,extension_id,settings\n"
        f'update,closed_hours,call_handling,{given_id},"{{""call_not_answer_action"": 1}}"\n',
    )
    problems = validate(path, directory=directory)
    assert len(problems) == 1
    (problem,) = problems
    assert (problem.row, problem.column, problem.value, problem.severity) == (
        2,
        "extension_id",
        given_id,
        "error",
    )
    assert words in problem.reason and f"its extension id is {right}" in problem.reason
    with pytest.raises(JobFileError):
        build_plan(path, directory=directory)


def test_an_id_the_directory_lacks_is_still_only_a_warning(tmp_path: Path, directory: Path) -> None:
    path = job(
        tmp_path,
        "action,setting_type,sub_setting_type,extension_id,settings\n"
        'update,closed_hours,call_handling,unknown123,"{""call_not_answer_action"": 1}"\n',
    )
    (problem,) = validate(path, directory=directory)
    assert problem.severity == "warning" and "is not in the directory" in problem.reason
    assert len(build_plan(path, directory=directory)) == 1


# --- extension types ---------------------------------------------------------------------------

HANDLING = (
    "action,setting_type,sub_setting_type,{ref},settings\n"
    "update,{setting},call_handling,{value},{body}\n"
)


@pytest.mark.parametrize(
    ("ref", "value", "setting", "body", "column", "fragment"),
    [
        pytest.param(
            "extension_number",
            "1002",
            "business_hours",
            '"{""busy_on_another_call_action"": 1}"',
            "settings",
            "busy-call settings are for users only",
            id="busy-on-queue",
        ),
        pytest.param(
            "target",
            "*",
            "closed_hours",
            '"{""busy_on_another_call_action"": 10, ""busy_phone_number"": ""+12125550100""}"',
            "settings",
            "not users: NY Sales Queue (ext 1002), call_queue",
            id="busy-on-everyone",
        ),
        pytest.param(
            "extension_number",
            "1001",
            "business_hours",
            '"{""ring_mode"": ""simultaneous"", ""max_wait_time"": 120}"',
            "settings",
            "above 60 s is a call queue's overflow wait",
            id="long-wait-on-user",
        ),
    ],
)
def test_type_rules_report_row_column_and_the_extensions(
    tmp_path: Path,
    directory: Path,
    ref: str,
    value: str,
    setting: str,
    body: str,
    column: str,
    fragment: str,
) -> None:
    path = job(tmp_path, HANDLING.format(ref=ref, value=value, setting=setting, body=body))
    found = errors(validate(path, directory=directory))
    assert [(p.row, p.column) for p in found] == [(2, column)], found
    assert fragment in found[0].reason


@pytest.mark.parametrize(
    ("ref", "value", "body"),
    [
        pytest.param("extension_number", "1001", '"{""busy_on_another_call_action"": 1}"', id="u"),
        pytest.param(
            "extension_number",
            "1002",
            '"{""ring_mode"": ""simultaneous"", ""max_wait_time"": 600}"',
            id="queue-overflow",
        ),
        pytest.param("target", "type=user", '"{""busy_on_another_call_action"": 22}"', id="sel"),
    ],
)
def test_type_rules_accept_what_the_type_takes(
    tmp_path: Path, directory: Path, ref: str, value: str, body: str
) -> None:
    text = HANDLING.format(ref=ref, value=value, setting="business_hours", body=body)
    assert errors(validate(job(tmp_path, text), directory=directory)) == []


def test_forwarding_to_a_selector_suggests_narrowing_it(tmp_path: Path, directory: Path) -> None:
    head = "action,setting_type,sub_setting_type,target,phone_number\n"
    path = job(tmp_path, head + "add,closed_hours,call_forwarding,country=US,+12125550100\n")
    (problem,) = errors(validate(path, directory=directory))
    assert (problem.row, problem.column, problem.value) == (
        2,
        "sub_setting_type",
        "call_forwarding",
    )
    assert "1 of the extensions this row names are not users" in problem.reason
    assert "target 'country=US&type=user'" in problem.reason
    narrowed = job(tmp_path, head + "add,closed_hours,call_forwarding,type=user,+12125550100\n")
    assert len(build_plan(narrowed, directory=directory)) == 3


def test_common_areas_point_to_their_own_endpoints(tmp_path: Path, directory: Path) -> None:
    lobby = (
        "extLob00000000000000007,1900,,Lobby Phone,common_area,s1,New York,America/New_York,US,"
        "active,caLobby000000000000007\n"
    )
    directory.write_text(DIRECTORY + lobby)
    path = job(
        tmp_path,
        "action,setting_type,sub_setting_type,target,name,from,to\n"
        "add,holiday_hours,holiday,*,Closed,2027-12-25,2027-12-25\n",
    )
    (problem,) = errors(validate(path, directory=directory))
    assert (problem.row, problem.column, problem.value) == (2, "target", "*")
    assert "Lobby Phone (ext 1900), common_area" in problem.reason
    assert "/phone/common_areas/{commonAreaId}/…" in problem.reason


def test_without_a_type_column_nothing_depends_on_the_type(tmp_path: Path) -> None:
    directory = tmp_path / "plain.csv"
    directory.write_text("extension_id,extension_number\nq1,1002\n")
    text = HANDLING.format(
        ref="extension_number",
        value="1002",
        setting="business_hours",
        body='"{""busy_on_another_call_action"": 1}"',
    )
    assert errors(validate(job(tmp_path, text), directory=directory)) == []


# --- time zones --------------------------------------------------------------------------------

HOLIDAY = "action,setting_type,sub_setting_type,target,name,from,to{extra}\n"


def plan_frame(path: Path, directory: Path | None, timezone: str | None = None) -> pd.DataFrame:
    frame = build_plan(path, directory=directory, timezone=timezone).frame
    return frame.assign(number=frame["extension_number"].astype(str))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # New York leaves EST for EDT on 2027-03-14: the day is 23 hours long.
        pytest.param(
            "2027-03-14",
            {
                "1001": ("2027-03-14T05:00:00Z", "2027-03-15T03:59:59Z"),
                "2001": ("2027-03-14T00:00:00Z", "2027-03-14T23:59:59Z"),
                "3001": ("2027-03-13T23:00:00Z", "2027-03-14T22:59:59Z"),
            },
            id="new-york-dst",
        ),
        # London and Berlin change on 2027-03-28.
        pytest.param(
            "2027-03-28",
            {
                "1001": ("2027-03-28T04:00:00Z", "2027-03-29T03:59:59Z"),
                "2001": ("2027-03-28T00:00:00Z", "2027-03-28T22:59:59Z"),
                "3001": ("2027-03-27T23:00:00Z", "2027-03-28T21:59:59Z"),
            },
            id="europe-dst",
        ),
    ],
)
def test_a_date_only_holiday_is_a_whole_local_day_per_extension(
    tmp_path: Path, directory: Path, day: str, expected: dict[str, tuple[str, str]]
) -> None:
    path = job(
        tmp_path, HOLIDAY.format(extra="") + f"add,holiday_hours,holiday,*,Day,{day},{day}\n"
    )
    frame = plan_frame(path, directory)
    assert len(frame) == 6 and frame["row"].eq(2).all()
    for number, (start, end) in expected.items():
        op = frame[frame["number"] == number].iloc[0]
        assert (op["holiday_from"], op["holiday_to"], op["timezone"]) == (
            start,
            end,
            ZONE_OF[number],
        )
        assert f'"from":"{start}"' in op["settings"] and f'"to":"{end}"' in op["settings"]
    assert list(frame["seq"]) == list(range(6))  # one row still expands in directory order


def test_zone_precedence_column_then_argument_then_directory_then_utc(
    tmp_path: Path, directory: Path
) -> None:
    text = HOLIDAY.format(extra=",timezone") + (
        "add,holiday_hours,holiday,extension_number=1001,A,2027-07-01T09:00,2027-07-01T17:00,\n"
        "add,holiday_hours,holiday,extension_number=1001,B,2027-07-02,2027-07-02,Asia/Tokyo\n"
    )
    path = job(tmp_path, text)
    by_directory = plan_frame(path, directory).set_index("holiday_name")
    assert by_directory.loc["A", "holiday_from"] == "2027-07-01T13:00:00Z"  # EDT, from directory
    assert by_directory.loc["A", "timezone"] == "America/New_York"
    assert by_directory.loc["B", "holiday_from"] == "2027-07-01T15:00:00Z"  # the row's column
    assert by_directory.loc["B", "timezone"] == "Asia/Tokyo"
    by_argument = plan_frame(path, directory, "Europe/Berlin").set_index("holiday_name")
    assert by_argument.loc["A", "holiday_from"] == "2027-07-01T07:00:00Z"
    assert by_argument.loc["A", "timezone"] == "Europe/Berlin"
    assert by_argument.loc["B", "timezone"] == "Asia/Tokyo"
    by_id = job(
        tmp_path,
        "action,setting_type,sub_setting_type,extension_id,name,from,to\n"
        "add,holiday_hours,holiday,ext1,A,2027-07-01T09:00,2027-07-01T17:00\n",
    )
    alone = plan_frame(by_id, None).iloc[0]
    assert (alone["holiday_from"], alone["timezone"]) == ("2027-07-01T09:00:00Z", "UTC")
    assert plan_frame(by_id, directory).iloc[0]["timezone"] == "UTC"  # not in the directory


def test_times_with_a_zone_of_their_own_stay_as_given(tmp_path: Path, directory: Path) -> None:
    path = job(
        tmp_path,
        HOLIDAY.format(extra="")
        + "add,holiday_hours,holiday,*,Eve,2027-12-31T12:00:00Z,2027-12-31T23:00:00+01:00\n",
    )
    frame = plan_frame(path, directory)
    assert set(frame["holiday_from"]) == {"2027-12-31T12:00:00Z"}
    assert set(frame["holiday_to"]) == {"2027-12-31T22:00:00Z"}


def test_deletes_and_lookups_narrow_by_the_local_day(tmp_path: Path, directory: Path) -> None:
    path = job(
        tmp_path,
        "action,setting_type,sub_setting_type,target,name,from\n"
        "delete,holiday_hours,holiday,type=user,Day,2027-12-25\n",
    )
    frame = plan_frame(path, directory).set_index("number")
    assert frame.loc["1001", "holiday_from"] == "2027-12-25T05:00:00Z"
    assert frame.loc["3001", "holiday_from"] == "2027-12-24T23:00:00Z"


def test_repeated_rows_are_still_found_across_zones(tmp_path: Path, directory: Path) -> None:
    row = "add,holiday_hours,holiday,*,Day,2027-12-25,2027-12-25\n"
    path = job(tmp_path, HOLIDAY.format(extra="") + row + row)
    found = errors(validate(path, directory=directory))
    assert [p.row for p in found] == [3]
    assert "adds the same item as row 2" in found[0].reason
    assert "on 6 extension(s)" in found[0].reason


def test_the_plan_file_shows_each_operations_zone(tmp_path: Path, directory: Path) -> None:
    path = job(
        tmp_path, HOLIDAY.format(extra="") + "add,holiday_hours,holiday,*,D,2027-01-01,2027-01-01\n"
    )
    out = tmp_path / "plan.csv"
    write_plan(build_plan(path, directory=directory), out)
    written = pd.read_csv(out, dtype=str)
    assert dict(zip(written["extension_number"], written["timezone"], strict=True)) == ZONE_OF


def test_a_directory_zone_that_is_not_a_zone_is_a_directory_error(
    tmp_path: Path, directory: Path
) -> None:
    directory.write_text(DIRECTORY.replace("Europe/Berlin", "europe/berlin"))
    path = job(
        tmp_path, HOLIDAY.format(extra="") + "add,holiday_hours,holiday,*,D,2027-01-01,2027-01-01\n"
    )
    found = errors(validate(path, directory=directory))
    assert {(p.row, p.column) for p in found} == {(6, "timezone"), (7, "timezone")}
    assert "did you mean 'Europe/Berlin'?" in found[0].reason


ZONES = ("America/New_York", "Europe/London", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata")


@settings(max_examples=80, deadline=None)
@given(
    day=st.dates(date(2026, 1, 1), date(2028, 12, 31)),
    zone=st.sampled_from(ZONES),
    clock=st.none() | st.times().map(lambda t: t.replace(microsecond=0, tzinfo=None)),
)
def test_relocalised_times_are_the_local_wall_clock(
    day: date, zone: str, clock: time | None
) -> None:
    start = day.isoformat() if clock is None else f"{day}T{clock:%H:%M:%S}"
    last = day + timedelta(days=1)
    cells = {
        "action": "add",
        "setting_type": "holiday_hours",
        "sub_setting_type": "holiday",
        "extension_id": "ext1",
        "name": "H",
        "from": start,
        "to": last.isoformat(),
    }
    spec, problems = check_row(cells, file="f", row=2)
    assert spec is not None and problems == [] and spec.zone is None
    local, problem = relocalise(spec, zone, file="f")
    assert problem is None and local.zone == zone and local.naive == ()
    tz = ZoneInfo(zone)
    begin = datetime.combine(day, clock or time(0), tzinfo=tz).astimezone(UTC)
    assert local.holiday_from == local.settings["from"] == f"{begin:%Y-%m-%dT%H:%M:%S}Z"
    end = datetime.combine(last, time(23, 59, 59), tzinfo=tz).astimezone(UTC)
    assert local.holiday_to == local.settings["to"] == f"{end:%Y-%m-%dT%H:%M:%S}Z"
    if clock is None:  # a date-only from is local midnight, whatever the offset that day
        back = datetime.fromisoformat(local.holiday_from.replace("Z", "+00:00")).astimezone(tz)
        assert (back.date(), back.time()) == (day, time(0))


@pytest.mark.parametrize(
    ("start", "end", "column", "fragment"),
    [
        # 02:30 does not exist in New York on 2027-03-14: read as EST it falls after 03:00 EDT.
        pytest.param(
            "2027-03-14T02:30",
            "2027-03-14T03:00",
            "to",
            "must be after from (2027-03-14T02:30) in America/New_York",
            id="dst-gap",
        ),
        pytest.param("0001-01-01", "0001-01-02", "from", "is out of range", id="before-year-1"),
    ],
)
def test_a_time_that_fails_only_in_the_local_zone_is_reported(
    tmp_path: Path, directory: Path, start: str, end: str, column: str, fragment: str
) -> None:
    directory.write_text(DIRECTORY.replace("Europe/Berlin", "Asia/Tokyo"))
    target = "country=US" if column == "to" else "country=DE"
    path = job(
        tmp_path, HOLIDAY.format(extra="") + f"add,holiday_hours,holiday,{target},H,{start},{end}\n"
    )
    found = errors(validate(path, directory=directory))
    assert [(p.row, p.column) for p in found] == [(2, column)], found
    assert fragment in found[0].reason


def test_the_plan_summary_says_where_times_were_read(tmp_path: Path, directory: Path) -> None:
    text = HOLIDAY.format(extra="") + (
        "add,holiday_hours,holiday,type=user,D,2027-01-01,2027-01-01\n"
        "add,holiday_hours,holiday,country=US,E,2027-01-02,2027-01-02\n"
    )
    plan = build_plan(job(tmp_path, text), directory=directory)
    summary = plan.summary(20)
    assert summary.zones == (("America/New_York", 3), ("Europe/Berlin", 1), ("Europe/London", 1))
    assert "read in: America/New_York (3), Europe/Berlin (1)" in format_summary(summary)


# --- names in reports --------------------------------------------------------------------------


def test_failure_examples_name_the_extension() -> None:
    frame = pd.DataFrame(
        {
            "seq": [0, 1],
            "source_row": [2, 3],
            "extension_id": [ADA, "ext2"],
            "extension_number": ["1001", None],
            "extension_name": ["Ada Lovelace", None],
            "action": ["add", "add"],
            "setting_type": ["holiday_hours"] * 2,
            "sub_setting_type": ["holiday"] * 2,
            "status": ["failed", "succeeded"],
            "http_status": [404, 201],
            "zoom_code": [404, None],
            "message": ["Extension not found", ""],
        }
    )
    acc = Collected()
    collect(acc, frame)
    (group,) = acc.groups.values()
    (example,) = group.examples
    assert (example["extension_number"], example["extension_name"]) == ("1001", "Ada Lovelace")


@pytest.mark.parametrize(
    ("number", "name", "shown"),
    [
        pytest.param("1001", "Ada Lovelace", f"Ada Lovelace (ext 1001, id {ADA})", id="both"),
        pytest.param("1001", None, f"(ext 1001, id {ADA})", id="number"),
        pytest.param(None, None, ADA, id="no-directory"),
    ],
)
def test_undo_notes_name_extensions_by_number_and_name(
    number: str | None, name: str | None, shown: str
) -> None:
    op = Operation(
        0,
        "op",
        2,
        Action.ADD,
        ADA,
        SettingType.HOLIDAY_HOURS,
        SubSettingType.HOLIDAY,
        extension_number=number,
        extension_name=name,
    )
    assert named(op) == shown


def test_a_row_read_in_several_zones_is_checked_as_one(tmp_path: Path, directory: Path) -> None:
    path = job(
        tmp_path,
        "action,setting_type,sub_setting_type,target,name,from,phone_number\n"
        "add,holiday_hours,call_forwarding,*,Day,2027-12-25,+12125550100\n",
    )
    (problem,) = errors(validate(path, directory=directory))
    assert problem.row == 2 and "3 of the extensions this row names are not users" in problem.reason
    assert "target '*&type=user'" not in problem.reason and "target 'type=user'" in problem.reason
