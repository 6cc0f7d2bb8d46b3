"""Expanding a sync job: read every extension it names, and plan what converges it.

The job's rows say what each extension must have (``jobs.sync``); only a read of the extension
says what it has. :func:`expand` reads each one (a few at a time, paying the shared limiter,
retrying as :func:`~bulkops.run.decide.decide` says) and turns the two into ordinary
operations: adds, updates and deletes that carry the ids they act on. The runner stores them in
the checkpoint as the run's plan before the engine sends anything, so a sync killed half-way
resumes the operations it recorded, never a second expansion of an account it has half changed,
and the engine's exactly-once rules (intent before send, a lost POST reconciled by reading)
hold for every one of them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import AuthError, FatalApiError, SyncReadError
from ..jobs.checks import DEFAULT_ZONE
from ..jobs.expand import PLAN_COLUMNS
from ..jobs.sync import SyncSpec, converge
from ..model import OPERATION_COLUMNS, Operation, record_of
from ..zoom.view import ExtensionView
from .ports import Api, Pacer
from .reads import GaveUp, RetriedReads
from .retry import RetryPolicy
from .stats import RunStats

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["expand", "plan_frame"]

log = logging.getLogger(__name__)

#: Extensions read at once: enough to keep the limiter busy, few enough to stay polite.
READS_AT_ONCE = 8


def plan_frame(operations: Sequence[Operation]) -> pd.DataFrame:
    """Operations as a plan frame (``jobs.expand.PLAN_COLUMNS``), the form the checkpoint loads."""
    import pandas as pd

    records = [record_of(op, OPERATION_COLUMNS) for op in operations]
    return pd.DataFrame.from_records(records, columns=list(PLAN_COLUMNS))


async def expand(
    desired: Sequence[Operation],
    spec: SyncSpec,
    api: Api,
    pacer: Pacer,
    *,
    retry: RetryPolicy | None = None,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    reads_at_once: int = READS_AT_ONCE,
    stats: RunStats | None = None,
    zones: Mapping[str, str] | None = None,
) -> tuple[Operation, ...]:
    """Read each extension of ``desired`` (plan order) and converge it within ``spec``.

    Raises AuthError when the credentials are refused, and SyncReadError when an extension
    could not be read for a reason a later run may not meet (5xx, timeouts, rate limits past
    their budget): nothing is planned then, since a sync that guessed would delete or add
    wrongly. An extension Zoom refuses for good keeps its rows as plain adds, which the engine
    then fails with Zoom's reason, as it would in any job. ``stats`` counts the reads' requests,
    429s and retries, so that a run's summary counts every request it sent. ``zones``: each
    extension's zone (``jobs.sync.extension_zones``), which counts its window.
    """
    zones = zones or {}
    by_extension: dict[str, list[Operation]] = {}
    for op in desired:
        by_extension.setdefault(op.extension_id, []).append(op)
    reader = _Reader(
        api, pacer, retry or RetryPolicy(), rng or random.Random(), sleep, stats or RunStats()
    )
    planned: dict[str, list[Operation]] = {}
    queue = list(reversed(by_extension))

    async def work() -> None:
        while queue:
            extension_id = queue.pop()
            ops = by_extension[extension_id]
            view = await reader.read(extension_id)
            if view is None:
                planned[extension_id] = ops
            else:  # converged at once: a view is not kept longer than its extension needs
                zone = zones.get(extension_id, DEFAULT_ZONE)
                planned[extension_id] = converge(ops, view, spec, zone)

    workers = [asyncio.create_task(work()) for _ in range(max(1, reads_at_once))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
    operations = [op for extension_id in by_extension for op in planned[extension_id]]
    return tuple(replace(op, seq=i) for i, op in enumerate(operations))


class _Reader:
    """GETs one extension's settings until Zoom answers in the documented shape."""

    def __init__(
        self,
        api: Api,
        pacer: Pacer,
        retry: RetryPolicy,
        rng: random.Random,
        sleep: Callable[[float], Awaitable[None]],
        stats: RunStats,
    ) -> None:
        self.api, self.stats = api, stats
        self.reads = RetriedReads(pacer, stats, policy=retry, rng=rng, sleep=sleep)

    async def read(self, extension_id: str) -> ExtensionView | None:
        """The extension's view; None when Zoom refuses it for good (gone, not an extension)."""

        async def send() -> ExtensionView:
            self.stats.requests += 1
            resp = await self.api.get_settings(extension_id)
            return ExtensionView.parse(resp.json, resp.status, resp.tracking_id)

        view = await self.reads.get(send)
        if not isinstance(view, GaveUp):
            self.stats.lookups += 1
            return view
        exc = view.error
        if isinstance(exc, AuthError):
            raise exc
        if isinstance(exc, FatalApiError):
            log.warning("sync: cannot read extension %s: %s", extension_id, exc.message)
            return None
        raise SyncReadError(
            f"could not read extension {extension_id} to plan the sync: {exc.message}. "
            "Nothing was planned or sent; run the same command again later"
        ) from exc
