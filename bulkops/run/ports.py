"""The engine's seams: what it needs from a Zoom client and from the limiter, and what a lane
needs from its run, as Protocols.

:class:`bulkops.zoom.client.ZoomClient` and :class:`bulkops.run.ratelimit.AdaptiveLimiter` fill
them in a run; unit tests fill them with an in-memory Zoom and a fake pacer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from .stats import StopReason

__all__ = ["Api", "ApiResponse", "Pacer", "RunControl"]


class ApiResponse(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def json(self) -> Any: ...
    @property
    def tracking_id(self) -> str | None: ...
    @property
    def latency(self) -> float: ...  # seconds, the HTTP exchange alone


class Api(Protocol):
    """What the engine needs from a Zoom client; each call is one attempt that paid the limiter."""

    async def get_settings(self, extension_id: str) -> ApiResponse: ...

    async def send(
        self,
        method: str,
        extension_id: str,
        setting_type: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> ApiResponse: ...


class Pacer(Protocol):
    """The adaptive limiter as the engine steers it (AIMD, pauses) and informs it (latencies)."""

    @property
    def current_rate(self) -> float: ...
    def on_rate_limited(self) -> None: ...
    def on_success(self) -> None: ...
    def pause_for(self, seconds: float) -> None: ...
    def observe_latency(self, latency: float) -> None: ...  # a clean answer, just now


class RunControl(Protocol):
    """What a lane needs from the run it belongs to: whether to go on, and how to stop it."""

    @property
    def stopping(self) -> bool: ...
    def request_stop(
        self, reason: StopReason, detail: str | None = None, *, resume_at: datetime | None = None
    ) -> None: ...
    async def pause(self, seconds: float) -> None: ...  # returns at once when the run stops
