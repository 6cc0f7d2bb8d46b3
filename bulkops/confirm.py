"""The question `bulkops run` asks before it writes to a real Zoom account.

On a terminal, a run that is neither ``--simulate`` nor ``--dry-run`` first names the account and
the app, shows what the job will do (the plan's counts by action and setting, and its estimate)
and asks ``Apply N changes to account X? [y/N]``; only ``y`` or ``yes`` goes on. ``--yes``
answers for cron. Without a terminal and without ``--yes`` the run stops with exit 2 before
anything is sent. The agreement is kept in the state (``Checkpoint.record_confirmation``), so a
resumed run of the same job on the same account does not ask again.

What Zoom says about the account: a Server-to-Server OAuth token answer holds ``access_token``,
``token_type``, ``expires_in``, ``scope`` and ``api_url``; it names neither the account nor the
app, and reading the account's name would take a scope (``account:read:admin``) a call-handling
job does not otherwise need. So the question shows the account id the token was granted for,
the app by its client id (its identity in the Marketplace), the API base and the scopes the
answer gives, and says that Zoom names no app. The one token request it takes is its only
traffic; the run then starts its own client.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TextIO

import aiohttp

from .config import Credentials, Endpoints
from .errors import ConfigError
from .zoom.auth import TokenProvider

#: Why a run without a terminal stops: it cannot ask, and nobody said --yes.
NO_TERMINAL = (
    "this run would write to Zoom account {account} and there is no terminal to confirm it "
    "on: nothing was sent. Pass --yes to apply the job without asking (as cron jobs do), or "
    "run it from a terminal; `bulkops plan` shows what it would do"
)
#: What a "no" (or an empty answer, or the end of the input) leaves behind.
DECLINED = (
    "not confirmed: nothing was sent to Zoom account {account}. Run the same command again "
    "and answer y to apply the job, or pass --yes"
)


class Consent(StrEnum):
    """Whether a run against a real account may write without asking first."""

    GIVEN = "given"  # --yes, or a caller of run_job from Python
    ASK = "ask"  # the CLI without --yes: ask on a terminal, refuse without one


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What the token answer tells about the account the run would write to."""

    account_id: str
    client_id: str
    api_url: str  # the token answer's api_url, else the configured API base
    scopes: tuple[str, ...]  # as the token answer grants them; () when it names none


async def account_facts(endpoints: Endpoints, credentials: Credentials) -> AccountFacts:
    """One token request: it proves the credentials and returns what Zoom says with it.

    Raises :class:`~bulkops.errors.AuthError` when Zoom refuses the credentials, before anyone
    is asked anything.
    """
    async with aiohttp.ClientSession() as session:
        tokens = TokenProvider(session, endpoints.oauth_url, credentials)
        await tokens.get()
        token = tokens.current
    scope = token.scope if token is not None else None
    named = token.api_url if token is not None else None
    return AccountFacts(
        credentials.account_id,
        credentials.client_id,
        named or endpoints.api_url,
        tuple(sorted(scope.split())) if scope else (),
    )


def describe(facts: AccountFacts, job: str, changes: int, plan_table: str) -> str:
    """The text shown before the question: the account, the app, then the plan's summary."""
    scopes = " ".join(facts.scopes) or "(the token answer names none)"
    return "\n".join(
        [
            f"bulkops is about to change Zoom account {facts.account_id}",
            f"  app:      client id {facts.client_id} (Zoom's token answer names no app)",
            f"  API:      {facts.api_url}",
            f"  scopes:   {scopes}",
            f"  job:      {job} ({changes:,} change{'' if changes == 1 else 's'})",
            "",
            plan_table,
            "",
        ]
    )


def question(facts: AccountFacts, changes: int) -> str:
    return f"Apply {changes:,} change{'' if changes == 1 else 's'} to account {facts.account_id}? [y/N] "


def ask(text: str, prompt: str, stdin: TextIO, out: TextIO) -> bool:
    """Show ``text`` and ``prompt`` on ``out``; True only for an answer of y or yes.

    An empty answer, anything else and the end of the input (Ctrl-D) mean no.
    """
    out.write(text)
    out.write(prompt)
    out.flush()
    line = stdin.readline()
    if not line:  # end of input: no answer is no
        out.write("\n")
        out.flush()
        return False
    return line.strip().lower() in ("y", "yes")


def refuse_without_terminal(account_id: str) -> ConfigError:
    return ConfigError(NO_TERMINAL.format(account=account_id))


def declined(account_id: str) -> ConfigError:
    return ConfigError(DECLINED.format(account=account_id))
