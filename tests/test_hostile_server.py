"""A hostile Zoom on 127.0.0.1: reads answered 2xx with bodies that are not the documented shape,
and 429 patterns that would keep a patient client waiting for hours.

Each test runs a real job through ``run_job`` (client, checkpoint, engine, reports) against a
small aiohttp server on an ephemeral port, and checks what the server holds afterwards: nothing
added twice, however the reads and the refusals come. Waiting is proven without waiting: the
engine's ``sleep`` moves a fake clock, and the tests count requests and fake seconds.
"""

from __future__ import annotations

import io
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import FakeClock

from bulkops.config import Credentials
from bulkops.errors import UnreadableAnswerError
from bulkops.exit_codes import EXIT_FAILURES, EXIT_OK, EXIT_RESUMABLE
from bulkops.model import OpStatus
from bulkops.progress import PlainDisplay
from bulkops.run.engine import Engine, EngineOptions
from bulkops.run.retry import RetryPolicy
from bulkops.run.stats import StopReason
from bulkops.runner import RunOutcome, RunSettings, run_job
from bulkops.state.reader import open_readonly
from bulkops.zoom.view import ExtensionView

CREDS = Credentials("hostile-account", "hostile-client", "hostile-secret-5e1b")
ENV = CREDS.as_env()
EXT = "nNGsNx2zRDyiIXWVI23FCQ"
NAMES = [f"Hostile Day {i}" for i in range(6)]
WALL = 1_800_000_000.0
QPS = "You have reached the maximum per-second rate limit for this API. Try again later."
READS = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)  # a read is tried 3 times
NOT_UNDERSTOOD = "could not read the extension's settings: Zoom's answer was not understood ("


def _day(i: int) -> dict[str, str]:
    return {"from": f"2027-0{i + 1}-01T00:00:00Z", "to": f"2027-0{i + 1}-01T23:59:59Z"}


# -- the server ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer; ``applied``: a POST takes effect before this answer is sent."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    applied: bool = False


@dataclass
class HostileZoom:
    """One extension's holidays. ``reads`` and ``writes`` script the next GETs and POSTs; past
    their end the answer is the truth. ``storm`` answers every API request after the first
    ``calm`` ones, whatever the script says."""

    holidays: dict[str, dict[str, str]] = field(default_factory=dict)
    reads: list[Reply] = field(default_factory=list)
    writes: list[Reply] = field(default_factory=list)
    storm: Reply | None = None
    calm: int = 0
    log: list[tuple[str, int]] = field(default_factory=list)  # method, status answered

    def seed(self, *indexes: int) -> None:
        for i in indexes:
            self.holidays[f"seeded{i}"] = {"name": NAMES[i], **_day(i)}

    def names(self) -> list[str]:
        return sorted(h["name"] for h in self.holidays.values())

    def sent(self, method: str, status: int | None = None) -> int:
        return sum(1 for m, s in self.log if m == method and status in (None, s))

    def truth(self) -> dict[str, Any]:
        holidays = [
            {
                "holiday_id": holiday_id,
                "details": [{"sub_setting_type": "holiday", "settings": holiday}],
            }
            for holiday_id, holiday in self.holidays.items()
        ]
        return {"business_hours": [], "closed_hours": [], "holiday_hours": holidays}

    async def token(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"access_token": "tok", "token_type": "bearer", "expires_in": 3600}
        )

    async def api(self, request: web.Request) -> web.Response:
        assert request.match_info["ext"] == EXT
        body = await request.read()
        reply = self._reply(request.method)
        if request.method == "POST" and (reply is None or reply.applied):
            created = self._apply(orjson.loads(body)["settings"])
            reply = reply or Reply(201, orjson.dumps({"holiday_id": created}))
        if reply is None:
            reply = Reply(200, orjson.dumps(self.truth()))
        self.log.append((request.method, reply.status))
        response = web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        if reply.content_type is not None:
            response.content_type = reply.content_type
        return response

    def _reply(self, method: str) -> Reply | None:
        if self.storm is not None and len(self.log) >= self.calm:
            return self.storm
        script = self.reads if method == "GET" else self.writes
        return script.pop(0) if script else None

    def _apply(self, settings: dict[str, str]) -> str:
        holiday_id = f"h{len(self.holidays) + 1}"
        self.holidays[holiday_id] = {k: settings[k] for k in ("name", "from", "to")}
        return holiday_id


@pytest.fixture
async def zoom() -> AsyncIterator[tuple[HostileZoom, str]]:
    hostile = HostileZoom()
    app = web.Application()
    app.router.add_post("/oauth/token", hostile.token)
    app.router.add_route("*", "/v2/phone/extension/{ext}/call_handling/settings", hostile.api)
    app.router.add_route(
        "*", "/v2/phone/extension/{ext}/call_handling/settings/{type}", hostile.api
    )
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        yield hostile, str(server.make_url("")).rstrip("/")


# -- the job -------------------------------------------------------------------------------------


class Pacer:
    """Stands in for the limiter's steering (the client keeps a real one at 1000/s), so that a
    Retry-After held for everyone takes no real time."""

    current_rate = 1000.0

    def __init__(self) -> None:
        self.paused: list[float] = []

    def on_rate_limited(self) -> None:
        pass

    def on_success(self) -> None:
        pass

    def observe_latency(self, latency: float) -> None:
        pass

    def pause_for(self, seconds: float) -> None:
        self.paused.append(seconds)


def faked(clock: FakeClock, pacer: Pacer) -> Callable[[Engine], None]:
    def hook(engine: Engine) -> None:
        engine.clock, engine.sleep, engine.pacer = clock, clock.sleep, pacer
        engine.wall = lambda: WALL + clock.now
        engine.rng = random.Random(5)

    return hook


async def run(
    base: str,
    tmp: Path,
    *,
    state: str = "state",
    retry: RetryPolicy = READS,
    clock: FakeClock | None = None,
    pacer: Pacer | None = None,
) -> tuple[RunOutcome, str]:
    job = tmp / "job.csv"
    rows = [
        f"add,holiday_hours,holiday,{EXT},{name},{_day(i)['from'][:10]},{_day(i)['to'][:10]}"
        for i, name in enumerate(NAMES)
    ]
    job.write_text("action,setting_type,sub_setting_type,extension_id,name,from,to\n")
    with job.open("a") as f:
        f.write("\n".join(rows) + "\n")
    settings = RunSettings(
        job=job,
        state_dir=tmp / state,
        rate=1000,
        options=EngineOptions(retry=retry),
        api_url=f"{base}/v2",
        oauth_url=f"{base}/oauth/token",
        timezone="UTC",
    )
    out = io.StringIO()
    hook = faked(clock or FakeClock(0.0), pacer or Pacer())
    outcome = await run_job(settings, env=ENV, display=PlainDisplay(out), out=out, engine_hook=hook)
    return outcome, out.getvalue()


def outcomes(state_dir: Path) -> list[tuple[str, str | None, int | None]]:
    with open_readonly(state_dir) as reader:
        return [
            (r.status.value, r.outcome.message, r.outcome.http_status) for r in reader.records()
        ]


# -- reads that are not understood -----------------------------------------------------------------

_HOLIDAY = {"sub_setting_type": "holiday", "settings": {"name": "X", **_day(0)}}


def _json(value: Any) -> Reply:
    return Reply(200, orjson.dumps(value))


#: Each malformed 2xx answer to the GET, and a word of what the run reports about it.
MALFORMED = [
    pytest.param(
        Reply(200, b"<html><body>Sign in to continue</body></html>", "text/html"),
        "not JSON",
        id="html-from-a-proxy",
    ),
    pytest.param(Reply(200, b""), "empty", id="empty-body"),
    pytest.param(Reply(204, b"", None), "empty", id="no-content"),
    pytest.param(
        Reply(200, b'{"holiday_hours": [{"holiday_id": "h1", "details": [{"sub_setting_ty'),
        "not JSON",
        id="truncated",
    ),
    pytest.param(
        Reply(200, b'{"holiday_hours": ' + b"[" * 1100 + b"]" * 1100 + b"}"),
        "depth limit",
        id="nested-past-the-parser-limit",
    ),
    pytest.param(Reply(200, b"\xff\xfe{\x00}"), "not JSON", id="not-utf8"),
    pytest.param(_json([{"holiday_id": "h1"}]), "JSON an array", id="a-list"),
    pytest.param(_json(None), "JSON null", id="null"),
    pytest.param(_json("holiday_hours"), "JSON a string", id="a-string"),
    pytest.param(_json(True), "JSON a boolean", id="a-boolean"),
    pytest.param(_json(3.5), "JSON a number", id="a-number"),
    pytest.param(_json({"business_hours": "abc"}), "not a list", id="a-string-for-a-list"),
    pytest.param(_json({"code": 124, "message": "Invalid token."}), "none of", id="error-object"),
    pytest.param(_json({}), "none of", id="an-empty-object"),
    pytest.param(_json({"holiday_hours": ["h1"]}), "not an object", id="holiday-a-string"),
    pytest.param(
        _json({"holiday_hours": [{"holiday_id": 123, "details": [_HOLIDAY]}]}),
        "holiday_id is int",
        id="holiday-id-a-number",
    ),
    pytest.param(
        _json({"holiday_hours": [{"details": [_HOLIDAY]}]}), "missing", id="holiday-without-id"
    ),
    pytest.param(
        _json({"holiday_hours": [{"holiday_id": "h1", "details": _HOLIDAY}]}),
        "not a list",
        id="details-an-object",
    ),
    pytest.param(
        _json({"holiday_hours": [{"holiday_id": "h1", "details": []}]}),
        "no holiday details",
        id="holiday-without-a-name",
    ),
    pytest.param(
        _json(
            {
                "holiday_hours": [
                    {
                        "holiday_id": "h1",
                        "details": [{"sub_setting_type": "holiday", "settings": {"name": 2027}}],
                    }
                ]
            }
        ),
        "name is int",
        id="holiday-name-a-number",
    ),
    pytest.param(
        _json(
            {
                "holiday_hours": [
                    {
                        "holiday_id": "h1",
                        "details": [
                            {"sub_setting_type": "holiday", "settings": {"name": "X", "from": []}}
                        ],
                    }
                ]
            }
        ),
        "from is list",
        id="holiday-from-a-list",
    ),
    pytest.param(
        _json(
            {
                "business_hours": [
                    {
                        "sub_setting_type": "call_forwarding",
                        "settings": {
                            "call_forwarding_settings": [{"id": "f1", "phone_number": 12025550100}]
                        },
                    }
                ]
            }
        ),
        "phone_number is int",
        id="forwarding-number-a-number",
    ),
]


@pytest.mark.parametrize(("reply", "reason"), MALFORMED)
async def test_a_precheck_not_understood_adds_nothing_and_says_why(
    zoom: tuple[HostileZoom, str], tmp_path: Path, reply: Reply, reason: str
) -> None:
    hostile, base = zoom
    hostile.seed(0)  # already there: a read taken as "empty" would add it a second time
    hostile.reads = [reply] * 10
    outcome, text = await run(base, tmp_path)
    assert outcome.exit_code == EXIT_FAILURES, text  # a result, not a traceback
    assert hostile.sent("POST") == 0 and hostile.names() == [NAMES[0]]
    assert hostile.sent("GET") == READS.max_attempts  # retried, like any answer not understood
    rows = outcomes(outcome.state_dir)
    assert [status for status, _, _ in rows] == ["failed"] + ["skipped"] * 5
    message = rows[0][1]
    assert message is not None and message.startswith(NOT_UNDERSTOOD) and reason in message
    assert rows[0][2] == reply.status
    assert all(m == f"skipped: {message}" for _, m, _ in rows[1:])
    assert {"results.csv", "failures.csv", "report.html"} <= set(outcome.reports)
    assert "hostile-secret" not in outcome.reports["results.csv"].read_text()


@pytest.mark.parametrize(("reply", "reason"), MALFORMED)
async def test_a_reconciling_read_not_understood_never_posts_again(
    zoom: tuple[HostileZoom, str], tmp_path: Path, reply: Reply, reason: str
) -> None:
    """The issue's 6 adds that became 30 holidays: the POST's answer is lost (applied, 502), and
    every read after it is malformed. The holiday exists once and the run says it could not
    tell."""
    hostile, base = zoom
    hostile.writes = [Reply(502, b"Bad Gateway", "text/plain", applied=True)]
    hostile.reads = [_json(hostile.truth())] + [reply] * 10
    outcome, text = await run(base, tmp_path)
    assert outcome.exit_code == EXIT_FAILURES, text
    assert hostile.sent("POST") == 1 and hostile.names() == [NAMES[0]]
    assert hostile.sent("GET") == 1 + READS.max_attempts
    rows = outcomes(outcome.state_dir)
    assert [status for status, _, _ in rows] == ["failed"] + ["skipped"] * 5
    assert rows[0][1] is not None and rows[0][1].startswith(NOT_UNDERSTOOD) and reason in rows[0][1]


@pytest.mark.parametrize(("reply", "reason"), MALFORMED[:6])
async def test_a_rerun_with_a_new_state_waits_for_a_read_it_understands(
    zoom: tuple[HostileZoom, str], tmp_path: Path, reply: Reply, reason: str
) -> None:
    """Everything is in place already; the fresh state's first reads are malformed, then one is
    understood: every operation is already_present and nothing is added twice."""
    hostile, base = zoom
    hostile.seed(*range(6))
    hostile.reads = [reply] * (READS.max_attempts - 1)
    outcome, text = await run(base, tmp_path, state="fresh-state")
    assert outcome.exit_code == EXIT_OK, text
    assert outcome.result.counts == {OpStatus.ALREADY_PRESENT: 6}
    assert hostile.sent("POST") == 0 and hostile.names() == sorted(NAMES)


def test_the_documented_shape_and_its_optional_parts_are_understood() -> None:
    """What Zoom may legitimately send: null lists, a holiday without ``to``, Zoom's own
    forwarding entries without a number, a flat forwarding entry, keys the view does not use."""
    view = ExtensionView.parse(
        {
            "business_hours": [
                {"sub_setting_type": "custom_hours", "settings": {"type": 1}},
                {
                    "sub_setting_type": "call_forwarding",
                    "settings": {
                        "call_forwarding_settings": [
                            {"id": "zm1", "description": "Zoom Mobile Apps", "enable": True},
                            {"id": "f1", "phone_number": "+12025550100"},
                        ]
                    },
                },
            ],
            "closed_hours": [
                {
                    "sub_setting_type": "call_forwarding",
                    "settings": {"phone_number": "+4930123456", "call_forwarding_id": "cf9"},
                }
            ],
            "holiday_hours": [
                {
                    "holiday_id": "h1",
                    "details": [
                        {"sub_setting_type": "holiday", "settings": {"name": "X", "from": "2027"}},
                        {"sub_setting_type": "call_handling", "settings": None},
                    ],
                }
            ],
            "unknown_key": {"anything": [1, 2]},
        }
    )
    assert view.pick_holiday("X").id == "h1"
    assert [e.id for e in view.forwarding_entries("business_hours", "+12025550100")] == ["f1"]
    assert view.forwarding_entries("closed_hours", "+12025550100") == []
    flat = view.forwarding_entries("closed_hours", "+4930123456")  # the flat form
    assert [e.id for e in flat] == ["cf9"]
    assert [e.description for e in view.forwarding["business_hours"]] == ["Zoom Mobile Apps", None]
    assert ExtensionView.parse({"holiday_hours": None}).holidays == []  # null lists are empty


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(
            {"closed_hours": [{"sub_setting_type": "call_forwarding", "settings": []}]},
            "closed_hours[0].settings is list, not an object",
            id="settings-a-list",
        ),
        pytest.param(
            {"closed_hours": [{"sub_setting_type": 7}]},
            "closed_hours[0].sub_setting_type is int 7, not a string",
            id="sub-setting-type-a-number",
        ),
        pytest.param(
            {
                "business_hours": [
                    {"sub_setting_type": "call_forwarding", "settings": {"phone_number": "+1202"}}
                ]
            },
            "business_hours[0].settings has a phone number but no id",
            id="flat-forwarding-without-id",
        ),
        pytest.param(
            {
                "business_hours": [
                    {
                        "sub_setting_type": "call_forwarding",
                        "settings": {"call_forwarding_settings": [{"phone_number": "+1202"}]},
                    }
                ]
            },
            "business_hours[0].settings.call_forwarding_settings[0].id is missing",
            id="forwarding-entry-without-id",
        ),
        pytest.param(
            {"holiday_hours": [{"holiday_id": "", "details": [_HOLIDAY]}]},
            "holiday_hours[0].holiday_id is empty",
            id="holiday-id-empty",
        ),
    ],
)
def test_the_view_names_where_a_body_departs_from_the_shape(
    body: dict[str, Any], reason: str
) -> None:
    with pytest.raises(UnreadableAnswerError) as info:
        ExtensionView.parse(body)
    assert info.value.reason == reason


# -- 429s that would keep a patient client waiting ------------------------------------------------


def _in(hours: float) -> str:
    moment = datetime.now(UTC) + timedelta(hours=hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _429(headers: dict[str, str]) -> Reply:
    return Reply(429, orjson.dumps({"code": 429, "message": QPS}), headers=headers)


#: Each hostile pattern, answered to every request after the first ``calm`` (the precheck read
#: and two adds), and the least time the run is told to stay away: what Zoom asked, or as long
#: as the stall lasted (more than max_stall less one backoff ceiling, 300 - 30 s). Each storm is
#: made when its test starts: a Retry-After timestamp made at collection would age with the
#: suite (at 200 s it is less than the 7000 s the test expects).
STORMS = [
    pytest.param(
        lambda: _429({"Retry-After": "3600", "X-RateLimit-Type": "QPS"}),
        3600.0,
        id="huge-retry-after",
    ),
    pytest.param(
        lambda: _429({"Retry-After": _in(2)}), 7000.0, id="huge-retry-after-as-a-timestamp"
    ),
    pytest.param(lambda: _429({}), 270.0, id="forever-without-retry-after"),
    pytest.param(
        lambda: _429({"Retry-After": "2020-05-31T00:00:00Z"}), 270.0, id="retry-after-past"
    ),
    pytest.param(
        lambda: _429({"Retry-After": "120"}), 240.0, id="retry-after-within-the-limit-forever"
    ),
]


@pytest.mark.parametrize(("storm", "away"), STORMS)
async def test_a_429_storm_stops_the_run_resumably_within_max_stall(
    zoom: tuple[HostileZoom, str], tmp_path: Path, storm: Callable[[], Reply], away: float
) -> None:
    hostile, base = zoom
    hostile.storm, hostile.calm = storm(), 3
    clock, pacer = FakeClock(0.0), Pacer()
    outcome, text = await run(base, tmp_path, retry=RetryPolicy(), clock=clock, pacer=pacer)
    result = outcome.result
    assert outcome.exit_code == EXIT_RESUMABLE, text
    assert result.stop_reason is StopReason.RATE_LIMITED
    assert result.counts == {OpStatus.SUCCEEDED: 2, OpStatus.NOT_RUN: 4}
    # Bounded: never more than max_stall of waiting, one request per wait, far from the budgets.
    assert sum(clock.slept) == clock.now <= RetryPolicy().max_stall
    refused = hostile.log[hostile.calm :]
    assert all(status == 429 for _, status in refused) and len(refused) == len(clock.slept) + 1
    assert len(refused) < 40
    assert result.resume_at is not None
    stopped = datetime.fromtimestamp(WALL + clock.now, UTC)
    assert result.resume_at >= stopped + timedelta(seconds=away)
    assert "resume after" in text and outcome.reports  # the reports are written all the same

    hostile.storm = None  # the storm is over: the same command finishes the job, once
    outcome, text = await run(base, tmp_path, retry=RetryPolicy(), clock=clock, pacer=pacer)
    assert outcome.exit_code == EXIT_OK, text
    assert hostile.names() == sorted(NAMES) and hostile.sent("POST", 201) == 6
