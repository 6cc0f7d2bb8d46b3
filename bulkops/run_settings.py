"""What `bulkops run` is asked to do (RunSettings) and what it ends with (RunOutcome).

Below the runner, so the pieces it composes (where it talks to, its plan, its confirmation) can
read the settings without importing the composition root.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import AccountPlan
from .confirm import Consent
from .jobs.sync import SyncSpec
from .run.engine import EngineOptions
from .run.stats import RunResult
from .state.checkpoint import default_state_dir


@dataclass(frozen=True, slots=True)
class RunSettings:
    """What `bulkops run` was asked to do."""

    job: Path
    directory: Path | None = None
    state_dir: Path | None = None
    account_plan: AccountPlan = AccountPlan.PRO
    rate: float | None = None
    options: EngineOptions = field(default_factory=EngineOptions)
    simulate: bool = False
    sim_overrides: Mapping[str, Any] = field(default_factory=dict)
    retry_failed: bool = False
    encoding: str | None = None
    timezone: str | None = None
    sheet: str | None = None  # of an .xlsx job file
    api_url: str | None = None
    oauth_url: str | None = None
    log_format: str = "text"
    quiet: bool = False  # no progress display, and no summary when everything succeeded
    write_reports: bool = True
    wait: bool = False  # another run holds the account: wait for it rather than exit 73
    sync: SyncSpec | None = None  # the job's rows are the whole truth for this scope
    preview_dir: Path | None = None  # a dry run's diff and report; default: <state>.preview
    refresh_directory: bool = False  # with --directory zoom: pull again, not the kept pull
    keep_generations: int | None = None  # finished runs kept; None: $BULKOPS_KEEP_GENERATIONS or 30
    # ASK (the CLI without --yes): on a terminal, ask before writing to a real account; without
    # one, refuse (exit 2). A Python caller has decided already: GIVEN.
    consent: Consent = Consent.GIVEN


@dataclass(frozen=True, slots=True)
class RunOutcome:
    result: RunResult  # the engine's facts: counts, stats, why it stopped
    exit_code: int  # what the result means to a shell (bulkops.exit_codes)
    state_dir: Path
    reports: dict[str, Path]
    generation: int = 1  # of the state directory: 1 + the finished runs of earlier job files


def state_dir_for(settings: RunSettings) -> Path:
    return settings.state_dir or default_state_dir(settings.job)


def preview_dir_for(settings: RunSettings) -> Path:
    """Where a dry run writes its preview: beside the state, which a dry run never touches."""
    if settings.preview_dir is not None:
        return settings.preview_dir
    state = state_dir_for(settings)
    return state.with_name(f"{state.name}.preview")


def writes_to_zoom(settings: RunSettings) -> bool:
    return not settings.simulate and not settings.options.dry_run
