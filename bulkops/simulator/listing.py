"""The account's directory as Zoom's six list endpoints answer it (rate label MEDIUM).

Built from the simulated extensions, once (they never change while the simulator runs):

- every entity has its own ``id`` and its ``extension_id``, two different 22-character ids
  (Zoom's: the call-handling endpoint takes the extension id, never the entity id);
- sites carry ``country {code, name}`` and a ``main_auto_receptionist`` (the site's first auto
  receptionist), whose ``timezone`` is the site's zone: only auto receptionists list a zone;
- one common area per site, with no ``extension_id`` (Zoom serves them elsewhere);
- users have ``email`` and ``status``; queues and shared line groups ``status``.

Paging follows the spec: ``page_size`` defaults to 30 and has a ``maximum`` per endpoint;
``next_page_token`` is opaque and empty on the last page. A ``page_size`` past the maximum is
refused with 400/300 ``Validation Failed.`` naming the field rather than silently clamped: the
spec declares the bound as a schema ``maximum`` and Zoom's documented answer to a request that
breaks its schema is 400/300; a client that works against the refusal works against a clamp too.
A token that is not one of ours is 400/400 ``The next page token is invalid or expired.`` (the
users endpoint documents it; the others are taken to behave alike).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .answers import ZoomError, invalid
from .directory import SITE_ZONES, Extension, ExtensionType, hashed_id

Json = dict[str, Any]

DEFAULT_PAGE_SIZE = 30
BAD_TOKEN = "The next page token is invalid or expired."
#: The generated sites' countries; a directory file's other sites get UTC (SITE_ZONES).
COUNTRY_NAMES = {"US": "United States", "GB": "United Kingdom", "DE": "Germany"}
FALLBACK_ZONE = "UTC"


@dataclass(frozen=True, slots=True)
class ListEndpoint:
    """One list operation of the spec: its items key, largest page and granular scope."""

    items: str
    max_page_size: int
    granular_scope: str
    filters: tuple[str, ...] = ()  # query parameters that narrow the list (site_id, site_name)


#: Keyed by the path under ``/v2/phone/``; every one also takes ``phone:read:admin``.
ENDPOINTS: dict[str, ListEndpoint] = {
    "users": ListEndpoint("users", 100, "phone:read:list_users:admin", ("site_id",)),
    "call_queues": ListEndpoint(
        "call_queues", 100, "phone:read:list_call_queues:admin", ("site_id",)
    ),
    "auto_receptionists": ListEndpoint(
        "auto_receptionists", 100, "phone:read:list_auto_receptionists:admin"
    ),
    "shared_line_groups": ListEndpoint(
        "shared_line_groups", 300, "phone:read:list_shared_line_groups:admin"
    ),
    "sites": ListEndpoint("sites", 300, "phone:read:list_sites:admin", ("site_name",)),
    "common_areas": ListEndpoint("common_areas", 100, "phone:read:common_area:admin", ("site_id",)),
}
_KIND_OF = {
    ExtensionType.USER: "users",
    ExtensionType.CALL_QUEUE: "call_queues",
    ExtensionType.AUTO_RECEPTIONIST: "auto_receptionists",
    ExtensionType.SHARED_LINE_GROUP: "shared_line_groups",
}


class Directory:
    """The list answers of one account (``seed`` salts the derived ids)."""

    def __init__(self, extensions: Sequence[Extension], seed: int) -> None:
        self.seed = seed
        self.lists: dict[str, list[Json]] = {kind: [] for kind in ENDPOINTS}
        sites: dict[str, Json] = {}
        for ext in extensions:
            if ext.site and ext.site not in sites:
                sites[ext.site] = self._site(ext, len(sites) + 1)
            self.lists[_KIND_OF[ext.type]].append(self._entity(ext, sites.get(ext.site)))
            site = sites.get(ext.site)
            if ext.type is ExtensionType.AUTO_RECEPTIONIST and site is not None:
                site.setdefault(
                    "main_auto_receptionist",
                    {
                        "id": self.entity_id(ext),
                        "extension_id": ext.extension_id,
                        "extension_number": ext.extension_number,
                        "name": ext.name,
                    },
                )
        self.lists["sites"] = list(sites.values())
        for index, site in enumerate(self.lists["sites"], start=1):
            ref = {"id": site["id"], "name": site["name"]}
            self.lists["common_areas"].append(
                {
                    "id": hashed_id(f"{seed}:common_area:{site['name']}"),
                    "extension_number": 800 + index,
                    "display_name": f"{site['name']} Lobby",
                    "site": ref,
                    "status": "online",
                }
            )

    def entity_id(self, ext: Extension) -> str:
        """The entity's own id (user id, queue id, …), never equal to its extension id."""
        return hashed_id(f"{self.seed}:entity:{ext.extension_id}")

    def _site(self, ext: Extension, code: int) -> Json:
        country = ext.country or "US"
        return {
            "id": hashed_id(f"{self.seed}:site:{ext.site}"),
            "name": ext.site,
            "site_code": code,
            "country": {"code": country, "name": COUNTRY_NAMES.get(country, country)},
        }

    def _entity(self, ext: Extension, site: Json | None) -> Json:
        item: Json = {
            "id": self.entity_id(ext),
            "extension_id": ext.extension_id,
            "extension_number": ext.extension_number,
        }
        if ext.type is ExtensionType.SHARED_LINE_GROUP:
            item["display_name"] = ext.name
        else:
            item["name"] = ext.name
        if site is not None:
            item["site"] = {"id": site["id"], "name": site["name"]}
        if ext.type is ExtensionType.USER:
            item["email"] = ext.email or ""
            item["status"] = "activate"
        elif ext.type is ExtensionType.AUTO_RECEPTIONIST:
            item["timezone"] = SITE_ZONES.get(ext.site, FALLBACK_ZONE)
        else:
            item["status"] = "active"
        return item

    def page(self, kind: str, query: Mapping[str, str]) -> Json:
        """One page of ``kind``'s list; raises :class:`ZoomError` for a bad size or token."""
        endpoint = ENDPOINTS[kind]
        size = _page_size(query.get("page_size"), endpoint.max_page_size)
        items = self._filtered(kind, endpoint, query)
        scope = f"{kind}:" + "&".join(f"{k}={query.get(k, '')}" for k in endpoint.filters)
        start = self._offset(query.get("next_page_token") or "", scope, len(items))
        end = start + size
        token = self._token(end, scope) if end < len(items) else ""
        return {
            "next_page_token": token,
            "page_size": size,
            "total_records": len(items),
            endpoint.items: items[start:end],
        }

    def _filtered(self, kind: str, endpoint: ListEndpoint, query: Mapping[str, str]) -> list[Json]:
        items = self.lists[kind]
        if "site_id" in endpoint.filters and query.get("site_id"):
            wanted = query["site_id"]
            items = [i for i in items if i.get("site", {}).get("id") == wanted]
        if "site_name" in endpoint.filters and query.get("site_name"):
            wanted = query["site_name"].casefold()
            items = [i for i in items if wanted in i["name"].casefold()]
        return items

    def _token(self, offset: int, scope: str) -> str:
        return f"{offset}.{hashed_id(f'{self.seed}:page:{scope}:{offset}')[:12]}"

    def _offset(self, token: str, scope: str, total: int) -> int:
        if not token:
            return 0
        head, _, _ = token.partition(".")
        if not head.isdigit() or token != self._token(int(head), scope) or int(head) > total:
            raise ZoomError(400, 400, BAD_TOKEN)
        return int(head)


def _page_size(raw: str | None, largest: int) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or int(raw) < 1:
        raise invalid("page_size", f"must be a whole number from 1 to {largest}")
    if int(raw) > largest:
        raise invalid("page_size", f"must not exceed {largest}")
    return int(raw)
