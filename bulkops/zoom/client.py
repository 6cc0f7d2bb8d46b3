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
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import quote

import aiohttp
import orjson
from yarl import URL

from ..config import Credentials, Endpoints
from ..errors import (
    ApiError,
    AuthError,
    FatalApiError,
    RetriableApiError,
    UnreadableAnswerError,
)
from ..model import SettingType
from .answers import TRACKING_HEADER, Response, classify, clip, decode, not_an_object
from .auth import TokenProvider
from .redact import scrub
from .transport import no_answer

__all__ = ["DEFAULT_TIMEOUT", "ZoomClient"]

logger = logging.getLogger(__name__)

#: Per attempt: connecting, waiting for each read, and the whole exchange.
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10, sock_connect=10, sock_read=20)
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_METHODS = frozenset({"GET", "POST", "PATCH", "DELETE"})


def _segment(kind: str, value: str) -> str:
    """A validated, percent-encoded path segment or query id; raised before anything is sent."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise FatalApiError(
            f"invalid {kind} {clip(repr(value), 80)}: expected 1-64 ASCII letters, digits, "
            "'-' or '_'; nothing was sent"
        )
    return quote(value, safe="")


class Limiter(Protocol):
    """What the client needs of a rate limiter (``run.ratelimit.AdaptiveLimiter`` is one): a
    grant to pay right before each request is sent."""

    async def acquire(self) -> None: ...


class ZoomClient:
    """One Zoom account's HTTP client. Inside a running loop (the limiter binds to it)::

        limiter = AdaptiveLimiter(resolve_rate(AccountPlan.PRO, None))
        async with ZoomClient(Endpoints.from_env(env), Credentials.from_env(env), limiter) as zoom:
            before = (await zoom.get_settings(extension_id)).json
            holiday_id = created_id_of((await zoom.add(extension_id, "holiday_hours", body)).json)
            await zoom.send("DELETE", extension_id, "holiday_hours", params={"holiday_id": ...})

    A non-2xx answer raises the error :func:`classify` picks. Owns one ``aiohttp.ClientSession``
    with a bounded connector (unless ``session`` is given, which it then shares and does not
    close), created inside the running loop on entry.
    """

    def __init__(
        self,
        endpoints: Endpoints,
        credentials: Credentials,
        limiter: Limiter,
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
        if self._tokens is not None:
            await self._tokens.aclose()
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
                    f"invalid setting type {clip(repr(setting_type), 80)}: expected one of "
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
        return await self._exchange(method, url, data)

    async def list_page(
        self, path: str, params: Mapping[str, str], *, scopes: tuple[str, str]
    ) -> Response:
        """One page of one of Zoom's lists (``path`` such as ``/phone/users``), sent like every
        request: one attempt after the limiter, one replay after an expired token. A refusal
        for want of a scope (4711, 401, 403) names ``scopes``, the list's classic and granular
        ones. ``path`` comes from bulkops' own table; ``params`` are query values (Zoom's opaque
        page token among them), encoded here."""
        url = URL(self._base + path, encoded=True).with_query(dict(params))
        return await self._exchange("GET", url, None, scopes=scopes)

    async def _exchange(
        self, method: str, url: URL, data: bytes | None, *, scopes: tuple[str, str] | None = None
    ) -> Response:
        tokens = self.tokens
        token = await tokens.get()
        response, error = await self._attempt(method, url, data, token, scopes)
        if isinstance(error, AuthError) and error.status == 401 and error.code == 124:
            tokens.invalidate(token)
            token = await tokens.get()
            response, error = await self._attempt(method, url, data, token, scopes)
            if isinstance(error, AuthError) and error.status == 401:
                error = AuthError(
                    clip(
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
        self,
        method: str,
        url: URL,
        data: bytes | None,
        token: str,
        scopes: tuple[str, str] | None = None,
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
        parsed, problem = decode(raw)
        secrets = (token, self._credentials.client_secret)
        error = classify(
            status,
            answer_headers,
            parsed,
            now=self._utcnow(),
            # A list is not the call-handling GET: its 404 is no vanished extension.
            method=method if scopes is None else None,
            secrets=secrets,
            scopes=scopes,
        )
        tracking = answer_headers.get(TRACKING_HEADER)
        tracking = None if tracking is None else scrub(tracking, secrets)
        if error is None and method == "GET" and not isinstance(parsed, dict):
            kind = answer_headers.get("Content-Type", "no content type")
            reason = not_an_object(parsed, problem, f"{kind}, {len(raw)} bytes")
            error = UnreadableAnswerError(reason, status=status, tracking_id=tracking)
            logger.info("%s %s -> %d not understood: %s", method, url.path, status, reason)
        logger.debug(
            "%s %s -> %d in %.3fs tracking=%s", method, url.path, status, latency, tracking
        )
        return Response(status, parsed, tracking, latency), error


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
