"""The Zoom client: one HTTP attempt per call, one shared token, one classifier for answers.

Every method sends exactly one request (after paying the limiter) and either returns a
:class:`Response` for a 2xx or raises the :mod:`bulkops.errors` exception :func:`classify` picks.
Retrying is the engine's job; the client's only second attempt is the replay after a 401/124
(expired token), which Zoom never processed. Every attempt pays the limiter; steering it (AIMD on
429s, pauses for ``Retry-After``) is the engine's job, which knows the policy's cap.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import aiohttp
import orjson
from multidict import CIMultiDict
from yarl import URL

from ..config import Credentials, Endpoints
from ..errors import (
    ApiError,
    AuthError,
    ExtensionNotFoundError,
    FatalApiError,
    RateLimitedError,
    RetriableApiError,
)
from ..model import SettingType
from ..run.ratelimit import AdaptiveLimiter
from ..run.retry import parse_retry_after
from .auth import TokenProvider
from .redact import scrub

__all__ = ["DEFAULT_TIMEOUT", "Response", "ZoomClient", "classify"]

logger = logging.getLogger(__name__)

#: Per attempt: connecting, waiting for each read, and the whole exchange.
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10, sock_connect=10, sock_read=20)
TRACKING_HEADER = "x-zm-trackingid"
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_METHODS = frozenset({"GET", "POST", "PATCH", "DELETE"})
_MESSAGE_LIMIT = 300
_RAW_LIMIT = 64 * 1024  # of Zoom's message, before scrubbing and clipping
_EXTENSION_GONE = "Extension does not exist"  # Zoom's 404 message, followed by ": {id}"
_AUTH_HINTS = {
    401: "check the app's scopes (phone:read:admin, phone:write:admin)",
    403: "check that Zoom Phone is enabled for the account and the app's admin has access",
}


@dataclass(frozen=True, slots=True)
class Response:
    """A successful answer. ``json`` is the parsed body, or None (204s have no body)."""

    status: int
    json: Any
    tracking_id: str | None
    latency: float  # seconds, this attempt only

    @property
    def created_id(self) -> str | None:
        """The ``holiday_id`` or ``call_forwarding_id`` a POST returned, if any."""
        if isinstance(self.json, dict):
            for key in ("holiday_id", "call_forwarding_id"):
                if isinstance(value := self.json.get(key), str):
                    return value
        return None


def classify(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    *,
    now: datetime,
    secrets: Iterable[str] = (),
) -> ApiError | None:
    """Map one answer to the error tree: None for 2xx, else the exception to raise.

    Zoom's message (and tracking id) are scrubbed of ``secrets`` (the token and client secret
    the request carried) and of anything shaped like a credential before they go into the error:
    every message bulkops stores or shows passes through here.

    401 with Zoom code 124 (expired or invalid token) is an :class:`AuthError` with ``code=124``;
    the client refreshes the token and replays once before letting it escape. A 404 saying
    "Extension does not exist" is an :class:`ExtensionNotFoundError`: the engine skips the
    extension's other operations instead of sending each one to hear the same answer.
    """
    if 200 <= status < 300:
        return None
    h = CIMultiDict(headers)
    code, zoom_message = _zoom_error(body)
    message = _clip(scrub(zoom_message, secrets)) or f"HTTP {status}"
    tracking = h.get(TRACKING_HEADER)
    tracking_id = None if tracking is None else scrub(tracking, secrets)
    kw: dict[str, Any] = {"status": status, "code": code, "tracking_id": tracking_id}
    retry_after = parse_retry_after(h.get("Retry-After"), now=now)
    if status == 429:
        kind = h.get("X-RateLimit-Type", "").strip().lower()
        daily = kind == "daily-limit" or "daily rate limit" in message.lower()
        retry_at = (
            now + timedelta(seconds=retry_after) if daily and retry_after is not None else None
        )
        return RateLimitedError(
            message, **kw, retry_after=retry_after, daily=daily, retry_at=retry_at
        )
    if status >= 500 or status == 409:  # 409: a concurrent write was refused (inferred)
        return RetriableApiError(message, **kw, retry_after=retry_after, sent=True)
    if status in _AUTH_HINTS:
        hint = "" if status == 401 and code == 124 else f"; {_AUTH_HINTS[status]}"
        return AuthError(_clip(message + hint), **kw)
    if 300 <= status < 400:
        return FatalApiError(f"unexpected redirect (HTTP {status}): check ZOOM_API_URL", **kw)
    if status == 404 and message.startswith(_EXTENSION_GONE):
        return ExtensionNotFoundError(message, **kw)
    return FatalApiError(message, **kw)


def _zoom_error(body: Any) -> tuple[int | None, str]:
    """Zoom's ``code`` and a one-line message including any per-field errors."""
    if not isinstance(body, dict):
        return None, ""
    raw_code = body.get("code")
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    if isinstance(raw_code, str) and raw_code.isdigit():
        code = int(raw_code)
    message = str(body.get("message") or "")
    fields = body.get("errors")
    if isinstance(fields, list):
        details = [
            f"{item.get('field', '?')}: {item.get('message', '')}"
            for item in fields
            if isinstance(item, dict)
        ]
        if details:
            message += f" ({'; '.join(details)})"
    return code, message[:_RAW_LIMIT]  # scrubbed, then clipped, by the caller


def _clip(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _segment(kind: str, value: str) -> str:
    """A validated, percent-encoded path segment or query id; raised before anything is sent."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise FatalApiError(
            f"invalid {kind} {_clip(repr(value), 80)}: expected 1-64 ASCII letters, digits, "
            "'-' or '_'; nothing was sent"
        )
    return quote(value, safe="")


class ZoomClient:
    """One Zoom account's HTTP client. Inside a running loop (the limiter binds to it)::

        limiter = AdaptiveLimiter(resolve_rate(AccountPlan.PRO, None))
        async with ZoomClient(Endpoints.from_env(env), Credentials.from_env(env), limiter) as zoom:
            before = (await zoom.get_settings(extension_id)).json
            holiday_id = (await zoom.add(extension_id, "holiday_hours", body)).created_id
            await zoom.send("DELETE", extension_id, "holiday_hours", params={"holiday_id": ...})

    A non-2xx answer raises the error :func:`classify` picks. Owns one ``aiohttp.ClientSession``
    with a bounded connector (unless ``session`` is given, which it then shares and does not
    close), created inside the running loop on entry.
    """

    def __init__(
        self,
        endpoints: Endpoints,
        credentials: Credentials,
        limiter: AdaptiveLimiter,
        *,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        connector_limit: int = 32,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
        utcnow: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._endpoints = endpoints
        self._credentials = credentials
        self._limiter = limiter
        self._timeout = timeout
        self._connector_limit = connector_limit
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._utcnow = utcnow
        self._tokens: TokenProvider | None = None
        self._base = endpoints.api_url.rstrip("/")

    async def __aenter__(self) -> Self:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._connector_limit)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        self._tokens = TokenProvider(
            self._session, self._endpoints.oauth_url, self._credentials, clock=self._clock
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def tokens(self) -> TokenProvider:
        if self._tokens is None:
            raise RuntimeError("use ZoomClient inside 'async with'")
        return self._tokens

    def __repr__(self) -> str:
        return f"<ZoomClient {self._base} account={self._credentials.account_id}>"

    async def get_settings(self, extension_id: str) -> Response:
        return await self.send("GET", extension_id)

    async def add(self, extension_id: str, setting_type: str, body: Mapping[str, Any]) -> Response:
        return await self.send("POST", extension_id, setting_type, body=body)

    async def update(
        self, extension_id: str, setting_type: str, body: Mapping[str, Any]
    ) -> Response:
        return await self.send("PATCH", extension_id, setting_type, body=body)

    async def delete(
        self,
        extension_id: str,
        setting_type: str,
        *,
        holiday_id: str | None = None,
        call_forwarding_id: str | None = None,
    ) -> Response:
        """DELETE takes exactly one of the two ids (inferred from Zoom's behaviour)."""
        ids = {"holiday_id": holiday_id, "call_forwarding_id": call_forwarding_id}
        given = {k: v for k, v in ids.items() if v is not None}
        if len(given) != 1:
            raise FatalApiError(
                "a delete needs exactly one of holiday_id or call_forwarding_id; nothing was sent"
            )
        return await self.send("DELETE", extension_id, setting_type, params=given)

    def url(
        self,
        extension_id: str,
        setting_type: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> URL:
        """The request URL; raises :class:`FatalApiError` for an unsafe id or unknown type."""
        path = f"/phone/extension/{_segment('extension id', extension_id)}/call_handling/settings"
        if setting_type is not None:
            if setting_type not in tuple(SettingType):
                raise FatalApiError(
                    f"invalid setting type {_clip(repr(setting_type), 80)}: expected one of "
                    f"{', '.join(SettingType)}; nothing was sent"
                )
            path += f"/{_segment('setting type', setting_type)}"
        url = URL(self._base + path, encoded=True)  # encoded: yarl must not fold dot-segments
        if params:
            url = url.with_query({k: _segment(k, v) for k, v in params.items()})
        return url

    async def send(
        self,
        method: str,
        extension_id: str,
        setting_type: str | None = None,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Response:
        """One attempt (plus one replay after a 401/124). Raises an ApiError for non-2xx."""
        if method not in _METHODS:
            raise ValueError(f"unsupported method {method!r}")
        url = self.url(extension_id, setting_type, params)
        data = None if body is None else orjson.dumps(body)
        tokens = self.tokens
        token = await tokens.get()
        response, error = await self._attempt(method, url, data, token)
        if isinstance(error, AuthError) and error.status == 401 and error.code == 124:
            tokens.invalidate(token)
            token = await tokens.get()
            response, error = await self._attempt(method, url, data, token)
            if isinstance(error, AuthError) and error.status == 401:
                error = AuthError(
                    _clip(
                        f"{error.message}; refused again with a fresh token: check the app's "
                        "credentials and that it is still activated"
                    ),
                    status=error.status,
                    code=error.code,
                    tracking_id=error.tracking_id,
                )
        if error is not None:
            raise error
        return response

    async def _attempt(
        self, method: str, url: URL, data: bytes | None, token: str
    ) -> tuple[Response, ApiError | None]:
        session = self._session
        assert session is not None  # checked by self.tokens
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        await self._limiter.acquire()
        started = self._clock()
        try:
            async with session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                raw = await resp.read()
                status, answer_headers = resp.status, resp.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = _transport_error(exc, method, url)
            logger.info("%s %s failed: %s", method, url.path, failure.message)
            raise failure from None
        latency = self._clock() - started
        parsed = _json_or_none(raw)
        secrets = (token, self._credentials.client_secret)
        error = classify(status, answer_headers, parsed, now=self._utcnow(), secrets=secrets)
        tracking = answer_headers.get(TRACKING_HEADER)
        tracking = None if tracking is None else scrub(tracking, secrets)
        logger.debug(
            "%s %s -> %d in %.3fs tracking=%s", method, url.path, status, latency, tracking
        )
        return Response(status, parsed, tracking, latency), error


def _json_or_none(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _transport_error(exc: BaseException, method: str, url: URL) -> RetriableApiError:
    """No answer: ``sent=False`` only if the request certainly never left (no connection)."""
    where = f"{method} {url.path}"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        what, sent = "timed out connecting to Zoom", False
    elif isinstance(exc, aiohttp.ClientConnectorError):
        what, sent = "could not connect to Zoom (refused, DNS or TLS)", False
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        what, sent = "Zoom closed the connection before answering", True
    elif isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        what, sent = "timed out waiting for Zoom's answer", True
    elif isinstance(exc, aiohttp.ClientPayloadError):
        what, sent = "Zoom's answer was cut off", True
    else:
        what, sent = "the connection to Zoom failed", True
    outcome = "not sent" if not sent else "may have been applied"
    return RetriableApiError(f"{where}: {what} ({type(exc).__name__}; {outcome})", sent=sent)
