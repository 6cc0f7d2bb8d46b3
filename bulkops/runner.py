"""One `bulkops run`, start to end: plan, lock the state, connect, run the engine, report.

Everything the CLI does besides parsing flags lives here, callable from Python and from tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .config import AccountPlan, Credentials, Endpoints, resolve_rate
from .errors import JobFileError, ReportWriteError, StateMismatchError
from .exit_codes import EXIT_OK, exit_code
from .jobs.intake import job_hash_of
from .progress import Display, choose_display, format_summary, showing, stop_record, verdict
from .run.engine import Engine, EngineOptions
from .run.ratelimit import AdaptiveLimiter
from .run.stats import RunResult, StopReason
from .state import generations
from .state.checkpoint import Checkpoint, default_state_dir
from .state.lease import account_lease, runtime_dir
from .state.reader import stored_plan_hash
from .zoom.client import ZoomClient

if TYPE_CHECKING:
    from .jobs.plan import Plan

log = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class RunOutcome:
    result: RunResult  # the engine's facts: counts, stats, why it stopped
    exit_code: int  # what the result means to a shell (bulkops.exit_codes)
    state_dir: Path
    reports: dict[str, Path]
    generation: int = 1  # of the state directory: 1 + the finished runs of earlier job files


def state_dir_for(settings: RunSettings) -> Path:
    return settings.state_dir or default_state_dir(settings.job)


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
        directory=settings.directory,
        state_file=state_dir / "simulator.json",
    )
    if settings.sim_overrides:
        sim_config = sim_config.updated(settings.sim_overrides)
    async with run_simulator(sim_config) as running:
        yield Endpoints(running.api_url, running.oauth_url), running.credentials


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
) -> RunOutcome:
    """Run the job of ``settings`` to its end (or to a stop) and write the reports.

    A job whose files hash to the plan the state already holds resumes that plan without
    reading them again. A stop by signal or ``max_runtime`` leaves the reports to
    ``bulkops report`` or the next run. Raises JobFileError before anything is sent when the
    job file is invalid, and the checkpoint errors when the state directory is locked or
    belongs to another job.
    """
    env = os.environ if env is None else env
    out = out or sys.stdout  # looked up per call: callers and tests may swap sys.stdout
    state_dir = state_dir_for(settings)
    stored = None if plan is not None or settings.options.dry_run else _stored_plan(settings)
    if stored is None:
        plan = plan or _build(settings)
        for warning in plan.warnings:
            log.warning("%s", warning)
        job_hash = plan.job_hash
        log.info("plan ready: %d operations from %s", len(plan), settings.job)
    else:
        job_hash = stored
        log.info(
            "plan ready: resuming the plan stored in %s (the job file is unchanged)", state_dir
        )
    if not settings.simulate:
        Credentials.from_env(env)  # missing credentials: say so before any state is made
    resolve_rate(settings.account_plan, settings.rate)  # likewise a --rate of inf, nan or 0
    scratch: str | None = None
    if settings.options.dry_run:
        # A dry run must not touch the real state: it works on a throw-away copy of the plan.
        scratch = tempfile.mkdtemp(prefix="bulkops-dry-run-")
        state_dir = Path(scratch)
    # Handed over in a list the run empties: once the plan is stored, nothing holds its frame.
    plans = [] if plan is None else [plan]
    del plan
    try:
        async with _account_lease(settings, state_dir, env):
            return await _run(
                settings, job_hash, plans, state_dir, env, display, out, handle_signals, engine_hook
            )
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _build(settings: RunSettings) -> Plan:
    # pandas and the planner load only here and for the reports: a resumed run's first
    # request does not wait for them.
    from .jobs.plan import build_plan

    return build_plan(
        settings.job,
        directory=settings.directory,
        encoding=settings.encoding,
        timezone=settings.timezone,
        sheet=settings.sheet,
    )


def _stored_plan(settings: RunSettings) -> str | None:
    """The job hash, when the state already holds the plan of these very files: the run then
    takes the plan from there and neither reads nor checks the job file again."""
    stored = stored_plan_hash(state_dir_for(settings))
    if stored is None:
        return None
    try:
        current = job_hash_of(
            settings.job,
            directory=settings.directory,
            encoding=settings.encoding,
            timezone=settings.timezone,
            sheet=settings.sheet,
        )
    except JobFileError:
        return None  # unreadable now: building the plan says why, with the usual message
    return stored if current == stored else None


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
    job_hash: str,
    plans: list[Plan],
    state_dir: Path,
    env: Mapping[str, str],
    display: Display | None,
    out: TextIO,
    handle_signals: bool,
    engine_hook: Callable[[Engine], None] | None,
) -> RunOutcome:
    checkpoint = Checkpoint.open(
        state_dir, job_hash=job_hash, job_path=str(settings.job), archive=_new_generation
    )
    try:
        if not checkpoint.has_plan:
            # Only when the plan was stored by nobody yet; a resumed run's stays as it is.
            plan = plans.pop() if plans else _build(settings)
            if plan.job_hash != job_hash:
                raise StateMismatchError(
                    f"{settings.job} changed while the run was starting: run the same command "
                    "again once it is complete"
                )
            checkpoint.load_plan(plan.frame)
            del plan
        plans.clear()
        if settings.retry_failed:
            reset = checkpoint.reset_failed()
            log.info("retrying %d failed or skipped operations", reset)
        rate = resolve_rate(settings.account_plan, settings.rate)
        async with zoom_target(settings, state_dir, env) as (endpoints, credentials):
            checkpoint.claim_account(credentials.account_id)
            limiter = AdaptiveLimiter(rate)
            options = settings.options
            async with ZoomClient(
                endpoints,
                credentials,
                limiter,
                connector_limit=options.concurrency or options.max_concurrency,
            ) as client:
                engine = Engine(checkpoint, client, limiter, options)
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
                        result, code = await _run_and_record(engine, checkpoint)
                finally:
                    gc.unfreeze()  # what the run left behind is collectable again
                    if remove is not None:
                        remove()
        reports: dict[str, Path] = {}
        # Asked to stop, the run leaves at once: a big job's reports take longer than a service
        # manager waits after SIGTERM, and the state lets anyone write them later.
        postponed = result.stop_reason in _STOPS_WITHOUT_REPORTS
        if settings.write_reports and not options.dry_run and not postponed:
            from .reports.results import write_all

            try:
                reports = write_all(state_dir)
            except ReportWriteError as exc:  # the run's result stands; the state has it all
                log.error("%s", exc)
        if settings.log_format != "json" and not (settings.quiet and code == EXIT_OK):
            print(format_summary(result, code), file=out)
            for name, path in reports.items():
                print(f"  {name:<16}  {path}", file=out)
            if postponed and settings.write_reports and not options.dry_run:
                print(_postponed_hint(state_dir), file=out)
        elif postponed and settings.write_reports and not options.dry_run:
            log.warning("%s", _postponed_hint(state_dir).strip())
        if result.stop_reason is not None:
            log.warning("%s", verdict(result, code))  # the last line a cron mail shows
        return RunOutcome(result, code, state_dir, reports, generations.current(state_dir))
    finally:
        checkpoint.close()


#: Stops the user asked for (a signal, --max-runtime): the reports wait for the next run or
#: `bulkops report`.
_STOPS_WITHOUT_REPORTS = frozenset({StopReason.SIGNAL, StopReason.MAX_RUNTIME})


def _postponed_hint(state_dir: Path) -> str:
    return (
        "  reports: not written after a stop, so the state is free at once; "
        f"`bulkops report --state {state_dir}` writes them now, and the run that finishes "
        "the job writes them"
    )


def _new_generation(state_dir: Path) -> None:
    """The state holds a finished run of other job contents: keep it aside, reports and all."""
    from .reports.results import REPORT_FILES

    kept = generations.archive(state_dir, REPORT_FILES)
    log.info(
        "the job changed since its last run finished: that run is kept in %s; this is "
        "generation %d of %s",
        kept,
        generations.current(state_dir),
        state_dir,
    )


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
