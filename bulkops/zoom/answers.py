"""Zoom's answers: one function classifies an HTTP answer into the error tree, and a read's body
is decoded or said to be unreadable. Pure: no I/O, so a table test covers every row.

Every message Zoom returns passes through :func:`classify`, which scrubs credentials from it
(:mod:`.redact`) before it can reach an error, a log, the checkpoint or a report.
"""

from __future__ import annotations

import math
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import orjson
from multidict import CIMultiDict

from ..errors import (
    ApiError,
    AuthError,
    ExtensionNotFoundError,
    FatalApiError,
    RateLimitedError,
    RetriableApiError,
)
from ..errors import clip as clip_text
from .redact import scrub

__all__ = [
    "TRACKING_HEADER",
    "Response",
    "classify",
    "clip",
    "decode",
    "not_an_object",
    "parse_retry_after",
]

TRACKING_HEADER = "x-zm-trackingid"
_MESSAGE_LIMIT = 300
_EXTENSION_GONE = "Extension does not exist"  # Zoom's message, followed by ": {id}"
_VALIDATION_FAILED = 300  # Zoom's code of a 400 that refused the request's input
_SCOPE_MISSING = 4711  # Zoom's code of a token without the scope an operation needs
#: The scopes an operation needs, classic first (the spec's x-macro- and x-granular-scopes).
_SCOPES = {
    "GET": ("phone:read:admin", "phone:read:list_call_handling_settings:admin"),
    "POST": ("phone:write:admin", "phone:write:call_handling_setting:admin"),
    "PATCH": ("phone:write:admin", "phone:update:call_handling_setting:admin"),
    "DELETE": ("phone:write:admin", "phone:delete:call_handling_setting:admin"),
}
_RAW_LIMIT = 64 * 1024  # of Zoom's message, before scrubbing and clipping
_AUTH_HINTS = {
    401: "check the app's scopes (phone:read:admin, phone:write:admin)",
    403: "check that Zoom Phone is enabled for the account and the app's admin has access",
}


@dataclass(frozen=True, slots=True)
class Response:
    """A successful answer. ``json`` is the parsed body, or None (204s have no body)."""

    status: int
    json: Any
    tracking_id: str | None
    latency: float  # seconds, this attempt only


def classify(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    *,
    now: datetime,
    method: str | None = None,
    secrets: Iterable[str] = (),
    scopes: tuple[str, str] | None = None,
) -> ApiError | None:
    """Map one answer to ``method``'s request to the error tree: None for 2xx, else the error.

    Zoom's message (and tracking id) are scrubbed of ``secrets`` (the token and client secret
    the request carried) and of anything shaped like a credential before they go into the error:
    every message bulkops stores or shows passes through here.

    401 with Zoom code 124 (expired or invalid token) is an :class:`AuthError` with ``code=124``;
    the client refreshes the token and replays once before letting it escape. Code 4711 (the
    token lacks a scope) is an :class:`AuthError` whatever the status: Zoom has sent it as 400,
    401 and 403, and every later request would hear it too.

    A vanished extension is an :class:`ExtensionNotFoundError`, so the engine skips the
    extension's other operations instead of sending each one to hear the same answer: "Extension
    does not exist" as a 404 (documented) or a 400 (seen); and for the GET, whose only
    documented 404 is that one, any 404 or 400/300 (the GET has no body to fail validation and
    bulkops checked its id; the Terraform provider reads a GET's 400/300 as "deleted").

    ``scopes`` (classic, granular) are those of a request that is not one of ``method``'s four
    (a directory list): its missing-scope answer, and any 401 or 403 it hears, name them.
    """
    if 200 <= status < 300:
        return None
    h = CIMultiDict(headers)
    code, zoom_message = _zoom_error(body)
    message = clip(scrub(zoom_message, secrets)) or f"HTTP {status}"
    tracking = h.get(TRACKING_HEADER)
    tracking_id = None if tracking is None else scrub(tracking, secrets)
    kw: dict[str, Any] = {"status": status, "code": code, "tracking_id": tracking_id}
    retry_after = parse_retry_after(h.get("Retry-After"), now=now)
    if status == 429:
        kind = h.get("X-RateLimit-Type", "").strip().lower()
        daily = kind == "daily-limit" or "daily rate limit" in message.lower()
        retry_at = (
            now + timedelta(seconds=retry_after) if daily and retry_after is not None else None
        )
        return RateLimitedError(
            message, **kw, retry_after=retry_after, daily=daily, retry_at=retry_at
        )
    if status >= 500 or status == 409:  # 409: a concurrent write was refused (inferred)
        return RetriableApiError(message, **kw, retry_after=retry_after, sent=True)
    if code == _SCOPE_MISSING:
        return AuthError(clip(f"{message}; {_scope_hint(method, scopes)}"), **kw)
    if scopes is not None and status in _AUTH_HINTS and code != 124:
        return AuthError(clip(f"{message}; {_scope_hint(None, scopes)}"), **kw)
    if status in _AUTH_HINTS:
        hint = "" if status == 401 and code == 124 else f"; {_AUTH_HINTS[status]}"
        return AuthError(clip(message + hint), **kw)
    if 300 <= status < 400:
        return FatalApiError(f"unexpected redirect (HTTP {status}): check ZOOM_API_URL", **kw)
    if _extension_gone(status, code, message, method):
        return ExtensionNotFoundError(message, **kw)
    return FatalApiError(message, **kw)


def _extension_gone(status: int, code: int | None, message: str, method: str | None) -> bool:
    if _EXTENSION_GONE in message:  # in Zoom's message or in one of its field errors
        return status in (400, 404)
    return method == "GET" and (status == 404 or (status == 400 and code == _VALIDATION_FAILED))


def _scope_hint(method: str | None, scopes: tuple[str, str] | None = None) -> str:
    """What to grant: the scopes ``method`` (or the request of ``scopes``) needs, or bulkops'
    two classic ones."""
    if scopes is not None:
        need = f"reading Zoom's directory needs {scopes[0]} (or {scopes[1]})"
    elif method in _SCOPES:
        classic, granular = _SCOPES[method]
        need = f"{method} needs {classic} (or {granular})"
    else:
        need = "bulkops needs phone:read:admin and phone:write:admin"
    return f"{need}: add it to the app in the Zoom App Marketplace, reactivate it, run again"


def _zoom_error(body: Any) -> tuple[int | None, str]:
    """Zoom's ``code`` and a one-line message including any per-field errors."""
    if not isinstance(body, dict):
        return None, ""
    raw_code = body.get("code")
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    if isinstance(raw_code, str) and raw_code.isdigit():
        code = int(raw_code)
    message = str(body.get("message") or "")
    fields = body.get("errors")
    if isinstance(fields, list):
        details = [
            f"{item.get('field', '?')}: {item.get('message', '')}"
            for item in fields
            if isinstance(item, dict)
        ]
        if details:
            message += f" ({'; '.join(details)})"
    return code, message[:_RAW_LIMIT]  # scrubbed, then clipped, by the caller


def clip(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    """Zoom's text as one line, clipped: messages end up in one cell of a report."""
    return clip_text(" ".join(text.split()), limit)


def decode(raw: bytes) -> tuple[Any, str | None]:
    """The parsed body (None when empty or not JSON) and, when there is no JSON value, why."""
    if not raw.strip():
        return None, "the body is empty"
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError as exc:  # also past orjson's nesting limit (1024 levels)
        return None, f"the body is not JSON: {exc}"


_JSON_KINDS: tuple[tuple[type | types.UnionType, str], ...] = (
    (list, "an array"),
    (str, "a string"),
    (bool, "a boolean"),
    (int | float, "a number"),
)


def not_an_object(parsed: Any, problem: str | None, what: str) -> str:
    """Why a read's 2xx body is not the JSON object it must be; ``what`` describes the body."""
    if problem is None:
        kind = next((name for cls, name in _JSON_KINDS if isinstance(parsed, cls)), "null")
        problem = f"the body is JSON {kind}, not an object"
    return clip(f"{problem} ({what})", 200)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header, or None if absent or unreadable.

    Accepts delta-seconds (``"2"``, ``"1.5"``), an HTTP-date (``Wed, 21 Oct 2026 07:28:00 GMT``)
    and an ISO-8601 timestamp (``2020-05-31T00:00:00Z`` or with an offset), which is what Zoom
    actually sends. A moment already past means "now" (0.0). Naive datetimes are taken as UTC.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    moment = _parse_moment(text)
    if moment is None:
        return None
    return max(0.0, (moment - now).total_seconds())


def _parse_moment(text: str) -> datetime | None:
    moment: datetime | None = None
    if text[:4].isdigit():  # ISO-8601 starts with the year; HTTP-dates with a weekday or day
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
