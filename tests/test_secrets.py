"""Secrets never leave the process: scrubbing Zoom's words, and a run against a Zoom that echoes.

The end-to-end test serves a simulator whose every POST answers 400 with the request's
``Authorization`` header, the bare token and the client secret in Zoom's message, then looks for
them in every file the run leaves, in its output and in its logs.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from bulkops.config import AccountPlan, Credentials
from bulkops.progress import PlainDisplay
from bulkops.runner import RunSettings, run_job
from bulkops.simulator import (
    Reply,
    SimConfig,
    Simulator,
    generate_directory,
    run_simulator,
    write_directory,
)
from bulkops.zoom.redact import MASK, scrub

SECRET = "CANARY-secret-5b1f0e77d2"
CREDS = Credentials("canary-account", "canary-client", SECRET)
JWT = "eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlLWJ5dGVz"


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        pytest.param(
            "Invalid header: Bearer abcdefghijklmnop0123", (), f"Invalid header: Bearer {MASK}",
            id="bearer-unknown-token",
        ),
        pytest.param(
            "Authorization: basic Y2lkOkNBTkFSWS1zZWNyZXQ=", (), f"Authorization: basic {MASK}",
            id="basic-any-case",
        ),
        pytest.param("token " + JWT + " expired", (), f"token {MASK} expired", id="jwt"),
        pytest.param(
            "see ?access_token=abc123&x=1", (), f"see ?access_token={MASK}&x=1", id="query-pair"
        ),
        pytest.param(
            '{"client_secret": "hunter22"}', (), f'{{"client_secret": "{MASK}"}}', id="json-pair"
        ),
        pytest.param("Authorization=tok", (), f"Authorization={MASK}", id="header-pair"),
        pytest.param("the tok-1 was refused", ("tok-1",), f"the {MASK} was refused", id="known"),
        pytest.param("a%2Fb%2Bc in url", ("a/b+c",), f"{MASK} in url", id="url-encoded-secret"),
        pytest.param(
            "abcdef and abc", ("abc", "abcdef"), f"{MASK} and {MASK}", id="longest-first"
        ),
        pytest.param("Bearer token is invalid", (), "Bearer token is invalid", id="plain-words"),
        pytest.param("Validation Failed.", ("",), "Validation Failed.", id="empty-secret-ignored"),
        pytest.param(
            "Extension does not exist: nNGsNx2zRDyiIXWVI23FCQ",
            (),
            "Extension does not exist: nNGsNx2zRDyiIXWVI23FCQ",
            id="zoom-ids-stay",
        ),
    ],
)  # fmt: skip
def test_scrub(text: str, secrets: tuple[str, ...], expected: str) -> None:
    assert scrub(text, secrets) == expected


# --- end to end: a Zoom that echoes the Authorization header ---------------------------------


class EchoingZoom(Simulator):
    """Answers every POST with 400, quoting the header, the bare token and the client secret."""

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.echoed: set[str] = set()

    async def handle_api(
        self,
        method: str,
        extension_id: str,
        setting_type: str | None,
        body: Callable[[], Any],
        query: Mapping[str, str],
        authorization: str | None,
    ) -> Reply:
        if method != "POST" or authorization is None:
            return await super().handle_api(
                method, extension_id, setting_type, body, query, authorization
            )
        token = authorization.removeprefix("Bearer ")
        self.echoed.add(token)
        message = f"Invalid request header Authorization: {authorization}"
        fields = [{"field": "token", "message": f"{token} (client secret {SECRET})"}]
        return Reply(
            400,
            {"code": 300, "message": message, "errors": fields},
            headers={"x-zm-trackingid": f"v=2.0;rid={token}"},
        )


def _job(tmp_path: Path) -> tuple[Path, Path]:
    directory = tmp_path / "directory.csv"
    extensions = generate_directory(4, 2026)
    write_directory(extensions, directory)
    rows = [
        f"add,holiday_hours,holiday,{e.extension_id},Company Day,2027-03-01,2027-03-01"
        for e in extensions
    ]
    job = tmp_path / "job.csv"
    header = "action,setting_type,sub_setting_type,extension_id,name,from,to"
    job.write_text("\n".join([header, *rows]) + "\n")
    return directory, job


def _files(root: Path) -> dict[Path, bytes]:
    """Every file the run left: checkpoint, WAL, results, failures, report, summary, …"""
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}


async def test_an_echoed_token_reaches_no_file_output_or_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    directory, job = _job(tmp_path)
    zoom = EchoingZoom(SimConfig(directory=directory, rate=None, credentials=CREDS))
    out = io.StringIO()
    async with run_simulator(simulator=zoom) as running:
        settings = RunSettings(
            job=job,
            state_dir=tmp_path / "state",
            account_plan=AccountPlan.BUSINESS,
            rate=200,
            api_url=running.api_url,
            oauth_url=running.oauth_url,
        )
        env = {
            "ZOOM_ACCOUNT_ID": CREDS.account_id,
            "ZOOM_CLIENT_ID": CREDS.client_id,
            "ZOOM_CLIENT_SECRET": SECRET,
        }
        outcome = await run_job(settings, env=env, display=PlainDisplay(out), out=out)

    assert outcome.exit_code == 1 and zoom.echoed, "every add failed with the echo"
    secrets = {SECRET, *zoom.echoed, *running.simulator.tokens}
    files = _files(tmp_path)
    names = {path.name for path in files}
    assert {"results.csv", "failures.csv", "report.html", "summary.json"} <= names, names
    assert any(name.endswith((".db", ".sqlite", ".sqlite3")) for name in names), names
    assert not [path for path, data in files.items() if any(s.encode() in data for s in secrets)]
    failures = files[tmp_path / "state" / "failures.csv"].decode()
    assert "Invalid request header Authorization: Bearer ***" in failures  # still useful
    captured = capsys.readouterr()
    text = out.getvalue() + caplog.text + captured.out + captured.err
    assert not [s for s in secrets if s in text]
