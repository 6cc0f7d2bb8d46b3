"""Requests that got no answer: what kind of failure it was, and whether it can have reached Zoom.

A kind ("connection refused", "DNS lookup failed", …) is the same for every request that failed
that way, whatever its URL or extension. The circuit breaker groups failures by it, so an outage
reads as one error across the account instead of one error per extension.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

__all__ = ["NoAnswer", "no_answer"]


@dataclass(frozen=True, slots=True)
class NoAnswer:
    kind: str  # short, URL-free: what the breaker keys on
    what: str  # the same for a person reading a report
    sent: bool  # False only when no connection was made: the request certainly never left


def no_answer(exc: BaseException) -> NoAnswer:
    """Describe an exception aiohttp (or a timeout) raised instead of an answer."""
    # Order matters: the connect timeout is a ServerTimeoutError, TLS errors are connector errors.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return NoAnswer("connect timeout", "timed out connecting to Zoom", False)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return NoAnswer("DNS lookup failed", "could not connect to Zoom: DNS lookup failed", False)
    if isinstance(exc, aiohttp.ClientSSLError):
        return NoAnswer("TLS failed", "could not connect to Zoom: TLS handshake failed", False)
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return NoAnswer(
                "connection refused", "could not connect to Zoom: connection refused", False
            )
        return NoAnswer("could not connect", "could not connect to Zoom", False)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return NoAnswer("connection dropped", "Zoom closed the connection before answering", True)
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return NoAnswer("answer timeout", "timed out waiting for Zoom's answer", True)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return NoAnswer("answer cut off", "Zoom's answer was cut off", True)
    return NoAnswer("connection failed", "the connection to Zoom failed", True)
