from __future__ import annotations

import asyncio
import base64
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import FakeClock

from bulkops.config import Credentials
from bulkops.errors import AuthError, BulkopsError, RateLimitedError, RetriableApiError
from bulkops.zoom.auth import TokenProvider

SECRET = "CANARY-s3cr3t-0f-th3-app"
CREDS = Credentials("acct-1", "client-1", SECRET)


@dataclass
class FakeOAuth:
    """Zoom's token endpoint: checks the grant and Basic credentials, issues tok-1, tok-2, …"""

    expires_in: int = 3600
    fail: tuple[int, dict[str, Any] | None, dict[str, str]] | None = None
    requests: list[web.Request] = field(default_factory=list)

    async def token(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        if self.fail is not None:
            status, body, headers = self.fail
            return web.json_response(body, status=status, headers=headers)
        expected = base64.b64encode(f"client-1:{SECRET}".encode()).decode()
        if (
            request.headers.get("Authorization") != f"Basic {expected}"
            or request.query.get("grant_type") != "account_credentials"
            or request.query.get("account_id") != "acct-1"
        ):
            return web.json_response(
                {"reason": "Invalid client_id or client_secret", "error": "invalid_client"},
                status=401,
            )
        return web.json_response(
            {
                "access_token": f"CANARY-TOKEN-{len(self.requests)}",
                "token_type": "bearer",
                "expires_in": self.expires_in,
                "scope": "phone:write:admin phone:read:admin",
            }
        )


@dataclass
class Env:
    fake: FakeOAuth
    url: str
    session: aiohttp.ClientSession
    clock: FakeClock

    def provider(self, credentials: Credentials = CREDS) -> TokenProvider:
        return TokenProvider(self.session, self.url, credentials, clock=self.clock)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    fake = FakeOAuth()
    app = web.Application()
    app.router.add_post("/oauth/token", fake.token)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as session:
        yield Env(fake, str(server.make_url("/oauth/token")), session, FakeClock())


async def test_fetches_with_basic_auth_and_account_credentials_grant(env: Env) -> None:
    provider = env.provider()
    assert await provider.get() == "CANARY-TOKEN-1"
    assert provider.fetches == 1 and len(env.fake.requests) == 1
    assert env.fake.requests[0].method == "POST"


async def test_concurrent_callers_share_one_fetch(env: Env) -> None:
    provider = env.provider()
    tokens = await asyncio.gather(*(provider.get() for _ in range(25)))
    assert set(tokens) == {"CANARY-TOKEN-1"}
    assert len(env.fake.requests) == 1


@pytest.mark.parametrize(
    ("expires_in", "elapsed", "fetches"),
    [
        pytest.param(3600, 3539.0, 1, id="kept-until-a-minute-before-expiry"),
        pytest.param(3600, 3540.0, 2, id="renewed-a-minute-before-expiry"),
        pytest.param(60, 29.0, 1, id="short-lived-kept-for-half"),
        pytest.param(60, 30.0, 2, id="short-lived-renewed-at-half"),
    ],
)
async def test_renewal(env: Env, expires_in: int, elapsed: float, fetches: int) -> None:
    env.fake.expires_in = expires_in
    provider = env.provider()
    await provider.get()
    env.clock.now += elapsed
    token = await provider.get()
    assert provider.fetches == fetches
    assert token == f"CANARY-TOKEN-{fetches}"


async def test_invalidate_drops_only_the_current_token(env: Env) -> None:
    provider = env.provider()
    first = await provider.get()
    for _ in range(5):  # five workers got 401 with the same token
        provider.invalidate(first)
    second = await provider.get()
    provider.invalidate(first)  # a late 401 for the old token must not discard the new one
    assert await provider.get() == second != first
    assert len(env.fake.requests) == 2


@pytest.mark.parametrize(
    ("fail", "error", "says"),
    [
        pytest.param(
            (400, {"reason": "Invalid account_id", "error": "invalid_request"}, {}),
            AuthError,
            "Invalid account_id",
            id="400-bad-account",
        ),
        pytest.param((403, None, {}), AuthError, "ZOOM_CLIENT_SECRET", id="403-no-body"),
        pytest.param((503, None, {}), RetriableApiError, "HTTP 503", id="503-retriable"),
        pytest.param((429, None, {"Retry-After": "3"}), RateLimitedError, "429", id="429"),
        pytest.param(
            (200, {"token_type": "bearer"}, {}), AuthError, "ZOOM_OAUTH_URL", id="no-token"
        ),
        pytest.param(
            (200, {"access_token": "x", "expires_in": -5}, {}),
            AuthError,
            "access_token",
            id="bad-expiry",
        ),
    ],
)
async def test_token_endpoint_failures(
    env: Env, fail: tuple[int, Any, dict[str, str]], error: type[Exception], says: str
) -> None:
    env.fake.fail = fail
    with pytest.raises(error, match=says) as info:
        await env.provider().get()
    assert type(info.value) is error
    if isinstance(info.value, RateLimitedError):
        assert info.value.retry_after == 3.0


async def test_wrong_credentials_say_what_to_check(env: Env) -> None:
    with pytest.raises(AuthError) as info:
        await env.provider(Credentials("acct-1", "client-1", "wrong")).get()
    message = str(info.value)
    assert "Invalid client_id or client_secret" in message
    assert all(
        name in message for name in ("ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET")
    )
    assert info.value.status == 401


async def test_unreachable_endpoint_is_retriable_and_unsent(env: Env) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = TokenProvider(env.session, f"http://127.0.0.1:{port}/oauth/token", CREDS)
    with pytest.raises(RetriableApiError) as info:
        await provider.get()
    assert info.value.sent is False


async def test_secrets_never_leak(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """Plant the secret where Zoom could echo it; no message, repr or log line may show it."""
    caplog.set_level(logging.DEBUG)
    basic = base64.b64encode(f"client-1:{SECRET}".encode()).decode()
    provider = env.provider()
    token = await provider.get()
    seen: list[str] = [repr(provider), repr(provider._token), repr(CREDS)]
    messages: dict[int, str] = {}
    for status in (400, 401, 500, 429):
        env.fake.fail = (status, {"reason": f"echo {SECRET} {basic}", "error": "x"}, {})
        provider.invalidate(token)
        with pytest.raises(BulkopsError) as info:
            await provider.get()
        messages[status] = str(info.value)
        seen += [str(info.value), repr(info.value), repr(info.value.__cause__)]
    assert "echo *** ***" in messages[401]  # Zoom's reason is shown, scrubbed
    seen.append(caplog.text)
    assert "access token obtained" in caplog.text
    for text in seen:
        assert SECRET not in text and basic not in text and token not in text


async def test_a_prefetched_token_serves_the_first_callers_without_a_second_fetch(env: Env) -> None:
    provider = env.provider()
    provider.prefetch()
    provider.prefetch()  # one fetch ahead at most
    tokens = await asyncio.gather(*(provider.get() for _ in range(5)))
    assert set(tokens) == {"CANARY-TOKEN-1"}
    assert provider.fetches == 1 and len(env.fake.requests) == 1
    provider.prefetch()  # a fresh token is at hand: nothing to fetch
    await provider.aclose()
    assert provider.fetches == 1


async def test_a_prefetchs_error_goes_to_the_first_caller_then_the_next_fetches_anew(
    env: Env,
) -> None:
    env.fake.fail = (401, {"reason": "Invalid client_id or client_secret"}, {})
    provider = env.provider()
    provider.prefetch()
    with pytest.raises(AuthError, match="refused the OAuth credentials"):
        await provider.get()
    assert len(env.fake.requests) == 1
    env.fake.fail = None
    assert await provider.get() == "CANARY-TOKEN-2"


async def test_closing_drops_a_prefetch_nobody_took(env: Env) -> None:
    env.fake.fail = (401, {"reason": "Invalid client_id or client_secret"}, {})
    provider = env.provider()
    provider.prefetch()
    await asyncio.sleep(0)
    await provider.aclose()  # neither raises nor leaves a task whose error nobody read
    assert provider.current is None
