"""The Zoom client: one HTTP attempt per call, one shared token, one classifier for answers.

Every method sends exactly one request (after paying the limiter) and either returns a
:class:`Response` for a 2xx or raises the :mod:`bulkops.errors` exception :func:`classify` picks.
Retrying is the engine's job; the client's only second attempt is the replay after a 401/124
(expired token), which Zoom never processed. Every attempt pays the limiter; steering it (AIMD on
429s, pauses for ``Retry-After``) is the engine's job, which knows the policy's cap.

A 2xx read whose body is not a JSON object (HTML from a proxy, empty, truncated, nested past the
parser's limit, a list) raises :class:`~bulkops.errors.UnreadableAnswerError`: a read decides
what is written, so it is never taken as "empty" (:class:`~.view.ExtensionView` checks the rest
of the shape).
"""

from __future__ import annotations

import logging
import re
import time
import types
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
    UnreadableAnswerError,
)
from ..model import SettingType
from ..run.ratelimit import AdaptiveLimiter
from ..run.retry import parse_retry_after
from .auth import TokenProvider
from .redact import scrub
from .transport import no_answer

__all__ = ["DEFAULT_TIMEOUT", "Response", "ZoomClient", "classify"]

logger = logging.getLogger(__name__)

#: Per attempt: connecting, waiting for each read, and the whole exchange.
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10, sock_connect=10, sock_read=20)
TRACKING_HEADER = "x-zm-trackingid"
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_METHODS = frozenset({"GET", "POST", "PATCH", "DELETE"})
_MESSAGE_LIMIT = 300
_EXTENSION_GONE = "Extension does not exist"  # Zoom's message, followed by ": {id}"
_VALIDATION_FAILED = 300  # Zoom's code of a 400 that refused the request's input
_SCOPE_MISSING = 4711  # Zoom's code of a token without the scope an operation needs
#: The scopes an operation needs, classic first (the spec's x-macro- and x-granular-scopes).
_SCOPES = {
    "GET": ("phone:read:admin", "phone:read:list_call_handling_settings:admin"),
    "POST": ("phone:write:admin", "phone:write:call_handling_setting:admin"),
    "PATCH": ("phone:write:admin", "phone:update:call_handling_setting:admin"),
    "DELETE": ("phone:write:admin", "phone:delete:call_handling_setting:admin"),
}
_RAW_LIMIT = 64 * 1024  # of Zoom's message, before scrubbing and clipping
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
    method: str | None = None,
    secrets: Iterable[str] = (),
) -> ApiError | None:
    """Map one answer to ``method``'s request to the error tree: None for 2xx, else the error.

    Zoom's message (and tracking id) are scrubbed of ``secrets`` (the token and client secret
    the request carried) and of anything shaped like a credential before they go into the error:
    every message bulkops stores or shows passes through here.

    401 with Zoom code 124 (expired or invalid token) is an :class:`AuthError` with ``code=124``;
    the client refreshes the token and replays once before letting it escape. Code 4711 (the
    token lacks a scope) is an :class:`AuthError` whatever the status: Zoom has sent it as 400,
    401 and 403, and every later request would hear it too.

    A vanished extension is an :class:`ExtensionNotFoundError`, so the engine skips the
    extension's other operations instead of sending each one to hear the same answer: "Extension
    does not exist" as a 404 (documented) or a 400 (seen); and for the GET, whose only
    documented 404 is that one, any 404 or 400/300 (the GET has no body to fail validation and
    bulkops checked its id; the Terraform provider reads a GET's 400/300 as "deleted").
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
    if code == _SCOPE_MISSING:
        return AuthError(_clip(f"{message}; {_scope_hint(method)}"), **kw)
    if status in _AUTH_HINTS:
        hint = "" if status == 401 and code == 124 else f"; {_AUTH_HINTS[status]}"
        return AuthError(_clip(message + hint), **kw)
    if 300 <= status < 400:
        return FatalApiError(f"unexpected redirect (HTTP {status}): check ZOOM_API_URL", **kw)
    if _extension_gone(status, code, message, method):
        return ExtensionNotFoundError(message, **kw)
    return FatalApiError(message, **kw)


def _extension_gone(status: int, code: int | None, message: str, method: str | None) -> bool:
    if _EXTENSION_GONE in message:  # in Zoom's message or in one of its field errors
        return status in (400, 404)
    return method == "GET" and (status == 404 or (status == 400 and code == _VALIDATION_FAILED))


def _scope_hint(method: str | None) -> str:
    """What to grant: the scopes ``method`` needs, or bulkops' two classic ones."""
    if method in _SCOPES:
        classic, granular = _SCOPES[method]
        need = f"{method} needs {classic} (or {granular})"
    else:
        need = "bulkops needs phone:read:admin and phone:write:admin"
    return f"{need}: add it to the app in the Zoom App Marketplace, reactivate it, run again"


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
            failure = _transport_error(exc)
            logger.info("%s %s failed: %s", method, url.path, failure.message)
            raise failure from None
        latency = self._clock() - started
        parsed, problem = _decode(raw)
        secrets = (token, self._credentials.client_secret)
        error = classify(
            status, answer_headers, parsed, now=self._utcnow(), method=method, secrets=secrets
        )
        tracking = answer_headers.get(TRACKING_HEADER)
        tracking = None if tracking is None else scrub(tracking, secrets)
        if error is None and method == "GET" and not isinstance(parsed, dict):
            kind = answer_headers.get("Content-Type", "no content type")
            reason = _not_an_object(parsed, problem, f"{kind}, {len(raw)} bytes")
            error = UnreadableAnswerError(reason, status=status, tracking_id=tracking)
            logger.info("%s %s -> %d not understood: %s", method, url.path, status, reason)
        logger.debug(
            "%s %s -> %d in %.3fs tracking=%s", method, url.path, status, latency, tracking
        )
        return Response(status, parsed, tracking, latency), error


def _decode(raw: bytes) -> tuple[Any, str | None]:
    """The parsed body (None when empty or not JSON) and, when there is no JSON value, why."""
    if not raw.strip():
        return None, "the body is empty"
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError as exc:  # also past orjson's nesting limit (1024 levels)
        return None, f"the body is not JSON: {exc}"


_JSON_KINDS: tuple[tuple[type | types.UnionType, str], ...] = (
    (list, "an array"),
    (str, "a string"),
    (bool, "a boolean"),
    (int | float, "a number"),
)


def _not_an_object(parsed: Any, problem: str | None, what: str) -> str:
    """Why a read's 2xx body is not the JSON object it must be; ``what`` describes the body."""
    if problem is None:
        kind = next((name for cls, name in _JSON_KINDS if isinstance(parsed, cls)), "null")
        problem = f"the body is JSON {kind}, not an object"
    return _clip(f"{problem} ({what})", 200)


def _transport_error(exc: BaseException) -> RetriableApiError:
    """No answer: ``sent=False`` only if the request certainly never left (no connection).

    The message names the failure, not the URL: it is the same for every extension, which is
    what lets the breaker and the report's failure groups see one outage, not many errors.
    """
    failure = no_answer(exc)
    outcome = "not sent" if not failure.sent else "may have been applied"
    return RetriableApiError(
        f"{failure.what} ({type(exc).__name__}; {outcome})", sent=failure.sent, kind=failure.kind
    )
