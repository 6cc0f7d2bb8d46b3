"""Sync jobs without a server: the flags, the rows a sync accepts, the convergence of one
extension (desired add rows + what it has now → adds, updates, deletes), and the expansion's
reads against a scripted Zoom."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pytest
from conftest import FakeClock
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkops.errors import (
    ApiError,
    AuthError,
    ConfigError,
    ExtensionNotFoundError,
    RateLimitedError,
)
from bulkops.jobs.expand import PLAN_COLUMNS
from bulkops.jobs.sync import (
    SyncScope,
    SyncSpec,
    Window,
    check_rows,
    converge,
    extension_zones,
    parse_window,
)
from bulkops.model import Action, Operation, SettingType, SubSettingType
from bulkops.run.sync import expand, plan_frame
from bulkops.zoom.match import ForwardingEntry, name_key, phone_key, same_minute
from bulkops.zoom.routes import Resolution, apply_to_view
from bulkops.zoom.view import ExtensionView, Holiday

EXT = "extSyncAAAAAAAAAAAAAAA"
YEAR = SyncSpec(SyncScope.HOLIDAY_HOURS, Window(date(2027, 1, 1), date(2027, 12, 31)))
FORWARDING = SyncSpec(SyncScope.CALL_FORWARDING)


def holiday_row(row: int, name: str, day: str, *, to: str | None = None) -> Operation:
    start, end = f"{day}T00:00:00Z", to or f"{day}T23:59:59Z"
    return Operation(
        seq=row - 2,
        op_id=f"row{row:013d}",
        row=row,
        action=Action.ADD,
        extension_id=EXT,
        setting_type=SettingType.HOLIDAY_HOURS,
        sub_setting_type=SubSettingType.HOLIDAY,
        settings={"name": name, "from": start, "to": end},
        holiday_name=name,
        holiday_from=start,
        holiday_to=end,
    )


def forwarding_row(
    row: int,
    number: str,
    description: str = "",
    setting: SettingType = SettingType.BUSINESS_HOURS,
) -> Operation:
    return Operation(
        seq=row - 2,
        op_id=f"row{row:013d}",
        row=row,
        action=Action.ADD,
        extension_id=EXT,
        setting_type=setting,
        sub_setting_type=SubSettingType.CALL_FORWARDING,
        settings={"phone_number": number, "description": description},
        phone_number=number,
    )


def holiday(holiday_id: str, name: str, day: str) -> Holiday:
    return Holiday(holiday_id, name, f"{day}T00:00:00Z", f"{day}T23:59:00Z")


# -- the flags ------------------------------------------------------------------------------


def test_a_window_holds_its_last_day_in_its_own_zone() -> None:
    window = parse_window("2027-01-01..2027-12-31", "America/New_York")
    assert window.holds("2027-01-01T05:00:00Z")  # midnight in New York
    assert not window.holds("2027-01-01T04:59:59Z")  # still 2026 there
    assert window.holds("2028-01-01T04:59:59Z")  # the last second of 31 December there
    assert not window.holds("2028-01-01T05:00:00Z")
    assert not window.holds(None) and not window.holds("not a time")
    assert str(window) == "2027-01-01..2027-12-31 (America/New_York)"
    one_day = parse_window(" 2027-07-04..2027-07-04 ")
    assert one_day.holds("2027-07-04T23:59:59Z") and not one_day.holds("2027-07-05T00:00:00Z")


@pytest.mark.parametrize(
    ("text", "zone", "said"),
    [
        ("2027-01-01", None, "has no '..'"),
        ("2027-01-01-2027-12-31", None, "has no '..'"),
        ("2027-13-01..2027-12-31", None, "its first day '2027-13-01' is not a date"),
        ("2027-01-01..", None, "its last day '' is not a date"),
        ("2027-12-31..2027-01-01", None, "ends before it starts"),
        ("2027-01-01..2027-12-31", "Mars/Olympus", "not an IANA time zone"),
    ],
)
def test_a_bad_window_says_what_to_write(text: str, zone: str | None, said: str) -> None:
    with pytest.raises(ConfigError, match=r"--window|--timezone") as raised:
        parse_window(text, zone)
    assert said in str(raised.value)


def test_the_scope_and_the_window_go_together() -> None:
    with pytest.raises(ConfigError, match="use holiday_hours or call_forwarding"):
        SyncSpec.of("business_hours", None)
    with pytest.raises(ConfigError, match="needs --window"):
        SyncSpec.of("holiday_hours", None)
    with pytest.raises(ConfigError, match="--window goes with --sync holiday_hours only"):
        SyncSpec.of("call_forwarding", "2027-01-01..2027-12-31")
    spec = SyncSpec.of("holiday_hours", "2027-01-01..2027-12-31", "Europe/Berlin")
    assert spec.window == Window(date(2027, 1, 1), date(2027, 12, 31), "Europe/Berlin")
    assert spec.identity != YEAR.identity  # another zone is another job


def test_a_sync_job_is_add_rows_of_its_item_in_its_window() -> None:
    rows = [
        holiday_row(2, "New Year", "2027-01-01"),
        holiday_row(3, "Old Year", "2026-12-31"),
        forwarding_row(4, "+14155550100"),
        Operation(
            seq=3,
            op_id="x",
            row=5,
            action=Action.DELETE,
            extension_id=EXT,
            setting_type=SettingType.HOLIDAY_HOURS,
            sub_setting_type=SubSettingType.HOLIDAY,
            holiday_name="Gone",
        ),
    ]
    problems = check_rows(rows, YEAR, "sync.csv")
    assert [(p.row, p.column, p.value) for p in problems] == [
        (3, "from", "2026-12-31T00:00:00Z"),
        (4, "sub_setting_type", "call_forwarding"),
        (5, "action", "delete"),
    ]
    assert "does not start in the --window 2027-01-01..2027-12-31 (UTC)" in problems[0].reason
    assert "the sync itself decides what to update and delete" in problems[2].reason
    assert check_rows(rows[2:3], FORWARDING, "sync.csv") == []


# -- convergence of holidays ---------------------------------------------------------------


def test_stale_changed_missing_and_outside_holidays_converge() -> None:
    view = ExtensionView(
        holidays=[
            holiday("h-keep", "New Year", "2027-01-01"),
            holiday("h-moved", "Bank Holiday", "2027-05-10"),
            holiday("h-stale", "Retired Day", "2027-06-01"),
            holiday("h-old", "Retired Day", "2026-06-01"),  # outside the window: left alone
            holiday("h-next", "New Year", "2028-01-01"),  # likewise
        ]
    )
    desired = [
        holiday_row(2, "new  YEAR", "2027-01-01"),  # same holiday, as zoom.match compares
        holiday_row(3, "Bank Holiday", "2027-05-03"),
        holiday_row(4, "Christmas", "2027-12-25"),
    ]
    ops = converge(desired, view, YEAR)
    assert [(op.action, op.holiday_id, op.holiday_name, op.row) for op in ops] == [
        (Action.DELETE, "h-stale", "Retired Day", 0),
        (Action.UPDATE, "h-moved", "Bank Holiday", 3),
        (Action.ADD, None, "Christmas", 4),
    ]
    update = ops[1]
    assert update.settings["from"] == "2027-05-03T00:00:00Z" and not update.needs_lookup
    assert len({op.op_id for op in ops}) == 3
    assert ops == converge(desired, view, YEAR)  # a function of its inputs alone


def test_without_timezone_each_extension_counts_the_window_in_its_own_zone() -> None:
    """No --timezone: a Berlin extension's 2027 starts at midnight in Berlin, as its date-only
    rows were read; its 31 December 2026 (23:00 UTC on the 30th) stays outside."""
    year = SyncSpec(SyncScope.HOLIDAY_HOURS, parse_window("2027-01-01..2027-12-31"))
    assert str(year.window) == "2027-01-01..2027-12-31 (each extension's zone)"
    new_year = replace(
        holiday_row(2, "New Year", "2027-01-01", to="2027-01-01T22:59:59Z"),
        settings={"name": "New Year", "from": "2026-12-31T23:00:00Z", "to": "2027-01-01T22:59:59Z"},
        holiday_from="2026-12-31T23:00:00Z",
    )
    eve = Holiday("h-eve", "Old Year's Eve", "2026-12-30T23:00:00Z", "2026-12-31T22:59:00Z")
    stale = Holiday("h-stale", "Retired", "2026-12-31T23:30:00Z", "2027-01-01T22:59:00Z")
    zones = {EXT: "Europe/Berlin"}
    assert check_rows([new_year], year, "job.csv", zones) == []
    refused = check_rows([new_year], year, "job.csv")  # counted in UTC, it starts in 2026
    assert [p.column for p in refused] == ["from"] and "(UTC)" in refused[0].reason
    ops = converge([new_year], ExtensionView(holidays=[eve, stale]), year, "Europe/Berlin")
    assert [(op.action, op.holiday_id) for op in ops] == [
        (Action.DELETE, "h-stale"),  # in Berlin's 2027
        (Action.ADD, None),
    ]  # h-eve is Berlin's 2026: untouched
    # A --timezone window is the same for every extension.
    utc = SyncSpec(SyncScope.HOLIDAY_HOURS, parse_window("2027-01-01..2027-12-31", "UTC"))
    assert check_rows([new_year], utc, "job.csv", zones) == refused


def test_extension_zones_come_from_the_plan_frame() -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {"extension_id": ["a", "a", "b"], "timezone": ["Europe/Berlin"] * 2 + ["America/New_York"]}
    )
    assert extension_zones(frame) == {"a": "Europe/Berlin", "b": "America/New_York"}
    assert extension_zones(frame.drop(columns="timezone")) == {}


def test_same_named_holidays_pair_exactly_before_they_move() -> None:
    view = ExtensionView(
        holidays=[
            holiday("h-aug", "Bank Holiday", "2027-08-30"),
            holiday("h-dec", "Bank Holiday", "2027-12-27"),
        ]
    )
    desired = [
        holiday_row(2, "Bank Holiday", "2027-05-03"),
        holiday_row(3, "Bank Holiday", "2027-08-30"),
    ]
    ops = converge(desired, view, YEAR)
    assert [(op.action, op.holiday_id, op.holiday_from) for op in ops] == [
        (Action.UPDATE, "h-dec", "2027-05-03T00:00:00Z")
    ]


DAYS = [f"{y}-{m:02d}-{d:02d}" for y in (2026, 2027, 2028) for m in (1, 6, 12) for d in (1, 28)]
NAMES = ["New Year", "new year", "Bank Holiday", "Shutdown", " Shutdown "]


@st.composite
def accounts(draw: st.DrawFn) -> tuple[list[Operation], ExtensionView]:
    in_window = [d for d in DAYS if d.startswith("2027")]
    wanted = draw(
        st.lists(
            st.tuples(st.sampled_from(NAMES), st.sampled_from(in_window)),
            min_size=1,
            max_size=6,
            unique_by=lambda t: (name_key(t[0]), t[1]),  # the job's conflict check's rule
        )
    )
    have = draw(st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(DAYS)), max_size=8))
    desired = [holiday_row(i + 2, name, day) for i, (name, day) in enumerate(wanted)]
    view = ExtensionView(holidays=[holiday(f"h{i}", n, d) for i, (n, d) in enumerate(have)])
    return desired, view


def apply(view: ExtensionView, ops: list[Operation]) -> None:
    """The operations as the engine keeps its view current after each succeeded."""
    fresh = itertools.count()
    for op in ops:
        created = f"new{next(fresh)}" if op.action is Action.ADD else None
        apply_to_view(view, op, Resolution(holiday_id=op.holiday_id), created)


def key(h: Holiday) -> tuple[str, str | None]:
    return name_key(h.name), h.from_[:10] if h.from_ else None


@settings(max_examples=150)
@given(accounts())
def test_convergence_leaves_exactly_the_desired_holidays_in_the_window(
    account: tuple[list[Operation], ExtensionView],
) -> None:
    desired, view = account
    window = YEAR.window
    assert window is not None
    outside = [
        (h.holiday_id, h.name, h.from_, h.to) for h in view.holidays if not window.holds(h.from_)
    ]
    ops = converge(desired, view, YEAR)
    touched = {op.holiday_id for op in ops if op.action is not Action.ADD}
    assert all(window.holds(h.from_) for h in view.holidays if h.holiday_id in touched)
    assert all(op.action is not Action.ADD or op.holiday_id is None for op in ops)
    apply(view, ops)
    after_in = sorted(key(h) for h in view.holidays if window.holds(h.from_))
    assert after_in == sorted(
        (name_key(o.holiday_name), o.holiday_from[:10]) for o in desired if o.holiday_from
    )
    assert [
        (h.holiday_id, h.name, h.from_, h.to) for h in view.holidays if not window.holds(h.from_)
    ] == outside
    assert converge(desired, view, YEAR) == []  # converged: a second run sends nothing


def test_a_converged_extension_whose_account_stores_minutes_needs_nothing() -> None:
    desired = [holiday_row(2, "New Year", "2027-01-01")]
    view = ExtensionView(holidays=[holiday("h1", "New Year", "2027-01-01")])  # 23:59:00
    assert same_minute(view.holidays[0].to, "2027-01-01T23:59:59Z")
    assert converge(desired, view, YEAR) == []


# -- convergence of forwarding lists --------------------------------------------------------


def test_a_forwarding_list_becomes_exactly_its_numbers() -> None:
    business = [
        ForwardingEntry("f-keep", phone_number="+14155550100", description="desk"),
        ForwardingEntry("f-desc", phone_number="+1 415 555 0101", description="old words"),
        ForwardingEntry("f-stale", phone_number="+14155550199", description="gone"),
        ForwardingEntry("f-app", description="Zoom Mobile Apps"),  # Zoom's own: never deleted
        ForwardingEntry("f-contact", contact_id="c1", contact_numbers=("+14155550777",)),
    ]
    closed = [ForwardingEntry("f-closed", phone_number="+14155550300")]  # a list not named
    view = ExtensionView(forwarding={"business_hours": business, "closed_hours": closed})
    desired = [
        forwarding_row(2, "+14155550100", "desk"),
        forwarding_row(3, "+14155550101", "front desk"),
        forwarding_row(4, "+14155550102", "new"),
    ]
    ops = converge(desired, view, FORWARDING)
    assert [(op.action, op.call_forwarding_id, op.phone_number, op.row) for op in ops] == [
        (Action.DELETE, "f-stale", "+14155550199", 0),
        (Action.UPDATE, "f-desc", "+14155550101", 3),
        (Action.ADD, None, "+14155550102", 4),
    ]
    assert ops[1].settings == {"description": "front desk"}
    assert all(op.setting_type is SettingType.BUSINESS_HOURS for op in ops)


def test_a_holiday_forwarding_list_is_found_by_its_holiday() -> None:
    new_year = holiday("h1", "New Year", "2027-01-01")
    new_year.forwarding.append(ForwardingEntry("f-old", phone_number="+14155550199"))
    view = ExtensionView(holidays=[new_year])
    row = forwarding_row(2, "+14155550100", setting=SettingType.HOLIDAY_HOURS)
    on_holiday = replace(row, holiday_name="New Year", holiday_from="2027-01-01T00:00:00Z")
    ops = converge([on_holiday], view, FORWARDING)
    assert [(op.action, op.holiday_id, op.call_forwarding_id) for op in ops] == [
        (Action.DELETE, "h1", "f-old"),
        (Action.ADD, "h1", None),
    ]
    missing = replace(on_holiday, holiday_name="Other")
    assert converge([missing], view, FORWARDING) == [missing]  # the engine reports it per row


# -- the expansion's reads, against a scripted Zoom ------------------------------------------


@dataclass
class Answered:
    status: int
    json: Any
    tracking_id: str | None = None
    latency: float = 0.0


class ScriptedZoom:
    """Answers each GET with the next item of its extension's script (an error is raised)."""

    def __init__(self, scripts: dict[str, list[Any]]) -> None:
        self.scripts = scripts
        self.reads: list[str] = []

    async def get_settings(self, extension_id: str) -> Answered:
        self.reads.append(extension_id)
        answer = self.scripts[extension_id].pop(0)
        if isinstance(answer, ApiError):
            raise answer
        return Answered(200, answer)

    async def send(self, *args: Any, **kwargs: Any) -> Answered:
        raise AssertionError("the expansion only reads")


class CountingPacer:
    def __init__(self) -> None:
        self.events: list[str] = []

    @property
    def current_rate(self) -> float:
        return 10.0

    def on_rate_limited(self) -> None:
        self.events.append("slower")

    def on_success(self) -> None:
        self.events.append("ok")

    def pause_for(self, seconds: float) -> None:
        self.events.append(f"pause {seconds:g}")


def settings_with(*holidays: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "holiday_hours": [
            {
                "holiday_id": hid,
                "details": [
                    {
                        "sub_setting_type": "holiday",
                        "settings": {"name": n, "from": f"{d}T00:00:00Z", "to": f"{d}T23:59:00Z"},
                    }
                ],
            }
            for hid, n, d in holidays
        ]
    }


async def test_the_expansion_waits_out_429s_retries_bad_answers_and_numbers_its_plan(
    fake_clock: FakeClock,
) -> None:
    other = "extSyncBBBBBBBBBBBBBBB"
    zoom = ScriptedZoom(
        {
            EXT: [
                RateLimitedError("slow down", retry_after=2.0),
                [],  # not the documented shape: read again, never taken as "empty"
                settings_with(("h1", "Retired Day", "2027-06-01")),
            ],
            other: [ExtensionNotFoundError("Extension does not exist", status=404, code=404)],
        }
    )
    pacer = CountingPacer()
    desired = [
        holiday_row(2, "New Year", "2027-01-01"),
        replace(holiday_row(3, "New Year", "2027-01-01"), extension_id=other, op_id="other"),
    ]
    ops = await expand(desired, YEAR, zoom, pacer, rng=random.Random(1), sleep=fake_clock.sleep)
    assert [(op.seq, op.extension_id, op.action) for op in ops] == [
        (0, EXT, Action.DELETE),
        (1, EXT, Action.ADD),
        (2, other, Action.ADD),  # Zoom refused the extension: its row is left to the engine
    ]
    assert zoom.reads.count(EXT) == 3 and fake_clock.slept[0] == 2.0
    assert "slower" in pacer.events and "pause 2" in pacer.events
    frame = plan_frame(ops)
    assert list(frame.columns) == list(PLAN_COLUMNS) and frame["action"].tolist() == [
        "delete",
        "add",
        "add",
    ]


async def test_refused_credentials_end_the_expansion() -> None:
    zoom = ScriptedZoom({EXT: [AuthError("Invalid access token.", status=401, code=124)]})
    with pytest.raises(AuthError):
        await expand([holiday_row(2, "New Year", "2027-01-01")], YEAR, zoom, CountingPacer())


NUMBERS = ["+14155550100", "+14155550101", "+1 415 555 0102", "+14155550103"]


@st.composite
def forwarding_lists(draw: st.DrawFn) -> tuple[list[Operation], ExtensionView]:
    wanted = draw(
        st.lists(
            st.tuples(st.sampled_from(NUMBERS), st.sampled_from(["desk", "home"])),
            min_size=1,
            max_size=4,
            unique_by=lambda t: phone_key(t[0]),
        )
    )
    entries = [ForwardingEntry(f"app{i}", description="Zoom Mobile Apps") for i in range(2)]
    for i, (number, words) in enumerate(
        draw(
            st.lists(
                st.tuples(st.sampled_from(NUMBERS), st.sampled_from(["desk", "x"])), max_size=6
            )
        )
    ):
        entries.append(ForwardingEntry(f"f{i}", phone_number=number, description=words))
    if draw(st.booleans()):
        entries.append(ForwardingEntry("contact", contact_id="c1", contact_numbers=(NUMBERS[3],)))
    desired = [forwarding_row(i + 2, n, words) for i, (n, words) in enumerate(wanted)]
    return desired, ExtensionView(forwarding={"business_hours": entries})


@settings(max_examples=150)
@given(forwarding_lists())
def test_convergence_leaves_exactly_the_listed_numbers(
    account: tuple[list[Operation], ExtensionView],
) -> None:
    desired, view = account
    entries = view.forwarding["business_hours"]
    kept = [e for e in entries if not e.phone_number]  # Zoom's apps and the contact
    ops = converge(desired, view, FORWARDING)
    fresh = itertools.count()
    for op in ops:  # what Zoom then holds: the view as the next run reads it
        if op.action is Action.UPDATE:
            entries[:] = [
                replace(e, description=op.settings["description"])
                if e.id == op.call_forwarding_id
                else e
                for e in entries
            ]
        elif op.action is Action.ADD:
            words = op.settings["description"]
            entries.append(ForwardingEntry(f"new{next(fresh)}", op.phone_number, words))
        else:
            apply_to_view(view, op, Resolution(forwarding_id=op.call_forwarding_id), None)
    reached = {k for e in entries for k in e.numbers}
    assert reached >= {phone_key(op.phone_number) for op in desired}
    own = [phone_key(e.phone_number) for e in entries if e.phone_number]
    assert len(own) == len(set(own))  # each number once
    assert set(own) <= {phone_key(op.phone_number) for op in desired}
    assert [e for e in entries if not e.phone_number] == kept
    assert converge(desired, view, FORWARDING) == []


def test_a_number_keeps_its_own_entry_over_a_contact_that_also_reaches_it() -> None:
    contact = ForwardingEntry("f-contact", contact_id="c1", contact_numbers=("+14155550100",))
    own = ForwardingEntry("f-own", phone_number="+14155550100", description="desk")
    view = ExtensionView(forwarding={"business_hours": [contact, own]})
    assert converge([forwarding_row(2, "+14155550100", "desk")], view, FORWARDING) == []
