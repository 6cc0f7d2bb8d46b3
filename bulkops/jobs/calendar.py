"""Holiday calendars by country, as job rows: the ``bulkops holidays`` command's pure core.

Dates come from the maintained ``holidays`` package (countries, subdivisions, observed-day rules).
Zoom finds a holiday by its name, so the rows this module writes give every holiday a name that
is unique per target and year: holidays on the same day become one holiday with both names
(``Christmas Day / Weihnachtstag``), consecutive days of one name become one range, and a name
that still repeats in a year gets its date appended (``Bank Holiday (27 Dec)``).

Rows are date-only (``from`` = first day, ``to`` = last day), which bulkops reads as whole days
in the row's ``timezone``, else in each extension's own (``zones``).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import holidays as holidays_pkg

from ..errors import ConfigError
from .directory import Directory

COLUMNS = ("action", "setting_type", "sub_setting_type", "target", "name", "from", "to")
NAME_JOIN = " / "


@dataclass(frozen=True, slots=True)
class Region:
    """An ISO 3166-1 alpha-2 country and, optionally, one of its subdivisions (``DE``, ``BY``)."""

    country: str
    subdiv: str | None = None

    def __str__(self) -> str:
        return self.country + (f"-{self.subdiv}" if self.subdiv else "")


@dataclass(frozen=True, slots=True)
class Day:
    """One holiday: its name and its first and last day (inclusive)."""

    name: str
    start: date
    end: date


@dataclass(frozen=True, slots=True)
class CalendarOptions:
    years: tuple[int, ...]
    observed: bool = True
    categories: tuple[str, ...] | None = None
    language: str | None = None
    start: date | None = None  # keep holidays starting on or after this day
    until: date | None = None  # … and on or before this one


def parse_region(text: str, subdiv: str | None = None) -> Region:
    """``GB``, ``gb``, ``DE-BE`` (or ``DE`` with ``subdiv="BE"``) → a checked Region."""
    country, _, inline = text.strip().partition("-")
    country = country.strip().upper()
    sub = (inline or subdiv or "").strip().upper() or None
    supported = holidays_pkg.list_supported_countries()
    if country not in supported:
        raise ConfigError(
            f"country {text.strip()!r} is not one the holidays package knows; give an ISO 3166 "
            "alpha-2 code such as US, GB, DE or FR"
        )
    if sub is not None:
        cls = holidays_pkg.country_holidays(country).__class__
        codes = {code.upper(): code for code in supported[country]}
        aliases = getattr(cls, "subdivisions_aliases", None) or {}
        codes |= {alias.upper(): code for alias, code in aliases.items()}
        if sub not in codes:
            raise ConfigError(
                f"{country} has no subdivision {sub!r}; it has {', '.join(supported[country])}"
            )
        sub = codes[sub]
    return Region(country, sub)


def parse_years(text: str) -> tuple[int, ...]:
    """``2027`` or ``2027-2029`` → the years, in order."""
    first, dash, last = text.strip().partition("-")
    try:
        lo = int(first)
        hi = int(last) if dash else lo
    except ValueError:
        raise ConfigError(f"years {text!r}: write one year (2027) or a range (2027-2029)") from None
    if not 1900 <= lo <= hi <= 2200 or hi - lo >= 50:
        raise ConfigError(
            f"years {text!r}: write a range of at most 50 years between 1900 and 2200"
        )
    return tuple(range(lo, hi + 1))


def country_days(region: Region, options: CalendarOptions) -> list[Day]:
    """The region's holidays in ``options.years``, one Day per date (names on one date joined)."""
    cls = holidays_pkg.country_holidays(region.country).__class__
    if options.categories is not None:
        unknown = sorted(set(options.categories) - set(cls.supported_categories))
        if unknown:
            raise ConfigError(
                f"{region.country} has no holiday category {', '.join(unknown)}; it has "
                f"{', '.join(cls.supported_categories)}"
            )
    if options.language is not None and options.language not in cls.supported_languages:
        offered = ", ".join(cls.supported_languages) or "only its default"
        raise ConfigError(
            f"{region.country} has no holiday names in {options.language!r}; it offers {offered}"
        )
    calendar = holidays_pkg.country_holidays(
        region.country,
        subdiv=region.subdiv,
        years=options.years,
        observed=options.observed,
        language=options.language or _english(cls),
        categories=options.categories or cls.default_category,
    )
    return [
        Day(NAME_JOIN.join(dict.fromkeys(calendar.get_list(day))), day, day)
        for day in sorted(calendar)
        if day.year in options.years
    ]


def _english(cls: type[holidays_pkg.HolidayBase]) -> str | None:
    """The default name language: English where offered, else the country's own.

    Never None when the country names one: the package would then read the locale from the
    environment, and the same command would write different names on different machines.
    """
    default: str | None = getattr(cls, "default_language", None)
    if default and default.startswith("en"):
        return default
    return "en_US" if "en_US" in cls.supported_languages else default


def parse_extra(text: str, source: str) -> list[Day]:
    """An organisation's own days: CSV ``date,name[,to]`` with a header row; every defect at once."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "date" not in fields or "name" not in fields:
        raise ConfigError(f"{source}: the header must be date,name[,to], not {','.join(fields)}")
    problems: list[str] = []
    out: list[Day] = []
    for line, raw in enumerate(reader, start=2):
        rec = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        if not any(rec.values()):
            continue
        try:
            start = date.fromisoformat(rec["date"])
            end = date.fromisoformat(rec["to"]) if rec.get("to") else start
        except ValueError:
            problems.append(f"row {line}: dates must be YYYY-MM-DD, not {rec['date']!r}")
            continue
        if not rec["name"]:
            problems.append(f"row {line}: the holiday needs a name")
        elif end < start:
            problems.append(f"row {line}: 'to' {end} is before 'date' {start}")
        else:
            out.append(Day(rec["name"], start, end))
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems) + "; fix them and run again")
    return out


def build_days(package: Sequence[Day], extra: Sequence[Day], options: CalendarOptions) -> list[Day]:
    """Package and extra days in the chosen years and range, with names unique per year."""
    chosen = [
        d
        for d in [*package, *extra]
        if d.start.year in options.years
        and (options.start is None or d.start >= options.start)
        and (options.until is None or d.start <= options.until)
    ]
    return unique_names(chosen)


def unique_names(days: Iterable[Day]) -> list[Day]:
    """Merge overlapping or adjacent same-named days, then tell apart same-named holidays of a year."""
    merged: list[Day] = []
    last: dict[str, int] = {}  # name → its latest entry in merged
    for day in sorted(days, key=lambda d: (d.start, d.end, d.name)):
        i = last.get(day.name)
        if i is not None and day.start <= merged[i].end + timedelta(days=1):
            merged[i] = Day(day.name, merged[i].start, max(merged[i].end, day.end))
        else:
            last[day.name] = len(merged)
            merged.append(day)
    by_key: dict[tuple[int, str], list[Day]] = defaultdict(list)
    for day in merged:
        by_key[(day.start.year, day.name)].append(day)
    out: list[Day] = []
    for day in merged:
        if by_key[(day.start.year, day.name)][0] is not day:
            day = Day(f"{day.name} ({day.start.day} {day.start:%b})", day.start, day.end)
        out.append(day)
    return out


def job_rows(target: str, days: Sequence[Day], timezone: str | None = None) -> list[dict[str, str]]:
    """``add holiday_hours/holiday`` rows for one target, date-only, in date order."""
    rows = []
    for day in days:
        row = {
            "action": "add",
            "setting_type": "holiday_hours",
            "sub_setting_type": "holiday",
            "target": target,
            "name": day.name,
            "from": day.start.isoformat(),
            "to": day.end.isoformat(),
        }
        if timezone:
            row["timezone"] = timezone
        rows.append(row)
    return rows


def format_job(rows: Sequence[Mapping[str, str]]) -> str:
    """The rows as a job-file CSV (a ``timezone`` column only when some row has one)."""
    columns = list(COLUMNS) + (["timezone"] if any("timezone" in r for r in rows) else [])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class Site:
    name: str
    region: Region
    timezone: str | None


def parse_site_countries(text: str) -> dict[str, Region]:
    """``London=GB,Berlin=DE-BE`` → site name (case-folded) → Region."""
    out: dict[str, Region] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        site, eq, code = item.partition("=")
        if not eq or not site.strip() or not code.strip():
            raise ConfigError(f"--site-country item {item!r} is not SITE=CC, e.g. London=GB")
        out[site.strip().casefold()] = parse_region(code)
    return out


def directory_sites(directory: Directory, overrides: Mapping[str, Region]) -> list[Site]:
    """Each site of the directory, in first-seen order, with its region and (if any) time zone.

    A site's region comes from ``overrides`` (keys case-folded), else the directory's ``country``
    (and ``subdivision``) column; a site with none, or with contradicting rows, is an error.
    """
    frame = directory.frame
    if "site" not in frame.columns:
        raise ConfigError(f"{directory.path} has no site column; --by-site needs one")
    seen: dict[str, list[tuple[str, str, str]]] = {}
    for rec in frame.to_dict("records"):
        site = str(rec["site"]).strip()
        if site:
            code = (str(rec.get("country", "")).strip(), str(rec.get("subdivision", "")).strip())
            seen.setdefault(site, []).append((*code, str(rec.get("timezone", "")).strip()))
    if not seen:
        raise ConfigError(f"{directory.path}: no extension has a site; --by-site needs sites")
    out: list[Site] = []
    missing: list[str] = []
    for site, values in seen.items():
        if "," in site or "&" in site:
            raise ConfigError(
                f"site {site!r} contains ',' or '&', which a target selector cannot hold; "
                "rename it in the directory or write that site's rows with --target"
            )
        zones = sorted({z for _, _, z in values if z})
        codes = sorted({(c.upper(), s.upper()) for c, s, _ in values if c})
        if site.casefold() in overrides:
            region = overrides[site.casefold()]
        elif len(codes) > 1:
            listed = ", ".join(str(Region(c, s or None)) for c, s in codes)
            raise ConfigError(
                f"site {site!r} has extensions in {listed} in {directory.path}; make its "
                f"country column agree, or choose with --site-country '{site}=CC'"
            )
        elif codes:
            region = parse_region(codes[0][0], codes[0][1] or None)
        else:
            missing.append(site)
            continue
        out.append(Site(site, region, zones[0] if len(zones) == 1 else None))
    if missing:
        raise ConfigError(
            f"site(s) {', '.join(repr(s) for s in missing)} have no country: add a country "
            f"column (ISO 3166 alpha-2, e.g. GB) to {directory.path}, or pass --site-country "
            f"'{missing[0]}=CC'"
        )
    return out
