"""Where Zoom is silent or inconsistent: the variants of its behaviour the simulator can play.

A simulator that always answers the way the client expects cannot catch the client being wrong.
So each point below is a knob of :class:`~bulkops.simulator.config.SimConfig` (``--sim KEY=VALUE``
with ``--simulate``, or a ``bulkops simulate`` flag), defaulting to the most likely reading, and
tests run the engine's promises under every variant in :data:`VARIANTS`:

``conflict_status``            429 (default) or 409. Zoom "limits concurrent operations on one
                               resource" under its rate-limit rules; a write arriving while
                               another write to the same extension is handled is refused with
                               this status (with probability ``conflict``).
``receive_call_returned``      True (default, as the spec documents) or False: real accounts
                               reportedly leave ``receive_call`` out of the GET. Hidden, it is
                               still kept: a PATCH applies it, only the read leaves it out.
``missing_extension_status``   404 (documented: 404/404 ``Extension does not exist: {id}``) or
                               400 (seen, and treated as gone by the Terraform provider: 400/300).
``scopes``                     the scopes the app was granted; the token endpoint issues them and
                               the API refuses a request whose token lacks the operation's scope.
``scope_status``               400 (default: what third-party clients record), 401 or 403; the
                               body is always code 4711 naming the missing scopes.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError

#: What a Server-to-Server app with the usual classic scopes is granted.
ALL_SCOPES = "phone:read:admin phone:write:admin"

#: The scopes that let a token call each operation: the classic one, then the granular one (the
#: spec's ``x-macro-scopes`` and ``x-granular-scopes``). Any one of them is enough.
REQUIRED_SCOPES: dict[str, tuple[str, str]] = {
    "GET": ("phone:read:admin", "phone:read:list_call_handling_settings:admin"),
    "POST": ("phone:write:admin", "phone:write:call_handling_setting:admin"),
    "PATCH": ("phone:write:admin", "phone:update:call_handling_setting:admin"),
    "DELETE": ("phone:write:admin", "phone:delete:call_handling_setting:admin"),
}

CONFLICT_STATUSES = (429, 409)
SCOPE_STATUSES = (400, 401, 403)
MISSING_EXTENSION_STATUSES = (404, 400)

#: The profile's knobs and their defaults; the fields of SimConfig's profile block.
DEFAULTS: dict[str, Any] = {
    "conflict_status": 429,
    "receive_call_returned": True,
    "missing_extension_status": 404,
    "scopes": ALL_SCOPES,
    "scope_status": 400,
}

#: Named variants (changes to the defaults) that tests run the engine's promises under. Scopes
#: are not among them: a token without a needed scope stops every run, which tests show apart.
VARIANTS: dict[str, dict[str, Any]] = {
    "zoom": {},
    "conflict-409": {"conflict_status": 409},
    "no-receive-call": {"receive_call_returned": False},
    "gone-400": {"missing_extension_status": 400},
}

_SCOPE_SPLIT = re.compile(r"[\s,]+")


def granted(scopes: str) -> frozenset[str]:
    """The scopes of a space- or comma-separated list."""
    return frozenset(s for s in _SCOPE_SPLIT.split(scopes) if s)


def missing_scopes(needed: tuple[str, ...], scopes: frozenset[str]) -> tuple[str, ...]:
    """``needed`` (the classic and granular scopes of one operation: ``REQUIRED_SCOPES`` or a
    list endpoint's) when ``scopes`` holds none of them; else ``()``."""
    return () if any(s in scopes for s in needed) else needed


def check(values: Mapping[str, Any]) -> None:
    """Refuse a profile Zoom could not have, naming the knob and its choices."""
    for name, choices in (
        ("conflict_status", CONFLICT_STATUSES),
        ("scope_status", SCOPE_STATUSES),
        ("missing_extension_status", MISSING_EXTENSION_STATUSES),
    ):
        value = values[name]
        if isinstance(value, bool) or value not in choices:
            shown = " or ".join(map(str, choices))
            raise ConfigError(f"{name} must be {shown}, not {value!r}")
    if not isinstance(values["receive_call_returned"], bool):
        raise ConfigError("receive_call_returned must be true or false")
    scopes = values["scopes"]
    if not isinstance(scopes, str):
        raise ConfigError(f"scopes must be a space-separated list of scopes, not {scopes!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bulkops simulate`` flags of the profile."""
    parser.add_argument(
        "--conflict-status",
        type=int,
        choices=CONFLICT_STATUSES,
        default=DEFAULTS["conflict_status"],
        help="answer to a write racing another write to the same extension",
    )
    parser.add_argument(
        "--no-receive-call",
        action="store_true",
        help="leave receive_call out of the GET, as real accounts reportedly do",
    )
    parser.add_argument(
        "--missing-extension-status",
        type=int,
        choices=MISSING_EXTENSION_STATUSES,
        default=DEFAULTS["missing_extension_status"],
        help="status of 'Extension does not exist' (404, or 400 with code 300)",
    )
    parser.add_argument(
        "--scopes",
        default=DEFAULTS["scopes"],
        help=f"scopes the app was granted, space-separated (default: {ALL_SCOPES})",
    )
    parser.add_argument(
        "--scope-status",
        type=int,
        choices=SCOPE_STATUSES,
        default=DEFAULTS["scope_status"],
        help="status of a request whose token lacks the scope (code 4711)",
    )


def from_args(ns: argparse.Namespace) -> dict[str, Any]:
    return {
        "conflict_status": ns.conflict_status,
        "receive_call_returned": not ns.no_receive_call,
        "missing_extension_status": ns.missing_extension_status,
        "scopes": ns.scopes,
        "scope_status": ns.scope_status,
    }
