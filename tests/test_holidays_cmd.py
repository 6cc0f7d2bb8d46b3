"""`bulkops holidays`: country calendars as jobs, checked against the holidays package's own data."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkops.cli import main
from bulkops.errors import ConfigError
from bulkops.jobs import calendar as cal
from bulkops.jobs.directory import load_directory
from bulkops.jobs.plan import validate
from bulkops.simulator import generate_directory, write_directory
from bulkops.simulator.directory import SITE_ZONES
from bulkops.simulator.state import AccountState, section

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "directory.csv"


def _holidays(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, str]]:
    assert main(["holidays", *argv]) == 0
    return list(csv.DictReader(io.StringIO(capsys.readouterr().out)))


def _package(
    country: str, subdiv: str | None, year: int, *, observed: bool = True
) -> dict[date, str]:
    return dict(
        holidays.country_holidays(
            country, subdiv=subdiv, years=year, language="en_US", observed=observed
        )
    )


def _assert_unique_per_target_and_year(rows: list[dict[str, str]]) -> None:
    keys = Counter((r["target"], r["from"][:4], r["name"]) for r in rows)
    assert [k for k, n in keys.items() if n > 1] == []


def test_a_country_calendar_has_the_package_dates_including_observed_days(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = _holidays(["--country", "US", "--year", "2027", "--target", "site=New York"], capsys)
    expected = _package("US", None, 2027)
    assert {date.fromisoformat(r["from"]) for r in rows} == set(expected)
    assert all(r["from"] == r["to"] and r["action"] == "add" for r in rows)
    assert all(r["target"] == "site=New York" for r in rows)
    # Independence Day 2027 is a Sunday: the package observes it on Monday 5 July.
    assert expected[date(2027, 7, 5)] == "Independence Day (observed)"
    assert {"name": "Independence Day (observed)", "from": "2027-07-05"}.items() <= next(
        r for r in rows if r["from"] == "2027-07-05"
    ).items()
    _assert_unique_per_target_and_year(rows)


def test_no_observed_drops_the_substitute_days(capsys: pytest.CaptureFixture[str]) -> None:
    rows = _holidays(
        ["--country", "GB", "--year", "2027", "--target", "*", "--no-observed"], capsys
    )
    expected = _package("GB", None, 2027, observed=False)
    assert {date.fromisoformat(r["from"]) for r in rows} == set(expected)
    assert not any("observed" in r["name"] for r in rows)
    with_observed = _package("GB", None, 2027)
    assert date(2027, 12, 28) in with_observed  # Boxing Day's substitute, dropped above


@pytest.mark.parametrize(
    ("country", "subdiv", "day"),
    [("GB", "SCT", date(2027, 11, 30)), ("DE", "BY", date(2027, 1, 6))],
    ids=["st-andrews-day", "epiphany"],
)
def test_a_subdivision_adds_its_own_holidays(
    country: str, subdiv: str, day: date, capsys: pytest.CaptureFixture[str]
) -> None:
    national = _holidays(["--country", country, "--year", "2027", "--target", "*"], capsys)
    regional = _holidays(
        ["--country", country, "--subdiv", subdiv, "--year", "2027", "--target", "*"], capsys
    )
    assert day in _package(country, subdiv, 2027) and day not in _package(country, None, 2027)
    assert day.isoformat() in {r["from"] for r in regional}
    assert day.isoformat() not in {r["from"] for r in national}
    inline = _holidays(
        ["--country", f"{country}-{subdiv}", "--year", "2027", "--target", "*"], capsys
    )
    assert inline == regional


def test_years_range_filter_language_and_categories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _holidays(
        ["--country", "DE", "--years", "2027-2029", "--target", "*", "--language", "de"], capsys
    )
    assert {r["from"][:4] for r in rows} == {"2027", "2028", "2029"}
    assert "Erster Weihnachtstag" in {r["name"] for r in rows}
    _assert_unique_per_target_and_year(rows)
    window = ["--from", "2027-12-01", "--until", "2027-12-31"]
    rows = _holidays(["--country", "GB", "--year", "2027", "--target", "*", *window], capsys)
    assert rows and all(r["from"].startswith("2027-12") for r in rows)
    rows = _holidays(
        ["--country", "US", "--year", "2027", "--target", "*", "--categories", "government"],
        capsys,
    )
    government = holidays.country_holidays("US", years=2027, categories=("government",))
    assert {date.fromisoformat(r["from"]) for r in rows} == set(government)


def test_extra_days_merge_and_names_stay_unique(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = tmp_path / "extra.csv"
    extra.write_text(
        "date,name,to\n2027-12-29,Company Shutdown,2027-12-31\n2027-12-25,Christmas Day,\n"
        "2027-06-01,Founders Day,\n,,\n2026-06-01,Founders Day,\n",
        "utf-8",
    )
    rows = _holidays(
        ["--country", "GB", "--year", "2027", "--target", "*", "--extra", str(extra)], capsys
    )
    by_name = {r["name"]: r for r in rows}
    assert by_name["Company Shutdown"]["from"] == "2027-12-29"
    assert by_name["Company Shutdown"]["to"] == "2027-12-31"
    assert by_name["Founders Day"]["from"] == "2027-06-01"  # 2026's copy is outside --year
    assert by_name["Christmas Day"]["from"] == "2027-12-25"
    _assert_unique_per_target_and_year(rows)


def test_unique_names_merges_runs_joins_days_and_dates_repeats() -> None:
    d = date
    days = [
        cal.Day("Spring Festival", d(2027, 2, 6), d(2027, 2, 6)),
        cal.Day("Spring Festival", d(2027, 2, 7), d(2027, 2, 7)),
        cal.Day("Spring Festival", d(2027, 2, 8), d(2027, 2, 8)),
        cal.Day("Bank Holiday", d(2027, 5, 3), d(2027, 5, 3)),
        cal.Day("Bank Holiday", d(2027, 8, 30), d(2027, 8, 30)),
        cal.Day("Bank Holiday", d(2028, 5, 1), d(2028, 5, 1)),
    ]
    assert cal.unique_names(days) == [
        cal.Day("Spring Festival", d(2027, 2, 6), d(2027, 2, 8)),
        cal.Day("Bank Holiday", d(2027, 5, 3), d(2027, 5, 3)),
        cal.Day("Bank Holiday (30 Aug)", d(2027, 8, 30), d(2027, 8, 30)),
        cal.Day("Bank Holiday", d(2028, 5, 1), d(2028, 5, 1)),
    ]


def test_two_holidays_on_one_day_become_one_with_both_names() -> None:
    region = cal.parse_region("US", "NY")
    days = cal.country_days(region, cal.CalendarOptions((2027,)))
    package = holidays.country_holidays("US", subdiv="NY", years=2027, language="en_US")
    shared = [day for day in package if len(package.get_list(day)) > 1]
    assert shared, "the package no longer has two US-NY holidays on one day"
    for day in shared:
        (merged,) = [x for x in days if x.start == day]
        assert merged.name.split(cal.NAME_JOIN) == package.get_list(day)


def test_by_site_writes_each_sites_own_country_and_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rollout.csv"
    argv = ["--by-site", "--directory", str(SAMPLE), "--year", "2027", "--out", str(out)]
    assert main(["holidays", *argv]) == 0
    assert "wrote" in capsys.readouterr().err
    assert validate(out, directory=SAMPLE) == []
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8"))))
    _assert_unique_per_target_and_year(rows)
    for site, (country, subdiv) in {
        "New York": ("US", "NY"),
        "London": ("GB", "ENG"),
        "Berlin": ("DE", "BE"),
    }.items():
        dates = {date.fromisoformat(r["from"]) for r in rows if r["target"] == f"site={site}"}
        assert dates == set(_package(country, subdiv, 2027)), site


def test_site_country_overrides_and_missing_countries_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = tmp_path / "bare.csv"
    bare.write_text(
        "extension_id,site\nAAAA,London\nBBBB,Paris\nCCCC,\n", "utf-8"
    )  # no country column at all
    with pytest.raises(ConfigError) as missing:
        cal.directory_sites(load_directory(bare), {})
    assert "'London', 'Paris'" in str(missing.value) and "--site-country" in str(missing.value)
    rows = _holidays(
        ["--by-site", "--directory", str(bare), "--site-country", "london=GB-SCT,Paris=FR"],
        capsys,
    )
    assert {r["target"] for r in rows} == {"site=London", "site=Paris"}
    year = date.today().year + 1  # the default
    london = {date.fromisoformat(r["from"]) for r in rows if r["target"] == "site=London"}
    assert london == set(_package("GB", "SCT", year))


def test_a_site_with_two_countries_or_zones_in_the_directory(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(
        "extension_id,site,country,timezone\nA1,Oslo,NO,Europe/Oslo\nA2,Oslo,SE,Europe/Oslo\n"
        "A3,Rome,IT,Europe/Rome\n",
        "utf-8",
    )
    directory = load_directory(mixed)
    with pytest.raises(ConfigError, match="'Oslo' has extensions in NO, SE"):
        cal.directory_sites(directory, {})
    sites = cal.directory_sites(directory, {"oslo": cal.Region("NO")})
    assert sites == [
        cal.Site("Oslo", cal.Region("NO"), "Europe/Oslo"),
        cal.Site("Rome", cal.Region("IT"), "Europe/Rome"),
    ]
    rows = cal.job_rows(
        "site=Rome", [cal.Day("Ferragosto", date(2027, 8, 15), date(2027, 8, 15))], "Europe/Rome"
    )
    text = cal.format_job(rows)
    assert text.splitlines()[0].endswith(",timezone") and text.endswith(",Europe/Rome\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--country", "XX", "--target", "*"], "ISO 3166"),
        (["--country", "GB", "--subdiv", "QQ", "--target", "*"], "ENG, NIR, SCT, WLS"),
        (["--country", "GB", "--target", "*", "--language", "xx"], "it offers"),
        (["--country", "GB", "--target", "*", "--categories", "nope"], "it has public"),
        (
            ["--country", "GB", "--target", "*", "--year", "2027", "--years", "2027-2028"],
            "not both",
        ),
        (["--country", "GB", "--target", "*", "--years", "2027-1999"], "at most 50 years"),
        (["--country", "GB", "--target", "*", "--years", "soon"], "one year (2027)"),
        (["--country", "GB"], "--target SELECTOR"),
        (["--by-site", "--country", "GB"], "--by-site takes --directory"),
        (["--by-site", "--directory", str(SAMPLE), "--site-country", "London"], "SITE=CC"),
    ],
)
def test_bad_options_say_what_to_do(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["holidays", *argv]) == 2
    assert message in capsys.readouterr().err


def test_bad_extra_files_list_every_defect(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="header must be date,name"):
        cal.parse_extra("day,title\n", "x.csv")
    with pytest.raises(ConfigError) as bad:
        cal.parse_extra("date,name,to\n27/12/2027,A,\n2027-12-01,,\n2027-12-05,B,2027-12-01\n", "x")
    message = str(bad.value)
    assert "row 2" in message and "row 3" in message and "row 4" in message


def test_a_directory_without_sites_is_refused(tmp_path: Path) -> None:
    no_column = tmp_path / "a.csv"
    no_column.write_text("extension_id\nAAAA\n", "utf-8")
    with pytest.raises(ConfigError, match="no site column"):
        cal.directory_sites(load_directory(no_column), {})
    empty = tmp_path / "b.csv"
    empty.write_text("extension_id,site\nAAAA,\n", "utf-8")
    with pytest.raises(ConfigError, match="no extension has a site"):
        cal.directory_sites(load_directory(empty), {})


@given(st.lists(st.tuples(st.dates(date(2026, 1, 1), date(2028, 12, 31)), st.sampled_from("ABC"))))
def test_unique_names_never_repeats_a_name_in_a_year(items: list[tuple[date, str]]) -> None:
    out = cal.unique_names(cal.Day(name, day, day) for day, name in items)
    keys = Counter((d.start.year, d.name) for d in out)
    assert all(n == 1 for n in keys.values())
    covered = {
        d.start.fromordinal(o)
        for d in out
        for o in range(d.start.toordinal(), d.end.toordinal() + 1)
    }
    assert covered == {day for day, _ in items}


def test_a_by_site_rollout_runs_and_each_site_gets_its_own_holidays(tmp_path: Path) -> None:
    directory = tmp_path / "directory.csv"
    write_directory(generate_directory(9, 2026), directory)  # 3 extensions in each of 3 sites
    job, state = tmp_path / "rollout.csv", tmp_path / "state"
    argv = ["holidays", "--by-site", "--directory", str(directory), "--year", "2027"]
    assert main([*argv, "--out", str(job)]) == 0
    run = ["run", str(job), "--directory", str(directory), "--state", str(state), "--simulate"]
    assert main([*run, "--rate", "1000", "--sim", "rate=null", "-q"]) == 0
    account = AccountState.load(state / "simulator.json")
    regions = {"New York": ("US", "NY"), "London": ("GB", "ENG"), "Berlin": ("DE", "BE")}
    for ext in account.extensions.values():
        entries = account.settings[ext.extension_id]["holiday_hours"]
        spans = [section(e["details"], "holiday") or {} for e in entries]
        # Each site's days are whole local days: Zoom stores UTC, so read them back in the zone.
        zone = ZoneInfo(SITE_ZONES[ext.site])
        starts = [
            (s["name"], datetime.fromisoformat(s["from"].replace("Z", "+00:00")).astimezone(zone))
            for s in spans
        ]
        mine = [(name, at) for name, at in starts if at.year == 2027]  # the seed has 2026's
        names = [name for name, _ in mine]
        assert len(names) == len(set(names)), ext.site
        assert all(at.time() == time(0) for _, at in mine), ext.site
        got = {at.date() for _, at in mine}
        assert got == set(_package(*regions[ext.site], 2027)), ext.site


def test_a_subdivision_by_its_name_and_files_that_cannot_be_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cal.parse_region("gb", "Scotland") == cal.Region("GB", "SCT")
    latin1 = tmp_path / "extra.csv"
    latin1.write_bytes("date,name\n2027-06-01,Fête\n".encode("latin-1"))
    base = ["holidays", "--country", "GB", "--year", "2027", "--target", "*"]
    assert main([*base, "--extra", str(latin1)]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "missing" / "job.csv")]) == 2
    assert "choose another --out" in capsys.readouterr().err


def test_a_site_a_selector_cannot_name_is_refused(tmp_path: Path) -> None:
    odd = tmp_path / "odd.csv"
    odd.write_text('extension_id,site,country\nAAAA,"Paris, Nord",FR\n', "utf-8")
    with pytest.raises(ConfigError, match="rename it in the directory"):
        cal.directory_sites(load_directory(odd), {})


def test_a_bad_date_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["holidays", "--country", "GB", "--target", "*", "--from", "24.12.2027"])
    assert stopped.value.code == 2
    assert "write 2027-12-24" in capsys.readouterr().err
