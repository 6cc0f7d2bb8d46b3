"""Serving the simulator: in-process for tests and the demo, or blocking for ``bulkops simulate``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web

from ..config import Credentials
from .app import make_app
from .config import SimConfig
from .simulator import Simulator

log = logging.getLogger(__name__)

#: How often a changed state is written to ``state_file`` while serving (and once at the end).
FLUSH_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    simulator: Simulator
    base_url: str  # http://127.0.0.1:PORT
    credentials: Credentials = field(repr=False)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v2"

    @property
    def oauth_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])


async def _flush_loop(sim: Simulator, stop: asyncio.Event) -> None:
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), FLUSH_EVERY_S)
        if sim.dirty:
            sim.save()
        if stop.is_set():
            return


@contextlib.asynccontextmanager
async def run_simulator(
    config: SimConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    simulator: Simulator | None = None,
    clock: Callable[[], float] | None = None,
    rng: random.Random | None = None,
) -> AsyncIterator[RunningSimulator]:
    """Serve a simulator on ``host:port`` (0 picks a free port) for the ``async with`` body.

    Pass ``simulator`` to serve an existing one (e.g. with an injected clock), or ``clock`` /
    ``rng`` to have them used by a new one.
    """
    sim = simulator or Simulator(config, clock=clock or time.monotonic, rng=rng)
    runner = web.AppRunner(make_app(sim), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    base_url = f"http://{host}:{bound[1]}"
    stop = asyncio.Event()
    flusher = (
        asyncio.create_task(_flush_loop(sim, stop)) if sim.config.state_file is not None else None
    )
    try:
        yield RunningSimulator(sim, base_url, sim.credentials)
    finally:
        sim.closing().set()
        stop.set()
        if flusher is not None:
            await flusher
        await runner.cleanup()
        sim.save()


def serve(config: SimConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run until Ctrl-C or SIGTERM, printing where the simulator listens and how to log in.

    The secret is printed only when the simulator made it up; credentials taken from the
    ZOOM_* variables (``config.credentials``) are never echoed.
    """

    async def main() -> None:
        async with run_simulator(config, host=host, port=port) as running:
            # Keep start-up objects out of the collector: a full collection pausing the loop
            # would let queued requests be admitted in a bunch, a window Zoom never shows.
            gc.collect()
            gc.freeze()
            creds = running.credentials
            secret = "(from ZOOM_CLIENT_SECRET)" if config.credentials else creds.client_secret
            rate = running.simulator.config.effective_rate
            print(f"Zoom Phone simulator listening on {running.base_url}", flush=True)
            print(f"  ZOOM_API_URL={running.api_url}")
            print(f"  ZOOM_OAUTH_URL={running.oauth_url}")
            print(f"  ZOOM_ACCOUNT_ID={creds.account_id}")
            print(f"  ZOOM_CLIENT_ID={creds.client_id}")
            print(f"  ZOOM_CLIENT_SECRET={secret}")
            print(
                f"  extensions: {len(running.simulator.extensions)}, LIGHT rate: {rate or 'unlimited'}/s"
            )
            print(f"  inspect: {running.base_url}/__sim/stats  (Ctrl-C stops)", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):  # Windows
                    loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            print("stopping", flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
