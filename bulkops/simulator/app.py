"""HTTP on top of :class:`Simulator`: Zoom's routes, the OAuth route and ``/__sim`` inspection."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ..errors import BulkopsError
from .listing import ENDPOINTS
from .reply import Reply
from .simulator import Simulator

SIM_KEY = web.AppKey("simulator", Simulator)
_SETTINGS = "/v2/phone/extension/{extensionId}/call_handling/settings"
_JSON = "application/json"


def _response(reply: Reply, tracking_id: str) -> web.Response:
    headers = {"x-zm-trackingid": tracking_id}
    if reply.headers:
        headers.update(reply.headers)
    if reply.body is None:
        return web.Response(status=reply.status, headers=headers)
    body = reply.body if isinstance(reply.body, bytes) else orjson.dumps(reply.body)
    return web.Response(status=reply.status, body=body, content_type=_JSON, headers=headers)


def _drop(request: web.Request) -> web.Response:
    """Close the connection without an answer (the client sees a server disconnect)."""
    if request.transport is not None:
        request.transport.close()
    # Nothing can be written any more; aiohttp discards the response for a closed transport.
    return web.Response(status=204)


async def _api(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIM_KEY]
    tracking_id = sim.tracking_id()
    reply = await sim.handle_api(
        request.method,
        request.match_info["extensionId"],
        request.match_info.get("settingType"),
        request.read,
        request.query,
        request.headers.get("Authorization"),
    )
    sim.record(request.method, request.path, request.query_string, reply, tracking_id)
    return _drop(request) if reply.drop else _response(reply, tracking_id)


async def _list(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIM_KEY]
    tracking_id = sim.tracking_id()
    reply = await sim.handle_list(
        request.match_info["kind"], request.query, request.headers.get("Authorization")
    )
    sim.record(request.method, request.path, request.query_string, reply, tracking_id)
    return _response(reply, tracking_id)


async def _token(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIM_KEY]
    tracking_id = sim.tracking_id()
    params: dict[str, str] = dict(request.query)
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    api_url = f"{request.scheme}://{request.host}"
    reply = await sim.handle_token(request.headers.get("Authorization"), params, api_url)
    sim.record(request.method, request.path, request.query_string, reply, tracking_id)
    return _drop(request) if reply.drop else _response(reply, tracking_id)


async def _not_found(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIM_KEY]
    reply = Reply(404, {"code": 404, "message": "Not Found."})
    tracking_id = sim.tracking_id()
    sim.record(request.method, request.path, request.query_string, reply, tracking_id)
    return _response(reply, tracking_id)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type=_JSON)


async def _sim_state(request: web.Request) -> web.StreamResponse:
    return _json(request.app[SIM_KEY].state_json())


async def _sim_journal(request: web.Request) -> web.StreamResponse:
    entries = [e.to_json() for e in request.app[SIM_KEY].journal]
    since = int(request.query.get("since", "0"))
    return _json(entries[since:])


async def _sim_stats(request: web.Request) -> web.StreamResponse:
    return _json(request.app[SIM_KEY].stats())


async def _sim_config(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIM_KEY]
    if request.method == "POST":
        try:
            changes = orjson.loads(await request.read())
            if not isinstance(changes, dict):
                raise ValueError("send a JSON object of setting: value")
            sim.configure(changes)
        except (ValueError, TypeError, BulkopsError) as exc:
            return _json({"error": str(exc)}, status=400)
    return _json(sim.config.public())


async def _stamp(request: web.Request, response: web.StreamResponse) -> None:
    """Every response carries a tracking id, aiohttp's own 404/405s included."""
    if "x-zm-trackingid" not in response.headers:
        response.headers["x-zm-trackingid"] = request.app[SIM_KEY].tracking_id()


def make_app(sim: Simulator) -> web.Application:
    app = web.Application()
    app[SIM_KEY] = sim
    app.on_response_prepare.append(_stamp)
    app.router.add_post("/oauth/token", _token)
    app.router.add_get(_SETTINGS, _api)
    kinds = "|".join(ENDPOINTS)
    app.router.add_get(f"/v2/phone/{{kind:{kinds}}}", _list)
    for method in ("POST", "PATCH", "DELETE"):
        app.router.add_route(method, _SETTINGS + "/{settingType}", _api)
    app.router.add_get("/__sim/state", _sim_state)
    app.router.add_get("/__sim/journal", _sim_journal)
    app.router.add_get("/__sim/stats", _sim_stats)
    app.router.add_route("GET", "/__sim/config", _sim_config)
    app.router.add_route("POST", "/__sim/config", _sim_config)
    app.router.add_route("*", "/v2/{tail:.*}", _not_found)
    return app
