"""Reading whole lists (run.pages.ListReader, zoom.listing.parse_page) against a scripted client:
the engine's retry decisions, and answers that must not be taken as "no more extensions"."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

from bulkops.errors import (
    ApiError,
    FatalApiError,
    RateLimitedError,
    RetriableApiError,
    UnreadableAnswerError,
)
from bulkops.run.pages import ListReader, PullStats
from bulkops.run.ratelimit import AdaptiveLimiter
from bulkops.run.retry import RetryPolicy
from bulkops.zoom.answers import Response
from bulkops.zoom.listing import ENDPOINTS, parse_page

Script = list[Any]  # answer bodies (dicts) or errors to raise, in order


class ScriptedClient:
    """Answers ``list_page`` from a script and remembers each query."""

    def __init__(self, script: Script) -> None:
        self.script = list(script)
        self.queries: list[dict[str, str]] = []

    async def list_page(
        self, path: str, params: Mapping[str, str], *, scopes: tuple[str, str]
    ) -> Response:
        assert scopes == ENDPOINTS[path.rsplit("/", 1)[1]].scopes
        self.queries.append(dict(params))
        step = self.script.pop(0)
        if isinstance(step, ApiError):
            raise step
        return Response(200, step, "track-1", 0.01)


async def _read(script: Script, name: str = "users") -> tuple[list[Any], PullStats, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    stats = PullStats()
    reader = ListReader(
        ScriptedClient(script),  # type: ignore[arg-type]
        AdaptiveLimiter(10_000),
        stats,
        policy=RetryPolicy(),
        rng=random.Random(3),
        sleep=sleep,
        clock=lambda: 0.0,
    )
    return await reader.read(name), stats, slept


def _page(n: int, token: str = "", total: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"users": [{"id": f"u{n}-{i}"} for i in range(2)]}
    body["next_page_token"] = token
    if total is not None:
        body["total_records"] = total
    return body


async def test_pages_follow_the_token_and_retries_follow_the_decision_table() -> None:
    script = [
        _page(1, "t2", total=6),
        RetriableApiError("HTTP 503", status=503),
        RateLimitedError("slow down", retry_after=2.0),
        _page(2, "t3"),
        _page(3),
    ]
    items, stats, slept = await _read(script)
    assert len(items) == 6 and (stats.pages, stats.items, stats.total) == (3, 6, 6)
    assert (stats.retries, stats.rate_limited) == (2, 1)
    assert slept[1] == 2.0  # Retry-After honoured


async def test_a_token_sent_twice_ends_the_read() -> None:
    with pytest.raises(RetriableApiError, match="page token twice"):
        await _read([_page(1, "again"), _page(2, "again"), _page(3, "again")])


async def test_an_answer_not_understood_is_retried_then_given_up() -> None:
    bad = {"users": "not a list"}
    with pytest.raises(RetriableApiError, match="could not read Zoom's users list") as info:
        await _read([bad] * 5)
    assert "run the same command again later" in str(info.value)


async def test_a_daily_limit_or_a_refusal_stops_at_once() -> None:
    daily = RateLimitedError("daily", daily=True)
    with pytest.raises(RetriableApiError, match="daily limit"):
        await _read([daily])
    gone = FatalApiError("Account does not exist.", status=404, code=2001)
    with pytest.raises(FatalApiError, match="Account does not exist") as info:
        await _read([gone])
    assert info.value.code == 2001


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param({"users": {"id": "x"}}, "not a list of objects", id="items-object"),
        pytest.param({"users": ["x"]}, "not a list of objects", id="items-strings"),
        pytest.param({"users": [], "next_page_token": 7}, "not a string", id="token-number"),
    ],
)
def test_pages_of_the_wrong_shape_are_not_understood(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(UnreadableAnswerError, match=reason):
        parse_page(ENDPOINTS["users"], Response(200, body, None, 0.0))


def test_an_empty_list_may_come_without_its_key() -> None:
    page = parse_page(ENDPOINTS["users"], Response(200, {"next_page_token": ""}, None, 0.0))
    assert (page.items, page.next_page_token, page.total_records) == ((), "", None)
