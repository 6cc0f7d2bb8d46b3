"""Zoom's directory, one page at a time: the six list endpoints (rate label MEDIUM).

Each list is paged by ``next_page_token`` (empty on the last page) with a largest ``page_size``
of its own; every page is asked at that size, so 10,000 users take 100 requests. A list's items
carry both the entity's ``id`` and its ``extension_id`` (common areas have no extension id).
Retrying and pacing are the caller's (``bulkops.directory_pull``): a read here is one request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import UnreadableAnswerError
from .answers import Response
from .client import ZoomClient

__all__ = ["ENDPOINTS", "READ_SCOPE", "ListEndpoint", "Page", "parse_page", "read_page"]

#: The classic scope every list accepts; each also has a granular one of its own.
READ_SCOPE = "phone:read:admin"


@dataclass(frozen=True, slots=True)
class ListEndpoint:
    """One of the spec's list operations (``zoom-phone-directory.openapi.json``)."""

    path: str
    items: str  # the key of the answer's list
    max_page_size: int  # the spec's ``maximum``: Zoom refuses a larger page_size
    granular_scope: str

    @property
    def scopes(self) -> tuple[str, str]:
        """Either scope lets a token read the list: classic, then granular."""
        return (READ_SCOPE, self.granular_scope)


ENDPOINTS: dict[str, ListEndpoint] = {
    e.items: e
    for e in (
        ListEndpoint("/phone/users", "users", 100, "phone:read:list_users:admin"),
        ListEndpoint("/phone/call_queues", "call_queues", 100, "phone:read:list_call_queues:admin"),
        ListEndpoint(
            "/phone/auto_receptionists",
            "auto_receptionists",
            100,
            "phone:read:list_auto_receptionists:admin",
        ),
        ListEndpoint(
            "/phone/shared_line_groups",
            "shared_line_groups",
            300,
            "phone:read:list_shared_line_groups:admin",
        ),
        ListEndpoint("/phone/sites", "sites", 300, "phone:read:list_sites:admin"),
        ListEndpoint("/phone/common_areas", "common_areas", 100, "phone:read:common_area:admin"),
    )
}


@dataclass(frozen=True, slots=True)
class Page:
    items: tuple[dict[str, Any], ...]
    next_page_token: str  # "" on the last page
    total_records: int | None


async def read_page(
    client: ZoomClient, endpoint: ListEndpoint, token: str, params: Mapping[str, str]
) -> Page:
    """One page of ``endpoint`` at its largest size, from ``token`` ("" for the first page)."""
    query = {"page_size": str(endpoint.max_page_size), **params}
    if token:
        query["next_page_token"] = token
    return parse_page(
        endpoint, await client.list_page(endpoint.path, query, scopes=endpoint.scopes)
    )


def parse_page(endpoint: ListEndpoint, response: Response) -> Page:
    """The page in ``response`` (a JSON object, as the client guarantees for a 2xx GET).

    An empty list may come without its key; anything else of the wrong shape is an answer not
    understood, retried like a 5xx, never taken as "no more extensions".
    """
    body = response.json
    items = body.get(endpoint.items, [])
    token = body.get("next_page_token") or ""
    total = body.get("total_records")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise _unreadable(f"'{endpoint.items}' is not a list of objects", response)
    if not isinstance(token, str):
        raise _unreadable("'next_page_token' is not a string", response)
    return Page(tuple(items), token, total if isinstance(total, int) else None)


def _unreadable(reason: str, response: Response) -> UnreadableAnswerError:
    return UnreadableAnswerError(reason, status=response.status, tracking_id=response.tracking_id)
