"""Server-to-Server OAuth: one access token, shared by every worker, renewed before it expires.

Zoom issues one-hour tokens with no refresh token. Bursts of token requests have been reported to
invalidate earlier tokens, so :class:`TokenProvider` fetches one token at a time (concurrent
callers wait on the same fetch), renews it ``renew_before`` seconds before expiry, and
:meth:`TokenProvider.invalidate` drops a token only if it is still the current one — N workers
answered 401 with the same token cause one refresh.

The token, the client secret and the ``Authorization`` header never appear in an exception, a
log line or a repr.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from ..config import Credentials
from ..errors import AuthError, BulkopsError, RateLimitedError, RetriableApiError
from .answers import parse_retry_after
from .redact import scrub
from .transport import no_answer

__all__ = ["Token", "TokenProvider"]

logger = logging.getLogger(__name__)

_CHECK = (
    "check ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET against your Server-to-Server "
    "OAuth app in the Zoom App Marketplace, and that the app is activated"
)


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and when (on the provider's clock) to stop using it."""

    value: str = field(repr=False)
    expires_at: float
    renew_at: float  # a minute before expiry (half the lifetime for very short-lived tokens)
    scope: str | None = None
    api_url: str | None = None  # the API base the token answer names for the account


class TokenProvider:
    """Hands out the current access token, fetching or renewing it when needed.

    ``clock`` is a monotonic clock in seconds (injected in tests). The token is considered stale
    ``renew_before`` seconds before Zoom says it expires.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        oauth_url: str,
        credentials: Credentials,
        *,
        clock: Callable[[], float] = time.monotonic,
        renew_before: float = 60.0,
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> None:
        self._session = session
        self._url = oauth_url
        self._credentials = credentials
        self._clock = clock
        self._renew_before = renew_before
        self._timeout = timeout or aiohttp.ClientTimeout(total=30, connect=10, sock_read=20)
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        self._pending: asyncio.Task[Token] | None = None  # a fetch started ahead by prefetch()
        self.fetches = 0  # how many token requests were sent (for reports and tests)

    def __repr__(self) -> str:
        state = "none" if self._token is None else f"expires_at={self._token.expires_at:.0f}"
        return f"<TokenProvider {self._url} account={self._credentials.account_id} {state}>"

    def _fresh(self) -> Token | None:
        token = self._token
        if token is not None and self._clock() < token.renew_at:
            return token
        return None

    async def get(self) -> str:
        """The current access token; fetches one (once, for all callers) when there is none."""
        token = self._fresh()
        if token is not None:
            return token.value
        async with self._lock:
            token = self._fresh()  # another caller may have fetched it while we waited
            if token is None:
                pending, self._pending = self._pending, None
                # A prefetch's outcome, token or error, is this caller's, as its own fetch's.
                token = self._token = await (self._fetch() if pending is None else pending)
            return token.value

    def prefetch(self) -> None:
        """Start fetching a token now (inside the running loop), so that the first request does
        not wait a round trip for it; the first :meth:`get` takes its outcome."""
        if self._pending is None and self._fresh() is None:
            self._pending = asyncio.create_task(self._fetch())

    async def aclose(self) -> None:
        """Drop a prefetch nobody took (the run had nothing to send after all)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, BulkopsError):
                await pending

    @property
    def current(self) -> Token | None:
        """The token last obtained (for what its answer said: scopes, API base), if any."""
        return self._token

    def invalidate(self, value: str) -> None:
        """Forget ``value`` after a 401/124, unless a newer token has replaced it already."""
        if self._token is not None and self._token.value == value:
            logger.info("access token rejected by Zoom; a new one will be requested")
            self._token = None

    async def _fetch(self) -> Token:
        creds = self._credentials
        basic = self._basic()
        params = {"grant_type": "account_credentials", "account_id": creds.account_id}
        started = self._clock()
        self.fetches += 1
        try:
            async with self._session.post(
                self._url,
                params=params,
                headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                status, raw = resp.status, await resp.read()
                retry_after = resp.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = no_answer(exc)
            if not failure.sent:
                message = (
                    f"cannot reach the Zoom token endpoint {self._url}: {failure.kind} "
                    f"({type(exc).__name__}); check the network and ZOOM_OAUTH_URL"
                )
            else:
                message = f"token request to {self._url} failed: {failure.what}"
            raise RetriableApiError(message, sent=failure.sent, kind=failure.kind) from None
        body = _json_or_none(raw)
        if status == 200 and isinstance(body, dict):
            token = _token_from(body, started, self._renew_before)
            if token is not None:
                logger.info("access token obtained, valid for %.0fs", token.expires_at - started)
                return token
            raise AuthError(
                f"the token endpoint {self._url} answered 200 without a usable access_token: "
                "check ZOOM_OAUTH_URL",
                status=status,
            )
        reason = scrub(_reason(body), (self._basic(), creds.client_secret))[:200]
        if status == 429:
            raise RateLimitedError(
                f"the Zoom token endpoint is rate limiting ({reason or 'HTTP 429'})",
                retry_after=parse_retry_after(retry_after, now=datetime.now(UTC)),
            )
        if status >= 500:
            raise RetriableApiError(
                f"the Zoom token endpoint failed with HTTP {status}", status=status
            )
        shown = f": {reason}" if reason else ""
        raise AuthError(
            f"Zoom refused the OAuth credentials (HTTP {status}{shown}); {_CHECK}", status=status
        )

    def _basic(self) -> str:
        creds = self._credentials
        return base64.b64encode(f"{creds.client_id}:{creds.client_secret}".encode()).decode()


def _json_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


def _token_from(body: dict[str, Any], started: float, renew_before: float) -> Token | None:
    value, expires_in = body.get("access_token"), body.get("expires_in", 3600)
    if not isinstance(value, str) or not value:
        return None
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        return None
    scope, api_url = body.get("scope"), body.get("api_url")
    lifetime = float(expires_in)
    renew_at = started + lifetime - min(renew_before, lifetime / 2)
    return Token(
        value,
        started + lifetime,
        renew_at,
        scope if isinstance(scope, str) else None,
        api_url if isinstance(api_url, str) else None,
    )


def _reason(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    parts = [str(body[k]) for k in ("reason", "error", "message") if body.get(k)]
    return " ".join(" ".join(parts).split())[:65536]  # clipped once scrubbed
