"""The simulator's profile (bulkops.simulator.profile) and the engine's promises under it.

First each knob on its own, over HTTP: concurrent writes answered 429 or 409, ``receive_call``
returned or kept out of the GET, a vanished extension answered 404 or 400/300, scopes issued
with the token and enforced per operation with code 4711 as 400, 401 or 403.

Then, end to end through ``run_job``, under every variant of ``profile.VARIANTS``: two jobs
writing to the same extensions at once (so the simulator refuses racing writes) with answers
lost after applying, each holiday exactly once; a job and its undo file, the account back as it
was (except what the profile's GET hides, which undo must say it cannot restore); and a run on
an extension that vanished, its other operations skipped unsent. Last, a token without a needed
scope stops the run with exit code 77, naming the scope, and sends nothing more.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from conftest import SimClient

from bulkops.cli import main
from bulkops.config import AccountPlan, Credentials
from bulkops.errors import ConfigError
from bulkops.model import OpStatus
from bulkops.progress import PlainDisplay
from bulkops.run.engine import EngineOptions
from bulkops.run.retry import RetryPolicy
from bulkops.run.stats import StopReason
from bulkops.runner import RunOutcome, RunSettings, run_job
from bulkops.simulator import (
    ExtensionType,
    RunningSimulator,
    SimConfig,
    Simulator,
    add_arguments,
    config_from_args,
    generate_directory,
    run_simulator,
    write_directory,
)
from bulkops.simulator.faults import Fault
from bulkops.simulator.profile import ALL_SCOPES, DEFAULTS, VARIANTS
from bulkops.simulator.reply import Reply

CREDS = Credentials("profile-account", "profile-client", "profile-secret-7e2a")
ENV = CREDS.as_env()
HEADER = "action,setting_type,sub_setting_type,extension_id,name,from,to,phone_number,description,settings"
#: Racing writes are refused again and again: a budget no refusal streak here exhausts.
PATIENT = RetryPolicy(base_delay=0.005, max_delay=0.04, max_attempts=40, max_rate_limited=200)
NOWHERE = "nNGsNx2zRDyiIXWVI23FCQ"  # a well-formed extension id the account does not have
HOLIDAY = {"name": "Profile Day", "from": "2027-05-01T00:00:00Z", "to": "2027-05-02T00:00:00Z"}
VARIANT_IDS = list(VARIANTS)
WAIT_S = 30.0  # the longest the simulator holds a write waiting for a race


# --- the knobs -----------------------------------------------------------------------------------


def test_the_profile_defaults_are_simconfigs_and_every_variant_builds() -> None:
    config = SimConfig()
    assert {name: getattr(config, name) for name in DEFAULTS} == DEFAULTS
    for changes in VARIANTS.values():
        assert changes.keys() <= DEFAULTS.keys()
        assert SimConfig().updated(changes).public().items() >= changes.items()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"conflict_status": 500}, "conflict_status must be 429 or 409", id="conflict"),
        pytest.param({"conflict_status": True}, "conflict_status", id="conflict-bool"),
        pytest.param({"scope_status": 200}, "scope_status must be 400 or 401 or 403", id="scope"),
        pytest.param({"missing_extension_status": 410}, "404 or 400", id="missing"),
        pytest.param({"receive_call_returned": "no"}, "true or false", id="receive-call"),
        pytest.param({"scopes": ["phone:read:admin"]}, "space-separated", id="scopes"),
    ],
)
def test_the_profile_refuses_what_zoom_cannot_answer(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SimConfig().updated(changes)


def test_bulkops_simulate_flags_set_the_profile() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert {
        k: getattr(config_from_args(parser.parse_args([]), {}), k) for k in DEFAULTS
    } == DEFAULTS
    flags = "--conflict-status 409 --no-receive-call --missing-extension-status 400 "
    flags += "--scopes phone:read:admin --scope-status 403"
    config = config_from_args(parser.parse_args(flags.split()), {})
    assert (config.conflict_status, config.receive_call_returned) == (409, False)
    assert (config.missing_extension_status, config.scope_status) == (400, 403)
    assert config.scopes == "phone:read:admin"


@contextlib.asynccontextmanager
async def client_of(**config: Any) -> AsyncIterator[SimClient]:
    async with (
        run_simulator(SimConfig(rate=None, extensions=12, seed=5, **config)) as running,
        aiohttp.ClientSession() as session,
    ):
        client = SimClient(running, session)
        await client.login()
        yield client


def _first(client: SimClient, kind: ExtensionType) -> str:
    return next(e.extension_id for e in client.sim.extensions if e.type is kind)


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_the_token_carries_the_apps_scopes_and_each_operation_needs_its_own(
    status: int,
) -> None:
    async with client_of(scopes="phone:read:admin", scope_status=status) as client:
        user = _first(client, ExtensionType.USER)
        (token,) = client.sim.token_scopes.values()
        assert token == {"phone:read:admin"}
        assert (await client.get(user)).status == 200
        before = client.sim.settings(user)
        answers = {
            "write": await client.post(user, "holiday_hours", "holiday", HOLIDAY),
            "update": await client.patch(user, "closed_hours", "call_handling", {"ring_mode": "sequential"}),
            "delete": await client.delete(user, "holiday_hours", holiday_id="H1"),
        }  # fmt: skip
        for verb, answer in answers.items():
            assert answer.status == status
            assert answer.body == {
                "code": 4711,
                "message": "Invalid access token, does not contain scopes:"
                f"[phone:write:admin, phone:{verb}:call_handling_setting:admin].",
            }
        assert client.sim.settings(user) == before
        assert client.sim.journal.applied == 0

        client.sim.configure({"scopes": ALL_SCOPES})  # the app is granted the scope ...
        answer = await client.post(user, "holiday_hours", "holiday", HOLIDAY)
        assert answer.status == status  # ... which a token issued before does not carry
        await client.login()
        assert (await client.post(user, "holiday_hours", "holiday", HOLIDAY)).status == 201


async def test_the_granular_scope_of_an_operation_is_enough() -> None:
    granular = (
        "phone:read:list_call_handling_settings:admin,phone:update:call_handling_setting:admin"
    )
    async with client_of(scopes=granular) as client:
        user = _first(client, ExtensionType.USER)
        assert (await client.get(user)).status == 200
        answer = await client.patch(
            user, "closed_hours", "call_handling", {"ring_mode": "sequential"}
        )
        assert answer.status == 204
        assert (await client.post(user, "holiday_hours", "holiday", HOLIDAY)).status == 400


async def test_receive_call_can_be_kept_out_of_the_get_and_is_still_kept() -> None:
    async with client_of(receive_call_returned=False) as client:
        queue = _first(client, ExtensionType.CALL_QUEUE)
        handling = _handling
        assert "receive_call" not in handling((await client.get(queue)).body)
        answer = await client.patch(
            queue, "business_hours", "call_handling", {"receive_call": False}
        )
        assert answer.status == 204
        assert "receive_call" not in handling((await client.get(queue)).body)
        assert handling(client.sim.settings(queue))["receive_call"] is False
        client.sim.configure({"receive_call_returned": True})
        assert handling((await client.get(queue)).body)["receive_call"] is False


@pytest.mark.parametrize(("status", "code"), [(404, 404), (400, 300)], ids=["404", "400-300"])
async def test_a_vanished_extension_is_answered_as_the_profile_says(status: int, code: int) -> None:
    async with client_of(missing_extension_status=status) as client:
        answers = [
            await client.get(NOWHERE),
            await client.post(NOWHERE, "holiday_hours", "holiday", HOLIDAY),
            await client.patch(
                NOWHERE, "closed_hours", "call_handling", {"ring_mode": "sequential"}
            ),
            await client.delete(NOWHERE, "holiday_hours", holiday_id="H1"),
        ]
    for answer in answers:
        assert answer.status == status
        assert answer.body == {"code": code, "message": f"Extension does not exist: {NOWHERE}"}


# --- end to end ----------------------------------------------------------------------------------


def _directory(tmp: Path, users: int = 4) -> tuple[Path, list[str], str]:
    exts = generate_directory(40, 11)
    picked = [e for e in exts if e.type is ExtensionType.USER][:users]
    queue = next(e for e in exts if e.type is ExtensionType.CALL_QUEUE)
    directory = tmp / "directory.csv"
    write_directory([*picked, queue], directory)
    return directory, [e.extension_id for e in picked], queue.extension_id


@contextlib.asynccontextmanager
async def serving(
    directory: Path, factory: Callable[[SimConfig], Simulator] = Simulator, **config: Any
) -> AsyncIterator[RunningSimulator]:
    sim = factory(SimConfig(directory=directory, credentials=CREDS, rate=None, **config))
    async with run_simulator(simulator=sim) as running:
        yield running


class RacedSimulator(Simulator):
    """Holds the first write to ``hold`` at the server (the extension busy) until another write
    to it was refused: the race the test is about happens for certain, not by timing luck."""

    def __init__(self, config: SimConfig, hold: str) -> None:
        super().__init__(config)
        self.hold = hold
        self.raced = asyncio.Event()
        self.held = False

    async def handle_api(
        self,
        method: str,
        extension_id: str,
        setting_type: str | None,
        body: Callable[[], Any],
        query: Mapping[str, str],
        authorization: str | None,
    ) -> Reply:
        read = body
        if method != "GET" and extension_id == self.hold and not self.held:

            async def held_body() -> Any:
                if not self.held:  # the first of them to get this far waits for the race
                    self.held = True
                    await asyncio.wait_for(self.raced.wait(), WAIT_S)
                return await read()

            body = held_body
        return await super().handle_api(
            method, extension_id, setting_type, body, query, authorization
        )

    def record(self, method: str, path: str, query: str, reply: Reply, tracking_id: str) -> None:
        super().record(method, path, query, reply, tracking_id)
        if reply.fault is Fault.CONFLICT:
            self.raced.set()


async def run(
    running: RunningSimulator,
    job: Path,
    state: Path,
    *,
    reports: bool = False,
    env: dict[str, str] | None = None,
    **options: Any,
) -> tuple[RunOutcome, str]:
    options.setdefault("retry", PATIENT)
    settings = RunSettings(
        job=job,
        state_dir=state,
        account_plan=AccountPlan.BUSINESS,
        rate=500,
        options=EngineOptions(**options),
        api_url=running.api_url,
        oauth_url=running.oauth_url,
        write_reports=reports,
    )
    out = io.StringIO()
    outcome = await run_job(settings, env=env or ENV, display=PlainDisplay(out), out=out)
    return outcome, out.getvalue()


def holiday_job(tmp: Path, name: str, users: list[str], label: str, *extra: str) -> Path:
    rows = [
        f"add,holiday_hours,holiday,{u},{label} {i},2027-0{i + 1}-0{i + 1},2027-0{i + 1}-0{i + 1},,,"
        for u in users
        for i in range(3)
    ]
    job = tmp / name
    job.write_text("\n".join([HEADER, *rows, *extra]) + "\n")
    return job


def names(sim: Simulator, ext: str, *labels: str) -> Counter[str]:
    """The extension's holidays named by a job (the site's own holidays aside)."""
    return Counter(h["name"] for h in sim.holidays(ext) if h["name"].startswith(labels))


@pytest.mark.parametrize("variant", VARIANT_IDS)
async def test_two_jobs_racing_on_the_same_extensions_apply_each_holiday_once(
    tmp_path: Path, variant: str
) -> None:
    """Writes to one extension racing each other are refused (429 or 409, by the profile), and
    some answers are lost after applying: each job's holidays still land exactly once."""
    directory, users, _ = _directory(tmp_path)
    faults = {"conflict": 1.0, "applied_drop": 0.25, "applied_5xx": 0.1}
    async with serving(
        directory,
        lambda config: RacedSimulator(config, hold=users[0]),
        latency_ms=15,
        seed=14,
        **faults,
        **VARIANTS[variant],
    ) as running:
        sim = running.simulator
        for ext_id in users:  # something for job A to delete
            ext = sim.state.extension(ext_id)
            assert ext is not None
            sim.state.add_holiday(ext, {"name": "Old", **{k: HOLIDAY[k] for k in ("from", "to")}})
        deletes = [f"delete,holiday_hours,holiday,{u},Old,,,,," for u in users]
        job_a = holiday_job(tmp_path, "a.csv", users, "Alpha", *deletes)
        job_b = holiday_job(tmp_path, "b.csv", users, "Beta")
        # Job B stands for another app (or host) on the account: bulkops's own lease keeps two
        # of its runs apart on one host, but Zoom's account is shared with whatever else writes.
        elsewhere = tmp_path / "other-host"
        elsewhere.mkdir(mode=0o700)
        (a, text_a), (b, text_b) = await asyncio.gather(
            run(running, job_a, tmp_path / "state-a"),
            run(
                running, job_b, tmp_path / "state-b", env={**ENV, "XDG_RUNTIME_DIR": str(elsewhere)}
            ),
        )
        assert (a.exit_code, b.exit_code) == (0, 0), text_a + text_b
        expected = Counter({f"{label} {i}": 1 for label in ("Alpha", "Beta") for i in range(3)})
        for ext_id in users:
            assert names(sim, ext_id, "Alpha", "Beta", "Old") == expected, ext_id
        refused = [j for j in sim.journal if j.fault == "conflict"]
        assert refused, "the jobs raced: the held write was let go only after a refusal"
        assert {j.status for j in refused} == {sim.config.conflict_status}
        assert not any(j.applied for j in refused)
        # P(no lost answer among the ~30 writes) < 1e-5: the reconciliation was exercised too.
        assert sim.journal.by_fault["applied_drop"] + sim.journal.by_fault["applied_5xx"] > 0


def _handling(tree: dict[str, Any]) -> dict[str, Any]:
    """The business-hours call_handling settings of a GET-shape tree."""
    entries = tree["business_hours"]
    found: dict[str, Any] = next(e for e in entries if e["sub_setting_type"] == "call_handling")
    return found["settings"]  # type: ignore[no-any-return]


def _patch(sim: Simulator, ext: str, setting: str, settings: dict[str, Any]) -> None:
    body = orjson.dumps({"sub_setting_type": "call_handling", "settings": settings})
    assert sim.write("PATCH", ext, setting, body, {}).status == 204


@pytest.mark.parametrize("variant", VARIANT_IDS)
async def test_undo_puts_back_what_the_get_showed_under_every_variant(
    tmp_path: Path, variant: str
) -> None:
    directory, users, queue = _directory(tmp_path, users=1)
    (user,) = users
    async with serving(directory, **VARIANTS[variant]) as running:
        sim = running.simulator
        # The contact-center number as the spec writes it, without '+': undo writes it back.
        old_queue = {"call_not_answer_action": 19, "forward_to_zcc_phone_number": "12055903036"}
        _patch(sim, queue, "business_hours", {**old_queue, "receive_call": True})
        old_user = {
            "call_not_answer_action": 10,
            "phone_number": "+14155550100",
            "description": "Old",
        }
        _patch(sim, user, "closed_hours", old_user)
        before = {x: sim.settings(x) for x in (user, queue)}
        new_queue = {
            "forward_to_zcc_phone_number": "+12055903099",
            "receive_call": False,
            "max_wait_time": 900,
            "wrap_up_time": 60,
        }
        new_user = {
            "call_not_answer_action": 10,
            "phone_number": "+14155550177",
            "description": "New",
        }
        job = io.StringIO()
        out = csv.writer(job, lineterminator="\n")
        out.writerow(["action", "setting_type", "sub_setting_type", "extension_id", "settings"])
        out.writerow(["update", "business_hours", "call_handling", queue, json.dumps(new_queue)])
        out.writerow(["update", "closed_hours", "call_handling", user, json.dumps(new_user)])
        (tmp_path / "job.csv").write_text(job.getvalue())

        done, text = await run(running, tmp_path / "job.csv", tmp_path / "state", reports=True)
        assert done.exit_code == 0, text
        notes = done.reports["undo-notes.txt"].read_text()
        undone, text = await run(running, done.reports["undo.csv"], tmp_path / "undo", reports=True)
        assert undone.exit_code == 0, text
        after = {x: sim.settings(x) for x in (user, queue)}
    assert after[user] == before[user]
    if sim.config.receive_call_returned:
        assert after[queue] == before[queue]
        assert "receive_call" not in notes, notes
    else:
        # The GET never showed receive_call: undo cannot know it, keeps the new value, says so.
        assert "receive_call" in notes, notes
        assert _handling(after[queue]).pop("receive_call") is False
        assert _handling(before[queue]).pop("receive_call") is True
        assert after[queue] == before[queue]


@pytest.mark.parametrize(
    "variant", [v for v in VARIANT_IDS if "missing_extension_status" in VARIANTS[v]] + ["zoom"]
)
async def test_a_vanished_extension_skips_its_other_operations_unsent(
    tmp_path: Path, variant: str
) -> None:
    directory, users, _ = _directory(tmp_path, users=1)
    async with serving(directory, **VARIANTS[variant]) as running:
        job = holiday_job(tmp_path, "job.csv", [NOWHERE, *users], "Gone")
        outcome, text = await run(running, job, tmp_path / "state", precheck=False)
        writes = [j for j in running.simulator.journal if j.method == "POST" and NOWHERE in j.path]
    assert outcome.exit_code == 1, text
    counts = {OpStatus.FAILED: 1, OpStatus.SKIPPED: 2, OpStatus.SUCCEEDED: 3}
    assert outcome.result.counts == counts
    assert len(writes) == 1, "the first answer tells the engine the extension is gone"


@pytest.mark.parametrize(
    ("scopes", "status", "concurrency", "missing"),
    [
        pytest.param("phone:read:admin", 400, 1, "phone:write:admin", id="no-write-400-one-lane"),
        pytest.param("phone:read:admin", 401, 4, "phone:write:admin", id="no-write-401-four-lanes"),
        pytest.param("phone:read:admin", 403, None, "phone:write:admin", id="no-write-403"),
        pytest.param("phone:write:admin", 400, None, "phone:read:admin", id="no-read-400"),
    ],
)
async def test_a_token_without_a_needed_scope_stops_the_run_with_77(
    tmp_path: Path, scopes: str, status: int, concurrency: int | None, missing: str
) -> None:
    directory, users, _ = _directory(tmp_path)
    async with serving(directory, scopes=scopes, scope_status=status) as running:
        sim = running.simulator
        job = holiday_job(tmp_path, "job.csv", users, "Scoped")
        outcome, text = await run(running, job, tmp_path / "state", concurrency=concurrency)
        assert outcome.exit_code == 77, text
        assert outcome.result.stop_reason is StopReason.AUTH
        assert missing in (outcome.result.stop_detail or "") and missing in text
        api = [j for j in sim.journal if "/phone/" in j.path]
        writes = [j for j in api if j.method != "GET"]
        assert all(j.status == status and not j.applied for j in writes)
        refused_reads = [j for j in api if j.method == "GET" and j.status == status]
        if missing == "phone:read:admin":
            assert writes == [] and refused_reads
        else:
            # Only the lanes already sending when the first refusal came in sent a write.
            assert 1 <= len(writes) <= (concurrency or len(users))
            assert len(writes) == 1 or concurrency != 1

        sim.configure({"scopes": ALL_SCOPES})  # the admin grants the scope; the rerun finishes
        again, text = await run(running, job, tmp_path / "state")
        assert again.exit_code == 0, text
        for ext_id in users:
            assert names(sim, ext_id, "Scoped") == Counter(f"Scoped {i}" for i in range(3))


def test_the_sim_scopes_knob_on_the_command_line_stops_a_simulated_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory, users, _ = _directory(tmp_path, users=2)
    job = holiday_job(tmp_path, "job.csv", users, "Cli")
    state = tmp_path / "state"
    args = ["run", str(job), "--simulate", "--directory", str(directory), "--state", str(state)]
    assert main([*args, "--sim", "scopes=phone:read:admin"]) == 77
    assert "phone:write:admin" in capsys.readouterr().out
    kept = json.loads((state / "simulator.json").read_text())
    assert not any("Cli" in json.dumps(kept["settings"][u]["holiday_hours"]) for u in users), (
        "nothing was written"
    )
