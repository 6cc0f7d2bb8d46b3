"""The report cache kept fresh while a run goes: a background thread renders, every few seconds,
the extensions the run changed since its last look into a new layer (``reports.layers``), so
that the run's final pass has only the last few seconds' extensions left to render.

The thread must not disturb the engine's pacing (a 20 ms stall of the event loop is enough for
a 429, see ``runner``): it renders in batches of ``render.RENDER_CHUNK`` operations, hands the
GIL over between them, and waits ``SHARE`` times as long as its last refresh took (at least
``MIN_WAIT_S``, at most ``MAX_WAIT_S``), which keeps it to a modest share of a core. Asked to
stop, it leaves at the next batch: a layer it was writing stays a temporary file the next
writer removes.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..state.reader import StateReader, connect_readonly
from ..state.schema import DB_NAME

log = logging.getLogger(__name__)

MIN_WAIT_S = 3.0
SHARE = 4.0  # wait this many times the CPU seconds the last refresh took
# What the final pass renders is what changed since the last finished refresh: a wait of more
# than a few seconds (after the first refresh, which renders every operation) leaves it tens of
# thousands of operations on a fast run (200k rows: 15 s made the run's end 3.0-3.4 s, 5 s
# 1.6-2.2 s, benchmarks/RESULTS.md section 8).
MAX_WAIT_S = 5.0
JOIN_S = 2.0  # how long a stop waits for the thread before leaving it behind


class _Stopped(Exception):
    """Raised at a pause once a stop is asked for: the refresh is abandoned."""

    def __init__(self) -> None:
        super().__init__("report cache refresh stopped")


class Refresher:
    """Refreshes the report cache of ``state_dir`` until stopped; the run holds the lock."""

    def __init__(
        self,
        state_dir: Path,
        *,
        min_wait: float = MIN_WAIT_S,
        clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self._state_dir = Path(state_dir)
        self._min_wait = min_wait
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="report-refresher", daemon=True)
        self.refreshed = threading.Event()  # set after each refresh
        self.refreshes = 0  # refreshes done
        self.busy_s = 0.0  # CPU seconds spent refreshing (``clock``: this thread's CPU time)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> bool:
        """Stop, and say whether the thread is gone (else it is left behind, and the caller
        must not write the cache beside it)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(JOIN_S)
        return not self._thread.is_alive()

    def refresh_now(self) -> None:
        """One refresh, on the caller's thread."""
        # Imported here, in the thread: a resumed run's first request does not wait for pandas.
        import pyarrow as pa

        from .layers import refresh

        try:
            with StateReader(connect_readonly(self._state_dir / DB_NAME)) as reader:
                reader.hold_one_moment()  # one moment: the layer and its mark agree
                refresh(reader, self._state_dir, pause=self._pause)
        finally:  # a stopped refresh too: the run's memory is not the render's peak
            pa.default_memory_pool().release_unused()

    def _pause(self) -> None:
        if self._stop.is_set():
            raise _Stopped
        time.sleep(0)  # the event loop's turn for the GIL

    def _loop(self) -> None:
        wait = self._min_wait
        while not self._stop.wait(wait):
            began = self._clock()
            # No cycle collection while rendering: one set off by the render's allocations scans
            # its live frames and pauses every thread for tens of milliseconds (the loop's pacing
            # with it). Reference counting frees the render's objects; cyclic garbage waits for
            # the first collection after the refresh (a refresh is short beside a run).
            collecting = gc.isenabled()
            gc.disable()
            try:
                self.refresh_now()
            except _Stopped:
                return
            except Exception as exc:  # the cache is an optimisation: the run must not suffer
                log.warning("report cache: refresh failed (%s); the final pass renders it", exc)
                return
            finally:
                if collecting:
                    gc.enable()
            took = self._clock() - began
            self.refreshes += 1
            self.busy_s += took
            self.refreshed.set()
            wait = min(MAX_WAIT_S, max(self._min_wait, SHARE * took))


@contextlib.contextmanager
def refreshing(state_dir: Path, *, enabled: bool) -> Iterator[Callable[[], bool]]:
    """Refresh the report cache of ``state_dir`` in the background while the block runs;
    yields a function that says, once the block is over, whether the cache is the caller's to
    write (the thread is gone)."""
    if not enabled:
        yield lambda: False
        return
    refresher = Refresher(state_dir)
    refresher.start()
    gone = [False]
    try:
        yield lambda: gone[0]
    finally:
        gone[0] = refresher.stop()
