"""Where a run talks to: Zoom itself or the in-process simulator, and ``--directory zoom``'s
directory file (kept in the state, or pulled now)."""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from . import directory_pull
from .config import Credentials, Endpoints
from .directory_pull import is_zoom
from .errors import CheckpointError
from .run_settings import RunSettings, state_dir_for
from .state.reader import open_readonly

if TYPE_CHECKING:
    from .jobs.plan import Plan

# The name these lines had when they lived in runner.py: log filters and JSON readers know it.
log = logging.getLogger("bulkops.runner")

SIMULATOR_FILE = "simulator.json"  # a --simulate run's account, kept beside its checkpoint


@contextlib.asynccontextmanager
async def zoom_target(
    settings: RunSettings, state_dir: Path, env: Mapping[str, str]
) -> AsyncIterator[tuple[Endpoints, Credentials]]:
    """Zoom itself, or with ``--simulate`` a simulator started in this process on loopback.

    The simulator keeps its state beside the checkpoint, so a stopped and resumed simulated run
    finds the holidays the first part created: the same exactly-once story as against Zoom.
    """
    if not settings.simulate:
        yield (
            Endpoints.from_env(env, api_url=settings.api_url, oauth_url=settings.oauth_url),
            Credentials.from_env(env),
        )
        return
    from .simulator import SimConfig, run_simulator

    sim_config = SimConfig(
        plan=settings.account_plan,
        directory=None if is_zoom(settings.directory) else settings.directory,
        state_file=state_dir / SIMULATOR_FILE,
    )
    if settings.sim_overrides:
        sim_config = sim_config.updated(settings.sim_overrides)
    async with run_simulator(sim_config) as running:
        yield Endpoints(running.api_url, running.oauth_url), running.credentials


async def zoom_directory(
    settings: RunSettings, state_dir: Path, env: Mapping[str, str], *, show: bool = False
) -> Path:
    """``--directory zoom``: the directory pulled into ``state_dir`` earlier, or pulled now
    (and kept there) when there is none or ``--refresh-directory`` asks for a new one.

    Reusing the kept pull is what makes a resumed run plan from the very directory its first
    part did (the plan's hash covers the directory's bytes). The pull is paced at the plan's
    MEDIUM budget: ``--rate`` is the call-handling (LIGHT) one.
    """
    found = directory_pull.cached(state_dir)
    if found is not None and settings.refresh_directory:
        if holds_unfinished_run(state_dir):
            log.warning(
                "the state holds an unfinished run planned from Zoom's directory as pulled at "
                "%s: finishing it with that directory (--refresh-directory takes effect once it "
                "is done)",
                found[1],
            )
        else:
            found = None
    if found is not None:
        path, pulled_at = found
        log.info(
            "using Zoom's directory as pulled at %s (--refresh-directory pulls it again)", pulled_at
        )
        return path
    if not settings.simulate:
        Credentials.from_env(env)  # missing credentials: say so before anything is made
    async with zoom_target(settings, state_dir, env) as (endpoints, credentials):
        rate = directory_pull.medium_rate(settings.account_plan, None)
        pulled = await directory_pull.pull_from(endpoints, credentials, rate, show=show)
    path = directory_pull.store(pulled, state_dir)
    log.info(
        "pulled Zoom's directory: %d extensions (%d common areas skipped: another endpoint "
        "family serves them) into %s",
        len(pulled.rows),
        pulled.skipped_common_areas,
        path,
    )
    return path


def pulled_note(path: Path) -> str:
    found = directory_pull.cached(path.parent)
    when = f", pulled at {found[1]}" if found else ""
    return f"Zoom's{when} ({path}; --refresh-directory pulls it again)"


def holds_unfinished_run(state_dir: Path) -> bool:
    """Whether the checkpoint in ``state_dir`` has operations not yet done (a damaged or absent
    state has none to finish: opening it for the run says what is wrong)."""
    try:
        with open_readonly(state_dir) as reader:
            return any(n for status, n in reader.counts().items() if not status.final)
    except CheckpointError:
        return False


async def planning_directory(
    settings: RunSettings,
    plan: Plan | None,
    env: Mapping[str, str],
    out: TextIO,
    pulls: contextlib.ExitStack,
) -> Path | None:
    """The directory file to plan from: the one given, or ``--directory zoom``'s pull."""
    if plan is not None or not is_zoom(settings.directory):
        return settings.directory
    keep_in = state_dir_for(settings)
    if settings.options.dry_run and (
        settings.refresh_directory or directory_pull.cached(keep_in) is None
    ):
        # A dry run reads a kept pull but keeps none: the real state is not touched.
        keep_in = Path(pulls.enter_context(tempfile.TemporaryDirectory()))
    talk = settings.log_format != "json" and not settings.quiet
    directory = await zoom_directory(settings, keep_in, env, show=talk and sys.stderr.isatty())
    if talk:
        print(f"directory: {pulled_note(directory)}", file=out)
    return directory
