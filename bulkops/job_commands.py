"""The commands that read a job file: ``validate``, ``plan``, ``run`` and ``diff``, their flags
(one builder per group of flags, shared by the commands that take them) and their handlers."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from .config import AccountPlan, resolve_rate
from .directory_cmd import add_target_flags, job_directory
from .errors import ConfigError, group_problems
from .exit_codes import EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from .jobs.sync import SyncSpec


def add_job_commands(sub: Any) -> None:
    """``validate``, ``plan``, ``run`` and ``diff``, in the order ``--help`` lists them."""
    p = sub.add_parser("validate", help="check a job file; sends nothing")
    _add_job_input(p)
    _add_directory_target(p)

    p = sub.add_parser("plan", help="show what a job would do and how long it takes; sends nothing")
    _add_job_input(p)
    _add_rate(p)
    p.add_argument("--out", type=Path, help="write the expanded operations (.csv or .parquet)")
    p.add_argument("--no-precheck", action="store_true", help="estimate as `run --no-precheck`")
    _add_sync(p)
    _add_directory_target(p)

    p = sub.add_parser("run", help="apply a job to Zoom (resumes where a stopped run left off)")
    _add_job_input(p)
    _add_rate(p)
    _add_sync(p)
    p.add_argument("--state", type=Path, help="state directory (default: .bulkops/ beside the job)")
    p.add_argument("--concurrency", type=_positive_int, help="extensions worked on at once")
    p.add_argument("--max-runtime", type=_duration, help="stop (resumably) after e.g. 30m")
    p.add_argument("--dry-run", action="store_true", help="read and resolve, send no write")
    p.add_argument(
        "--yes",
        action="store_true",
        help="do not ask before writing to a real account; needed without a terminal (cron)",
    )
    p.add_argument(
        "--no-precheck",
        action="store_true",
        help="skip the read before an extension's first add (fewer requests; a rerun with a new "
        "state directory could then add a holiday twice)",
    )
    p.add_argument("--retry-failed", action="store_true", help="run failed operations again")
    p.add_argument("--wait", action="store_true", help="another run on the account: wait, not 73")
    p.add_argument(
        "--keep-generations",
        type=_positive_int,
        metavar="N",
        help="finished runs kept under <state>/generations/, oldest deleted first (default "
        "$BULKOPS_KEEP_GENERATIONS or 30)",
    )
    add_target_flags(p)
    p.add_argument("--simulate", action="store_true", help="run against the built-in simulator")
    p.add_argument(
        "--sim",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="simulator setting with --simulate, e.g. latency_ms=120 or applied_drop=0.01",
    )

    _add_diff(sub, p)


def _duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``1h30m`` → seconds."""
    match = re.fullmatch(r"\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text)
    if not text.strip() or match is None or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 90s, 15m, 2h, 1h30m)")
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _add_job_input(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", type=Path, help="job file (CSV, Parquet or .xlsx)")
    p.add_argument(
        "--directory",
        type=Path,
        help="extension directory file (CSV or Parquet), or 'zoom' to pull it from Zoom (kept "
        "in the state directory)",
    )
    p.add_argument(
        "--refresh-directory",
        action="store_true",
        help="with --directory zoom: pull it again instead of using the kept pull",
    )
    p.add_argument("--encoding", help="text encoding of a CSV job file (default UTF-8)")
    p.add_argument("--timezone", help="IANA zone for date-only and naive times (default UTC)")
    p.add_argument("--sheet", help="the sheet of an .xlsx job file to read (default: the first)")


def _add_sync(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sync",
        metavar="SCOPE",
        help="holiday_hours or call_forwarding: the job's add rows are the whole truth for that "
        "scope of each extension it names (missing items added, changed ones updated, unlisted "
        "ones deleted)",
    )
    p.add_argument(
        "--window",
        metavar="FIRST..LAST",
        help="with --sync holiday_hours: the days (both included, in each extension's zone) "
        "whose holidays the job replaces, e.g. 2027-01-01..2027-12-31",
    )


def _sync_spec(ns: argparse.Namespace) -> SyncSpec | None:
    """The SyncSpec of ``--sync``/``--window`` (None without them); ConfigError if misused."""
    if ns.sync is None:
        if ns.window is not None:
            raise ConfigError("--window goes with --sync holiday_hours")
        return None
    from .jobs.sync import SyncSpec

    return SyncSpec.of(ns.sync, ns.window, ns.timezone)


def _add_rate(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--account-plan",
        choices=[a.value for a in AccountPlan],
        default=AccountPlan.PRO.value,
        help="Zoom plan, sets the LIGHT rate: pro 20/s (default), business 40/s",
    )
    p.add_argument("--rate", type=float, help="requests per second, overrides --account-plan")


#: What `run` takes that a preview has no use for: it never writes, so never asks or retries.
_NOT_FOR_DIFF = frozenset({"-h", "--dry-run", "--yes", "--retry-failed", "--keep-generations"})


def _add_diff(sub: Any, run: argparse.ArgumentParser) -> None:
    """`bulkops diff` takes what `run` takes (the same inputs reach the same reads), and --out."""
    p = sub.add_parser(
        "diff",
        help="preview a job: read what it touches, write diff.csv and report.html; sends no write",
    )
    for action in run._actions:
        if not _NOT_FOR_DIFF & set(action.option_strings):
            p._add_action(action)
    p.add_argument(
        "--out", type=Path, help="where the preview goes (default: the state directory + .preview)"
    )


def _add_directory_target(p: argparse.ArgumentParser) -> None:
    """What ``--directory zoom`` needs besides credentials: where Zoom is, where the pull is kept."""
    p.add_argument("--state", type=Path, help="state directory keeping a --directory zoom pull")
    add_target_flags(p)


def cmd_validate(ns: argparse.Namespace) -> int:
    from .jobs.plan import validate

    problems = validate(
        ns.job,
        directory=job_directory(ns),
        encoding=ns.encoding,
        timezone=ns.timezone,
        sheet=ns.sheet,
    )
    errors = [p for p in problems if p.severity == "error"]
    for severity, line in group_problems(problems):
        print(f"{severity}: {line}")
    if errors:
        print(f"{len(errors)} error(s); nothing was sent. Fix them and validate again.")
        return EXIT_USAGE
    print(f"{ns.job}: valid" + (f" ({len(problems)} warning(s))" if problems else ""))
    return EXIT_OK


def cmd_plan(ns: argparse.Namespace) -> int:
    from .jobs.plan import build_plan, format_summary, write_plan

    rate = resolve_rate(ns.account_plan, ns.rate)
    sync = _sync_spec(ns)
    plan = build_plan(
        ns.job,
        directory=job_directory(ns),
        encoding=ns.encoding,
        timezone=ns.timezone,
        sheet=ns.sheet,
    )
    for warning in plan.warnings:
        print(f"warning: {warning}")
    if sync is not None:
        from .errors import JobFileError
        from .jobs.sync import check_rows, extension_zones

        zones = extension_zones(plan.frame)
        problems = check_rows(plan.iter_operations(), sync, plan.source, zones)
        if problems:
            raise JobFileError(problems)
        print(
            f"sync {sync.scope.value}{f' in {sync.window}' if sync.window else ''}: the rows "
            "below are what each extension must have. Which of them are updates and what is "
            "deleted depends on what Zoom has: `bulkops run --dry-run` with the same --sync "
            "reads it and lists them, sending nothing.\n"
        )
    print(format_summary(plan.summary(rate, precheck=not ns.no_precheck)))
    if ns.out is not None:
        write_plan(plan, ns.out)
        print(f"wrote {len(plan):,} operations to {ns.out}")
    return EXIT_OK


def sim_overrides(items: Sequence[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--sim wants KEY=VALUE, not {item!r}")
        try:
            out[key.strip()] = orjson.loads(value)
        except orjson.JSONDecodeError:
            out[key.strip()] = value
    return out


def cmd_run(ns: argparse.Namespace) -> int:
    from .confirm import Consent
    from .run.engine import EngineOptions
    from .runner import RunSettings, run_job

    if ns.sim and not ns.simulate:
        raise ConfigError("--sim only goes with --simulate")
    sync = _sync_spec(ns)
    settings = RunSettings(
        job=ns.job,
        directory=ns.directory,
        state_dir=ns.state,
        account_plan=AccountPlan(ns.account_plan),
        rate=ns.rate,
        options=EngineOptions(
            concurrency=ns.concurrency,
            precheck=not ns.no_precheck,
            max_runtime=ns.max_runtime,
            dry_run=ns.dry_run,
        ),
        simulate=ns.simulate,
        sim_overrides=sim_overrides(ns.sim),
        retry_failed=ns.retry_failed,
        encoding=ns.encoding,
        timezone=ns.timezone,
        sheet=ns.sheet,
        api_url=ns.api_url,
        oauth_url=ns.oauth_url,
        log_format=ns.log_format,
        quiet=ns.quiet,
        wait=ns.wait,
        sync=sync,
        preview_dir=getattr(ns, "out", None),
        refresh_directory=ns.refresh_directory,
        keep_generations=getattr(ns, "keep_generations", None),  # `diff` archives nothing
        consent=Consent.GIVEN if ns.yes else Consent.ASK,
    )
    outcome = asyncio.run(run_job(settings, handle_signals=True))
    if ns.log_format == "json":
        from .progress import summary_record

        emit_summary(
            summary_record(outcome.result, outcome.exit_code)
            | {
                "command": "run",
                "state_dir": str(outcome.state_dir),
                "generation": outcome.generation,
                "reports": {name: str(path) for name, path in outcome.reports.items()},
            }
        )
    return outcome.exit_code


def cmd_diff(ns: argparse.Namespace) -> int:
    """`run --dry-run`: a preview sends no write, so it neither asks nor retries failures."""
    ns.dry_run, ns.yes, ns.retry_failed = True, True, False
    return cmd_run(ns)


def emit_summary(record: dict[str, Any]) -> None:
    """The last line of a JSON log: how the command ended."""
    sys.stderr.write(orjson.dumps({"event": "summary", "at": time.time(), **record}).decode())
    sys.stderr.write("\n")
    sys.stderr.flush()
