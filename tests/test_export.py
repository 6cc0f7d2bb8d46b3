"""`bulkops export`: an account's call handling as a job file that recreates it.

Between in-process simulators on ephemeral ports: the export passes `validate` as written; run
back after a wipe it restores the account field by field; run against a second account through
that account's directory (by extension number, by email) it gives the second the first's
settings; and an extension that cannot be read is named, not silently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import json
import logging
import os
import queue
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pandas as pd
import pytest
from conftest import FakeClock, SimClient

from bulkops.cli import main
from bulkops.errors import ConfigError
from bulkops.export import ExportSettings, export_job
from bulkops.jobs.plan import validate
from bulkops.model import SettingType
from bulkops.reports.export import Exported, extension_rows
from bulkops.runner import RunSettings, run_job
from bulkops.simulator import (
    Extension,
    ExtensionType,
    RunningSimulator,
    SimConfig,
    generate_directory,
    run_simulator,
    write_directory,
)

REPO = Path(__file__).resolve().parent.parent
COLUMNS = (
    "action",
    "setting_type",
    "sub_setting_type",
    "extension_id",
    "name",
    "from",
    "to",
    "holiday_id",
    "phone_number",
    "description",
    "settings",
)


def _write_job(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as fh:
        out = csv.DictWriter(fh, COLUMNS, lineterminator="\n")
        out.writeheader()
        for row in rows:
            settings = row.get("settings")
            out.writerow({**row, "settings": json.dumps(settings) if settings else ""})
    return path


def _users(exts: list[Extension]) -> list[Extension]:
    return [e for e in exts if e.type is ExtensionType.USER]


def _customise(exts: list[Extension]) -> Iterable[dict[str, Any]]:
    """More than the simulator's defaults: holidays with forwarding and their own handling, a
    disabled number, press-1, other business hours and call handling."""
    day = {"setting_type": "holiday_hours", "name": "Founders Day", "from": "2027-05-03"}
    day["to"] = "2027-05-03"
    for e in exts:
        ref = {"extension_id": e.extension_id}
        yield {**ref, **day, "action": "add", "sub_setting_type": "holiday"}
        yield {
            **ref,
            **day,
            "action": "update",
            "sub_setting_type": "call_handling",
            "settings": {"call_not_answer_action": 11},
        }
        yield {
            **ref,
            "action": "update",
            "setting_type": "business_hours",
            "sub_setting_type": "custom_hours",
            "settings": {
                "type": 2,
                "custom_hours_settings": [
                    {"weekday": 2, "type": 2, "from": "07:30", "to": "19:00"},
                    {"weekday": 7, "type": 1},
                ],
            },
        }
    for e in _users(exts):
        ref = {"extension_id": e.extension_id}
        yield {
            **ref,
            **day,
            "action": "add",
            "sub_setting_type": "call_forwarding",
            "phone_number": "+14155550101",
            "description": "on call",
        }
        for setting, number in (
            ("business_hours", "+14155550102"),
            ("closed_hours", "+1415555103"),
        ):
            yield {
                **ref,
                "action": "add",
                "setting_type": setting,
                "sub_setting_type": "call_forwarding",
                "phone_number": number,
                "description": "desk",
            }
        yield {
            **ref,
            "action": "update",
            "setting_type": "business_hours",
            "sub_setting_type": "call_forwarding",
            "phone_number": "+14155550102",
            "settings": {"enable": False},
        }
        yield {
            **ref,
            "action": "update",
            "setting_type": "closed_hours",
            "sub_setting_type": "call_forwarding",
            "phone_number": "+1415555103",
            "settings": {"require_press_1_before_connecting": True},
        }
        yield {
            **ref,
            "action": "update",
            "setting_type": "business_hours",
            "sub_setting_type": "call_handling",
            "settings": {"call_not_answer_action": 10, "phone_number": "+14155550104"},
        }


def _wipe(exts: list[Extension], state: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Delete every holiday and forwarding number, 24-hour business hours, voicemail again."""
    for e in exts:
        ref = {"extension_id": e.extension_id}
        body = state[e.extension_id]
        for holiday in body["holiday_hours"]:
            yield {
                **ref,
                "action": "delete",
                "setting_type": "holiday_hours",
                "sub_setting_type": "holiday",
                "holiday_id": holiday["holiday_id"],
            }
        yield {
            **ref,
            "action": "update",
            "setting_type": "business_hours",
            "sub_setting_type": "custom_hours",
            "settings": {"type": 1},
        }
        yield {
            **ref,
            "action": "update",
            "setting_type": "closed_hours",
            "sub_setting_type": "call_handling",
            "settings": {"call_not_answer_action": 11},
        }
        if e.type is ExtensionType.USER:
            for setting in ("business_hours", "closed_hours"):
                yield {
                    **ref,
                    "action": "delete",
                    "setting_type": setting,
                    "sub_setting_type": "call_forwarding",
                    "phone_number": "+14155550102"
                    if setting == "business_hours"
                    else "+1415555103",
                }


async def _state(running: RunningSimulator, ids: Iterable[str]) -> dict[str, Any]:
    """Each extension's GET, through the API as a client sees it."""
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        client = SimClient(running, session)
        await client.login()
        for ext_id in ids:
            answer = await client.get(ext_id)
            assert answer.status == 200
            out[ext_id] = answer.body
    return out


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    """A GET without what a recreation may change: the ids Zoom gives, and list order."""

    def entries(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for entry in items:
            settings = dict(entry.get("settings") or {})
            if "call_forwarding_settings" in settings:
                listed = [
                    {k: v for k, v in item.items() if k != "id"}
                    for item in settings["call_forwarding_settings"]
                ]
                settings["call_forwarding_settings"] = sorted(listed, key=json.dumps)
            out.append({"sub_setting_type": entry["sub_setting_type"], "settings": settings})
        return sorted(out, key=lambda e: str(e["sub_setting_type"]))

    holidays = [entries(h["details"]) for h in body.get("holiday_hours") or []]
    return {
        "business_hours": entries(body.get("business_hours") or []),
        "closed_hours": entries(body.get("closed_hours") or []),
        "holiday_hours": sorted(holidays, key=json.dumps),
    }


async def _run(running: RunningSimulator, job: Path, directory: Path, state: Path) -> int:
    settings = RunSettings(
        job=job,
        directory=directory,
        state_dir=state,
        api_url=running.api_url,
        oauth_url=running.oauth_url,
        quiet=True,
        write_reports=False,
        rate=1000,  # the simulators have no window here: pacing would only slow the test
    )
    done = await run_job(settings, env=running.credentials.as_env(), out=_Discard())
    return done.exit_code


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _export(running: RunningSimulator, out: Path, **given: Any) -> ExportSettings:
    urls = {"api_url": running.api_url, "oauth_url": running.oauth_url}
    return ExportSettings(out=out, rate=1000, **urls, **given)


def _errors(path: Path, directory: Path) -> list[str]:
    return [str(p) for p in validate(path, directory=directory) if p.severity == "error"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
async def test_export_wipe_and_rerun_gives_the_original_state_back(
    tmp_path: Path, suffix: str
) -> None:
    exts = generate_directory(10, 2026)
    directory = tmp_path / "directory.csv"
    write_directory(exts, directory)
    ids = [e.extension_id for e in exts]
    async with run_simulator(SimConfig(directory=directory, rate=None)) as running:
        setup = _write_job(tmp_path / "setup.csv", _customise(exts))
        assert await _run(running, setup, directory, tmp_path / "s1") == 0
        before = await _state(running, ids)

        out = tmp_path / f"backup{suffix}"
        result = await export_job(_export(running, out, directory=directory), env=_env(running))
        assert (result.chosen, result.exported, result.left_out) == (10, 10, ())
        assert _errors(out, directory) == []  # `bulkops validate` passes the file as written
        warned = [
            str(p) for p in validate(out, directory=directory) if "unknown column" in p.reason
        ]
        assert warned == []  # the source_* columns are known: no "unknown column" warning

        wipe = _write_job(tmp_path / "wipe.csv", _wipe(exts, before))
        assert await _run(running, wipe, directory, tmp_path / "s2") == 0
        wiped = await _state(running, ids)
        assert all(_comparable(wiped[i]) != _comparable(before[i]) for i in ids)

        assert await _run(running, out, directory, tmp_path / "s3") == 0
        after = await _state(running, ids)
    for ext_id in ids:  # field by field, with the ids a re-add gets set aside
        assert _comparable(after[ext_id]) == _comparable(before[ext_id]), ext_id


def _env(running: RunningSimulator) -> dict[str, str]:
    return running.credentials.as_env()


@pytest.mark.parametrize("address", ["extension_number", "email"])
async def test_migration_to_another_account_through_its_directory(
    tmp_path: Path, address: str
) -> None:
    exts_a = [e for e in generate_directory(10, 2026) if e.email or address != "email"]
    assert len(exts_a) >= 6
    # Account B: the same people and numbers, but every extension id is B's own.
    exts_b = [
        dataclasses.replace(e, extension_id=other.extension_id)
        for e, other in zip(exts_a, generate_directory(len(exts_a), 7), strict=True)
    ]
    dir_a, dir_b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_directory(exts_a, dir_a)
    write_directory(exts_b, dir_b)
    config_a = SimConfig(directory=dir_a, rate=None, seed=1)
    config_b = SimConfig(directory=dir_b, rate=None, seed=2)
    async with run_simulator(config_a) as a, run_simulator(config_b) as b:
        setup = _write_job(tmp_path / "setup.csv", _customise(exts_a))
        assert await _run(a, setup, dir_a, tmp_path / "s1") == 0
        out = tmp_path / "a-export.csv"
        given = {"directory": dir_a, "address_by": address}
        result = await export_job(_export(a, out, **given), env=_env(a))
        assert result.left_out == ()
        frame = pd.read_csv(out, dtype=str, keep_default_na=False)
        assert address in frame.columns and "extension_id" not in frame.columns
        assert set(frame["source_extension_id"]) == {e.extension_id for e in exts_a}
        assert _errors(out, dir_b) == []

        assert await _run(b, out, dir_b, tmp_path / "s2") == 0
        state_a = await _state(a, [e.extension_id for e in exts_a])
        state_b = await _state(b, [e.extension_id for e in exts_b])
        # A second run finds everything in place: no write twice.
        writes = sum(1 for e in b.simulator.journal if e.method in ("POST", "DELETE"))
        assert await _run(b, out, dir_b, tmp_path / "s3") == 0
        again = sum(1 for e in b.simulator.journal if e.method in ("POST", "DELETE"))
        assert again - writes == 1  # the token request alone
    for ea, eb in zip(exts_a, exts_b, strict=True):
        mine, theirs = _comparable(state_a[ea.extension_id]), _comparable(state_b[eb.extension_id])
        for setting in ("business_hours", "closed_hours"):
            assert theirs[setting] == mine[setting], (eb.extension_id, setting)
        # Holidays are added, never deleted: B keeps the ones it had of its own.
        assert all(h in theirs["holiday_hours"] for h in mine["holiday_hours"]), eb.extension_id


async def test_an_extension_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    exts = generate_directory(4, 2026)
    directory = tmp_path / "directory.csv"
    write_directory(exts, directory)
    config = SimConfig(directory=directory, rate=None, error_5xx=0.3, fault_reads=True, seed=3)
    clock = FakeClock()
    async with run_simulator(config) as running:
        ids = (exts[0].extension_id, "NoSuchExtension12345678")
        given = _export(running, tmp_path / "some.csv", extension_ids=ids)
        result = await export_job(given, env=_env(running), sleep=clock.sleep)
    assert result.exported == 1 and result.chosen == 2
    assert clock.slept, "the 5xx answers were waited out and retried"
    assert len(result.left_out) == 1 and result.left_out[0].startswith("NoSuchExtension")
    assert "does not exist" in result.left_out[0]
    assert _errors(tmp_path / "some.csv", directory) == []


async def test_setting_types_choose_what_is_written(tmp_path: Path) -> None:
    exts = generate_directory(6, 2026)
    directory = tmp_path / "directory.csv"
    write_directory(exts, directory)
    async with run_simulator(SimConfig(directory=directory, rate=None)) as running:
        out = tmp_path / "hours.csv"
        given = {"directory": directory, "target": "type=user", "setting_types": {_B}}
        result = await export_job(_export(running, out, **given), env=_env(running))
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert result.chosen == len(_users(exts))
    assert set(frame["setting_type"]) == {"business_hours"}
    assert set(frame["extension_id"]) == {e.extension_id for e in _users(exts)}


_B = SettingType.BUSINESS_HOURS


@pytest.mark.parametrize(
    ("given", "message"),
    [
        pytest.param({}, "name the extensions", id="nothing-chosen"),
        pytest.param({"target": "site=Paris"}, "--directory", id="target-without-directory"),
        pytest.param(
            {"directory": Path("samples/directory.csv"), "refresh_directory": True},
            "goes with --directory zoom",
            id="refresh-a-file",
        ),
        pytest.param(
            {"directory": REPO / "samples" / "directory.csv", "target": "site=Atlantis"},
            "matches --target 'site=Atlantis'",
            id="empty-selection",
        ),
        pytest.param(
            {"directory": REPO / "samples" / "directory.csv", "target": "planet=Mars"},
            "column 'planet'",
            id="unknown-column",
        ),
        pytest.param(
            {"extension_ids": ("a",), "address_by": "email"}, "--directory", id="email-needs-dir"
        ),
        pytest.param({"out_name": "x.txt", "extension_ids": ("a",)}, ".csv", id="bad-suffix"),
    ],
)
async def test_invalid_invocations_send_nothing(
    tmp_path: Path, given: dict[str, Any], message: str
) -> None:
    out = tmp_path / given.pop("out_name", "x.csv")
    async with run_simulator(SimConfig(rate=None)) as running:
        with pytest.raises(ConfigError, match=message):
            await export_job(_export(running, out, **given), env=_env(running))
        assert len(running.simulator.journal) == 0


# -- rows from one GET --------------------------------------------------------------------------


def _forwarding(items: list[dict[str, Any]], press_1: bool = False) -> dict[str, Any]:
    settings = {"require_press_1_before_connecting": press_1, "call_forwarding_settings": items}
    return {"sub_setting_type": "call_forwarding", "settings": settings}


def test_what_a_job_row_cannot_recreate_is_a_note() -> None:
    contact = {
        "id": "fwdContact1",
        "external_contact": {"external_contact_id": "c1", "name": "Ann"},
    }
    app_off = {"id": "appEntry1", "description": "Zoom Mobile Apps", "enable": False}
    number = {"id": "fwdNumber1", "phone_number": "+14155550199", "enable": True}
    body = {
        "business_hours": [
            _forwarding([app_off, contact, number], press_1=True),
            {"sub_setting_type": "call_handling", "settings": {"max_call_in_queue": 0}},
        ],
        "holiday_hours": [],
    }
    made = extension_rows(body, Exported("ext1"), frozenset(SettingType))
    kinds = [(r["action"], r["call_forwarding_id"], r["phone_number"]) for r in made.rows]
    assert kinds == [
        ("update", "appEntry1", ""),  # Zoom's own entry, switched off: by this account's id
        ("add", "", "+14155550199"),
        ("update", "", "+14155550199"),  # carries press-1: a number, found on any account
    ]
    assert json.loads(made.rows[2]["settings"]) == {"require_press_1_before_connecting": True}
    assert any("external contact" in n and "cannot be written" in n for n in made.notes)
    assert any("business_hours call handling is left out" in n for n in made.notes)


async def test_the_cli_writes_a_file_that_validates(tmp_path: Path) -> None:
    exts = generate_directory(5, 2026)
    directory = tmp_path / "directory.csv"
    write_directory(exts, directory)
    async with run_simulator(SimConfig(directory=directory, rate=None)) as running:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOM_")}
        env |= _env(running) | {"ZOOM_API_URL": running.api_url}
        env["ZOOM_OAUTH_URL"] = running.oauth_url
        out = tmp_path / "export.csv"
        args = ["export", "--directory", str(directory), "--out", str(out), "--rate", "100"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bulkops",
            *args,
            cwd=REPO,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()
    assert "exported 5 of 5 extensions as" in stdout.decode()
    check = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bulkops",
        "validate",
        str(out),
        "--directory",
        str(directory),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    shown, _ = await asyncio.wait_for(check.communicate(), 60)
    assert check.returncode == 0 and b"valid" in shown


# -- the command in this process (a simulator on its own thread, as main() runs its own loop) ---


@contextlib.contextmanager
def _simulator_thread(config: SimConfig) -> Iterator[RunningSimulator]:
    started: queue.Queue[RunningSimulator] = queue.Queue()
    loop = asyncio.new_event_loop()
    stop = threading.Event()

    async def serve() -> None:
        async with run_simulator(config) as running:
            started.put(running)
            await loop.run_in_executor(None, stop.wait)

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    thread.start()
    try:
        yield started.get(timeout=30)
    finally:
        stop.set()
        thread.join(30)
        loop.close()


@pytest.mark.parametrize(
    ("daily_limit", "code", "said"),
    [
        pytest.param(None, 1, "left out: NoSuchExtension", id="one-left-out"),
        pytest.param(1, 75, "nothing written", id="daily-limit"),
    ],
)
def test_the_command_says_what_it_left_out(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    daily_limit: int | None,
    code: int,
    said: str,
) -> None:
    exts = generate_directory(3, 2026)
    directory = tmp_path / "directory.csv"
    write_directory(exts, directory)
    config = SimConfig(directory=directory, rate=None, daily_limit=daily_limit)
    out = tmp_path / "export.csv"
    logger = logging.getLogger("bulkops")  # main() sets it up for a terminal: give it back
    monkeypatch.setattr(logger, "handlers", logger.handlers[:])
    monkeypatch.setattr(logger, "level", logger.level)
    with _simulator_thread(config) as running:
        for name, value in _env(running).items():
            monkeypatch.setenv(name, value)
        args = ["export", "--out", str(out), "--api-url", running.api_url]
        args += ["--oauth-url", running.oauth_url, "--rate", "1000"]
        args += ["--extension-id", exts[0].extension_id, "--extension-id", "NoSuchExtension1"]
        assert main(args) == code
    shown = capsys.readouterr()
    assert said in shown.err
    assert out.exists() is (code == 1)
    if code == 1:
        assert "exported 1 of 2 extensions" in shown.out


async def test_an_extension_without_the_address_column_is_named(tmp_path: Path) -> None:
    exts = generate_directory(10, 2026)
    no_email = [e.extension_id for e in exts if not e.email]
    assert no_email  # the seeded directory has extensions without an email
    directory = tmp_path / "directory.csv"
    write_directory(exts, directory)
    async with run_simulator(SimConfig(directory=directory, rate=None)) as running:
        given = {"directory": directory, "address_by": "email"}
        result = await export_job(_export(running, tmp_path / "e.csv", **given), env=_env(running))
        journal = running.simulator.journal
        read = {e.path.split("/")[4] for e in journal if e.path.startswith("/v2/phone/")}
    assert [line.split(":")[0] for line in result.left_out] == no_email
    assert all("no email" in line for line in result.left_out)
    assert read == {e.extension_id for e in exts} - set(no_email)  # those are not even read
    assert result.exported == len(exts) - len(no_email)
    assert _errors(tmp_path / "e.csv", directory) == []
