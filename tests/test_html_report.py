"""report.html: self-contained, escaped, and working in a real headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_report import build_state

from bulkops.jobs.plan import build_plan
from bulkops.model import OpStatus, Outcome
from bulkops.reports.results import write_all
from bulkops.state.checkpoint import Checkpoint

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAYLOAD = "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','1')\">"


def dump_dom(page: Path, profile: Path) -> str:
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=3000",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def html_tag(dom: str) -> str:
    match = re.search(r"<html[^>]*>", dom)
    assert match is not None
    return match.group(0)


async def _state_with_payload(tmp_path: Path) -> Path:
    state, job, directory = await build_state(tmp_path)
    plan = build_plan(job, directory=directory)
    cp = Checkpoint.open(state, job_hash=plan.job_hash, job_path=str(job))
    await cp.start()
    await cp.record_outcome(11, Outcome(status=OpStatus.FAILED, http_status=400, message=PAYLOAD))
    await cp.stop_writer()
    cp.close()
    return state


async def test_page_is_self_contained_and_escaped(tmp_path: Path) -> None:
    state = await _state_with_payload(tmp_path)
    page = write_all(state)["report.html"].read_text()
    assert PAYLOAD not in page and "&lt;img src=x onerror=" in page
    # Nothing is fetched: no external URL in any src/href, a CSP that forbids it anyway.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "default-src 'none'" in page
    assert page.count("<script>") == 2 and "<svg" in page
    assert 'id="count-failed">4<' in page


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium: apt-get install chromium")
async def test_page_runs_in_headless_chromium(tmp_path: Path) -> None:
    state = await _state_with_payload(tmp_path)
    page = write_all(state)["report.html"]
    dom = dump_dom(page, tmp_path / "profile")
    tag = html_tag(dom)
    assert 'data-report-ready="1"' in tag, tag
    assert "data-js-error" not in tag
    assert "data-pwned" not in tag  # the API's message stayed text
    assert 'id="count-succeeded">8<' in dom and 'id="count-not_run">1<' in dom
    assert 'id="count-failed">4<' in dom and 'id="count-skipped">1<' in dom
    # Failure groups, one per distinct error, each with its count.
    groups = re.findall(r'<details class="group"[^>]*><summary><span class="count">(\d+)', dom)
    assert sorted(int(n) for n in groups) == [1, 1, 1, 1, 1]
    assert "Extension does not exist: extD" in dom
    assert re.search(r'<span id="shown">15 row\(s\) shown</span>', dom)
    # Failures come first in the operations table.
    statuses = re.findall(r'<tr class="st-[a-z_]+" data-status="([a-z_]+)"', dom)
    assert statuses[:5] == ["failed", "failed", "skipped", "failed", "failed"]


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium: apt-get install chromium")
async def test_a_script_error_is_detected(tmp_path: Path) -> None:
    """The marker the tests rely on really appears when the page's script breaks."""
    state, _, _ = await build_state(tmp_path)
    page = write_all(state)["report.html"]
    broken = page.read_text().replace("input.addEventListener", "input.noSuchMethod")
    page.write_text(broken)
    tag = html_tag(dump_dom(page, tmp_path / "profile"))
    assert "data-js-error" in tag and "data-report-ready" not in tag
