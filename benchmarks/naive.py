"""The two scripts bulkops is compared with, written the way admin scripts usually are.

``sequential``: one request at a time; on 429 sleep 1 s and retry (PSZoom's behaviour).
``naive_concurrent``: aiohttp + ``asyncio.gather`` over every operation + ``AsyncLimiter(40, 1)``
exactly as in aiolimiter's README; retry after 1 s on 429.

Both retry a 5xx blindly (after 1 s, at most ``MAX_ATTEMPTS`` attempts in all: a POST answered
500 after Zoom applied it is then sent again) and do not retry a dropped connection (they log
it as failed and move on). Neither reads before writing, so a rerun adds everything again.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
from aiolimiter import AsyncLimiter

from bulkops.config import Credentials

from .common import HolidayOp

MAX_ATTEMPTS = 3  # attempts on 5xx
MAX_RATE_LIMITED = 100  # 429s one operation absorbs before the script gives up on it
TIMEOUT = aiohttp.ClientTimeout(total=60)


@dataclass
class NaiveResult:
    seconds: float = 0.0
    requests: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    dropped: int = 0
    reported_failed: int = 0  # what the script believes failed
    failed_keys: list[Any] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["failed_keys"]
        return out


async def _token(session: aiohttp.ClientSession, oauth_url: str, creds: Credentials) -> str:
    basic = base64.b64encode(f"{creds.client_id}:{creds.client_secret}".encode()).decode()
    params = {"grant_type": "account_credentials", "account_id": creds.account_id}
    async with session.post(
        oauth_url, params=params, headers={"Authorization": f"Basic {basic}"}
    ) as r:
        r.raise_for_status()
        return str((await r.json())["access_token"])


async def _post(
    session: aiohttp.ClientSession,
    api_url: str,
    token: str,
    op: HolidayOp,
    result: NaiveResult,
    limiter: AsyncLimiter | None,
) -> None:
    url = f"{api_url}/phone/extension/{op.extension_id}/call_handling/settings/holiday_hours"
    headers = {"Authorization": f"Bearer {token}"}
    attempts = limited = 0
    while True:
        try:
            if limiter is not None:
                await limiter.acquire()
            result.requests += 1
            async with session.post(url, json=op.body, headers=headers) as r:
                await r.read()
                status = r.status
        except (aiohttp.ClientError, TimeoutError):
            result.dropped += 1  # "connection error, skipping"
            break
        if status == 429:
            result.rate_limited += 1
            limited += 1
            if limited > MAX_RATE_LIMITED:
                break
            await asyncio.sleep(1.0)
            continue
        if status >= 500:
            result.server_errors += 1
            attempts += 1
            if attempts >= MAX_ATTEMPTS:
                break
            await asyncio.sleep(1.0)
            continue
        if status < 300:
            return
        break
    result.reported_failed += 1
    result.failed_keys.append(op.key)


async def sequential(
    api_url: str, oauth_url: str, creds: Credentials, ops: Sequence[HolidayOp]
) -> NaiveResult:
    result = NaiveResult()
    started = time.perf_counter()
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        token = await _token(session, oauth_url, creds)
        for op in ops:
            await _post(session, api_url, token, op, result, None)
    result.seconds = time.perf_counter() - started
    return result


async def naive_concurrent(
    api_url: str, oauth_url: str, creds: Credentials, ops: Sequence[HolidayOp], rate: float
) -> NaiveResult:
    result = NaiveResult()
    started = time.perf_counter()
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        token = await _token(session, oauth_url, creds)
        limiter = AsyncLimiter(rate, 1)  # aiolimiter's README: "at most 40 per second"
        await asyncio.gather(*(_post(session, api_url, token, op, result, limiter) for op in ops))
    result.seconds = time.perf_counter() - started
    return result


async def bare_loop(
    api_url: str, oauth_url: str, creds: Credentials, ops: Sequence[HolidayOp], concurrency: int
) -> NaiveResult:
    """The overhead baseline: ``concurrency`` workers POSTing from a queue, nothing else."""
    result = NaiveResult()
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=TIMEOUT, connector=connector) as session:
        token = await _token(session, oauth_url, creds)
        todo = iter(ops)

        async def worker() -> None:
            for op in todo:
                await _post(session, api_url, token, op, result, None)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result
