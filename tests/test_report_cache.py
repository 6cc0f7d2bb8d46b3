"""The report cache (``reports.layers``) against a pass over the whole state: on generated state
histories, reports assembled from layers refreshed at random points are byte for byte the
reports written from scratch (``write_all(full=True)``, the code path without a cache)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkops.jobs.plan import build_plan
from bulkops.model import OpStatus, Outcome
from bulkops.reports import assemble, layers, render, resultrows
from bulkops.reports.layers import refresh
from bulkops.reports.manifest import CACHE_DIR, MANIFEST, cache_dir, cache_mark
from bulkops.reports.results import REPORT_FILES, write_all
from bulkops.state.checkpoint import Attempt, Checkpoint
from bulkops.state.reader import StateReader, connect_readonly, open_readonly
from bulkops.state.schema import DB_NAME

HEADER = (
    "action,setting_type,sub_setting_type,extension_id,target,name,from,to,holiday_id,"
    "phone_number,description,call_forwarding_id,settings\n"
)
# One extension's possible rows ({e}: its id); each extension gets a random choice of them.
ROWS = (
    "add,holiday_hours,holiday,{e},,Xmas,2027-12-25,2027-12-25,,,,,",
    "add,business_hours,call_forwarding,{e},,,,,,+14155550100,Desk,,",
    'update,business_hours,custom_hours,{e},,,,,,,,,"{{""type"": 1}}"',
    "update,holiday_hours,holiday,{e},,New Name,2027-07-04,2027-07-04,HOL{e},,,,",
    "delete,business_hours,call_forwarding,{e},,,,,,,,FW{e},",
    'update,business_hours,call_handling,{e},,,,,,,,,"{{""call_not_answer_action"": 11}}"',
    'update,business_hours,call_forwarding,{e},,,,,,,=HYPERLINK(x),FX{e},"{{""enable"": false}}"',
    "add,holiday_hours,holiday,{e},,=SUM(A1),2027-01-01,2027-01-01,,,,,",
    'update,closed_hours,call_handling,{e},,,,,,,,,"{{""call_not_answer_action"": 1}}"',
    "delete,holiday_hours,holiday,{e},,Old,,,,,,,",
    "add,holiday_hours,call_forwarding,{e},,Xmas,2027-12-25,,,+14155550111,,,",
)
MESSAGES = ("plain", "a, comma", 'a "quote"', "=HYPERLINK(1)", "tab\there", "x" * 600)
FINAL = (OpStatus.SUCCEEDED, OpStatus.FAILED, OpStatus.SKIPPED, OpStatus.ALREADY_PRESENT)


def _snapshot(e: str) -> dict[str, Any]:
    entry = {"id": f"FW{e}", "description": "old", "enable": True, "phone_number": "+441234567"}
    other = {"id": f"FX{e}", "description": "desk", "enable": True, "phone_number": "+4498765"}
    span = {"name": "Old", "from": "2026-05-01T00:00:00Z", "to": "2026-05-01T23:59:00Z"}
    renamed = {"name": "Old Name", "from": "2026-07-04T00:00:00Z", "to": "2026-07-04T23:59:00Z"}
    return {
        "business_hours": [
            {"sub_setting_type": "call_handling", "settings": {"call_not_answer_action": 1}},
            {
                "sub_setting_type": "custom_hours",
                "settings": {"type": 2, "custom_hours_settings": [{"weekday": 1, "type": 0}]},
            },
            {
                "sub_setting_type": "call_forwarding",
                "settings": {"call_forwarding_settings": [entry, other]},
            },
        ],
        "closed_hours": [],
        "holiday_hours": [
            {
                "holiday_id": f"OLD{e}",
                "details": [{"sub_setting_type": "holiday", "settings": span}],
            },
            {
                "holiday_id": f"HOL{e}",
                "details": [{"sub_setting_type": "holiday", "settings": renamed}],
            },
        ],
    }


def _outcome(rng: random.Random, seq: int, action: str, bad_ids: bool) -> Outcome:
    status = rng.choice(FINAL)
    message = f"{rng.choice(MESSAGES)} {seq}"
    if status is OpStatus.FAILED:
        return Outcome(status, http_status=409, zoom_code=300, message=message)
    if status is OpStatus.SKIPPED:
        return Outcome(status, message="skipped: its extension failed")
    if status is OpStatus.ALREADY_PRESENT:
        return Outcome(status, target_id=f"HAD{seq}")
    created = f"bad id {seq}" if bad_ids and rng.random() < 0.2 else f"N{seq}"
    if action == "add":
        return Outcome(status, http_status=201, created_id=created, target_id=created)
    return Outcome(status, http_status=204, latency_ms=rng.random() * 100)


class _History:
    """A run's checkpoint changed step by step: outcomes, snapshots, retries, reconciles."""

    def __init__(self, tmp: Path, rng: random.Random, *, extensions: int, bad_ids: bool) -> None:
        self.rng, self.bad_ids = rng, bad_ids
        names = [f"e{i:02d}" for i in range(extensions)]
        rows = [r.format(e=e) for e in names for r in ROWS if rng.random() < 0.5]
        job = tmp / "job.csv"
        job.write_text(HEADER + "\n".join(rows) + "\n")
        directory = tmp / "dir.csv"
        directory.write_text(
            "extension_id,extension_number,name,site\n"
            + "".join(f"{e},{100 + i},Person {i},Paris\n" for i, e in enumerate(names))
        )
        self.plan = build_plan(job, directory=directory)
        self.state = tmp / "state"
        self.cp = Checkpoint.open(self.state, job_hash=self.plan.job_hash, job_path=str(job))
        self.cp.load_plan(self.plan.frame)
        frame = self.plan.frame
        self.ops = list(
            zip(
                frame["seq"].tolist(),
                frame["action"].astype(str).tolist(),
                frame["extension_id"].astype(str).tolist(),
                strict=True,
            )
        )
        self.snapped: set[str] = set()

    async def step(self) -> None:
        """Some operations of a few extensions finish (or are left in flight), snapshots first."""
        rng = self.rng
        await self.cp.start()
        for seq, action, extension_id in rng.sample(
            self.ops, k=min(len(self.ops), rng.randint(1, 12))
        ):
            if extension_id not in self.snapped and rng.random() < 0.7:
                self.snapped.add(extension_id)
                await self.cp.record_snapshot(extension_id, _snapshot(extension_id))
            at = 1.8e9 + seq + rng.random()
            outcome = _outcome(rng, seq, action, self.bad_ids)
            await self.cp.record_intent(seq, at=at, target_id=outcome.target_id)
            self.cp.queue_attempt(Attempt(at, seq, "POST", outcome.http_status, "ok", 30.0))
            if rng.random() < 0.9:  # else in flight: the next step may reconcile it
                await self.cp.record_outcome(seq, outcome)
        await self.cp.stop_writer()
        if rng.random() < 0.15:
            self.cp.reset_failed()
        if rng.random() < 0.1:
            await self.cp.start()
            await self.cp.mark_not_run()
            await self.cp.stop_writer()


def _refresh(state: Path) -> None:
    """What the run's refresher does: one new layer, as the lock holder."""
    with StateReader(connect_readonly(state / DB_NAME)) as reader:
        reader.hold_one_moment()
        refresh(reader, state, pause=lambda: None)


def _prune(history: _History) -> int:
    """What a run does before its engine starts: cut the log up to the cache's newest mark."""
    mark = cache_mark(history.cp.reader, history.state)
    return 0 if mark is None else history.cp.prune_change_log(mark)


def _same_reports(
    cached: dict[str, Path], full: dict[str, Path], names: tuple[str, ...] = REPORT_FILES
) -> None:
    for name in names:
        a, b = cached[name].read_bytes(), full[name].read_bytes()
        if name == "summary.json":
            one, two = orjson.loads(a), orjson.loads(b)
            for summary in (one, two):
                summary.pop("files")
                summary.pop("generated_at")
            assert one == two
        elif name == "report.html":
            out_a, out_b = str(cached[name].parent), str(full[name].parent)
            assert _unstamped(a.decode().replace(out_a, "OUT")) == _unstamped(
                b.decode().replace(out_b, "OUT")
            )
        else:
            assert a == b, name


def _unstamped(page: str) -> str:
    start = page.index("<p>Generated ")
    return page[:start] + page[page.index(" from ", start) :]


@pytest.mark.parametrize("seed", range(8))
async def test_reports_from_refreshed_layers_are_the_reports_of_a_full_pass(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    monkeypatch.setattr(layers, "MAX_LAYERS", rng.choice((2, 3, 6)))  # merged now and then
    if seed % 2:  # many chunks and layer batches: the seq ranges, the spools, the row groups
        chunk = rng.randint(3, 9)
        monkeypatch.setattr(resultrows, "CHUNK", chunk)  # a pass over the state: the same
        monkeypatch.setattr(assemble, "CHUNK", chunk)
        monkeypatch.setattr(render, "RENDER_CHUNK", rng.randint(2, 6))
    history = _History(tmp_path, rng, extensions=rng.randint(3, 14), bad_ids=seed % 3 == 0)
    try:
        for step in range(rng.randint(3, 9)):
            await history.step()
            if rng.random() < 0.6:
                _refresh(history.state)
            if rng.random() < 0.3:  # a run starting: the log the cache no longer needs goes
                _prune(history)
            if step == 1:  # `bulkops report` mid-run: cache plus what changed, in memory
                mid = write_all(history.state, out_dir=tmp_path / f"mid{step}")
                _same_reports(
                    mid, write_all(history.state, out_dir=tmp_path / f"midfull{step}", full=True)
                )
        cached = write_all(history.state, out_dir=tmp_path / "cached", keep_cache=True)
    finally:
        history.cp.close()
    full = write_all(history.state, out_dir=tmp_path / "full", full=True)
    _same_reports(cached, full)
    # After the run: a fresh cache, nothing to render, the same files again.
    again = write_all(history.state, out_dir=tmp_path / "again")
    _same_reports(again, full)


async def test_a_damaged_or_foreign_cache_is_never_used(tmp_path: Path) -> None:
    history = _History(tmp_path, random.Random(3), extensions=5, bad_ids=False)
    try:
        await history.step()
        _refresh(history.state)
        await history.step()
        _refresh(history.state)
    finally:
        history.cp.close()
    full = write_all(history.state, out_dir=tmp_path / "full", full=True)
    directory = cache_dir(history.state)
    manifest = orjson.loads((directory / MANIFEST).read_bytes())
    assert len(manifest["layers"]) == 2
    # A manifest that lost its first layer: rows are missing, the files come from the state.
    (directory / MANIFEST).write_bytes(orjson.dumps({**manifest, "layers": manifest["layers"][1:]}))
    _same_reports(write_all(history.state, out_dir=tmp_path / "short"), full)
    (directory / MANIFEST).write_bytes(orjson.dumps(manifest))
    # A layer file cut short: the reports come from the state.
    layer = next(directory.glob("*.layer.arrow"))
    layer.write_bytes(layer.read_bytes()[:100])
    _same_reports(write_all(history.state, out_dir=tmp_path / "cut"), full)
    # Another checkpoint's key: not used either.
    manifest["key"]["created_at"] = "0"
    (directory / MANIFEST).write_bytes(orjson.dumps(manifest))
    _same_reports(write_all(history.state, out_dir=tmp_path / "foreign"), full)
    # No cache directory at all, and a report that is not the lock holder's makes none.
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()
    _same_reports(write_all(history.state, out_dir=tmp_path / "none"), full)
    assert not (history.state / CACHE_DIR).exists()


async def test_the_change_log_names_each_written_extension(tmp_path: Path) -> None:
    history = _History(tmp_path, random.Random(5), extensions=6, bad_ids=False)
    try:
        with open_readonly(history.state) as reader:
            mark = reader.change_mark()
        assert mark == 0  # storing the plan logs nothing
        seq, _, extension_id = history.ops[0]
        await history.cp.start()
        await history.cp.record_outcome(seq, Outcome(OpStatus.SUCCEEDED))
        await history.cp.record_snapshot("e99", {"business_hours": []})
        await history.cp.stop_writer()
        with open_readonly(history.state) as reader:
            changed = reader.changed_since(0)
            assert changed is not None and sorted(changed) == sorted({extension_id, "e99"})
            later = reader.change_mark()
            assert later is not None and later > 0
            assert reader.changed_since(later) == []
    finally:
        history.cp.close()


async def test_a_cut_change_log_keeps_its_numbering_and_refuses_older_caches(
    tmp_path: Path,
) -> None:
    history = _History(tmp_path, random.Random(11), extensions=8, bad_ids=False)
    try:
        await history.step()
        _refresh(history.state)
        older = orjson.loads((cache_dir(history.state) / MANIFEST).read_bytes())
        await history.step()
        await history.step()
        _refresh(history.state)
        with open_readonly(history.state) as reader:
            top = reader.change_mark()
        newest = cache_mark(history.cp.reader, history.state)
        assert newest == top and newest is not None and newest > older["layers"][-1]["mark"]
        assert _prune(history) > 0
        assert _prune(history) == 0  # nothing more to cut until the cache moves on
        with open_readonly(history.state) as reader:
            assert reader.change_mark() == top  # the newest entry stays: numbering goes on
            assert reader.changed_since(newest) == []
            assert reader.changed_since(older["layers"][-1]["mark"]) is None
        await history.step()
        with open_readonly(history.state) as reader:
            after = reader.change_mark()
            changed = reader.changed_since(newest)
        assert (
            after is not None and top is not None and after > top and changed
        )  # new entries number after it
        # `bulkops report` with the cache as it is: cache plus what changed since, in memory.
        _same_reports(
            write_all(history.state, out_dir=tmp_path / "mid"),
            write_all(history.state, out_dir=tmp_path / "midfull", full=True),
        )
        # A manifest from before the cut (its log is gone): the state, never a wrong file;
        # the lock holder's next refresh renders everything again.
        kept = cache_dir(history.state) / f"{older['layers'][0]['name']}.layer.arrow"
        assert kept.is_file()  # still listed by the newer manifest: only the log is missing
        (cache_dir(history.state) / MANIFEST).write_bytes(orjson.dumps(older))
        _same_reports(
            write_all(history.state, out_dir=tmp_path / "old"),
            write_all(history.state, out_dir=tmp_path / "oldfull", full=True),
        )
        _refresh(history.state)
        renewed = orjson.loads((cache_dir(history.state) / MANIFEST).read_bytes())
        assert [layer["rows"] for layer in renewed["layers"]] == [len(history.ops)]
    finally:
        history.cp.close()
