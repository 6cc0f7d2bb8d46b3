"""The authoring commands: ``bulkops holidays`` (a country's holidays as a job) and
``bulkops init`` (example jobs). They write job files and send nothing; the CLI registers them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .exit_codes import EXIT_OK


def add_authoring_commands(sub: Any) -> None:
    p = sub.add_parser("holidays", help="write a job adding a country's holidays; sends nothing")
    p.add_argument("--country", help="ISO 3166 alpha-2 code (GB), optionally with -SUBDIV (DE-BY)")
    p.add_argument("--subdiv", help="subdivision of --country, e.g. ENG, SCT, BY, CA")
    p.add_argument("--year", help="the year (default: next year)")
    p.add_argument("--years", help="a range of years, e.g. 2027-2029")
    p.add_argument("--target", help="selector of the extensions, e.g. 'site=London'")
    p.add_argument("--by-site", action="store_true", help="one calendar per site of --directory")
    p.add_argument("--directory", type=Path, help="directory file with site and country columns")
    p.add_argument("--site-country", help="sites' countries by hand: 'London=GB,Berlin=DE-BE'")
    p.add_argument(
        "--observed",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="include substitute days for holidays on a weekend (default: yes)",
    )
    p.add_argument("--categories", help="holiday categories, e.g. public,optional")
    p.add_argument("--language", help="language of the names, e.g. en_US, de")
    p.add_argument("--from", dest="start", type=_iso_date, help="first day to include")
    p.add_argument("--until", type=_iso_date, help="last day to include")
    p.add_argument("--extra", type=Path, help="your own days: CSV with date,name[,to]")
    p.add_argument("--timezone", help="IANA zone written on every row (default: the site's)")
    p.add_argument("--out", type=Path, help="write the job here (default: print it)")

    p = sub.add_parser("init", help="write example jobs to start from")
    p.add_argument("dir", type=Path, nargs="?", default=Path("bulkops-jobs"), help="target folder")
    p.add_argument("--force", action="store_true", help="overwrite files that exist")


def _iso_date(text: str) -> Any:
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (write 2027-12-24)") from None


def cmd_holidays(ns: argparse.Namespace) -> int:
    from datetime import date

    from .jobs import calendar as cal
    from .jobs.directory import load_directory

    if ns.year and ns.years:
        raise ConfigError("give --year or --years, not both")
    years = cal.parse_years(ns.years or ns.year or str(date.today().year + 1))
    opts = cal.CalendarOptions(
        years,
        ns.observed,
        tuple(ns.categories.split(",")) if ns.categories else None,
        ns.language,
        ns.start,
        ns.until,
    )
    extra = cal.parse_extra(_read(ns.extra), str(ns.extra)) if ns.extra else []
    if ns.by_site:
        if ns.directory is None or ns.target or ns.country:
            raise ConfigError("--by-site takes --directory FILE and no --target or --country")
        overrides = cal.parse_site_countries(ns.site_country or "")
        sites = cal.directory_sites(load_directory(ns.directory), overrides)
        targets = [(f"site={s.name}", s.region, ns.timezone or s.timezone) for s in sites]
    elif ns.country and ns.target:
        targets = [(ns.target, cal.parse_region(ns.country, ns.subdiv), ns.timezone)]
    else:
        raise ConfigError("give --country CC and --target SELECTOR, or --by-site --directory FILE")
    rows: list[dict[str, str]] = []
    for target, region, zone in targets:
        days = cal.build_days(cal.country_days(region, opts), extra, opts)
        rows += cal.job_rows(target, days, zone)
        print(f"{target}: {region}, {len(days)} holidays", file=sys.stderr)
    text = cal.format_job(rows)
    if ns.out is None:
        sys.stdout.write(text)
    else:
        try:
            ns.out.write_text(text, "utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot write {ns.out}: {exc.strerror}; choose another --out"
            ) from exc
        print(
            f"wrote {len(rows)} rows to {ns.out}; check it with bulkops validate", file=sys.stderr
        )
    return EXIT_OK


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise ConfigError(f"cannot read {path}: {reason}; give a UTF-8 CSV date,name[,to]") from exc


def cmd_init(ns: argparse.Namespace) -> int:
    import tempfile

    from .jobs.templates import write_templates
    from .simulator import generate_directory, write_directory
    from .simulator.config import DEFAULT_SEED

    with tempfile.TemporaryDirectory() as tmp:  # the sample directory, as the simulator has it
        write_directory(generate_directory(60, DEFAULT_SEED), Path(tmp, "directory.csv"))
        sample = Path(tmp, "directory.csv").read_text("utf-8")
    for path in write_templates(ns.dir, force=ns.force, extra={"directory.csv": sample}):
        print(path)
    print(
        f"next: read {ns.dir / 'README.txt'}, then bulkops validate "
        f"{ns.dir / 'holiday-rollout.csv'} --directory {ns.dir / 'directory.csv'}"
    )
    return EXIT_OK
