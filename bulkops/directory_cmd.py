"""``bulkops directory pull``, and ``--directory zoom`` for the commands that plan a job.

The pull itself is :mod:`bulkops.directory_pull`; this module parses its flags, picks the target
(Zoom, ``--api-url``, or ``--simulate``) and says what was written.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from .config import AccountPlan, Credentials, Endpoints
from .errors import ConfigError
from .exit_codes import EXIT_OK

_TYPE_NAMES = {
    "user": "users",
    "call_queue": "call queues",
    "auto_receptionist": "auto receptionists",
    "shared_line_group": "shared line groups",
}


def add_target_flags(p: argparse.ArgumentParser) -> None:
    """Where Zoom is: the run's ``--api-url``/``--oauth-url`` (default $ZOOM_* or Zoom's)."""
    p.add_argument("--api-url", help="Zoom API base (default $ZOOM_API_URL or Zoom's)")
    p.add_argument("--oauth-url", help="token endpoint (default $ZOOM_OAUTH_URL or Zoom's)")


def add_directory_command(sub: Any) -> None:
    p = sub.add_parser("directory", help="read Zoom's extension directory")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    pull = verbs.add_parser(
        "pull",
        help="write the directory file (extension ids, numbers, emails, sites, zones) from Zoom",
    )
    pull.add_argument(
        "--out", type=Path, default=Path("directory.csv"), help="file to write (.csv or .parquet)"
    )
    pull.add_argument(
        "--types",
        default=",".join(_TYPE_NAMES),
        help=f"comma-separated extension types (default: all of {','.join(_TYPE_NAMES)})",
    )
    pull.add_argument("--site", help="only this site's extensions (its name)")
    pull.add_argument(
        "--account-plan",
        choices=[a.value for a in AccountPlan],
        default=AccountPlan.PRO.value,
        help="Zoom plan, sets the lists' MEDIUM rate: pro 10/s (default), business 20/s",
    )
    pull.add_argument("--rate", type=float, help="list requests per second, overrides the plan")
    add_target_flags(pull)
    pull.add_argument("--simulate", action="store_true", help="pull from the built-in simulator")
    pull.add_argument(
        "--sim",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="simulator setting with --simulate, e.g. extensions=500",
    )


@contextlib.asynccontextmanager
async def _target(
    ns: argparse.Namespace, env: Mapping[str, str], overrides: Mapping[str, object]
) -> AsyncIterator[tuple[Endpoints, Credentials]]:
    if not ns.simulate:
        yield (
            Endpoints.from_env(env, api_url=ns.api_url, oauth_url=ns.oauth_url),
            Credentials.from_env(env),
        )
        return
    from .simulator import SimConfig, run_simulator

    config = SimConfig(plan=AccountPlan(ns.account_plan)).updated(overrides)
    async with run_simulator(config) as running:
        yield Endpoints(running.api_url, running.oauth_url), running.credentials


def cmd_directory(ns: argparse.Namespace, overrides: Mapping[str, object]) -> int:
    from .directory_pull import medium_rate, pull_from, write_directory_file

    if overrides and not ns.simulate:
        raise ConfigError("--sim only goes with --simulate")
    types = [t.strip() for t in ns.types.split(",") if t.strip()]
    rate = medium_rate(ns.account_plan, ns.rate)
    show = not ns.quiet and ns.log_format != "json" and sys.stderr.isatty()
    env = os.environ

    async def pull() -> Any:
        async with _target(ns, env, overrides) as (endpoints, credentials):
            return await pull_from(
                endpoints, credentials, rate, types=types, site=ns.site, show=show
            )

    pulled = asyncio.run(pull())
    write_directory_file(pulled, ns.out)
    if not ns.quiet:
        kinds = Counter(row["type"] for row in pulled.rows)
        counts = ", ".join(f"{kinds[t]} {name}" for t, name in _TYPE_NAMES.items() if t in types)
        print(f"wrote {len(pulled.rows):,} extensions to {ns.out} ({counts})")
        if pulled.skipped_common_areas:
            print(
                f"skipped {pulled.skipped_common_areas:,} common areas: they have no extension id "
                "and are served by /phone/common_areas/{commonAreaId}/…, not by the "
                "call-handling endpoint bulkops uses"
            )
        print(f"pulled in {pulled.pages} requests, {pulled.rate_limited} answered 429")
    return EXIT_OK


def job_directory(ns: argparse.Namespace, env: Mapping[str, str] | None = None) -> Path | None:
    """``--directory`` of ``validate``/``plan``: the file given, or with ``zoom`` the one pulled
    into the state directory (pulled now when there is none, or with ``--refresh-directory``)."""
    from .directory_pull import is_zoom

    if not is_zoom(ns.directory):
        if ns.refresh_directory:
            raise ConfigError("--refresh-directory goes with --directory zoom")
        return Path(ns.directory) if ns.directory is not None else None
    from .run_settings import RunSettings, state_dir_for
    from .run_target import zoom_directory

    settings = RunSettings(
        job=ns.job,
        directory=ns.directory,
        state_dir=ns.state,
        account_plan=AccountPlan(getattr(ns, "account_plan", AccountPlan.PRO.value)),
        api_url=ns.api_url,
        oauth_url=ns.oauth_url,
        refresh_directory=ns.refresh_directory,
    )
    show = not ns.quiet and ns.log_format != "json" and sys.stderr.isatty()
    env = os.environ if env is None else env
    return asyncio.run(zoom_directory(settings, state_dir_for(settings), env, show=show))
