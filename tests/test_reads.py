"""run.reads: a GET outside the lanes, retried as decide() says, with the pacer steered."""

from __future__ import annotations

import random

from conftest import FakeClock

from bulkops.errors import FatalApiError, RateLimitedError, RetriableApiError
from bulkops.run.decide import Fail
from bulkops.run.reads import GaveUp, RetriedReads
from bulkops.run.retry import RetryPolicy


class Pacer:
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_success(self) -> None:
        self.events.append("ok")

    def on_rate_limited(self) -> None:
        self.events.append("429")

    def pause_for(self, seconds: float) -> None:
        self.events.append(f"pause {seconds:g}")


def _reads(pacer: Pacer, clock: FakeClock) -> RetriedReads:
    return RetriedReads(
        pacer, policy=RetryPolicy(), rng=random.Random(1), sleep=clock.sleep, clock=clock
    )


async def test_a_429_and_a_5xx_are_retried_then_the_answer_comes_back() -> None:
    pacer, clock = Pacer(), FakeClock()
    reads = _reads(pacer, clock)
    errors = [RateLimitedError("slow down", status=429), RetriableApiError("busy", status=503)]

    async def send() -> str:
        if errors:
            raise errors.pop(0)
        return "body"

    assert await reads.get(send) == "body"
    assert pacer.events[0] == "429" and pacer.events[-1] == "ok"
    assert (reads.counts.rate_limited, reads.counts.retries) == (1, 2)
    assert len(clock.slept) == 2


async def test_a_refusal_for_good_is_handed_back_unsent_again() -> None:
    pacer, clock = Pacer(), FakeClock()
    reads = _reads(pacer, clock)
    sent = 0

    async def send() -> str:
        nonlocal sent
        sent += 1
        raise FatalApiError("no such thing", status=404, code=404)

    answer = await reads.get(send)
    assert isinstance(answer, GaveUp) and isinstance(answer.error, FatalApiError)
    assert sent == 1 and clock.slept == [] and pacer.events == []


async def test_failures_past_the_budget_give_up_with_their_count() -> None:
    pacer, clock = Pacer(), FakeClock()
    reads = _reads(pacer, clock)

    async def send() -> str:
        raise RetriableApiError("busy", status=503)

    answer = await reads.get(send)
    assert isinstance(answer, GaveUp) and isinstance(answer.decision, Fail)
    assert answer.failures == len(clock.slept) + 1 > 1
