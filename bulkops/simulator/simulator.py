"""The simulated Zoom account: tokens, the rate window, faults and the call-handling routes.

No sockets here: :meth:`Simulator.handle_api` and :meth:`Simulator.issue_token` take the parts
of a request and return a :class:`Reply`; ``app.py`` maps HTTP onto them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import itertools
import math
import random
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ..config import Credentials
from ..model import Action
from .answers import (
    CONFLICT,
    SERVER_ERRORS,
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    ZoomError,
    scope_missing,
)
from .config import SimConfig
from .directory import Extension, generate_directory, load_directory, with_main_receptionists
from .faults import Fault, FaultDice
from .journal import Journal, JournalEntry
from .listing import ENDPOINTS, Directory
from .profile import REQUIRED_SCOPES, granted, missing_scopes
from .ratelimit import (
    DAILY_MESSAGE,
    QPS_MESSAGE,
    DailyCounter,
    StrictWindow,
    daily_headers,
    qps_headers,
)
from .reply import Reply
from .shown import without_receive_call
from .state import AccountState, Json, section
from .writes import apply_write, missing

_ACTIONS = {"POST": Action.ADD, "PATCH": Action.UPDATE, "DELETE": Action.DELETE}


def demo_credentials() -> Credentials:
    """Credentials for a simulator nobody configured; the secret is random every time."""
    return Credentials("sim-account", "sim-client", secrets.token_urlsafe(24))


class Simulator:
    """State and behaviour of one simulated account.

    ``clock`` is monotonic seconds (token expiry, the rate window, the journal); ``wall_clock``
    is epoch seconds (daily quota, ``Retry-After`` dates). ``rng`` decides every fault and
    latency; it defaults to ``random.Random(config.seed)``.

    Concurrent writes: while a write to an extension is being handled (during its latency),
    another write to the same extension is refused with ``config.conflict_status`` (429 by
    default, or 409) ``Another update to this extension is in progress. Try again later.`` with
    probability ``config.conflict``. Zoom documents that it limits simultaneous updates to one
    user's settings, under its rate limits, but not the answer: this is inferred.

    Scopes: a token carries the scopes configured when it was issued (``config.scopes``); a
    request whose token holds none of its operation's scopes is refused with code 4711.
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config = config or SimConfig()
        self.clock = clock
        self.wall_clock = wall_clock
        self.rng = rng if rng is not None else random.Random(config.seed)
        self.dice = FaultDice(self.rng)
        self.credentials = config.credentials or demo_credentials()
        if config.state_file is not None and config.state_file.exists():
            self.state = AccountState.load(config.state_file)
        else:
            self.state = AccountState(self._directory(config), config.seed)
        self.window = StrictWindow(config.effective_rate)
        self.medium_window = StrictWindow(config.effective_medium_rate)
        self.listing = Directory(list(self.state.extensions.values()), config.seed)
        self.daily = DailyCounter(config.daily_limit)
        self.journal = Journal(config.journal_limit)
        self.tokens: dict[str, float] = {}
        self.token_scopes: dict[str, frozenset[str]] = {}
        self.busy: dict[str, int] = {}
        self.dirty = False
        self._ids = itertools.count(1)
        self._closing: asyncio.Event | None = None

    @staticmethod
    def _directory(config: SimConfig) -> list[Extension]:
        if config.directory is not None:
            return load_directory(config.directory)
        return with_main_receptionists(
            generate_directory(config.extensions, config.seed), config.seed
        )

    # ---- configuration and inspection -----------------------------------------------------
    def configure(self, changes: Mapping[str, Any]) -> SimConfig:
        """Change settings at run time (faults, rate, latency, 429 variants, …)."""
        self.config = self.config.updated(changes)
        self.window.rate = self.config.effective_rate
        self.medium_window.rate = self.config.effective_medium_rate
        self.daily.limit = self.config.daily_limit
        return self.config

    def stats(self) -> dict[str, Any]:
        out = self.journal.stats()
        out["max_in_window"] = self.window.max_in_window
        out["rate"] = self.window.rate
        out["max_in_medium_window"] = self.medium_window.max_in_window
        out["medium_rate"] = self.medium_window.rate
        return out

    @property
    def extensions(self) -> list[Extension]:
        return list(self.state.extensions.values())

    def settings(self, extension_id: str) -> Json:
        """A copy of the extension's GET answer."""
        return copy.deepcopy(self.state.settings[extension_id])

    def holidays(self, extension_id: str) -> list[Json]:
        """``[{"holiday_id", "name", "from", "to"}]`` in creation order."""
        out = []
        for entry in self.state.settings[extension_id]["holiday_hours"]:
            span = section(entry["details"], "holiday") or {}
            out.append({"holiday_id": entry["holiday_id"], **span})
        return out

    def forwarding(
        self, extension_id: str, setting_type: str = "business_hours", holiday_id: str | None = None
    ) -> list[Json]:
        """Copies of the forwarding entries, Zoom's own ones included (they have no number)."""
        tree = self.state.settings[extension_id]
        entries = (
            self.state.holiday(extension_id, holiday_id)["details"]
            if setting_type == "holiday_hours"
            else tree[setting_type]
        )
        fwd = section(entries, "call_forwarding")
        return copy.deepcopy(fwd["call_forwarding_settings"]) if fwd else []

    def state_json(self) -> Json:
        return self.state.to_json()

    def save(self) -> None:
        if self.config.state_file is not None:
            self.state.save(self.config.state_file)
            self.dirty = False

    # ---- plumbing ---------------------------------------------------------------------------
    def tracking_id(self) -> str:
        return f"v=2.0;clid=sim;rid=SIM_{next(self._ids):010d}"

    def record(self, method: str, path: str, query: str, reply: Reply, tracking_id: str) -> None:
        status = None if reply.drop else reply.status
        fault = None if reply.fault is None else reply.fault.value
        entry = JournalEntry(
            self.clock(), self.wall_clock(), method, path, query, status, reply.applied, fault,
            tracking_id,
        )  # fmt: skip
        self.journal.append(entry)

    def closing(self) -> asyncio.Event:
        if self._closing is None:
            self._closing = asyncio.Event()
        return self._closing

    async def _slow(self, seconds: float) -> None:
        """Sleep, but wake at once when the server shuts down."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing().wait(), seconds)

    # ---- OAuth ------------------------------------------------------------------------------
    def issue_token(
        self, authorization: str | None, params: Mapping[str, str], api_url: str
    ) -> Reply:
        creds = self.credentials
        if _basic(authorization) != (creds.client_id, creds.client_secret):
            return Reply(
                401, {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
            )
        if params.get("grant_type") != "account_credentials":
            return Reply(
                400, {"reason": "Unsupported grant type", "error": "unsupported_grant_type"}
            )
        if params.get("account_id") != creds.account_id:
            return Reply(400, {"reason": "Invalid account_id", "error": "invalid_request"})
        token = secrets.token_urlsafe(32)
        now = self.clock()
        self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now}
        self.token_scopes = {t: s for t, s in self.token_scopes.items() if t in self.tokens}
        self.tokens[token] = now + self.config.token_ttl
        scopes = granted(self.config.scopes)
        self.token_scopes[token] = scopes
        body = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": max(1, math.ceil(self.config.token_ttl)),  # Zoom says whole seconds
            "scope": " ".join(sorted(scopes)),
            "api_url": api_url,
        }
        return Reply(200, body)

    async def handle_token(
        self, authorization: str | None, params: Mapping[str, str], api_url: str
    ) -> Reply:
        fault = self.dice.pick(self.config) if self.config.fault_token else None
        if fault is Fault.SLOW:
            await self._slow(self.config.slow_s)
        if fault is Fault.ERROR_5XX or fault is Fault.APPLIED_5XX:
            return self._server_error(fault)
        reply = self.issue_token(authorization, params, api_url)
        if fault is Fault.APPLIED_DROP:
            reply.drop, reply.fault = True, fault
        return reply

    # ---- the API ----------------------------------------------------------------------------
    def gate(
        self, authorization: str | None, method: str = "GET", *, listing: str | None = None
    ) -> Reply | None:
        """Token and scope checks, then the daily quota, then the strict window. None: admitted.

        ``listing`` names a directory list endpoint: its own scopes and the MEDIUM window, and
        no daily cap (MEDIUM has none).
        """
        token = (
            authorization[7:] if authorization and authorization[:7].lower() == "bearer " else ""
        )
        expiry = self.tokens.get(token)
        if expiry is None:
            return Reply(401, {"code": 124, "message": TOKEN_INVALID})
        now = self.clock()
        if now >= expiry:
            return Reply(401, {"code": 124, "message": TOKEN_EXPIRED})
        cfg = self.config
        scopes = (
            REQUIRED_SCOPES.get(method, ())
            if listing is None
            else ("phone:read:admin", ENDPOINTS[listing].granular_scope)
        )
        needed = missing_scopes(scopes, self.token_scopes.get(token, frozenset()))
        if needed:
            return Reply.error(scope_missing(needed, cfg.scope_status))
        daily = cfg.daily_limit is not None and listing is None
        if daily and not self.daily.try_spend(self.wall_clock()):
            headers = daily_headers(self.wall_clock(), cfg.daily_limit, cfg.no_headers_429)
            return Reply(429, {"code": 429, "message": DAILY_MESSAGE}, headers)
        window = self.window if listing is None else self.medium_window
        if not window.try_admit(now):
            free = window.free_at()
            wait = 1.0 if free is None else free - now
            category = "Light" if listing is None else "Medium"
            headers = qps_headers(
                cfg.retry_after, wait, self.wall_clock(), window.rate, cfg.no_headers_429, category
            )
            return Reply(429, {"code": 429, "message": QPS_MESSAGE}, headers)
        return None

    async def handle_list(
        self, kind: str, query: Mapping[str, str], authorization: str | None
    ) -> Reply:
        """One page of a directory list (``kind`` is the path under /v2/phone/)."""
        refused = self.gate(authorization, listing=kind)
        if refused is not None:
            return refused
        delay = self.dice.latency_s(self.config)
        if delay:
            await asyncio.sleep(delay)
        try:
            return Reply(200, self.listing.page(kind, query))
        except ZoomError as err:
            return Reply.error(err)

    async def handle_api(
        self,
        method: str,
        extension_id: str,
        setting_type: str | None,
        body: Callable[[], Any],
        query: Mapping[str, str],
        authorization: str | None,
    ) -> Reply:
        """One call-handling request. ``body`` is an awaitable factory of the raw request bytes."""
        jitter = self.dice.jitter_s(self.config)
        if jitter:  # the network's share: the request reaches the gate (and its window) late
            await asyncio.sleep(jitter)
        refused = self.gate(authorization, method)
        if refused is not None:
            return refused
        cfg = self.config
        write = method != "GET"
        fault = self.dice.pick(cfg) if write or cfg.fault_reads else None
        if write and self.busy.get(extension_id) and self.dice.conflict(cfg):
            status = cfg.conflict_status
            return Reply(status, {"code": status, "message": CONFLICT}, fault=Fault.CONFLICT)
        if write:
            self.busy[extension_id] = self.busy.get(extension_id, 0) + 1
        try:
            delay = self.dice.latency_s(cfg)
            if delay:
                await asyncio.sleep(delay)
            if fault is Fault.SLOW:
                await self._slow(cfg.slow_s)
            if fault is Fault.ERROR_5XX:
                return self._server_error(fault)
            if write:
                reply = self.write(method, extension_id, setting_type or "", await body(), query)
            else:
                reply = self.read(extension_id)
        finally:
            if write:
                left = self.busy[extension_id] - 1
                if left:
                    self.busy[extension_id] = left
                else:
                    del self.busy[extension_id]
        if fault is Fault.SLOW:
            reply.fault = fault
        elif fault is not None and fault.applies_first and reply.status < 300:
            if fault is Fault.APPLIED_DROP:
                reply.drop, reply.fault = True, fault
            else:
                applied = reply.applied
                reply = self._server_error(fault)
                reply.applied = applied
        return reply

    def _server_error(self, fault: Fault) -> Reply:
        status = self.dice.server_error(fault.applies_first)
        return Reply(status, {"code": status, "message": SERVER_ERRORS[status]}, fault=fault)

    def read(self, extension_id: str) -> Reply:
        tree = self.state.settings.get(extension_id)
        if tree is None:
            return Reply.error(missing(self.config, extension_id))
        if not self.config.receive_call_returned:
            tree = without_receive_call(tree)
        return Reply(200, orjson.dumps(tree))

    def write(
        self,
        method: str,
        extension_id: str,
        setting_type: str,
        raw: bytes,
        query: Mapping[str, str],
    ) -> Reply:
        """Validate and apply one POST/PATCH/DELETE; errors become Zoom's error answers."""
        try:
            reply = apply_write(
                self.state, self.config, _ACTIONS[method], extension_id, setting_type, raw, query
            )
        except ZoomError as err:
            return Reply.error(err)
        self.dirty = True
        reply.applied = True
        return reply


def _basic(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        user, sep, password = base64.b64decode(authorization[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None
