"""One `bulkops run`, start to end: plan, lock the state, connect, run the engine, report.

Everything the CLI does besides parsing flags lives here, callable from Python and from tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .config import Credentials, Endpoints, resolve_rate
from .confirm import refuse_without_terminal
from .directory_pull import is_zoom
from .errors import ConfigError, ReportWriteError, StateMismatchError
from .exit_codes import EXIT_OK, exit_code
from .jobs.sync import extension_zones
from .model import Operation
from .progress import Display, choose_display, format_summary, showing, stop_record, verdict
from .reports.refresher import refreshing
from .run.engine import Engine
from .run.ratelimit import AdaptiveLimiter
from .run.stats import RunResult, RunStats, StopReason
from .run_consent import cannot_ask, confirm_run, must_ask
from .run_generations import new_generation, new_sync_generation
from .run_plan import emit_sync_plan, plan_for, stored_plan, sync_summary
from .run_settings import (
    RunOutcome,
    RunSettings,
    preview_dir_for,
    state_dir_for,
    writes_to_zoom,
)
from .run_target import SIMULATOR_FILE, planning_directory, zoom_target
from .state import generations
from .state.checkpoint import Checkpoint
from .state.lease import account_lease, runtime_dir
from .zoom.client import ZoomClient

if TYPE_CHECKING:  # pandas loads with these: a resumed run's first request does not wait for it
    from .jobs.plan import Plan
    from .reports.diff import Preview

__all__ = ["RunOutcome", "RunSettings", "run_job"]  # the settings and outcome live below

log = logging.getLogger(__name__)


def install_signal_handlers(engine: Engine) -> Callable[[], None]:
    """First SIGINT/SIGTERM: stop gracefully. A second SIGINT: leave at once.

    Leaving at once is safe: every intent is already committed, and SQLite's journal makes an
    interrupted commit vanish as a whole; the next run reconciles whatever was in flight.
    """
    loop = asyncio.get_running_loop()
    hits = {"n": 0}

    def on_signal(signum: int) -> None:
        hits["n"] += 1
        if hits["n"] > 1 and signum == signal.SIGINT:
            print(
                "\nbulkops: second interrupt, leaving now (the run is resumable)", file=sys.stderr
            )
            os._exit(130)
        print(
            f"\nbulkops: {signal.Signals(signum).name} received; finishing requests in flight "
            "(press Ctrl-C again to leave at once)",
            file=sys.stderr,
        )
        engine.request_stop(StopReason.SIGNAL, signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)

    def remove() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    return remove


async def run_job(
    settings: RunSettings,
    *,
    plan: Plan | None = None,
    env: Mapping[str, str] | None = None,
    display: Display | None = None,
    out: TextIO | None = None,
    handle_signals: bool = False,
    engine_hook: Callable[[Engine], None] | None = None,
    stdin: TextIO | None = None,
) -> RunOutcome:
    """Run the job of ``settings`` to its end (or to a stop) and write the reports.

    Raises JobFileError before anything is sent when the job file is invalid, the
    checkpoint errors when the state directory is locked or belongs to another job, and
    ConfigError when the run must be confirmed (``settings.consent``) and is not: ``stdin``
    is no terminal, or the answer is not yes.
    """
    env = os.environ if env is None else env
    out = out or sys.stdout  # looked up per call: callers and tests may swap sys.stdout
    stdin = stdin or sys.stdin
    with contextlib.ExitStack() as pulls:  # a dry run's pull is kept until its preview is written
        if cannot_ask(settings, stdin):  # before a --directory zoom pull sends anything
            raise refuse_without_terminal(Credentials.from_env(env).account_id)
        if settings.refresh_directory and not is_zoom(settings.directory):  # resumed runs too
            raise ConfigError("--refresh-directory goes with --directory zoom")
        keep = generations.resolve_keep(settings.keep_generations, env)
        state_dir = state_dir_for(settings)
        stored = None if plan is not None or settings.options.dry_run else stored_plan(settings)
        if stored is not None:
            job_hash, directory = stored
            log.info(
                "plan ready: resuming the plan stored in %s (the job file is unchanged)", state_dir
            )
        else:
            directory = await planning_directory(settings, plan, env, out, pulls)
            plan = plan or plan_for(settings, directory)
            job_hash = plan.job_hash
            log.info("plan ready: %d operations from %s", len(plan), settings.job)
        if not settings.simulate:
            Credentials.from_env(env)  # missing credentials: say so before any state is made
        resolve_rate(settings.account_plan, settings.rate)  # likewise a --rate of inf, nan or 0
        ask_first = must_ask(settings, job_hash)
        if ask_first and not stdin.isatty():
            raise refuse_without_terminal(Credentials.from_env(env).account_id)
        scratch: str | None = None
        if settings.options.dry_run:
            # A dry run must not touch the real state: it works on a throw-away copy of the plan.
            scratch = tempfile.mkdtemp(prefix="bulkops-dry-run-")
            kept = state_dir / SIMULATOR_FILE
            state_dir = Path(scratch)
            if settings.simulate and kept.is_file():
                # Preview against the simulated account the real runs of this state changed.
                shutil.copyfile(kept, state_dir / SIMULATOR_FILE)
        # Handed over in a list the run empties: once the plan is stored, nothing holds its frame.
        plans = [] if plan is None else [plan]
        del plan
        try:
            async with _account_lease(settings, state_dir, env):
                if ask_first:
                    if not plans:  # the question shows the plan's counts
                        plans.append(plan_for(settings, directory))
                    await confirm_run(settings, plans[0], env, stdin)
                job = _Job(job_hash, plans, directory, keep)
                return await _run(
                    settings, job, state_dir, env, display, out, handle_signals, engine_hook
                )
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)


@dataclass(slots=True)
class _Job:
    """What a run works from: the plan's hash, the plan itself unless the state holds it (a
    list the run empties once it is stored), and the directory file it was built from."""

    job_hash: str
    plans: list[Plan]
    directory: Path | None
    keep_generations: int  # archived runs the state keeps (generations.resolve_keep)


def _account_lease(
    settings: RunSettings, state_dir: Path, env: Mapping[str, str]
) -> contextlib.AbstractAsyncContextManager[object]:
    """One run per Zoom account on this host (``state.lease``), taken before the state opens.
    A simulated account belongs to this process alone."""
    if settings.simulate:
        return contextlib.nullcontext()
    dry = " (dry run)" if settings.options.dry_run else ""
    return account_lease(
        runtime_dir(env),
        Endpoints.from_env(env, api_url=settings.api_url).api_url,
        Credentials.from_env(env).account_id,
        job=str(settings.job),
        state=f"{state_dir_for(settings)}{dry}",
        wait=settings.wait,
    )


async def _run(
    settings: RunSettings,
    job: _Job,
    state_dir: Path,
    env: Mapping[str, str],
    display: Display | None,
    out: TextIO,
    handle_signals: bool,
    engine_hook: Callable[[Engine], None] | None,
) -> RunOutcome:
    sync = settings.sync
    checkpoint = Checkpoint.open(
        state_dir,
        job_hash=job.job_hash,
        job_path=str(settings.job),
        archive=functools.partial(
            new_generation if sync is None else new_sync_generation, keep=job.keep_generations
        ),
        renew=sync is not None,
    )
    try:
        desired: list[Operation] = []  # a sync's rows, expanded once Zoom has been read
        zones: dict[str, str] = {}  # and each extension's zone, which counts its window
        if not checkpoint.has_plan:
            # Only when nobody stored the plan yet; a resumed run's stays as it is.
            plan = job.plans.pop() if job.plans else plan_for(settings, job.directory)
            if plan.job_hash != job.job_hash:
                raise StateMismatchError(
                    f"{settings.job} changed while the run was starting: run the same command "
                    "again once it is complete"
                )
            if sync is None:
                checkpoint.load_plan(plan.frame)
            else:
                desired, zones = list(plan.iter_operations()), extension_zones(plan.frame)
            del plan
        job.plans.clear()
        if settings.retry_failed:
            reset = checkpoint.reset_failed()
            log.info("retrying %d failed or skipped operations", reset)
        rate = resolve_rate(settings.account_plan, settings.rate)
        async with zoom_target(settings, state_dir, env) as (endpoints, credentials):
            checkpoint.claim_account(credentials.account_id)
            if writes_to_zoom(settings):  # asked and answered yes, or --yes: a resume won't ask
                checkpoint.record_confirmation(job.job_hash)
            limiter = AdaptiveLimiter(rate)
            options = settings.options
            async with ZoomClient(
                endpoints,
                credentials,
                limiter,
                connector_limit=options.concurrency or options.max_concurrency,
            ) as client:
                reads = RunStats()
                if sync is not None and not checkpoint.has_plan:
                    # Recorded whole before the engine sends anything: a resumed sync carries
                    # out these operations, never a second reading of a half-changed account.
                    from .run.sync import expand, plan_frame

                    planned = plan_frame(
                        await expand(
                            desired,
                            sync,
                            client,
                            limiter,
                            retry=options.retry,
                            stats=reads,
                            zones=zones,
                        )
                    )
                    checkpoint.load_plan(planned)
                    if settings.log_format == "json" and not settings.quiet:
                        emit_sync_plan(sync, planned, rate)
                    elif not settings.quiet:
                        print(sync_summary(sync, planned, rate), file=out)
                if settings.write_reports and not options.dry_run:
                    _prune_report_log(checkpoint, state_dir)
                engine = Engine(checkpoint, client, limiter, options)
                if engine.stats.total > engine.stats.already_final:
                    client.tokens.prefetch()  # its round trip overlaps the set-up below
                for counter in ("requests", "lookups", "rate_limited", "retries"):
                    # A sync's reads are this run's requests too: the summary counts them all.
                    setattr(
                        engine.stats,
                        counter,
                        getattr(reads, counter) + getattr(engine.stats, counter),
                    )
                # The plan and the libraries are long-lived: park them outside the collector, so
                # a full collection never pauses the loop between a limiter grant and its send
                # (a 20 ms pause there is enough to put 41 requests into Zoom's window).
                gc.collect()
                gc.freeze()
                if engine_hook is not None:
                    engine_hook(engine)
                remove = install_signal_handlers(engine) if handle_signals else None
                try:
                    shown = display or choose_display(settings.log_format, quiet=settings.quiet)
                    async with showing(shown, engine.stats):
                        # The reports are rendered ahead while the run goes: its end renders
                        # only what changed in its last seconds.
                        ahead = settings.write_reports and not options.dry_run
                        with refreshing(state_dir, enabled=ahead) as cache_is_ours:
                            result, code = await _run_and_record(engine, checkpoint)
                finally:
                    gc.unfreeze()  # what the run left behind is collectable again
                    if remove is not None:
                        remove()
        reports: dict[str, Path] = {}
        preview: Preview | None = None
        # Asked to stop, the run leaves at once: a big job's reports take longer than a service
        # manager waits after SIGTERM, and the state lets anyone write them later.
        postponed = (
            result.stop_reason in _STOPS_WITHOUT_REPORTS
            and settings.write_reports
            and not options.dry_run
        )
        if settings.write_reports and options.dry_run:
            preview = _write_preview(settings, state_dir, job.directory)
            reports = preview.paths
        elif settings.write_reports and not postponed:
            from .reports.results import write_all

            try:
                reports = write_all(state_dir, keep_cache=cache_is_ours())
            except ReportWriteError as exc:  # the run's result stands; the state has it all
                log.error("%s", exc)
        if settings.log_format != "json" and not (settings.quiet and code == EXIT_OK):
            print(format_summary(result, code), file=out)
            if preview is not None:
                print("  by action", file=out)
                for name, value in preview.lines():
                    print(f"    {name:<16}  {value}", file=out)
            for name, path in reports.items():
                print(f"  {name:<16}  {path}", file=out)
            if postponed:
                print(_postponed_hint(state_dir), file=out)
        elif postponed:
            log.warning("%s", _postponed_hint(state_dir).strip())
        if result.stop_reason is not None:
            log.warning("%s", verdict(result, code))  # the last line a cron mail shows
        return RunOutcome(result, code, state_dir, reports, generations.current(state_dir))
    finally:
        checkpoint.close()


def _prune_report_log(checkpoint: Checkpoint, state_dir: Path) -> None:
    """Cut the report change log an earlier run's cache no longer needs, before this run adds its
    own entries (a few per operation sent: uncut, the checkpoint would grow with every run)."""
    from .reports.manifest import cache_mark

    mark = cache_mark(checkpoint.reader, state_dir)
    if mark is not None:
        checkpoint.prune_change_log(mark)


#: Stops the user asked for (a signal, --max-runtime): the reports wait for the next run or
#: `bulkops report`.
_STOPS_WITHOUT_REPORTS = frozenset({StopReason.SIGNAL, StopReason.MAX_RUNTIME})


def _postponed_hint(state_dir: Path) -> str:
    return (
        "  reports: not written after a stop, so the state is free at once; "
        f"`bulkops report --state {state_dir}` writes them now, and the run that finishes "
        "the job writes them"
    )


def _sites(directory: Path | None) -> dict[str, str]:
    """Extension id → site, from the directory file, for the preview's ``site`` column."""
    if directory is None:
        return {}
    from .jobs.directory import load_directory

    frame = load_directory(directory).frame
    if "site" not in frame:
        return {}
    pairs = zip(frame["extension_id"], frame["site"], strict=True)
    return {str(ext): site for ext, site in pairs if isinstance(site, str) and site}


def _write_preview(settings: RunSettings, scratch: Path, directory: Path | None) -> Preview:
    """``directory``: the file the plan was built from (a ``--directory zoom`` pull's, not 'zoom')."""
    from .reports.diff import write_preview

    target = preview_dir_for(settings)
    try:
        return write_preview(scratch, target, sites=_sites(directory))
    except OSError as exc:
        raise ReportWriteError(
            f"cannot write the preview in {target}: {exc}; nothing was sent. Fix that (or "
            "choose another directory with `bulkops diff --out DIR`) and preview again"
        ) from None


async def _run_and_record(engine: Engine, checkpoint: Checkpoint) -> tuple[RunResult, int]:
    """Run the engine, then record the run with its exit code, where status and reports read it.

    The run is recorded even when the engine raised (a lane's bug): the row then says how far
    it got. Only a dead checkpoint writer can prevent that, and it raises its own error.
    """
    started_at = time.time()
    await checkpoint.start()
    try:
        try:
            await engine.run()
        finally:
            result = engine.result()
            code = exit_code(result)
            # Why it stopped travels with the counters: summary.json and report.html read it.
            stats = result.stats.as_dict() | {"stop": stop_record(result)}
            await checkpoint.record_run(started_at, code, stats)
    finally:
        await checkpoint.stop_writer()
    return result, code
