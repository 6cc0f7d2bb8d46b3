"""``bulkops export``: what chosen extensions hold in Zoom, written as a job file that recreates it.

It reads each extension's call handling once (the GET a run reads, understood as strictly:
``zoom.view.ExtensionView``), paced on the LIGHT limiter like a run, and writes the rows of
``reports.export`` to CSV or Parquet. The file passes ``bulkops validate`` as written, so it is
a backup (run it to put back what was wiped), a list of the ids Zoom uses, and, addressed by
extension number or email instead of this account's ids, the start of a migration to another
account. It only reads: no confirmation, and no state directory unless ``--directory zoom``
is told to keep its pull in one (``--state DIR``; without it the pull is made afresh and thrown
away: a backup names the extensions the account has now).

The command (its flags, exit codes and what it prints) is :mod:`bulkops.export_cmd`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import AccountPlan, Credentials, Endpoints, resolve_rate
from .errors import (
    AuthError,
    ConfigError,
    FatalApiError,
    RateLimitedError,
)
from .model import SettingType

if TYPE_CHECKING:
    from .reports.export import Exported
    from .reports.jobrows import Row
    from .run.ratelimit import AdaptiveLimiter
    from .run.reads import RetriedReads
    from .run.retry import RetryPolicy
    from .zoom.client import ZoomClient

Sleep = Callable[[float], Awaitable[None]]
#: Extensions read at once: enough to keep a 20-40/s budget busy at Zoom's usual latency.
CONCURRENCY = 8
#: The columns an exported row can name its extension by (``--address-by``).
ADDRESSES = ("extension_id", "extension_number", "email")


@dataclass(frozen=True, slots=True)
class ExportSettings:
    """What ``bulkops export`` was asked to do."""

    out: Path
    directory: Path | None = None  # a directory file, or "zoom": pulled (``directory_pull``)
    target: str | None = None  # a selector over the directory; every extension when None
    extension_ids: tuple[str, ...] = ()  # explicit extensions (with or without a directory)
    setting_types: frozenset[SettingType] = frozenset(SettingType)
    address_by: str = "extension_id"  # the job column the rows name their extension by
    account_plan: AccountPlan = AccountPlan.PRO
    rate: float | None = None
    api_url: str | None = None
    oauth_url: str | None = None
    encoding: str | None = None  # of a CSV directory file
    state_dir: Path | None = None  # keeps a --directory zoom pull, as a run's state does
    refresh_directory: bool = False  # with state_dir: pull again rather than use the kept pull


@dataclass(frozen=True, slots=True)
class ExportResult:
    out: Path
    chosen: int  # extensions selected
    exported: int  # extensions read and written
    rows: int
    notes: tuple[str, ...] = ()  # what the file cannot recreate
    left_out: tuple[str, ...] = ()  # "extension id: why"


async def export_job(
    settings: ExportSettings,
    *,
    env: Mapping[str, str] | None = None,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
    show: bool = False,
) -> ExportResult:
    """Read the chosen extensions and write the job file; see the module's docstring.

    ``show``: a progress bar of a ``--directory zoom`` pull on stderr. Raises ConfigError (or
    JobFileError for a bad directory file) before any call-handling request is sent,
    AuthError when Zoom refuses the credentials, and RateLimitedError for the daily limit.
    """
    env = os.environ if env is None else env
    _check_out(settings.out)
    if settings.address_by not in ADDRESSES:  # before a pull, which would be for nothing
        raise ConfigError(
            f"--address-by must be one of {', '.join(ADDRESSES)}, not {settings.address_by!r}"
        )
    with contextlib.ExitStack() as pulls:
        directory = await _directory(settings, env, pulls, show)
        chosen = _chosen(settings, directory)
    return await _export(settings, chosen, env, sleep, rng)


async def _directory(
    settings: ExportSettings, env: Mapping[str, str], pulls: contextlib.ExitStack, show: bool
) -> Path | None:
    """The directory file to choose from: the one given, or Zoom's, pulled by the runner's
    ``zoom_directory`` (kept in ``state_dir`` when one is given, else in a folder of
    ``pulls``, removed once the extensions are chosen)."""
    from .directory_pull import is_zoom

    if not is_zoom(settings.directory):
        if settings.refresh_directory:
            raise ConfigError("--refresh-directory goes with --directory zoom")
        return settings.directory
    if settings.refresh_directory and settings.state_dir is None:
        raise ConfigError(
            "--refresh-directory goes with --state DIR (the kept pull it replaces): without "
            "--state, an export pulls Zoom's directory afresh every time"
        )
    from .run_settings import RunSettings
    from .run_target import zoom_directory

    keep_in = settings.state_dir or Path(pulls.enter_context(tempfile.TemporaryDirectory()))
    run = RunSettings(
        job=settings.out,
        directory=settings.directory,
        state_dir=keep_in,
        account_plan=settings.account_plan,
        api_url=settings.api_url,
        oauth_url=settings.oauth_url,
        refresh_directory=settings.refresh_directory,
    )
    return await zoom_directory(run, keep_in, env, show=show)


async def _export(
    settings: ExportSettings,
    chosen: list[Exported],
    env: Mapping[str, str],
    sleep: Sleep,
    rng: random.Random | None,
) -> ExportResult:
    """Read ``chosen`` and write the file."""
    from .reports.export import columns, extension_rows, write_rows
    from .run.ratelimit import AdaptiveLimiter
    from .run.retry import RetryPolicy
    from .zoom.client import ZoomClient

    address = settings.address_by
    # An extension the directory gives no number (or email) cannot be addressed that way.
    readable = [ext for ext in chosen if ext.address(address)]
    left_out = [
        f"{ext.extension_id}: the directory gives it no {address}; it cannot be addressed by one"
        for ext in chosen
        if not ext.address(address)
    ]
    rate = resolve_rate(settings.account_plan, settings.rate)
    endpoints = Endpoints.from_env(env, api_url=settings.api_url, oauth_url=settings.oauth_url)
    credentials = Credentials.from_env(env)
    limiter = AdaptiveLimiter(rate)
    policy = RetryPolicy()
    rng = rng or random.Random()
    # As a run does: the directory and the libraries are long-lived, so park them outside the
    # collector; a full collection between a limiter grant and its send can put one request
    # too many into Zoom's window.
    gc.collect()
    gc.freeze()
    try:
        async with ZoomClient(endpoints, credentials, limiter) as client:
            bodies = await _read_all(client, limiter, readable, policy, sleep, rng)
    finally:
        gc.unfreeze()
    header = columns(address)
    rows: list[Row] = []
    notes: list[str] = []
    for ext, body in zip(readable, bodies, strict=True):
        if isinstance(body, str):
            left_out.append(f"{ext.extension_id}: {body}")
            continue
        made = extension_rows(
            body,
            ext,
            settings.setting_types,
            address=address,
            first_row=len(rows) + 2,
        )
        rows += made.rows
        notes += made.notes
    write_rows(settings.out, header, rows)
    return ExportResult(
        settings.out,
        len(chosen),
        len(chosen) - len(left_out),
        len(rows),
        tuple(notes),
        tuple(left_out),
    )


def _check_out(path: Path) -> None:
    if path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise ConfigError(f"--out must end in .csv or .parquet, not {path.suffix or 'no suffix'!r}")
    if not path.parent.is_dir():
        raise ConfigError(f"--out {path}: the folder {path.parent} does not exist; create it first")


def _chosen(settings: ExportSettings, directory_file: Path | None) -> list[Exported]:
    """The extensions to read, in directory order (or as given), each once."""
    from .directory_pull import is_zoom
    from .reports.export import Exported, from_directory

    address = settings.address_by
    if directory_file is None:
        if settings.target is not None or address != "extension_id":
            raise ConfigError(
                "--target and --address-by extension_number/email read the directory: pass "
                "--directory FILE (a directory file, as for `bulkops run`) or --directory zoom"
            )
        if not settings.extension_ids:
            raise ConfigError(
                "name the extensions to export: --directory FILE [--target SELECTOR], or "
                "--extension-id ID (repeatable)"
            )
        return [Exported(i) for i in dict.fromkeys(settings.extension_ids)]
    pulled = is_zoom(settings.directory)  # a pull is written as UTF-8 whatever --encoding says
    return from_directory(
        directory_file,
        settings.target,
        settings.extension_ids,
        address,
        encoding=None if pulled else settings.encoding,
    )


async def _read_all(
    client: ZoomClient,
    limiter: AdaptiveLimiter,
    chosen: Sequence[Exported],
    policy: RetryPolicy,
    sleep: Sleep,
    rng: random.Random,
) -> list[dict[str, Any] | str]:
    """Each extension's GET body, or why it could not be read; in ``chosen``'s order."""
    from .run.reads import RetriedReads

    reads = RetriedReads(limiter, policy=policy, rng=rng, sleep=sleep)
    results: list[dict[str, Any] | str] = ["not read"] * len(chosen)
    work = iter(enumerate(chosen))

    async def worker() -> None:
        for i, ext in work:  # one shared iterator: each extension is taken once
            results[i] = await _read_one(reads, client, ext.extension_id)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(CONCURRENCY, len(chosen))):
                group.create_task(worker())
    except BaseExceptionGroup as failed:  # the first reason to stop, as itself
        raise failed.exceptions[0] from None
    return results


async def _read_one(
    reads: RetriedReads, client: ZoomClient, extension_id: str
) -> dict[str, Any] | str:
    """The extension's GET body, understood, or the reason it was left out.

    Retried as a run retries a read (``run.reads``). A refusal of the credentials, Zoom's daily
    limit and 429s past the budget end the export (raised); any other refusal, or failures past
    the budget, leave this extension out.
    """
    from .run.reads import GaveUp
    from .zoom.view import ExtensionView

    async def send() -> dict[str, Any]:
        response = await client.get_settings(extension_id)
        ExtensionView.parse(response.json, response.status, response.tracking_id)
        body: dict[str, Any] = response.json
        return body

    answer = await reads.get(send)
    if not isinstance(answer, GaveUp):
        return answer
    exc = answer.error
    if isinstance(exc, AuthError | RateLimitedError):
        raise exc
    if isinstance(exc, FatalApiError):
        return exc.message
    return f"{exc.message} ({answer.failures} tries)"
