"""The preview (`run --dry-run`, `bulkops diff`) and before → after in the reports, end to end
against the simulator served in-process."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_engine import CREDS, ENV, FAST_RETRY, Setup, _setup, api_entries, serving
from test_html_report import CHROMIUM, dump_dom, html_tag

from bulkops.config import AccountPlan
from bulkops.model import OpStatus
from bulkops.progress import PlainDisplay
from bulkops.reports.diff import DIFF_COLUMNS
from bulkops.reports.results import RESULT_COLUMNS
from bulkops.run.engine import EngineOptions
from bulkops.runner import RunOutcome, RunSettings, run_job
from bulkops.simulator import RunningSimulator

REPO = Path(__file__).resolve().parent.parent
COLUMNS = ("action", "setting_type", "sub_setting_type", "extension_id", "name", "from", "to")
COLUMNS += ("phone_number", "description", "settings", "hours")
HANDLING = '{"max_wait_time": 45, "ring_mode": "sequential"}'


def _rows(a: str, b: str) -> list[tuple[str, ...]]:
    """One row per kind on user ``a``, in an order where some depend on earlier ones."""
    return [
        ("add", "holiday_hours", "holiday", a, "Spring Day", "2027-04-01", "2027-04-01"),
        # depends on the add above: planned against it, not failed
        ("update", "holiday_hours", "holiday", a, "Spring Day", "2027-04-02", "2027-04-02"),
        ("add", "holiday_hours", "call_forwarding", a, "Spring Day", "", "", "+14155550111"),
        ("delete", "holiday_hours", "holiday", a, "Old Day"),
        ("add", "holiday_hours", "holiday", a, "Stay Day", "2027-05-05", "2027-05-05"),
        ("update", "business_hours", "", a, *[""] * 6, "Mon-Fri 08:00-18:00"),
        ("update", "business_hours", "call_handling", a, *[""] * 5, HANDLING),
        ("update", "business_hours", "call_forwarding", a, "", "", "", "+14155550100", "Front"),
        ("delete", "business_hours", "call_forwarding", a, "", "", "", "+14155550100"),
        ("delete", "holiday_hours", "holiday", a, "Never There"),
        ("update", "holiday_hours", "holiday", a, "Missing Day", "2027-06-06", "2027-06-06"),
        ("add", "holiday_hours", "holiday", b, "Spring Day", "2027-04-01", "2027-04-01"),
    ]


def _job(tmp: Path, setup: Setup) -> Path:
    job = tmp / "job.csv"
    with job.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for row in _rows(*setup.users):
            out.writerow([*row, *[""] * (len(COLUMNS) - len(row))])
    return job


def _seed(running: RunningSimulator, extension_id: str) -> None:
    """What user ``a`` holds before the job: two holidays and a forwarding number."""
    state = running.simulator.state
    ext = state.extension(extension_id)
    assert ext is not None
    for name, day in (("Old Day", "2027-03-03"), ("Stay Day", "2027-05-05")):
        span = {"name": name, "from": f"{day}T00:00:00Z", "to": f"{day}T23:59:59Z"}
        state.add_holiday(ext, span)
    state.add_forwarding(
        ext, "business_hours", {"phone_number": "+14155550100", "description": "Desk"}
    )


async def _run(
    running: RunningSimulator, setup: Setup, job: Path, tmp: Path, *, dry_run: bool
) -> tuple[RunOutcome, str]:
    settings = RunSettings(
        job=job,
        directory=setup.directory,
        timezone="UTC",  # the seeded holidays are UTC days; the directory's zones are not the point
        state_dir=tmp / "state",
        account_plan=AccountPlan.BUSINESS,
        rate=500,
        options=EngineOptions(dry_run=dry_run, retry=FAST_RETRY),
        api_url=running.api_url,
        oauth_url=running.oauth_url,
        preview_dir=tmp / "preview" if dry_run else None,
    )
    out = io.StringIO()
    outcome = await run_job(settings, env=ENV, display=PlainDisplay(out), out=out)
    return outcome, out.getvalue()


#: (source row, status, noop, before, after) of every diff row, in plan order.
EXPECTED = [
    (2, "would_change", False, "—", "Spring Day: 2027-04-01"),
    (3, "would_change", False, "Spring Day: 2027-04-01", "Spring Day: 2027-04-02"),
    (4, "would_change", False, "—", "Spring Day: forward to +14155550111"),
    (5, "would_change", False, "Old Day: 2027-03-03", "—"),
    (6, "already_present", True, "Stay Day: 2027-05-05", "Stay Day: 2027-05-05"),
    (
        7,
        "would_change",
        False,
        "Mon–Fri 09:00–17:00, Sat–Sun closed",
        "Mon–Fri 08:00–18:00, Sat–Sun closed",
    ),
    (
        8,
        "would_change",
        False,
        "max_wait_time=30, ring_mode=simultaneous",
        "max_wait_time=45, ring_mode=sequential",
    ),
    (9, "would_change", False, "forward to +14155550100 'Desk'", "forward to +14155550100 'Front'"),
    (10, "would_change", False, "forward to +14155550100 'Front'", "—"),
    (11, "already_absent", True, "—", "—"),
    (12, "failed", False, "—", ""),
    (13, "would_change", False, "—", "Spring Day: 2027-04-01"),
]


def _diff_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


async def test_a_dry_run_previews_every_kind_of_row_and_sends_no_write(tmp_path: Path) -> None:
    setup = _setup(tmp_path, users=2)
    job = _job(tmp_path, setup)
    async with serving(setup) as running:
        _seed(running, setup.users[0])
        outcome, text = await _run(running, setup, job, tmp_path, dry_run=True)
        assert {j.method for j in api_entries(running.simulator)} == {"GET"}
        assert len(api_entries(running.simulator)) == 2  # one read per extension
    assert outcome.exit_code == 1, text  # the one row that cannot be resolved
    assert not (tmp_path / "state").exists()  # the real state is not touched

    rows = _diff_rows(tmp_path / "preview" / "diff.csv")
    assert tuple(rows[0]) == DIFF_COLUMNS
    got = [
        (int(r["source_row"]), r["status"], r["noop"] == "true", r["before"], r["after"])
        for r in rows
    ]
    assert got == EXPECTED
    # The directory names each extension: number, name and site.
    directory = pd.read_csv(setup.directory, dtype=str).set_index("extension_id")
    for r in rows:
        known = directory.loc[r["extension_id"]]
        assert (r["extension_number"], r["extension_name"], r["site"]) == (
            known["extension_number"],
            known["name"],
            known["site"],
        )
    assert "no holiday named 'Missing Day'" in rows[10]["message"]
    parquet = pd.read_parquet(tmp_path / "preview" / "diff.parquet")
    assert list(parquet.columns) == list(DIFF_COLUMNS)
    assert parquet["noop"].tolist() == [noop for _, _, noop, _, _ in EXPECTED]

    # The progress line, the summary and the files use the same words and the same counts.
    progress = [line for line in text.splitlines() if " progress " in line][-1]
    assert "would_change=9" in progress and "ok=2" in progress and "failed=1" in progress
    summary = dict(re.findall(r"^  (\S[^\n]*?)\s{2,}(\S[^\n]*)$", text, re.M))
    assert summary["would_change"] == "9" and summary["failed"] == "1"
    assert summary["already_present"] == "1" and summary["already_absent"] == "1"
    assert "skipped" not in summary
    by_action = dict(re.findall(r"^    (\S+)\s{2,}(\S[^\n]*)$", text, re.M))
    assert by_action["would_change"] == "add 3 · delete 2 · update 4"
    assert by_action["already_present"] == "add 1" and by_action["failed"] == "update 1"
    assert by_action["no-op"].startswith("2 ")
    assert summary["diff.csv"] == str(tmp_path / "preview" / "diff.csv")
    page = (tmp_path / "preview" / "report.html").read_text()
    assert 'id="preview"' in page and 'id="count-would_change">9<' in page


async def test_results_show_before_and_after_of_updates_and_deletes(tmp_path: Path) -> None:
    setup = _setup(tmp_path, users=2)
    job = _job(tmp_path, setup)
    async with serving(setup) as running:
        _seed(running, setup.users[0])
        outcome, text = await _run(running, setup, job, tmp_path, dry_run=False)
    assert outcome.exit_code == 1, text
    results = pd.read_csv(outcome.reports["results.csv"], dtype=str, keep_default_na=False)
    assert tuple(results.columns) == RESULT_COLUMNS
    assert tuple(results.columns[-2:]) == ("before", "after")
    by_row = {int(r["source_row"]): r for r in results.to_dict("records")}
    # The run did what the preview said, and says it with the same words.
    for row, status, _, before, after in EXPECTED:
        ran = "succeeded" if status == "would_change" else status
        assert by_row[row]["status"] == ran, by_row[row]
        assert (by_row[row]["before"], by_row[row]["after"]) == (before, after), row
    parquet = pd.read_parquet(outcome.reports["results.parquet"])
    assert list(parquet.columns) == list(RESULT_COLUMNS)
    page = outcome.reports["report.html"].read_text()
    assert 'id="changes"' in page and "Spring Day: 2027-04-01" in page


def _changes(dom: str) -> list[tuple[str, str, str]]:
    """(action, before, after) of every row of the page's Changes section."""
    section = dom.split('<section id="changes">', 1)[1].split("</section>", 1)[0]
    cells = re.findall(
        r'<td class="c-action">([^<]*)</td>.*?<td class="c-before">([^<]*)</td>'
        r'<td class="c-after">→ ([^<]*)</td>',
        section,
    )
    return [(a, b.replace("&#x27;", "'"), c.replace("&#x27;", "'")) for a, b, c in cells]


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium: apt-get install chromium")
async def test_report_shows_before_and_after_in_headless_chromium(tmp_path: Path) -> None:
    setup = _setup(tmp_path, users=2)
    job = _job(tmp_path, setup)
    async with serving(setup) as running:
        _seed(running, setup.users[0])
        outcome, _ = await _run(running, setup, job, tmp_path, dry_run=False)
    dom = dump_dom(outcome.reports["report.html"], tmp_path / "profile")
    tag = html_tag(dom)
    assert 'data-report-ready="1"' in tag and "data-js-error" not in tag
    changes = _changes(dom)
    assert ("update", "Spring Day: 2027-04-01", "Spring Day: 2027-04-02") in changes
    assert (
        "update",
        "forward to +14155550100 'Desk'",
        "forward to +14155550100 'Front'",
    ) in changes
    assert ("delete", "Old Day: 2027-03-03", "—") in changes
    # Grouped by extension: one group per user, the first holding all of its changes.
    groups = re.findall(r'<details class="extension" open="" data-extension="([^"]+)"', dom)
    assert groups == setup.users
    assert len(changes) == sum(1 for e in EXPECTED if e[1] == "would_change")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOM_")}
    return env | CREDS.as_env()


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bulkops",
        *args,
        cwd=REPO,
        env=_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_bulkops_diff_prints_where_the_diff_is_and_counts_by_action(tmp_path: Path) -> None:
    setup = _setup(tmp_path, users=2)
    job = _job(tmp_path, setup)
    async with serving(setup) as running:
        _seed(running, setup.users[0])
        args: list[Any] = ["diff", job, "--directory", setup.directory, "--state"]
        args += [tmp_path / "state", "--api-url", running.api_url]
        args += ["--oauth-url", running.oauth_url]
        code, out, err = await _cli(*map(str, args))
        assert {j.method for j in api_entries(running.simulator)} == {"GET"}
    assert code == 1, err
    preview = tmp_path / "state.preview"
    assert f"diff.csv          {preview / 'diff.csv'}" in out
    assert re.search(r"would_change\s+add 3 · delete 2 · update 4", out), out
    assert len(_diff_rows(preview / "diff.csv")) == len(EXPECTED)
    assert not (tmp_path / "state").exists()
    assert OpStatus.WOULD_CHANGE.value in (preview / "summary.json").read_text()


async def test_a_simulated_preview_reads_the_account_the_simulated_runs_changed(
    tmp_path: Path,
) -> None:
    job = tmp_path / "job.csv"
    job.write_text(
        "action,setting_type,sub_setting_type,extension_number,name,from,to\n"
        "add,holiday_hours,holiday,1101,Spring Day,2027-04-01,2027-04-01\n"
        "add,holiday_hours,holiday,1102,Spring Day,2027-04-01,2027-04-01\n"
    )
    state = tmp_path / "state"

    async def run(*, dry_run: bool) -> RunOutcome:
        settings = RunSettings(
            job=job,
            directory=REPO / "samples" / "directory.csv",
            state_dir=state,
            options=EngineOptions(dry_run=dry_run),
            simulate=True,
            sim_overrides={"rate": None},
        )
        return await run_job(settings, display=PlainDisplay(io.StringIO()), out=io.StringIO())

    first = await run(dry_run=True)
    assert first.result.counts == {OpStatus.WOULD_CHANGE: 2}
    assert not state.exists()
    done = await run(dry_run=False)
    assert done.result.counts == {OpStatus.SUCCEEDED: 2}
    kept = (state / "simulator.json").read_bytes()
    again = await run(dry_run=True)
    assert again.result.counts == {OpStatus.ALREADY_PRESENT: 2}
    rows = _diff_rows(tmp_path / "state.preview" / "diff.csv")
    assert [r["noop"] for r in rows] == ["true", "true"]
    assert (state / "simulator.json").read_bytes() == kept  # the preview left it alone
