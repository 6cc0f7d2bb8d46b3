"""End to end against the simulator: a mixed run, its reports, then undo.csv and failures.csv.

Both run against every simulator variant (conftest.SIM_VARIANTS: holiday storage, profiles); one
holiday's name has two spaces, which an account that trims does not keep.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bulkops.config import AccountPlan, Credentials
from bulkops.jobs.plan import validate
from bulkops.progress import PlainDisplay
from bulkops.runner import RunOutcome, RunSettings, run_job
from bulkops.simulator import (
    ExtensionType,
    RunningSimulator,
    SimConfig,
    Simulator,
    generate_directory,
    run_simulator,
    write_directory,
)

CANARY = "CANARY-s3cr3t-7f0c2a9e"
CREDS = Credentials("canary-account", "canary-client", CANARY)
HEADER = "action,setting_type,sub_setting_type,extension_id,name,from,to,holiday_id,phone_number,description,settings"


@dataclass
class World:
    tmp: Path
    directory: Path
    zoom: Path  # the simulator's state file, shared by every run
    exts: dict[str, str]  # role -> extension id
    app_id: str  # one of Zoom's own forwarding entries on the "toggle" user
    config: SimConfig


def _world(tmp: Path, storage: dict[str, Any]) -> World:
    directory = tmp / "directory.csv"
    exts = generate_directory(16, 2026)
    write_directory(exts, directory)
    zoom = tmp / "zoom.json"
    config = SimConfig(
        directory=directory, state_file=zoom, rate=None, credentials=CREDS, **storage
    )
    sim = Simulator(config)
    sim.save()
    users = [e.extension_id for e in exts if e.type is ExtensionType.USER]
    with_holiday = [u for u in users if sim.holidays(u)]
    plain = [u for u in users if not sim.holidays(u)]
    queue = next(e.extension_id for e in exts if e.type is ExtensionType.CALL_QUEUE)
    roles = {
        "u1": plain[0],
        "u2": plain[1],
        "u3": plain[2],
        "present": with_holiday[0],
        "gone": with_holiday[1],
        "queue": queue,
    }
    app_id = sim.forwarding(roles["u1"])[0]["id"]
    return World(tmp, directory, zoom, roles, app_id, config)


def _job(w: World, *, unfixable: bool) -> str:
    e = w.exts
    sim = Simulator(w.config)
    present = sim.holidays(e["present"])[0]
    gone = sim.holidays(e["gone"])[0]
    q = '"'

    def js(value: dict[str, Any]) -> str:
        return q + json.dumps(value).replace(q, q + q) + q

    rows = [
        f"add,holiday_hours,holiday,{e['u1']},Company  Day,2027-03-01,2027-03-01,,,,",
        f"add,holiday_hours,holiday,{e['u2']},Company Day,2027-03-01,2027-03-01,,,,",
        f"add,holiday_hours,holiday,{e['present']},{present['name']},{present['from']},"
        f"{present['to']},,,,",
        f"update,holiday_hours,holiday,{e['present']},Fourth,2027-07-04,2027-07-04,"
        f"{present['holiday_id']},,,",
        f"delete,holiday_hours,holiday,{e['gone']},{gone['name']},,,,,,",
        f"update,business_hours,custom_hours,{e['u1']},,,,,,," + js({"type": 1}),
        f"update,business_hours,call_handling,{e['u1']},,,,,,,"
        + js({"ring_mode": "sequential", "max_wait_time": 45}),
        f"update,closed_hours,call_handling,{e['u2']},,,,,,," + js({"call_not_answer_action": 11}),
        f"add,business_hours,call_forwarding,{e['u2']},,,,,+14155550100,=Desk,",
        f"update,business_hours,call_forwarding,{e['u1']},,,,,,,"
        + js({"call_forwarding_settings": [{"id": w.app_id, "enable": False}]}),
        f"add,holiday_hours,call_forwarding,{e['u1']},Company  Day,2027-03-01,,,+14155550111,,",
        # fixable failures: a holiday and a forwarding number that are not there (yet)
        f"update,holiday_hours,holiday,{e['u3']},Missing Day,2027-05-01,2027-05-01,,,,",
        f"update,closed_hours,call_forwarding,{e['u3']},,,,,+14155550199,new,",
    ]
    if unfixable:
        rows += [
            f"add,business_hours,call_forwarding,{e['queue']},,,,,+14155550123,,",
            "add,holiday_hours,holiday,NoSuchExtension0000001,X,2027-01-01,2027-01-01,,,,",
            "add,holiday_hours,holiday,NoSuchExtension0000001,Y,2027-01-02,2027-01-02,,,,",
        ]
    return HEADER + "\n" + "\n".join(rows) + "\n"


@pytest.fixture
async def sim(
    tmp_path: Path, sim_variant: dict[str, Any]
) -> AsyncIterator[tuple[World, RunningSimulator]]:
    w = _world(tmp_path, sim_variant)
    async with run_simulator(w.config) as running:
        yield w, running


async def _run(job: Path, state: Path, running: RunningSimulator, out: io.StringIO) -> RunOutcome:
    env = CREDS.as_env()
    settings = RunSettings(
        job=job,
        state_dir=state,
        account_plan=AccountPlan.BUSINESS,
        rate=200,
        api_url=running.api_url,
        oauth_url=running.oauth_url,
    )
    return await run_job(settings, env=env, display=PlainDisplay(out), out=out)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _normal(tree: Any) -> Any:
    """A GET answer without server ids, lists in a stable order (re-added items get new ids)."""
    if isinstance(tree, dict):
        return {k: _normal(v) for k, v in tree.items() if k not in ("id", "holiday_id")}
    if isinstance(tree, list):
        items = [_normal(v) for v in tree]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return tree


async def test_mixed_run_reports_agree_and_undo_restores(
    sim: tuple[World, RunningSimulator], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    w, running = sim
    simulator = running.simulator
    touched = sorted(set(w.exts.values()))
    before = {x: simulator.settings(x) for x in touched}
    job = w.tmp / "job.csv"
    job.write_text(_job(w, unfixable=True))
    out = io.StringIO()
    outcome = await _run(job, w.tmp / "state", running, out)
    assert outcome.exit_code == 1
    reports = outcome.reports
    assert next(iter(reports)) == "results.csv" and reports["report.html"].exists()

    results = _rows(reports["results.csv"])
    by_row = {int(r["source_row"]): r for r in results}
    assert len(results) == 16
    status = {n: r["status"] for n, r in by_row.items()}
    assert status[4] == "already_present"
    assert status[13] == status[14] == "failed"  # no holiday / no forwarding to update
    assert status[15] == "failed" and by_row[15]["http_status"] == "400"  # Zoom refused
    assert (status[16], status[17]) == ("failed", "skipped")  # the extension does not exist
    assert all(status[n] == "succeeded" for n in range(2, 13) if n != 4), status
    summary = json.loads(reports["summary.json"].read_text())
    assert summary["counts"] == {
        "succeeded": 10,
        "already_present": 1,
        "already_absent": 0,
        "failed": 4,
        "skipped": 1,
        "not_run": 0,
    }
    assert summary["exit_code"] == 1 and summary["complete"]

    # Against the simulator's journal: every answer we report is one Zoom gave.
    journal = {j.tracking_id: j for j in simulator.journal}
    writes = [j for j in simulator.journal if j.method != "GET"]
    assert sum(j.applied for j in writes) == 10
    for r in results:
        if r["tracking_id"]:
            entry = journal[r["tracking_id"].lstrip("'")]
            assert str(entry.status) == r["http_status"]
            assert entry.applied == (r["status"] == "succeeded")
    api_calls = [j for j in simulator.journal if "/phone/" in j.path]  # not the token request
    assert summary["requests"] == len(api_calls)

    failures = _rows(reports["failures.csv"])
    assert [int(r["source_row"]) for r in failures] == [13, 14, 15, 16, 17]
    assert not [p for p in validate(reports["failures.csv"]) if p.severity == "error"]
    assert not [p for p in validate(reports["undo.csv"]) if p.severity == "error"]

    # undo.csv puts every touched extension back as it was (ids of re-added items aside).
    changed = {w.exts[k] for k in ("u1", "u2", "present", "gone")}
    assert all(_normal(simulator.settings(x)) != _normal(before[x]) for x in changed)
    undo_rows = _rows(reports["undo.csv"])
    undo_out = io.StringIO()
    undone = await _run(reports["undo.csv"], w.tmp / "undo-state", running, undo_out)
    undo_summary = json.loads(undone.reports["summary.json"].read_text())
    assert undone.exit_code == 0, undo_summary["counts"]
    assert undo_summary["counts"]["succeeded"] == len(undo_rows) == 10
    for x in touched:
        assert _normal(simulator.settings(x)) == _normal(before[x]), x

    # No secret anywhere: files under the test's directory (state, SQLite, simulator), output, logs.
    tokens = set(simulator.tokens)
    assert tokens
    secrets = {CANARY, *tokens}
    for path in w.tmp.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, path
            assert b"Bearer " not in data and b"Authorization" not in data, path
    text = out.getvalue() + undo_out.getvalue() + caplog.text
    assert not [s for s in secrets if s in text]


async def test_failures_csv_reruns_after_the_cause_is_fixed(
    sim: tuple[World, RunningSimulator],
) -> None:
    w, running = sim
    job = w.tmp / "job.csv"
    job.write_text(_job(w, unfixable=False))
    first = await _run(job, w.tmp / "state", running, io.StringIO())
    assert first.exit_code == 1
    failures = first.reports["failures.csv"]
    assert len(_rows(failures)) == 2
    # The admin fixes the cause: the holiday and the forwarding number the rows update now exist.
    u3 = w.exts["u3"]
    fix = w.tmp / "fix.csv"
    fix.write_text(
        HEADER + "\n"
        f"add,holiday_hours,holiday,{u3},Missing Day,2026-05-01,2026-05-01,,,,\n"
        f"add,closed_hours,call_forwarding,{u3},,,,,+14155550199,old,\n"
    )
    assert (await _run(fix, w.tmp / "fix-state", running, io.StringIO())).exit_code == 0
    rerun = await _run(failures, w.tmp / "rerun-state", running, io.StringIO())
    summary = json.loads(rerun.reports["summary.json"].read_text())
    assert rerun.exit_code == 0, summary["counts"]
    assert summary["counts"]["succeeded"] == 2
    holidays = running.simulator.holidays(u3)
    assert [(h["name"], h["from"]) for h in holidays] == [("Missing Day", "2027-05-01T00:00:00Z")]
    numbers = running.simulator.forwarding(u3, "closed_hours")
    assert [n.get("description") for n in numbers if n.get("phone_number")] == ["new"]
