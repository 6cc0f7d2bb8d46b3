"""``bulkops export``'s flags and what it prints; the export itself is :mod:`bulkops.export`.

Exit codes: 0 every chosen extension was exported; 1 some were left out (not found, or still
unreadable after the retries: the file holds the others and the messages name them); 2 invalid
invocation; 75 Zoom's daily limit or an unreachable Zoom stopped it (nothing written: run it
again later); 77 authentication refused.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from .config import AccountPlan
from .errors import RetriableApiError
from .exit_codes import EXIT_FAILURES, EXIT_OK, EXIT_RESUMABLE
from .export import ADDRESSES, ExportSettings, export_job
from .model import SettingType


def add_export_command(sub: Any) -> None:
    p = sub.add_parser(
        "export", help="write what extensions hold in Zoom as a job file that recreates it"
    )
    p.add_argument("--out", type=Path, required=True, help="the job file to write (.csv/.parquet)")
    p.add_argument(
        "--directory",
        type=Path,
        help="extension directory file (CSV or Parquet), or 'zoom' to pull it from Zoom",
    )
    p.add_argument(
        "--state",
        type=Path,
        help="with --directory zoom: keep the pull in this state directory and reuse it (a run's "
        "state: export the extensions that run planned from); default: pull afresh, keep nothing",
    )
    p.add_argument(
        "--refresh-directory",
        action="store_true",
        help="with --directory zoom --state DIR: pull again instead of using the kept pull",
    )
    p.add_argument("--target", help="selector over the directory, e.g. 'site=London' (default *)")
    p.add_argument(
        "--extension-id",
        action="append",
        default=[],
        metavar="ID",
        help="an extension to export (repeatable; no directory needed)",
    )
    p.add_argument(
        "--setting-types",
        nargs="+",
        type=_setting_type,
        metavar="TYPE",
        help="only these: business_hours closed_hours holiday_hours (default all)",
    )
    p.add_argument(
        "--address-by",
        choices=ADDRESSES,
        default="extension_id",
        help="the column rows name their extension by: extension_number or email to run the "
        "file against another account through its directory (default extension_id)",
    )
    p.add_argument("--encoding", help="text encoding of a CSV directory file (default UTF-8)")
    p.add_argument(
        "--account-plan",
        choices=[a.value for a in AccountPlan],
        default=AccountPlan.PRO.value,
        help="Zoom plan, sets the LIGHT rate: pro 20/s (default), business 40/s",
    )
    p.add_argument("--rate", type=float, help="requests per second, overrides --account-plan")
    p.add_argument("--api-url", help="Zoom API base (default $ZOOM_API_URL or Zoom's)")
    p.add_argument("--oauth-url", help="token endpoint (default $ZOOM_OAUTH_URL or Zoom's)")


def _setting_type(text: str) -> SettingType:
    try:
        return SettingType(text.strip().lower())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a setting type: use {', '.join(SettingType)}"
        ) from None


def cmd_export(ns: argparse.Namespace) -> int:
    settings = ExportSettings(
        out=ns.out,
        directory=ns.directory,
        target=ns.target,
        extension_ids=tuple(ns.extension_id),
        setting_types=frozenset(ns.setting_types or SettingType),
        address_by=ns.address_by,
        account_plan=AccountPlan(ns.account_plan),
        rate=ns.rate,
        api_url=ns.api_url,
        oauth_url=ns.oauth_url,
        encoding=ns.encoding,
        state_dir=ns.state,
        refresh_directory=ns.refresh_directory,
    )
    show = not ns.quiet and ns.log_format != "json" and sys.stderr.isatty()
    try:
        result = asyncio.run(export_job(settings, show=show))
    except RetriableApiError as exc:  # the daily limit, or Zoom out of reach: later, not wrong
        print(
            f"bulkops: export stopped, nothing written: {exc}; run it again later", file=sys.stderr
        )
        return EXIT_RESUMABLE
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for line in result.left_out:
        print(f"left out: {line}", file=sys.stderr)
    print(
        f"exported {result.exported:,} of {result.chosen:,} extensions as {result.rows:,} job "
        f"rows to {result.out}"
    )
    return EXIT_FAILURES if result.left_out else EXIT_OK
