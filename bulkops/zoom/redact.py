"""Scrub secrets from what Zoom (or a proxy in front of it) says, before bulkops keeps it.

Zoom's messages become error messages, and error messages are stored in the checkpoint and
shown in results, failures.csv, report.html, logs and the terminal. A server that echoes the
request's ``Authorization`` header ("Invalid header: Bearer eyJ…") would copy the live token into
all of them, so every message is scrubbed once, where an answer is classified:

- the secrets bulkops knows it sent (the access token, the client secret, the ``Basic``
  credentials), also in their URL-encoded form;
- anything shaped like a credential whether or not bulkops knows it: ``Bearer …`` and ``Basic …``
  followed by a token-like word, JSON Web Tokens (``eyJ….….…``), and ``access_token=…`` /
  ``client_secret: …`` pairs.

Scrubbing errs on the side of removing too much: a message that loses a word is still useful,
a message that carries a token is a leak.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["MASK", "scrub"]

MASK = "***"  # what the token endpoint's scrubbing always wrote

_SCHEME_TOKEN = re.compile(r"\b(Bearer|Basic)(?:\s+|%20|\+)[A-Za-z0-9._~+/=%-]{16,}", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
_PAIR = re.compile(
    r"\b(access_token|refresh_token|client_secret|authorization)(\"?\s*[:=]\s*\"?)"
    r"(?!\*\*\*|Bearer\b|Basic\b)[^\s\"'&,;]+",
    re.IGNORECASE,
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without any of ``secrets`` and without anything that looks like a credential."""
    known: set[str] = set()
    for secret in secrets:
        if secret:
            known.update((secret, quote(secret, safe="")))
    for secret in sorted(known, key=len, reverse=True):  # longest first: one may contain another
        text = text.replace(secret, MASK)
    text = _SCHEME_TOKEN.sub(lambda m: f"{m[1]} {MASK}", text)
    text = _JWT.sub(MASK, text)
    return _PAIR.sub(lambda m: f"{m[1]}{m[2]}{MASK}", text)
