"""What the simulator answers: a status, a body, headers, and what happened on the way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .answers import ZoomError
from .faults import Fault


@dataclass(slots=True)
class Reply:
    """An answer to send: ``body`` is JSON-able, pre-serialised bytes, or None (no body)."""

    status: int
    body: Any = None
    headers: dict[str, str] | None = None
    applied: bool = False
    fault: Fault | None = None
    drop: bool = False  # close the connection instead of answering

    @classmethod
    def error(cls, err: ZoomError, headers: dict[str, str] | None = None) -> Reply:
        return cls(err.status, err.body(), headers)
