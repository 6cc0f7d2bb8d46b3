from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import FakeClock

from bulkops.config import Credentials, Endpoints
from bulkops.errors import (
    ApiError,
    AuthError,
    ExtensionNotFoundError,
    FatalApiError,
    RateLimitedError,
    RetriableApiError,
)
from bulkops.run.ratelimit import AdaptiveLimiter
from bulkops.zoom.answers import Response, classify
from bulkops.zoom.client import ZoomClient
from bulkops.zoom.routes import created_id_of

NOW = datetime(2026, 10, 21, 7, 27, 30, tzinfo=UTC)
QPS_MESSAGE = "You have reached the maximum per-second rate limit for this API. Try again later."
DAILY_MESSAGE = (
    "You have reached the maximum daily rate limit for this API. Refer to the response header "
    "for details on when you can make another request."
)


def _table() -> list[Any]:
    rows: list[tuple[str, int, dict[str, str], Any, type[ApiError] | None, dict[str, Any]]] = [
        ("200", 200, {}, {"business_hours": []}, None, {}),
        ("201-created", 201, {}, {"holiday_id": "h1"}, None, {}),
        ("204-no-body", 204, {}, None, None, {}),
        ("429-seconds", 429, {"Retry-After": "2", "X-RateLimit-Type": "QPS"},
         {"code": 429, "message": QPS_MESSAGE}, RateLimitedError,
         {"retry_after": 2.0, "daily": False, "retry_at": None, "sent": True}),
        ("429-iso-timestamp", 429, {"Retry-After": "2026-10-21T07:27:31.5Z"}, None,
         RateLimitedError, {"retry_after": 1.5, "daily": False, "message": "HTTP 429"}),
        ("429-http-date", 429, {"retry-after": "Wed, 21 Oct 2026 07:27:33 GMT"}, None,
         RateLimitedError, {"retry_after": 3.0}),
        ("429-no-headers", 429, {}, {"code": 429, "message": QPS_MESSAGE}, RateLimitedError,
         {"retry_after": None, "daily": False, "code": 429}),
        ("429-daily-header", 429,
         {"X-RateLimit-Type": "Daily-limit", "Retry-After": "2026-10-22T00:00:00Z"},
         {"code": 429, "message": DAILY_MESSAGE}, RateLimitedError,
         {"daily": True, "retry_after": 59_550.0, "retry_at": datetime(2026, 10, 22, tzinfo=UTC)}),
        ("429-daily-message-only", 429, {}, {"code": 429, "message": DAILY_MESSAGE},
         RateLimitedError, {"daily": True, "retry_after": None, "retry_at": None}),
        ("500-no-body", 500, {}, None, RetriableApiError,
         {"sent": True, "message": "HTTP 500", "retry_after": None}),
        ("503-retry-after", 503, {"Retry-After": "5"}, None, RetriableApiError, {"retry_after": 5.0}),
        ("409-concurrent-write", 409, {}, {"code": 409, "message": "busy"}, RetriableApiError,
         {"sent": True, "code": 409}),
        ("401-124-expired", 401, {}, {"code": 124, "message": "Access token is expired."},
         AuthError, {"code": 124, "message": "Access token is expired."}),
        ("401-scope", 401, {}, {"code": 4711, "message": "Invalid access token, does not contain scopes."},
         AuthError, {"code": 4711}),
        ("403-no-phone", 403, {}, {"code": 2031, "message": "Zoom Phone has not been enabled for this account."},
         AuthError, {"code": 2031, "status": 403}),
        ("400-validation-fields", 400, {"x-zm-trackingid": "v=2.0;clid=us06;rid=XYZ"},
         {"code": 300, "message": "Validation Failed.",
          "errors": [{"field": "settings.from", "message": "Invalid field."}]},
         FatalApiError, {"code": 300, "tracking_id": "v=2.0;clid=us06;rid=XYZ",
                         "message": "Validation Failed. (settings.from: Invalid field.)"}),
        ("404-extension", 404, {"X-Zm-Trackingid": "t1"},
         {"code": 404, "message": "Extension does not exist: abc"}, ExtensionNotFoundError,
         {"code": 404, "status": 404, "tracking_id": "t1",
          "message": "Extension does not exist: abc"}),
        ("404-holiday", 404, {}, {"code": 404, "message": "Holiday does not exist."},
         FatalApiError, {"code": 404, "message": "Holiday does not exist."}),
        ("404-no-body", 404, {}, None, FatalApiError, {"code": None, "message": "HTTP 404"}),
        ("400-string-code-multiline", 400, {}, {"code": "400", "message": "line one\n  line two"},
         FatalApiError, {"code": 400, "message": "line one line two"}),
        ("400-html-body", 400, {}, "<html>nope</html>", FatalApiError,
         {"code": None, "message": "HTTP 400"}),
        ("302-redirect", 302, {"Location": "https://example.com"}, None, FatalApiError, {"code": None}),
    ]  # fmt: skip
    return [pytest.param(*row[1:], id=row[0]) for row in rows]


@pytest.mark.parametrize(("status", "headers", "body", "expected", "attrs"), _table())
def test_classify(
    status: int,
    headers: dict[str, str],
    body: Any,
    expected: type[ApiError] | None,
    attrs: dict[str, Any],
) -> None:
    error = classify(status, headers, body, now=NOW)
    if expected is None:
        assert error is None
        return
    assert type(error) is expected
    assert error.status == status
    for name, value in attrs.items():
        assert getattr(error, name) == value, name


def _by_method() -> list[Any]:
    scope = {
        "code": 4711,
        "message": "Invalid access token, does not contain scopes:[phone:write:admin, phone:update:call_handling_setting:admin].",
    }
    gone = {"code": 300, "message": "Extension does not exist: abc"}
    gone_field = {
        "code": 300,
        "message": "Validation Failed.",
        "errors": [{"field": "extensionId", "message": "Extension does not exist: abc"}],
    }
    invalid = {
        "code": 300,
        "message": "Validation Failed.",
        "errors": [{"field": "settings.from", "message": "Invalid field."}],
    }
    rows: list[tuple[str, str | None, int, Any, type[ApiError], list[str]]] = [
        ("400-4711-patch", "PATCH", 400, scope, AuthError,
         ["does not contain scopes:[phone:write:admin", "PATCH needs phone:write:admin (or phone:update:call_handling_setting:admin)"]),
        ("401-4711-post", "POST", 401, scope, AuthError, ["POST needs phone:write:admin (or phone:write:call_handling_setting:admin)"]),
        ("403-4711-get", "GET", 403, {"code": 4711, "message": "Invalid access token, does not contain scopes."},
         AuthError, ["GET needs phone:read:admin (or phone:read:list_call_handling_settings:admin)"]),
        ("400-4711-unknown-method", None, 400, scope, AuthError, ["bulkops needs phone:read:admin and phone:write:admin"]),
        ("400-300-gone-post", "POST", 400, gone, ExtensionNotFoundError, ["Extension does not exist: abc"]),
        ("400-300-gone-in-field-errors", "PATCH", 400, gone_field, ExtensionNotFoundError, ["Extension does not exist"]),
        ("400-300-validation-patch", "PATCH", 400, invalid, FatalApiError, ["settings.from"]),
        ("400-300-validation-get", "GET", 400, {"code": 300, "message": "Validation Failed."}, ExtensionNotFoundError, ["Validation Failed."]),
        ("400-400-get", "GET", 400, {"code": 400, "message": "This operation is not supported."}, FatalApiError, ["not supported"]),
        ("404-no-body-get", "GET", 404, None, ExtensionNotFoundError, ["HTTP 404"]),
        ("404-no-body-delete", "DELETE", 404, None, FatalApiError, ["HTTP 404"]),
        ("404-holiday-delete", "DELETE", 404, {"code": 404, "message": "Holiday does not exist."}, FatalApiError, ["Holiday"]),
        ("404-gone-delete", "DELETE", 404, {"code": 404, "message": "Extension does not exist: abc"}, ExtensionNotFoundError, ["abc"]),
    ]  # fmt: skip
    return [pytest.param(*row[1:], id=row[0]) for row in rows]


@pytest.mark.parametrize(("method", "status", "body", "expected", "fragments"), _by_method())
def test_classify_scopes_and_vanished_extensions_by_method(
    method: str | None, status: int, body: Any, expected: type[ApiError], fragments: list[str]
) -> None:
    """Code 4711 stops the run whatever its status, naming the scope; a vanished extension is
    recognised in the 400/300 Zoom also sends, and for the GET by status and code alone."""
    error = classify(status, {}, body, now=NOW, method=method)
    assert type(error) is expected
    assert error.status == status
    for fragment in fragments:
        assert fragment in error.message, error.message
    assert len(error.message) <= 300


@pytest.mark.parametrize(
    ("status", "message"),
    [
        pytest.param(400, "Invalid header Authorization: Bearer tok-9", id="400-bearer"),
        pytest.param(401, "token tok-9 is not valid", id="401-bare-token"),
        pytest.param(404, "Extension does not exist: tok-9", id="404-extension"),
        pytest.param(429, "slow down, tok-9", id="429"),
        pytest.param(503, "upstream saw tok-9 and S3CRET-value", id="503"),
    ],
)
def test_classify_scrubs_the_secrets_it_is_given(status: int, message: str) -> None:
    body = {"code": status, "message": message, "errors": [{"field": "x", "message": "tok-9"}]}
    headers = {"x-zm-trackingid": "rid=tok-9"}
    error = classify(status, headers, body, now=NOW, secrets=("tok-9", "S3CRET-value"))
    assert error is not None and "***" in error.message
    for text in (error.message, str(error), repr(error), error.tracking_id or ""):
        assert "tok-9" not in text and "S3CRET-value" not in text


def test_classify_scrubs_before_it_clips() -> None:
    """A token cut in half by the 300-character cap would no longer match the secret."""
    message = "x" * 280 + " tok-123456789abcdef"
    error = classify(400, {}, {"message": message}, now=NOW, secrets=("tok-123456789abcdef",))
    assert error is not None and "tok-1" not in error.message


def test_classify_caps_long_messages_to_one_line() -> None:
    error = classify(400, {}, {"code": 400, "message": "x\n" * 1000}, now=NOW)
    assert error is not None
    assert "\n" not in error.message and len(error.message) <= 300


# --- end to end against a small local Zoom ---------------------------------------------------

SECRET = "CANARY-client-secret"
CREDS = Credentials("acct", "cid", SECRET)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FakeZoom:
    """Issues tok-1, tok-2, …; the extension id picks the API's behaviour."""

    token_requests: int = 0
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # method, path_qs, token
    bodies: list[bytes] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        return web.json_response(
            {
                "access_token": f"tok-{self.token_requests}",
                "expires_in": 3600,
                "token_type": "bearer",
            }
        )

    async def api(self, request: web.Request) -> web.StreamResponse:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.calls.append((request.method, request.path_qs, token))
        self.bodies.append(await request.read())
        ext = request.match_info["ext"]
        track = {"x-zm-trackingid": f"trk-{len(self.calls)}"}
        if (ext == "stale" and token == "tok-1") or ext == "always401":
            return _error(401, 124, "Access token is expired.")
        if ext == "echo":  # a proxy that quotes the request's headers back
            header = request.headers.get("Authorization", "")
            return web.json_response(
                {
                    "code": 300,
                    "message": f"Bad request; Authorization: {header}",
                    "errors": [{"field": "auth", "message": f"{token} / {SECRET}"}],
                },
                status=400,
                headers={"x-zm-trackingid": f"rid={token}"},
            )
        if ext == "forbidden":
            return _error(403, 2031, "Zoom Phone has not been enabled for this account.")
        if ext == "qps":
            return web.json_response(
                {"code": 429, "message": QPS_MESSAGE},
                status=429,
                headers={"Retry-After": "2026-10-21T07:27:32Z", "X-RateLimit-Type": "QPS"},
            )
        if ext == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if ext == "slow":
            await self.release.wait()
        if request.method == "POST":
            return web.json_response({"holiday_id": "hol-1"}, status=201, headers=track)
        if request.method in ("PATCH", "DELETE"):
            return web.Response(status=204, headers=track)  # no body, no Content-Type
        return web.json_response({"business_hours": []}, headers=track)


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


@dataclass
class Env:
    fake: FakeZoom
    endpoints: Endpoints
    clock: FakeClock

    async def client(self, **kwargs: Any) -> tuple[ZoomClient, AdaptiveLimiter]:
        limiter = AdaptiveLimiter(1000)
        endpoints = kwargs.pop("endpoints", self.endpoints)
        return (
            ZoomClient(endpoints, CREDS, limiter, clock=self.clock, utcnow=lambda: NOW, **kwargs),
            limiter,
        )


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    fake = FakeZoom()
    app = web.Application()
    app.router.add_post("/oauth/token", fake.token)
    app.router.add_route("*", "/v2/phone/extension/{ext}/call_handling/settings", fake.api)
    app.router.add_route("*", "/v2/phone/extension/{ext}/call_handling/settings/{type}", fake.api)
    async with TestServer(app, host="127.0.0.1") as server:
        base = str(server.make_url("")).rstrip("/")
        yield Env(fake, Endpoints(f"{base}/v2", f"{base}/oauth/token"), FakeClock(50.0))
        fake.release.set()


async def test_each_method_sends_one_request_and_pays_the_limiter(env: Env) -> None:
    client, limiter = await env.client()
    async with client as zoom:
        got = await zoom.get_settings("nNGsNx2zRDyiIXWVI23FCQ")
        added = await zoom.add("ext1", "holiday_hours", {"sub_setting_type": "holiday"})
        updated = await zoom.update("ext1", "business_hours", {"settings": {"x": 1}})
        deleted = await zoom.delete("ext1", "holiday_hours", holiday_id="hol-1")
    assert got.status == 200 and got.json == {"business_hours": []} and got.tracking_id == "trk-1"
    assert added.status == 201 and created_id_of(added.json) == "hol-1"
    assert updated == Response(204, None, "trk-3", 0.0)  # 204, no Content-Type: body None
    assert deleted.status == 204 and deleted.json is None
    assert [c[:2] for c in env.fake.calls] == [
        ("GET", "/v2/phone/extension/nNGsNx2zRDyiIXWVI23FCQ/call_handling/settings"),
        ("POST", "/v2/phone/extension/ext1/call_handling/settings/holiday_hours"),
        ("PATCH", "/v2/phone/extension/ext1/call_handling/settings/business_hours"),
        (
            "DELETE",
            "/v2/phone/extension/ext1/call_handling/settings/holiday_hours?holiday_id=hol-1",
        ),
    ]
    assert env.fake.bodies[2] == b'{"settings":{"x":1}}'
    assert limiter.granted == 4 and env.fake.token_requests == 1


async def test_concurrent_calls_share_one_token(env: Env) -> None:
    client, limiter = await env.client()
    async with client as zoom:
        await asyncio.gather(*(zoom.get_settings(f"e{i}") for i in range(20)))
    assert env.fake.token_requests == 1
    assert {c[2] for c in env.fake.calls} == {"tok-1"}
    assert limiter.granted == 20


async def test_token_is_renewed_a_minute_before_expiry(env: Env) -> None:
    client, _ = await env.client()
    async with client as zoom:
        await zoom.get_settings("e1")
        env.clock.now += 3539
        await zoom.get_settings("e1")
        env.clock.now += 1
        await zoom.get_settings("e1")
    assert [c[2] for c in env.fake.calls] == ["tok-1", "tok-1", "tok-2"]


async def test_expired_token_is_refreshed_once_and_the_request_replayed(env: Env) -> None:
    client, limiter = await env.client()
    async with client as zoom:
        await zoom.get_settings("e1")  # everyone holds tok-1 now
        responses = await asyncio.gather(
            *(zoom.add("stale", "holiday_hours", {}) for _ in range(5))
        )
    assert all(r.status == 201 for r in responses)
    assert env.fake.token_requests == 2  # five 401s on the same token: one refresh
    assert sorted(c[2] for c in env.fake.calls if "stale" in c[1]) == ["tok-1"] * 5 + ["tok-2"] * 5
    assert limiter.granted == 1 + 10  # the replay pays the limiter too


async def test_second_401_is_an_auth_error(env: Env) -> None:
    client, limiter = await env.client()
    async with client as zoom:
        with pytest.raises(AuthError, match="refused again with a fresh token") as info:
            await zoom.get_settings("always401")
    assert info.value.code == 124 and info.value.status == 401
    assert env.fake.token_requests == 2 and len(env.fake.calls) == 2 == limiter.granted


async def test_403_is_an_auth_error_without_refresh(env: Env) -> None:
    client, _ = await env.client()
    async with client as zoom:
        with pytest.raises(AuthError) as info:
            await zoom.update("forbidden", "closed_hours", {})
    assert (info.value.status, info.value.code) == (403, 2031)
    assert env.fake.token_requests == 1 and len(env.fake.calls) == 1


async def test_429_is_raised_with_retry_after_and_leaves_steering_to_the_engine(env: Env) -> None:
    client, limiter = await env.client()
    async with client as zoom:
        with pytest.raises(RateLimitedError) as info:
            await zoom.get_settings("qps")
    assert info.value.retry_after == 2.0 and not info.value.daily  # ISO Retry-After, 2 s on
    assert limiter.granted == 1 and limiter.current_rate == 1000


async def test_dropped_connection_is_retriable_and_maybe_sent(env: Env) -> None:
    client, _ = await env.client()
    async with client as zoom:
        with pytest.raises(RetriableApiError) as info:
            await zoom.add("drop", "holiday_hours", {})
    assert info.value.sent is True and info.value.status is None


async def test_read_timeout_is_retriable_and_maybe_sent(env: Env) -> None:
    timeout = aiohttp.ClientTimeout(total=5, sock_read=0.05)
    client, _ = await env.client(timeout=timeout)
    async with client as zoom:
        with pytest.raises(RetriableApiError, match="timed out waiting") as info:
            await zoom.add("slow", "holiday_hours", {})
    assert info.value.sent is True


async def test_connection_refused_is_retriable_and_not_sent(env: Env) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoints = Endpoints(f"http://127.0.0.1:{port}/v2", env.endpoints.oauth_url)
    client, limiter = await env.client(endpoints=endpoints)
    async with client as zoom:
        with pytest.raises(RetriableApiError) as info:
            await zoom.add("e1", "holiday_hours", {})
    assert info.value.sent is False and limiter.granted == 1


@pytest.mark.parametrize(
    "ext",
    [
        pytest.param("../../oauth/token", id="dot-dot"),
        pytest.param("..", id="bare-dot-dot"),
        pytest.param("a/b", id="slash"),
        pytest.param("%2e%2e", id="pre-encoded"),
        pytest.param("a?b=1", id="query"),
        pytest.param("a#b", id="fragment"),
        pytest.param("a b", id="space"),
        pytest.param("ü1", id="non-ascii"),
        pytest.param("", id="empty"),
        pytest.param("x" * 65, id="too-long"),
    ],
)
async def test_unsafe_ids_are_rejected_before_any_request(env: Env, ext: str) -> None:
    client, limiter = await env.client()
    async with client as zoom:
        for call in (
            zoom.get_settings(ext),
            zoom.add(ext, "holiday_hours", {}),
            zoom.delete("e1", "holiday_hours", holiday_id=ext),
            zoom.update("e1", ext, {}),
        ):
            with pytest.raises(FatalApiError, match="nothing was sent"):
                await call
    assert env.fake.calls == [] and env.fake.token_requests == 0 and limiter.granted == 0


async def test_delete_needs_exactly_one_id(env: Env) -> None:
    client, _ = await env.client()
    async with client as zoom:
        for kwargs in ({}, {"holiday_id": "h", "call_forwarding_id": "c"}):
            with pytest.raises(FatalApiError, match="exactly one"):
                await zoom.delete("e1", "holiday_hours", **kwargs)
    assert env.fake.calls == []


async def test_shared_session_is_not_closed(env: Env) -> None:
    async with aiohttp.ClientSession() as session:
        client, _ = await env.client(session=session)
        async with client as zoom:
            await zoom.get_settings("e1")
        assert not session.closed


async def test_an_echoed_authorization_header_is_scrubbed(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client, _ = await env.client()
    async with client as zoom:
        with pytest.raises(FatalApiError) as info:
            await zoom.add("echo", "holiday_hours", {})
    error = info.value
    assert error.status == 400 and error.message.startswith("Bad request; Authorization:")
    for text in (error.message, str(error), repr(error), error.tracking_id or "", caplog.text):
        assert "tok-1" not in text and SECRET not in text
    assert error.tracking_id == "rid=***"


async def test_token_and_secret_never_leak(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client, _ = await env.client()
    texts = [repr(client)]
    async with client as zoom:
        await zoom.get_settings("e1")
        for call in (zoom.get_settings("always401"), zoom.add("drop", "holiday_hours", {})):
            with pytest.raises(ApiError) as info:
                await call
            texts += [str(info.value), repr(info.value)]
    texts.append(caplog.text)
    assert "-> 200" in caplog.text  # the per-request log line exists…
    for text in texts:  # …but never with a token, the secret or an Authorization header
        assert "tok-" not in text and SECRET not in text and "Bearer" not in text
