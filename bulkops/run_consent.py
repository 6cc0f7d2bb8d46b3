"""The confirmation before a run writes to a real account: whether it must ask, whether it can
(a terminal), and the question itself (``confirm`` words it)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

from .config import Credentials, Endpoints, resolve_rate
from .confirm import Consent, account_facts, ask, declined, describe, question
from .run_settings import RunSettings, state_dir_for, writes_to_zoom
from .state.reader import confirmed_job

if TYPE_CHECKING:
    from .jobs.plan import Plan


def cannot_ask(settings: RunSettings, stdin: TextIO) -> bool:
    """A run that must be confirmed, with no terminal to ask on and no yes to any job in its
    state: known before the job is read, so it ends before any request."""
    if settings.consent is Consent.GIVEN or not writes_to_zoom(settings) or stdin.isatty():
        return False
    return confirmed_job(state_dir_for(settings)) is None


def must_ask(settings: RunSettings, job_hash: str) -> bool:
    """Whether this run needs a yes first: it writes to a real account, nobody consented yet,
    and its state does not record a yes to this same job (a resumed run does not ask twice)."""
    if settings.consent is Consent.GIVEN or not writes_to_zoom(settings):
        return False
    return confirmed_job(state_dir_for(settings)) != job_hash


async def confirm_run(
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
