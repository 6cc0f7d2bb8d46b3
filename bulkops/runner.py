"""One `bulkops run`, start to end: plan, lock the state, connect, run the engine, report.

Everything the CLI does besides parsing flags lives here, callable from Python and from tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import directory_pull
from .config import AccountPlan, Credentials, Endpoints, resolve_rate
from .confirm import (
    Consent,
    account_facts,
    ask,
    declined,
    describe,
    question,
    refuse_without_terminal,
)
from .directory_pull import is_zoom
from .errors import CheckpointError, ConfigError, JobFileError, ReportWriteError, StateMismatchError
from .exit_codes import EXIT_OK, exit_code
from .jobs.intake import job_hash_of
from .jobs.sync import SyncSpec, check_rows
from .model import Operation
from .progress import Display, choose_display, format_summary, showing, stop_record, verdict
from .run.engine import Engine, EngineOptions
from .run.ratelimit import AdaptiveLimiter
from .run.stats import RunResult, RunStats, StopReason
from .state import generations
from .state.checkpoint import Checkpoint, default_state_dir
from .state.lease import account_lease, runtime_dir
from .state.reader import confirmed_job, open_readonly, stored_plan_hash
from .zoom.client import ZoomClient

if TYPE_CHECKING:  # pandas loads with these: a resumed run's first request does not wait for it
    from .jobs.plan import Plan
    from .reports.diff import Preview

log = logging.getLogger(__name__)

SIMULATOR_FILE = "simulator.json"  # a --simulate run's account, kept beside its checkpoint


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
        if _holds_unfinished_run(state_dir):
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


def _pulled_note(path: Path) -> str:
    found = directory_pull.cached(path.parent)
    when = f", pulled at {found[1]}" if found else ""
    return f"Zoom's{when} ({path}; --refresh-directory pulls it again)"


def _holds_unfinished_run(state_dir: Path) -> bool:
    """Whether the checkpoint in ``state_dir`` has operations not yet done (a damaged or absent
    state has none to finish: opening it for the run says what is wrong)."""
    try:
        with open_readonly(state_dir) as reader:
            return any(n for status, n in reader.counts().items() if not status.final)
    except CheckpointError:
        return False


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
        if _cannot_ask(settings, stdin):  # before a --directory zoom pull sends anything
            raise refuse_without_terminal(Credentials.from_env(env).account_id)
        state_dir = state_dir_for(settings)
        stored = None if plan is not None or settings.options.dry_run else _stored_plan(settings)
        if stored is not None:
            job_hash, directory = stored
            log.info(
                "plan ready: resuming the plan stored in %s (the job file is unchanged)", state_dir
            )
        else:
            directory = await _directory(settings, plan, env, out, pulls)
            plan = plan or _build(settings, directory)
            job_hash = plan.job_hash
            log.info("plan ready: %d operations from %s", len(plan), settings.job)
        if not settings.simulate:
            Credentials.from_env(env)  # missing credentials: say so before any state is made
        resolve_rate(settings.account_plan, settings.rate)  # likewise a --rate of inf, nan or 0
        must_ask = _must_ask(settings, job_hash)
        if must_ask and not stdin.isatty():
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
                if must_ask:
                    if not plans:  # the question shows the plan's counts
                        plans.append(_build(settings, directory))
                    await _confirm(settings, plans[0], env, stdin)
                job = _Job(job_hash, plans, directory)
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


async def _directory(
    settings: RunSettings,
    plan: Plan | None,
    env: Mapping[str, str],
    out: TextIO,
    pulls: contextlib.ExitStack,
) -> Path | None:
    """The directory file to plan from: the one given, or ``--directory zoom``'s pull."""
    if plan is not None or not is_zoom(settings.directory):
        if settings.refresh_directory and not is_zoom(settings.directory):
            raise ConfigError("--refresh-directory goes with --directory zoom")
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
        print(f"directory: {_pulled_note(directory)}", file=out)
    return directory


def _build(settings: RunSettings, directory: Path | None) -> Plan:
    """The plan of the job file (a sync's desired state, checked), its warnings logged."""
    # pandas and the planner load only here and for the reports: a resumed run's first
    # request does not wait for them.
    from .jobs.plan import build_plan

    plan = build_plan(
        settings.job,
        directory=directory,
        encoding=settings.encoding,
        timezone=settings.timezone,
        sheet=settings.sheet,
    )
    for warning in plan.warnings:
        log.warning("%s", warning)
    return plan if settings.sync is None else _sync_plan(plan, settings.sync)


def _stored_plan(settings: RunSettings) -> tuple[str, Path | None] | None:
    """(job hash, directory file) when the state already holds the plan of these very files:
    the run then takes the plan from there and neither reads nor checks the job file again."""
    state_dir = state_dir_for(settings)
    stored = stored_plan_hash(state_dir)
    if stored is None:
        return None
    directory = settings.directory
    if is_zoom(directory):  # the pull the stored plan was built from, kept in the state
        found = directory_pull.cached(state_dir)
        if found is None or settings.refresh_directory:  # zoom_directory decides about those
            return None
        directory = found[0]
    try:
        current = job_hash_of(
            settings.job,
            directory=directory,
            encoding=settings.encoding,
            timezone=settings.timezone,
            sheet=settings.sheet,
        )
    except JobFileError:
        return None  # unreadable now: building the plan says why, with the usual message
    if settings.sync is not None:
        current = _sync_hash(current, settings.sync)
    return (stored, directory) if current == stored else None


def _sync_plan(plan: Plan, spec: SyncSpec) -> Plan:
    """The desired state of a sync job, checked; a sync of other scope or window is another job
    to the state directory, so its identity joins the job hash."""
    problems = check_rows(plan.iter_operations(), spec, plan.source)
    if problems:
        raise JobFileError(problems)
    return replace(plan, job_hash=_sync_hash(plan.job_hash, spec))


def _sync_hash(job_hash: str, spec: SyncSpec) -> str:
    return hashlib.sha256(f"{job_hash}\0{spec.identity}".encode()).hexdigest()


def _writes_to_zoom(settings: RunSettings) -> bool:
    return not settings.simulate and not settings.options.dry_run


def _cannot_ask(settings: RunSettings, stdin: TextIO) -> bool:
    """A run that must be confirmed, with no terminal to ask on and no yes to any job in its
    state: known before the job is read, so it ends before any request."""
    if settings.consent is Consent.GIVEN or not _writes_to_zoom(settings) or stdin.isatty():
        return False
    return confirmed_job(state_dir_for(settings)) is None


def _must_ask(settings: RunSettings, job_hash: str) -> bool:
    """Whether this run needs a yes first: it writes to a real account, nobody consented yet,
    and its state does not record a yes to this same job (a resumed run does not ask twice)."""
    if settings.consent is Consent.GIVEN or not _writes_to_zoom(settings):
        return False
    return confirmed_job(state_dir_for(settings)) != job_hash


async def _confirm(
    settings: RunSettings, plan: Plan, env: Mapping[str, str], stdin: TextIO
) -> None:
    """Name the account, show the plan, ask; raise ConfigError unless the answer is yes."""
    from .jobs.plan import format_summary as format_plan

    endpoints = Endpoints.from_env(env, api_url=settings.api_url, oauth_url=settings.oauth_url)
    facts = await account_facts(endpoints, Credentials.from_env(env))
    rate = resolve_rate(settings.account_plan, settings.rate)
    table = format_plan(plan.summary(rate, precheck=settings.options.precheck))
    if settings.sync is not None:  # its deletes are known only once Zoom has been read
        table += (
            f"\nsync {settings.sync.scope.value}: these rows are what each extension must have; "
            "the adds, updates and deletes that get it there are decided by reading Zoom after "
            "you answer (`bulkops diff JOB --sync …` shows them first)"
        )
    text = describe(facts, str(settings.job), len(plan), table)
    if not ask(text, question(facts, len(plan)), stdin, sys.stderr):
        raise declined(facts.account_id)


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
        archive=_new_generation if sync is None else _new_sync_generation,
        renew=sync is not None,
    )
    try:
        desired: list[Operation] = []  # a sync's rows, expanded once Zoom has been read
        if not checkpoint.has_plan:
            # Only when nobody stored the plan yet; a resumed run's stays as it is.
            plan = job.plans.pop() if job.plans else _build(settings, job.directory)
            if plan.job_hash != job.job_hash:
                raise StateMismatchError(
                    f"{settings.job} changed while the run was starting: run the same command "
                    "again once it is complete"
                )
            if sync is None:
                checkpoint.load_plan(plan.frame)
            else:
                desired = list(plan.iter_operations())
            del plan
        job.plans.clear()
        if settings.retry_failed:
            reset = checkpoint.reset_failed()
            log.info("retrying %d failed or skipped operations", reset)
        rate = resolve_rate(settings.account_plan, settings.rate)
        async with zoom_target(settings, state_dir, env) as (endpoints, credentials):
            checkpoint.claim_account(credentials.account_id)
            if _writes_to_zoom(settings):  # asked and answered yes, or --yes: a resume won't ask
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
                            desired, sync, client, limiter, retry=options.retry, stats=reads
                        )
                    )
                    checkpoint.load_plan(planned)
                    if settings.log_format != "json" and not settings.quiet:
                        print(_sync_summary(sync, planned, rate), file=out)
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
                reports = write_all(state_dir)
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


#: Stops the user asked for (a signal, --max-runtime): the reports wait for the next run or
#: `bulkops report`.
_STOPS_WITHOUT_REPORTS = frozenset({StopReason.SIGNAL, StopReason.MAX_RUNTIME})


def _postponed_hint(state_dir: Path) -> str:
    return (
        "  reports: not written after a stop, so the state is free at once; "
        f"`bulkops report --state {state_dir}` writes them now, and the run that finishes "
        "the job writes them"
    )


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


def _new_sync_generation(state_dir: Path) -> None:
    """A sync's last run finished: keep it aside and read Zoom afresh."""
    from .reports.results import REPORT_FILES

    kept = generations.archive(state_dir, REPORT_FILES)
    log.info("the last run of this sync finished (kept in %s); reading Zoom afresh", kept)


def _sync_summary(sync: SyncSpec, frame: Any, rate: float) -> str:
    """What the reads decided, before any write: the counts by action, deletes included."""
    from .jobs.plan import format_summary as format_plan
    from .jobs.plan import summarize

    scope = f"sync {sync.scope.value}" + (f" in {sync.window}" if sync.window else "")
    if not len(frame):
        return f"{scope}: every extension already has exactly what the job lists; nothing to send"
    return f"{scope}, planned from what Zoom has now:\n" + format_plan(summarize(frame, rate))


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
