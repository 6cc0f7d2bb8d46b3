"""Zoom's extension directory, pulled: every list read with paging, joined into one directory file.

The file's columns (:data:`COLUMNS`) are what the job side reads (``bulkops.jobs.directory``):
``extension_id`` (what the call-handling endpoint takes), ``extension_number``, ``email``
(users), ``name``, ``type``, ``site_id``, ``site_name`` (selectable as ``site``), ``timezone``,
``country`` (the site's ISO 3166 code), ``status``, and the entity's own ``id`` (user id, queue
id, …), which is *not* an extension id. ``timezone`` is the entity's own where the list gives
one (auto receptionists), else its site's main auto receptionist's. Common areas have no
extension id and are served by another endpoint family: they are counted, not written.

The lists are Zoom's rate label MEDIUM (Pro 10/s, Business 20/s per account), a budget apart
from the call-handling LIGHT one: they are paced by an :class:`AdaptiveLimiter` of their own, and
a 429 or a 5xx is handled by the engine's own decision table (:func:`bulkops.run.decide.decide`):
``Retry-After`` honoured for everyone, the rate cut on per-second 429s, backoff on failures.

``--directory zoom`` keeps the pull in the state directory (:data:`CACHE_NAME`, with its pull
time in :data:`CACHE_META`), so a resumed run plans from the very directory its first part did;
``--refresh-directory`` pulls again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

from .config import AccountPlan, Credentials, Endpoints, resolve_rate
from .errors import (
    ConfigError,
)
from .jobs.checks import did_you_mean
from .run.pages import ListReader, PullStats
from .run.ratelimit import AdaptiveLimiter
from .run.retry import RetryPolicy
from .state.files import private_dir, private_file
from .zoom.client import ZoomClient

__all__ = [
    "CACHE_META",
    "CACHE_NAME",
    "COLUMNS",
    "TYPES",
    "PullStats",
    "PulledDirectory",
    "cached",
    "is_zoom",
    "medium_rate",
    "pull_directory",
    "pull_from",
    "store",
    "write_directory_file",
]

log = logging.getLogger(__name__)

COLUMNS = (
    "extension_id",
    "extension_number",
    "email",
    "name",
    "type",
    "site_id",
    "site_name",
    "timezone",
    "country",
    "status",
    "id",
)
#: Extension type (the file's ``type``) → the list it comes from, in the order pulled.
TYPES: dict[str, str] = {
    "user": "users",
    "call_queue": "call_queues",
    "auto_receptionist": "auto_receptionists",
    "shared_line_group": "shared_line_groups",
}
#: Lists that narrow to one site on Zoom's side (``site_id``); the others are narrowed here.
_SITE_FILTERED = frozenset({"users", "call_queues", "common_areas"})
CACHE_NAME = "zoom-directory.csv"
CACHE_META = "zoom-directory.json"
ZOOM = "zoom"  # the --directory value that means "pull it"


def is_zoom(directory: Path | str | None) -> bool:
    """Whether ``--directory`` asks for Zoom's own directory rather than a file."""
    return directory is not None and str(directory).strip().lower() == ZOOM


def medium_rate(plan: AccountPlan | str | None, rate: float | None) -> float:
    """``--rate`` wins (checked like the run's); otherwise the plan's MEDIUM budget."""
    if rate is not None:
        return resolve_rate(plan, rate)
    resolve_rate(plan, None)  # the same message for an unknown plan
    return AccountPlan(plan or AccountPlan.PRO).medium_rate


@dataclass(frozen=True, slots=True)
class PulledDirectory:
    rows: tuple[dict[str, str], ...]  # one per extension, keys COLUMNS
    skipped_common_areas: int
    pulled_at: datetime
    pages: int
    rate_limited: int


async def pull_directory(
    client: ZoomClient,
    limiter: AdaptiveLimiter,
    *,
    types: Collection[str] = tuple(TYPES),
    site: str | None = None,
    stats: PullStats | None = None,
    policy: RetryPolicy | None = None,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> PulledDirectory:
    """Read the sites, the auto receptionists (for the zones), the lists of ``types`` and the
    common areas (to count them), narrowed to the site named ``site`` when given."""
    unknown = sorted(set(types) - set(TYPES))
    if unknown or not types:
        raise ConfigError(
            f"--types takes a comma-separated list of {', '.join(TYPES)}, not {','.join(unknown)!r}"
        )
    stats = stats if stats is not None else PullStats()
    lists = ListReader(
        client,
        limiter,
        stats,
        policy=policy or RetryPolicy(),
        rng=rng or random.Random(),
        sleep=sleep,
        clock=clock,
    )
    # Each list's pages follow one another (each needs the last one's token), so the lists
    # are read side by side: with Zoom's latency, one list alone could not use the budget.
    # Only a --site waits for the sites, to narrow the lists on Zoom's side.
    site_id, listed = None, {}
    if site is not None:
        listed["sites"] = await lists.read("sites")
        site_id = _site_id(_by_id(listed["sites"]), site)
    params = {} if site_id is None else {"site_id": site_id}
    kinds = [t for t in TYPES if t in types]
    names = ["sites", "auto_receptionists", *(TYPES[k] for k in kinds), "common_areas"]
    names = [n for n in dict.fromkeys(names) if n not in listed]
    found = await _together(
        *(lists.read(n, params if n in _SITE_FILTERED else None) for n in names)
    )
    listed |= dict(zip(names, found, strict=True))
    sites = _by_id(listed["sites"])
    zones = _site_zones(sites, listed["auto_receptionists"])
    areas = listed["common_areas"]
    rows = [
        _row(kind, item, sites, zones)
        for kind in kinds
        for item in listed[TYPES[kind]]
        if site_id is None or _site_of(item).get("id") == site_id
    ]
    pulled = PulledDirectory(tuple(rows), len(areas), now(), stats.pages, stats.rate_limited)
    log.info(
        "pulled %d extensions in %d pages (%d common areas skipped)",
        len(rows),
        stats.pages,
        len(areas),
    )
    return pulled


async def _together(*reads: Awaitable[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """Every read's items, in order; the first failure cancels the others and is raised as is
    (not in an ExceptionGroup: the CLI maps each error to its exit code)."""
    tasks = [asyncio.ensure_future(r) for r in reads]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _by_id(sites: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in sites if isinstance(s.get("id"), str)}


def _site_of(item: Mapping[str, Any]) -> Mapping[str, Any]:
    site = item.get("site")
    return site if isinstance(site, dict) else {}


def _site_id(sites: Mapping[str, Mapping[str, Any]], name: str) -> str:
    by_name = {str(s.get("name", "")).casefold(): i for i, s in sites.items()}
    found = by_name.get(name.strip().casefold())
    if found is None:
        names = [str(s.get("name", "")) for s in sites.values()]
        raise ConfigError(
            f"--site {name!r} is not a site of this account{did_you_mean(name, names)}; "
            f"its sites are {', '.join(sorted(names)) or '(none)'}"
        )
    return found


def _site_zones(
    sites: Mapping[str, Mapping[str, Any]], receptionists: list[dict[str, Any]]
) -> dict[str, str]:
    """Each site's zone: its main auto receptionist's (found by id, else by extension id)."""
    zone_of = {}
    for ar in receptionists:
        for key in ("id", "extension_id"):
            if isinstance(ar.get(key), str):
                zone_of[ar[key]] = str(ar.get("timezone") or "")
    zones = {}
    for site_id, site in sites.items():
        main = site.get("main_auto_receptionist")
        if isinstance(main, dict):
            zone = zone_of.get(main.get("id", "")) or zone_of.get(main.get("extension_id", ""))
            zones[site_id] = zone or ""
    return zones


def _row(
    kind: str,
    item: Mapping[str, Any],
    sites: Mapping[str, Mapping[str, Any]],
    zones: Mapping[str, str],
) -> dict[str, str]:
    site = _site_of(item)
    site_id = str(site.get("id") or "")
    country = sites.get(site_id, {}).get("country")
    number = item.get("extension_number")
    return {
        "extension_id": str(item.get("extension_id") or ""),
        "extension_number": "" if number is None else str(number),
        "email": str(item.get("email") or ""),
        "name": str(item.get("name") or item.get("display_name") or ""),
        "type": kind,
        "site_id": site_id,
        "site_name": str(site.get("name") or ""),
        "timezone": str(item.get("timezone") or zones.get(site_id, "")),
        "country": str(country.get("code") or "") if isinstance(country, dict) else "",
        "status": str(item.get("status") or ""),
        "id": str(item.get("id") or ""),
    }


async def pull_from(
    endpoints: Endpoints,
    credentials: Credentials,
    rate: float,
    *,
    types: Collection[str] = tuple(TYPES),
    site: str | None = None,
    show: bool = False,
    out: TextIO | None = None,
) -> PulledDirectory:
    """Pull with a client and a MEDIUM limiter of its own (``rate`` requests/s), showing a
    progress bar on ``out`` when ``show``."""
    limiter = AdaptiveLimiter(rate)
    stats = PullStats()
    async with (
        ZoomClient(endpoints, credentials, limiter, connector_limit=4) as client,
        _showing(stats, out or sys.stderr, show),
    ):
        return await pull_directory(client, limiter, types=types, site=site, stats=stats)


@contextlib.asynccontextmanager
async def _showing(stats: PullStats, out: TextIO, show: bool) -> AsyncIterator[None]:
    """A live bar in the style of the run's (``progress.RichDisplay``), refreshed twice a
    second; nothing at all unless ``show``."""
    if not show:
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    progress = Progress(
        TextColumn("[bold]bulkops directory"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        console=Console(file=out),
    )
    task = progress.add_task("pull", total=None, detail="")

    def update() -> None:
        elapsed = max(time.monotonic() - stats.started, 1e-9)
        progress.update(
            task,
            total=stats.total or None,
            completed=stats.items,
            detail=f"{stats.pages} pages · {stats.pages / elapsed:.1f}/s "
            f"· 429s {stats.rate_limited}",
        )

    async def refresh() -> None:
        while True:
            await asyncio.sleep(0.5)
            update()

    progress.start()
    ticker = asyncio.create_task(refresh())
    try:
        yield
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        update()
        progress.stop()


def write_directory_file(pulled: PulledDirectory, path: Path) -> None:
    """Write the directory as CSV, or Parquet when ``path`` ends in ``.parquet``; atomically, so
    a reader never sees half a file."""
    import pandas as pd  # only here: `bulkops --help` must not load pandas

    frame = pd.DataFrame(list(pulled.rows), columns=list(COLUMNS), dtype="string")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, lineterminator="\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached(state_dir: Path) -> tuple[Path, str] | None:
    """The directory a ``--directory zoom`` run pulled into ``state_dir``, and when."""
    path, meta = state_dir / CACHE_NAME, state_dir / CACHE_META
    try:
        pulled_at = str(orjson.loads(meta.read_bytes())["pulled_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (path, pulled_at) if path.is_file() else None


def store(pulled: PulledDirectory, state_dir: Path) -> Path:
    """Keep ``pulled`` in ``state_dir`` (0700, files 0600, like the checkpoint beside it)."""
    private_dir(state_dir)
    path = state_dir / CACHE_NAME
    write_directory_file(pulled, path)
    private_file(path)
    meta = {
        "pulled_at": pulled.pulled_at.isoformat(timespec="seconds"),
        "extensions": len(pulled.rows),
        "skipped_common_areas": pulled.skipped_common_areas,
    }
    tmp = state_dir / f".{CACHE_META}.tmp"
    tmp.write_bytes(orjson.dumps(meta))
    private_file(tmp)
    os.replace(tmp, state_dir / CACHE_META)
    return path
