"""The checkpoint's writer: statements queued by many workers, committed in groups.

Workers queue statements; one task hands each batch to a thread that commits it in a single
transaction, so many workers share one fsync. A worker that must know its statement is on disk
(an intent before its request leaves) waits for the commit that holds it; the others do not.
A writer that died (disk full, I/O error) fails every caller that comes after, never leaves
one waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, CheckpointWriteError

__all__ = ["Batch", "GroupWriter"]

#: Statements and their parameters, committed together in one transaction.
Batch = list[tuple[str, tuple[Any, ...]]]


class GroupWriter:
    """Queues statements and commits them in groups with ``commit`` (one transaction per batch,
    on a worker thread); ``state_dir`` names the directory in what a failed commit says."""

    def __init__(self, commit: Callable[[Batch], None], state_dir: Path) -> None:
        self._commit = commit
        self.state_dir = state_dir
        self._pending: Batch = []
        self._waiters: list[asyncio.Future[None]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def running(self) -> bool:
        """Started and not yet stopped (it may have died meanwhile: see ``queue``)."""
        return self._task is not None

    async def start(self) -> None:
        """Start the writer; call inside the running loop that will queue statements."""
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._write_loop(), name="bulkops-checkpoint")

    async def flush(self) -> None:
        """Return once everything queued so far is committed."""
        if self._task is None or self._wake is None:
            return
        self._check()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._wake.set()
        await fut

    async def stop(self) -> None:
        """Commit everything queued and stop."""
        if self._task is not None:
            self._closing = True
            assert self._wake is not None
            self._wake.set()
            await self._task
            self._task = None
            self._closing = False

    def queue(self, sql: str, params: tuple[Any, ...]) -> None:
        """Queue one statement for the next commit; never waits."""
        if self._task is None or self._wake is None:
            raise CheckpointError("checkpoint writer is not running; call start() first")
        self._check()
        self._pending.append((sql, params))
        self._wake.set()

    async def submit(self, sql: str, params: tuple[Any, ...], *, wait: bool) -> None:
        """Queue one statement; with ``wait``, return once it is committed."""
        self.queue(sql, params)
        if wait:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            await fut

    def _check(self) -> None:
        """A writer that died (disk full, I/O error) must fail callers, not leave them waiting."""
        if self._task is not None and self._task.done():
            exc = None if self._task.cancelled() else self._task.exception()
            raise CheckpointWriteError(f"the checkpoint writer stopped: {exc}")

    async def _write_loop(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            waiters, self._waiters = self._waiters, []
            if batch:
                try:
                    await asyncio.to_thread(self._commit, batch)
                except Exception as exc:
                    error = CheckpointWriteError(
                        f"cannot write the checkpoint in {self.state_dir}: {exc}; nothing more "
                        "was sent. Free the disk or fix the directory, then run again to resume"
                    )
                    for fut in waiters:
                        if not fut.done():
                            fut.set_exception(error)
                    raise error from exc
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)
            if self._closing and not self._pending:
                return
            if self._pending:
                self._wake.set()
