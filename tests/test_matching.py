"""Natural keys meet what Zoom stores: tolerant where Zoom may differ, never a guess.

Zoom does not document how it stores a holiday (to the second or the minute, in which zone form,
trimmed or not), nor how it shows a forwarding entry to an external contact. Each table row below
is a GET an account could answer; the operation must find its item there, or refuse to write when
more than one item fits. The end-to-end tests run the same promises against every way the
simulator can store a holiday.
"""

from __future__ import annotations

import argparse
import io
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bulkops.config import AccountPlan, Credentials
from bulkops.errors import ConfigError
from bulkops.model import Action, Operation, OpStatus, Outcome, SettingType, SubSettingType
from bulkops.progress import PlainDisplay
from bulkops.reports.before import Snapshot
from bulkops.reports.jobrows import Row
from bulkops.reports.undo import UndoBuilder
from bulkops.runner import RunOutcome, RunSettings, run_job
from bulkops.simulator import (
    ExtensionType,
    HolidayNames,
    HolidayTimes,
    RunningSimulator,
    SimConfig,
    Simulator,
    add_arguments,
    config_from_args,
    generate_directory,
    run_simulator,
    write_directory,
)
from bulkops.simulator.storage import stored_holiday
from bulkops.zoom import routes as rq
from bulkops.zoom.match import (
    ForwardingEntry,
    Pick,
    forwarding_matches,
    minute,
    name_key,
    phone_key,
    same_minute,
)
from bulkops.zoom.view import ExtensionView

A, S, SUB = Action, SettingType, SubSettingType
CI = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the normaliser ------------------------------------------------------------------------

WORDS = st.lists(
    st.text(st.characters(categories=("L", "N", "P")), min_size=1, max_size=8),
    min_size=1,
    max_size=4,
)
GAPS = st.text(" \t\u00a0", min_size=1, max_size=3)
INSTANTS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


@CI
@given(st.text(max_size=30))
def test_name_key_is_idempotent(name: str) -> None:
    assert name_key(name_key(name)) == name_key(name)


@CI
@given(WORDS, st.lists(GAPS, min_size=5, max_size=5), st.booleans())
def test_trim_case_and_space_variants_match(words: list[str], gaps: list[str], upper: bool) -> None:
    # Case mapping is not reversible for every letter (dotless ı upper-cases to I): such a name
    # written in another case is another name, and matching it is not this property's promise.
    assume(all(w.upper().casefold() == w.casefold() == w.lower().casefold() for w in words))
    tidy = " ".join(words)
    messy = gaps[0] + gaps[1].join(words) + gaps[2]
    messy = messy.upper() if upper else messy.lower()
    assert name_key(messy) == name_key(tidy)


@CI
@given(WORDS, WORDS)
def test_different_words_do_not_match(a: list[str], b: list[str]) -> None:
    assert (name_key(" ".join(a)) == name_key(" ".join(b))) == (
        [w.casefold() for w in a] == [w.casefold() for w in b]
    )


def _z(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@CI
@given(INSTANTS, st.integers(0, 59), st.integers(-14, 14))
def test_same_minute_whatever_the_seconds_and_zone_form(
    t: datetime, second: int, hours: int
) -> None:
    t = t.replace(microsecond=0)
    other = t.replace(second=second).astimezone(timezone(timedelta(hours=hours)))
    assert same_minute(_z(t), other.isoformat())
    once = minute(_z(t))
    assert once is not None and minute(once.isoformat()) == once  # idempotent


@CI
@given(INSTANTS, INSTANTS)
def test_different_minutes_never_match(a: datetime, b: datetime) -> None:
    differ = a.replace(second=0, microsecond=0) != b.replace(second=0, microsecond=0)
    assert same_minute(_z(a), _z(b)) is not differ


def test_phone_key_reads_formatted_numbers() -> None:
    assert phone_key("+1 (202) 555-0100") == phone_key("+12025550100") == "+12025550100"
    assert phone_key(None) == phone_key("n/a") == ""


# -- resolving against what an account may answer -----------------------------------------


def _holiday(hid: str, name: str, start: str, end: str, *entries: dict[str, Any]) -> Any:
    details: list[dict[str, Any]] = [
        {"sub_setting_type": "holiday", "settings": {"name": name, "from": start, "to": end}}
    ]
    if entries:
        details.append(
            {
                "sub_setting_type": "call_forwarding",
                "settings": {"call_forwarding_settings": list(entries)},
            }
        )
    return {"holiday_id": hid, "details": details}


CONTACT = {
    "id": "fc1",
    "enable": True,
    "external_contact": {
        "external_contact_id": "ec1",
        "name": "Johnson",
        "phone_numbers": ["+12025550177", "+12025550178"],
    },
}
APP = {"id": "app1", "description": "Zoom Mobile Apps", "enable": True}
NUMBER = {"id": "fn1", "phone_number": "+1 202-555-0150", "description": "desk"}
TWIN = {"id": "fn2", "phone_number": "+12025550178", "description": "same as a contact number"}

#: What an account that trims names, keeps minutes and answers in another zone form might hold.
GET: dict[str, Any] = {
    "business_hours": [
        {
            "sub_setting_type": "call_forwarding",
            "settings": {"call_forwarding_settings": [APP, CONTACT, NUMBER, TWIN]},
        }
    ],
    "closed_hours": [],
    "holiday_hours": [
        _holiday("xmas26", "Christmas Day", "2026-12-25T00:00:00Z", "2026-12-25T23:59:00Z"),
        _holiday("xmas27", "Christmas Day", "2027-12-25T00:00:00+00:00", "2027-12-25T23:59:00+00:00"),
        _holiday("eve-am", "Christmas Eve", "2027-12-24T08:00:00Z", "2027-12-24T12:00:00Z"),
        _holiday("eve-pm", "Christmas Eve", "2027-12-24T13:00:00Z", "2027-12-24T18:00:00Z"),
        _holiday("office", "Office Party", "2027-06-01T18:00:00.000Z", "2027-06-01T23:00:00.000Z", CONTACT),
    ],
}  # fmt: skip


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


def add_holiday(name: str, start: str, end: str) -> Operation:
    settings = {"name": name, "from": start, "to": end}
    return op(
        A.ADD,
        S.HOLIDAY_HOURS,
        SUB.HOLIDAY,
        settings=settings,
        holiday_name=name,
        holiday_from=start,
        holiday_to=end,
    )


def update_holiday(name: str, start: str, end: str) -> Operation:
    settings = {"name": name, "from": start, "to": end}
    return op(A.UPDATE, S.HOLIDAY_HOURS, SUB.HOLIDAY, settings=settings, holiday_name=name)


def delete_holiday(name: str, start: str | None = None) -> Operation:
    return op(A.DELETE, S.HOLIDAY_HOURS, SUB.HOLIDAY, holiday_name=name, holiday_from=start)


def forwarding(action: Action, number: str, **kw: Any) -> Operation:
    return op(action, S.BUSINESS_HOURS, SUB.CALL_FORWARDING, phone_number=number, **kw)


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        pytest.param(
            add_holiday("Christmas Day", "2026-12-25T00:00:00Z", "2026-12-25T23:59:59Z"),
            rq.Resolution(holiday_id="xmas26", present=True),
            id="add-present-stored-to-the-minute",
        ),
        pytest.param(
            add_holiday("  christmas   DAY ", "2026-12-25T00:00:00Z", "2026-12-25T23:59:00Z"),
            rq.Resolution(holiday_id="xmas26", present=True),
            id="add-present-name-trimmed-and-cased",
        ),
        pytest.param(
            add_holiday("Christmas Day", "2027-12-25T00:00:00Z", "2027-12-25T23:59:59Z"),
            rq.Resolution(holiday_id="xmas27", present=True),
            id="add-present-other-zone-form",
        ),
        pytest.param(
            add_holiday("Office Party", "2027-06-01T18:00:00Z", "2027-06-01T23:00:00Z"),
            rq.Resolution(holiday_id="office", present=True),
            id="add-present-fractional-seconds",
        ),
        pytest.param(
            add_holiday("Christmas Day", "2028-12-25T00:00:00Z", "2028-12-25T23:59:59Z"),
            rq.Resolution(),
            id="add-other-year-is-new",
        ),
        pytest.param(
            add_holiday("Christmas Eve", "2027-12-24T12:30:00Z", "2027-12-24T12:45:00Z"),
            rq.Resolution(),
            id="add-same-name-between-two-is-new",
        ),
        pytest.param(
            delete_holiday("Christmas Day", "2027-12-25T00:00:00Z"),
            rq.Resolution(holiday_id="xmas27"),
            id="delete-by-name-and-exact-from",
        ),
        pytest.param(
            delete_holiday("christmas day", "2027-12-24T23:00:00Z"),
            rq.Resolution(holiday_id="xmas27"),
            id="delete-by-name-and-year",
        ),
        pytest.param(
            delete_holiday("Christmas Day", "2028-12-25T00:00:00Z"),
            rq.Resolution(absent=True),
            id="delete-in-a-year-without-one-is-absent",
        ),
        pytest.param(
            delete_holiday("Christmas Eve", "2027-12-24T13:00:00Z"),
            rq.Resolution(holiday_id="eve-pm"),
            id="delete-two-on-one-day-by-exact-from",
        ),
        pytest.param(
            update_holiday("Christmas Day", "2027-12-24T00:00:00Z", "2027-12-26T23:59:59Z"),
            rq.Resolution(holiday_id="xmas27"),
            id="update-by-name-chooses-by-year",
        ),
        pytest.param(
            update_holiday("Office Party", "2028-06-02T18:00:00Z", "2028-06-02T23:00:00Z"),
            rq.Resolution(holiday_id="office"),
            id="update-lone-name-moves-it",
        ),
        pytest.param(
            forwarding(A.ADD, "+12025550177"),
            rq.Resolution(None, "fc1", present=True),
            id="add-external-contact-number-is-present",
        ),
        pytest.param(
            forwarding(A.ADD, "+12025550150"),
            rq.Resolution(None, "fn1", present=True),
            id="add-number-zoom-formatted-is-present",
        ),
        pytest.param(
            forwarding(A.DELETE, "+12025550177"),
            rq.Resolution(forwarding_id="fc1"),
            id="delete-external-contact-by-number",
        ),
        pytest.param(
            forwarding(A.DELETE, "+19999999999", call_forwarding_id="fc1"),
            rq.Resolution(forwarding_id="fc1"),
            id="delete-contact-by-id-is-not-absent",
        ),
        pytest.param(
            forwarding(A.UPDATE, "+19999999999", call_forwarding_id="app1"),
            rq.Resolution(forwarding_id="app1"),
            id="update-app-entry-by-id",
        ),
        pytest.param(
            op(
                A.ADD,
                S.HOLIDAY_HOURS,
                SUB.CALL_FORWARDING,
                holiday_name="office party",
                holiday_from="2027-06-01T18:00:30Z",
                phone_number="+12025550178",
            ),
            rq.Resolution("office", "fc1", present=True),
            id="add-under-holiday-contact-number-present",
        ),
    ],
)
def test_resolve_against_a_normalising_account(
    operation: Operation, expected: rq.Resolution
) -> None:
    assert rq.resolve(operation, ExtensionView.parse(GET)) == expected


@pytest.mark.parametrize(
    ("operation", "says", "lists"),
    [
        pytest.param(
            delete_holiday("Christmas Day"),
            "fits 2 holidays",
            ("2026-12-25T00:00:00Z", "holiday_id xmas26", "2027-12-25T00:00:00+00:00", "xmas27"),
            id="delete-by-name-alone",
        ),
        pytest.param(
            delete_holiday("Christmas Eve", "2027-12-24T00:00:00Z"),
            "fits 2 holidays",
            ("holiday_id eve-am", "holiday_id eve-pm"),
            id="delete-two-on-the-day",
        ),
        pytest.param(
            update_holiday("Christmas Day", "2029-12-25T00:00:00Z", "2029-12-25T23:59:59Z"),
            "fits 2 holidays",
            ("holiday_id xmas26", "holiday_id xmas27"),
            id="update-by-name-no-year-fits",
        ),
        pytest.param(
            add_holiday("Christmas Day", "2026-12-25T05:00:00Z", "2026-12-26T04:59:59Z"),
            "not added",
            ("holiday_id xmas26",),
            id="add-overlapping-look-alike",
        ),
        pytest.param(
            forwarding(A.UPDATE, "+12025550178"),
            "matches 2 forwarding entries",
            ("external contact Johnson", "call_forwarding_id fc1", "call_forwarding_id fn2"),
            id="update-number-of-two-entries",
        ),
        pytest.param(
            op(
                A.UPDATE,
                S.HOLIDAY_HOURS,
                SUB.CALL_HANDLING,
                holiday_name="Christmas Day",
                holiday_from="2030-12-25T00:00:00Z",
            ),
            "no holiday named 'Christmas Day' starting 2030-12-25T00:00:00Z",
            ("other dates", "holiday_id xmas26", "holiday_id xmas27"),
            id="holiday-ref-missing-lists-same-named",
        ),
    ],
)
def test_ambiguous_or_missing_keys_write_nothing(
    operation: Operation, says: str, lists: tuple[str, ...]
) -> None:
    res = rq.resolve(operation, ExtensionView.parse(GET))
    assert res.problem is not None and says in res.problem, res.problem
    assert all(part in res.problem for part in lists), res.problem
    assert (res.present, res.absent) == (False, False)


def test_the_view_reads_every_forwarding_entry() -> None:
    view = ExtensionView.parse(GET)
    entries = view.forwarding["business_hours"]
    assert [e.id for e in entries] == ["app1", "fc1", "fn1", "fn2"]
    assert [e.describe() for e in entries[:2]] == [
        "'Zoom Mobile Apps' (call_forwarding_id app1)",
        "external contact Johnson (+12025550177, +12025550178) (call_forwarding_id fc1)",
    ]
    assert [e.id for e in forwarding_matches(entries, "+12025550178")] == ["fc1", "fn2"]
    assert ForwardingEntry.read({"phone_number": "+1"}) is None  # no id: nothing to act on
    assert view.pick_holiday("nobody") == Pick()


def test_a_snapshot_finds_holidays_by_the_same_rule() -> None:
    snap = Snapshot(GET)
    assert snap.holiday_by_name(" christmas  day", "2027-12-25T00:00:59Z") == "xmas27"
    assert snap.holiday_by_name("Christmas Day", None) is None  # two: the undo will not guess


# -- undo and entries without a phone number ------------------------------------------------


def _undo(
    op_: Operation, outcome: Outcome, deleted: set[tuple[str, str]] | None = None
) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    notes: list[str] = []
    builder = UndoBuilder(lambda _ext: GET, deleted or set(), rows.append, notes.append)
    builder.add(op_, outcome)
    return rows, notes


def test_undo_of_a_deleted_external_contact_says_why_not() -> None:
    done = Outcome(OpStatus.SUCCEEDED, http_status=204, target_id="fc1")
    rows, notes = _undo(forwarding(A.DELETE, "+12025550177"), done)
    assert rows == []
    assert len(notes) == 1 and "external contact Johnson" in notes[0], notes
    assert "cannot be re-added by a job row" in notes[0]
    rows, notes = _undo(forwarding(A.DELETE, "+1", call_forwarding_id="app1"), done)
    assert rows == [] and "Zoom's own" in notes[0]


def test_undo_of_a_deleted_holiday_notes_its_external_contacts() -> None:
    done = Outcome(OpStatus.SUCCEEDED, http_status=204, target_id="office")
    rows, notes = _undo(delete_holiday("Office Party"), done)
    assert [r["action"] for r in rows] == ["add"]
    assert rows[0]["name"] == "Office Party"
    assert any("external contact Johnson" in n for n in notes), notes


def test_undo_restores_the_external_contact_an_update_replaced() -> None:
    items = [{"id": "fc1", "external_contact": {"external_contact_id": "ec9"}}]
    upd = op(
        A.UPDATE,
        S.BUSINESS_HOURS,
        SUB.CALL_FORWARDING,
        settings={"call_forwarding_settings": items},
    )
    rows, notes = _undo(upd, Outcome(OpStatus.SUCCEEDED, http_status=204))
    assert notes == []
    assert '"external_contact":{"external_contact_id":"ec1"}' in rows[0]["settings"]


# -- the simulator's storage profile --------------------------------------------------------


def test_storage_profile_changes_only_what_is_stored() -> None:
    sent = {"name": "  Boxing   Day ", "from": "2027-12-26T00:00:00Z", "to": "2027-12-26T23:59:59Z"}
    assert stored_holiday(sent, HolidayTimes.SECOND, HolidayNames.VERBATIM) == sent
    assert stored_holiday(sent, HolidayTimes.MINUTE, HolidayNames.TRIMMED) == {
        "name": "Boxing Day",
        "from": "2027-12-26T00:00:00Z",
        "to": "2027-12-26T23:59:00Z",
    }


def test_storage_profile_is_a_sim_knob() -> None:
    config = SimConfig().updated({"holiday_times": "minute", "holiday_names": "trimmed"})
    assert (config.holiday_times, config.holiday_names) == (
        HolidayTimes.MINUTE,
        HolidayNames.TRIMMED,
    )
    assert config.public()["holiday_times"] == "minute"
    with pytest.raises(ConfigError, match="holiday_times must be one of second, minute"):
        SimConfig().updated({"holiday_times": "hour"})
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    ns = parser.parse_args(["--holiday-times", "minute", "--holiday-names", "trimmed"])
    parsed = config_from_args(ns, env={})
    assert (parsed.holiday_times, parsed.holiday_names) == (
        HolidayTimes.MINUTE,
        HolidayNames.TRIMMED,
    )


# -- end to end, against every way of storing a holiday ------------------------------------

CREDS = Credentials("match-account", "match-client", "match-secret-31c7")
HEADER = "action,setting_type,sub_setting_type,extension_id,name,from,to,phone_number,settings"


async def _run(job: Path, state: Path, running: RunningSimulator) -> RunOutcome:
    env = CREDS.as_env()
    settings = RunSettings(
        job=job,
        state_dir=state,
        account_plan=AccountPlan.BUSINESS,
        rate=500,
        api_url=running.api_url,
        oauth_url=running.oauth_url,
        write_reports=False,
    )
    out = io.StringIO()
    return await run_job(settings, env=env, display=PlainDisplay(out), out=out)


def _counts(outcome: RunOutcome) -> dict[str, int]:
    return {str(k.value): v for k, v in outcome.result.counts.items() if v}


async def test_a_rerun_creates_no_duplicate_and_a_year_picks_the_holiday(
    tmp_path: Path, sim_variant: dict[str, Any]
) -> None:
    exts = [e for e in generate_directory(12, 7) if e.type is ExtensionType.USER][:2]
    directory = tmp_path / "directory.csv"
    write_directory(exts, directory)
    config = SimConfig(directory=directory, rate=None, seed=7, credentials=CREDS, **sim_variant)
    u1, u2 = (e.extension_id for e in exts)
    rows = [
        f'add,holiday_hours,holiday,{u},"{name}",{day},{day},,'
        for u in (u1, u2)
        for name, day in (("Christmas  Day ", "2026-12-25"), ("Christmas  Day ", "2027-12-25"))
    ]
    rows.append(f"add,business_hours,call_forwarding,{u1},,,,+14155550100,")
    first = tmp_path / "first.csv"
    first.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    # Same name in two years: the row's year chooses; the other year is left alone.
    second = tmp_path / "second.csv"
    second.write_text(
        HEADER + "\n"
        f"update,holiday_hours,holiday,{u1},Christmas Day,2027-12-24,2027-12-26,,\n"
        f"delete,holiday_hours,holiday,{u2},christmas day,2026-12-25,,,\n"
    )
    async with run_simulator(config) as running:
        sim: Simulator = running.simulator
        # An external contact reaching a number the job adds to u2: already there, not added.
        contact = {
            "id": "contact1",
            "enable": True,
            "external_contact": CONTACT["external_contact"],
        }
        fwd = next(
            e["settings"]
            for e in sim.state.settings[u2]["business_hours"]
            if e["sub_setting_type"] == "call_forwarding"
        )
        fwd["call_forwarding_settings"].append(contact)
        extra = tmp_path / "contact.csv"
        extra.write_text(
            HEADER + "\n" + f"add,business_hours,call_forwarding,{u2},,,,+12025550177,\n"
        )

        done = await _run(first, tmp_path / "s1", running)
        assert _counts(done) == {"succeeded": 5}
        stored = Counter((h["name"], h["from"]) for h in sim.holidays(u1))
        writes = sum(1 for j in sim.journal if j.method != "GET" and "/phone/" in j.path)
        # A fresh state reads the account and finds everything, however it was stored.
        again = await _run(first, tmp_path / "s2", running)
        assert _counts(again) == {"already_present": 5}
        assert sum(1 for j in sim.journal if j.method != "GET" and "/phone/" in j.path) == writes
        assert Counter((h["name"], h["from"]) for h in sim.holidays(u1)) == stored

        contact_run = await _run(extra, tmp_path / "s3", running)
        assert _counts(contact_run) == {"already_present": 1}

        moved = await _run(second, tmp_path / "s4", running)
        assert _counts(moved) == {"succeeded": 2}
        spans = sorted((h["from"], h["to"]) for h in sim.holidays(u1) if "hristmas" in h["name"])
        assert spans[0][0] == "2026-12-25T00:00:00Z"  # 2026's untouched
        assert spans[1][0] == "2027-12-24T00:00:00Z" and spans[1][1].startswith("2027-12-26T23:59")
        left = [h["from"] for h in sim.holidays(u2) if "christmas" in h["name"].casefold()]
        assert left == ["2027-12-25T00:00:00Z"]
