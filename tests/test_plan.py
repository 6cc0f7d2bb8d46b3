"""Plans: expansion, ids, order, duplicates and contradictions, summary, output."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from bulkops.errors import ConfigError, JobFileError
from bulkops.jobs.expand import PLAN_COLUMNS
from bulkops.jobs.plan import (
    build_plan,
    format_duration,
    format_summary,
    operation_from_record,
    validate,
    write_plan,
)
from bulkops.model import Action, Operation, SubSettingType

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "directory.csv"
DIRECTORY = """extension_id,extension_number,name,email,type,site
id1,101,Ann,ann@example.com,user,New York
id2,102,Queue NY,,call_queue,New York
id3,201,Bob,bob@example.com,user,London
id4,202,Queue LDN,,call_queue,London
"""
HEADER = [
    "action",
    "setting_type",
    "sub_setting_type",
    "extension_id",
    "target",
    "name",
    "from",
    "to",
    "holiday_id",
    "phone_number",
    "settings",
]


def job(tmp_path: Path, *rows: dict[str, str], name: str = "job.csv") -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER)
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / name
    path.write_text(out.getvalue())
    return path


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "directory.csv"
    path.write_text(DIRECTORY)
    return path


def holiday(
    target: str = "*", name: str = "Xmas", start: str = "2027-12-25", action: str = "add"
) -> dict[str, str]:
    cells = {
        "action": action,
        "setting_type": "holiday_hours",
        "sub_setting_type": "holiday",
        "name": name,
        "from": start,
    }
    if action != "delete":
        cells["to"] = start
    if target.startswith("id"):
        cells["extension_id"] = target
    else:
        cells["target"] = target
    return cells


def test_contract_columns_and_order(tmp_path: Path, directory: Path) -> None:
    path = job(
        tmp_path,
        holiday("type=call_queue", "A"),
        holiday("id3", "B"),
        holiday("*", "C"),
    )
    plan = build_plan(path, directory=directory)
    frame = plan.frame
    assert tuple(frame.columns) == PLAN_COLUMNS
    assert list(frame["seq"]) == list(range(len(frame)))
    assert list(zip(frame["row"], frame["extension_id"], strict=True)) == [
        (2, "id2"),
        (2, "id4"),
        (3, "id3"),
        (4, "id1"),
        (4, "id2"),
        (4, "id3"),
        (4, "id4"),
    ]
    assert list(frame["extension_number"].astype(str)) == [
        "102",
        "202",
        "201",
        "101",
        "102",
        "201",
        "202",
    ]
    assert frame["op_id"].str.fullmatch(r"[0-9a-f]{16}").all() and frame["op_id"].is_unique
    assert plan.source == str(path) and plan.directory == str(directory) and plan.warnings == ()
    assert re.fullmatch(r"[0-9a-f]{64}", plan.job_hash)


def test_times_spelled_two_ways_make_one_body_and_one_category(tmp_path: Path) -> None:
    # "2027-12-25" and "2027-12-25 00:00" are one instant: the two adds send the same body, and
    # the plan's settings column has it once among its categories (they are taken as distinct).
    rows = [holiday("id1", start="2027-12-25"), holiday("id2", start="2027-12-25 00:00")]
    rows[1]["to"] = "2027-12-25"
    plan = build_plan(job(tmp_path, *rows))
    settings = plan.frame["settings"]
    assert settings.cat.categories.is_unique
    assert settings.iloc[0] == settings.iloc[1]
    assert plan.frame["holiday_from"].cat.categories.is_unique


def test_ids_are_stable_and_depend_on_content(tmp_path: Path, directory: Path) -> None:
    first = build_plan(job(tmp_path, holiday("*"), name="a.csv"), directory=directory)
    again = build_plan(job(tmp_path, holiday("*"), name="b.csv"), directory=directory)
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert first.job_hash == again.job_hash
    other = build_plan(job(tmp_path, holiday("*", "Christmas"), name="c.csv"), directory=directory)
    assert not set(other.frame["op_id"]) & set(first.frame["op_id"])
    path = job(tmp_path, holiday("*"), name="d.csv")
    shifted = build_plan(path, directory=directory, timezone="Europe/Berlin")
    assert shifted.job_hash != first.job_hash
    assert set(shifted.frame["holiday_from"].astype(str)) == {"2027-12-24T23:00:00Z"}


def test_operations_round_trip(tmp_path: Path, directory: Path) -> None:
    update = {
        "action": "update",
        "setting_type": "holiday_hours",
        "sub_setting_type": "call_handling",
        "extension_id": "id1",
        "name": "Xmas",
        "settings": '{"call_not_answer_action": 11}',
    }
    plan = build_plan(job(tmp_path, holiday("id1"), update), directory=directory)
    ops = list(plan.iter_operations())
    assert [op.seq for op in ops] == [0, 1]
    assert ops[0] == Operation(
        seq=0,
        op_id=ops[0].op_id,
        row=2,
        action=Action.ADD,
        extension_id="id1",
        setting_type=ops[0].setting_type,
        sub_setting_type=SubSettingType.HOLIDAY,
        settings={"name": "Xmas", "from": "2027-12-25T00:00:00Z", "to": "2027-12-25T23:59:59Z"},
        holiday_name="Xmas",
        holiday_from="2027-12-25T00:00:00Z",
        holiday_to="2027-12-25T23:59:59Z",
        extension_number="101",
        extension_name="Ann",
    )
    assert not ops[0].needs_lookup and ops[1].needs_lookup
    assert ops[1].settings == {"call_not_answer_action": 11} and ops[1].holiday_name == "Xmas"
    assert list(plan.iter_operations(start=1)) == ops[1:]
    assert operation_from_record(plan.frame.iloc[1].to_dict()) == ops[1]


def test_iter_operations_crosses_chunks(tmp_path: Path) -> None:
    directory = tmp_path / "big.csv"
    directory.write_text("extension_id\n" + "".join(f"e{i}\n" for i in range(5000)))
    plan = build_plan(job(tmp_path, holiday("*")), directory=directory)
    assert [op.seq for op in plan.iter_operations()] == list(range(5000))


def test_summary(tmp_path: Path, directory: Path) -> None:
    delete = holiday("*", "Old", "2026-12-25", action="delete")
    forwarding = {
        "action": "add",
        "setting_type": "closed_hours",
        "sub_setting_type": "call_forwarding",
        "extension_id": "id1",
        "phone_number": "+12125550100",
    }
    plan = build_plan(job(tmp_path, holiday("type=user"), delete, forwarding), directory=directory)
    summary = plan.summary(rate=2.0)
    assert sorted(summary.counts) == sorted(
        [
            ("add", "holiday_hours", "holiday", 2),
            ("delete", "holiday_hours", "holiday", 4),
            ("add", "closed_hours", "call_forwarding", 1),
        ]
    )
    assert (summary.operations, summary.extensions, summary.lookups) == (7, 4, 4)
    assert summary.requests == 11 and summary.eta_seconds == 5.5
    text = format_summary(summary)
    assert "4 extensions" in text and "11 requests at 2/s ≈ 6 seconds" in text
    assert "call_forwarding" in text


def test_summary_counts_the_reads_the_engine_makes(tmp_path: Path, directory: Path) -> None:
    plan = build_plan(job(tmp_path, holiday("*")), directory=directory)
    checked = plan.summary(rate=4.0)
    assert checked.lookups == checked.extensions == 4  # one read per extension before its adds
    trusted = plan.summary(rate=4.0, precheck=False)
    assert trusted.lookups == 0 and trusted.requests == trusted.operations == 4


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(0.2, "1 second", id="tiny"),
        pytest.param(45, "45 seconds", id="seconds"),
        pytest.param(1560, "26 minutes", id="minutes"),
        pytest.param(3 * 3600, "3.0 hours", id="hours"),
        pytest.param(float("inf"), "forever", id="no-rate"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_plan(tmp_path: Path, directory: Path, suffix: str) -> None:
    plan = build_plan(job(tmp_path, holiday("*")), directory=directory)
    out = tmp_path / f"plan{suffix}"
    write_plan(plan, out)
    back = (
        pd.read_csv(out, dtype=str, keep_default_na=False)
        if suffix == ".csv"
        else pd.read_parquet(out)
    )
    assert tuple(back.columns) == PLAN_COLUMNS
    assert list(back["op_id"]) == list(plan.frame["op_id"])
    assert list(back["settings"].astype(str)) == list(plan.frame["settings"].astype(str))


def test_write_plan_rejects_unknown_suffix(tmp_path: Path, directory: Path) -> None:
    plan = build_plan(job(tmp_path, holiday("*")), directory=directory)
    with pytest.raises(ConfigError, match=r"csv or \.parquet"):
        write_plan(plan, tmp_path / "plan.xlsx")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_plan_replaces_atomically_with_mode_0600(
    tmp_path: Path, directory: Path, suffix: str
) -> None:
    plan = build_plan(job(tmp_path, holiday("*")), directory=directory)
    out = tmp_path / f"plan{suffix}"
    out.write_text("an older plan")
    out.chmod(0o644)
    write_plan(plan, out)
    assert out.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["directory.csv", "job.csv", f"plan{suffix}"]
    ), "no temporary file left behind"


def test_write_plan_csv_neutralises_formulas(tmp_path: Path) -> None:
    directory = tmp_path / "directory.csv"
    directory.write_text(
        "extension_id,extension_number,name\n"
        'id1,101,"=HYPERLINK(""http://evil.example"",""x"")"\n'
        "id2,102,@SUM(A1)\n"
        "id3,103,Plain Name\n"
    )
    plan = build_plan(job(tmp_path, holiday("*", name="=1+1")), directory=directory)
    csv_out, parquet_out = tmp_path / "plan.csv", tmp_path / "plan.parquet"
    write_plan(plan, csv_out)
    write_plan(plan, parquet_out)
    back = pd.read_csv(csv_out, dtype=str, keep_default_na=False)
    assert list(back["extension_name"]) == [
        '\'=HYPERLINK("http://evil.example","x")',
        "'@SUM(A1)",
        "Plain Name",
    ]
    assert set(back["holiday_name"]) == {"'=1+1"}
    raw = pd.read_parquet(parquet_out)  # Parquet keeps the values as they are, like the reports
    assert list(raw["extension_name"].astype(str))[1:] == ["@SUM(A1)", "Plain Name"]
    assert set(raw["holiday_name"].astype(str)) == {"=1+1"}


def test_write_plan_into_a_missing_directory_is_a_config_error(
    tmp_path: Path, directory: Path
) -> None:
    plan = build_plan(job(tmp_path, holiday("*")), directory=directory)
    with pytest.raises(ConfigError, match="cannot write --out"):
        write_plan(plan, tmp_path / "no" / "such" / "plan.csv")


def errors(path: Path, directory: Path | None) -> list[tuple[int | None, str]]:
    return [(p.row, p.reason) for p in validate(path, directory=directory) if p.severity == "error"]


def test_selector_and_explicit_row_adding_the_same_holiday(tmp_path: Path, directory: Path) -> None:
    found = errors(job(tmp_path, holiday("site=London"), holiday("id3")), directory)
    assert len(found) == 1
    assert (
        found[0][0] == 3
        and "same item as row 2" in found[0][1]
        and "1 extension(s), e.g. id3" in found[0][1]
    )


def test_repeated_update_is_a_duplicate(tmp_path: Path, directory: Path) -> None:
    update = {
        "action": "update",
        "setting_type": "business_hours",
        "sub_setting_type": "custom_hours",
        "target": "*",
        "settings": '{"type": 1}',
    }
    found = errors(job(tmp_path, update, update), directory)
    assert [(row, "repeats row 2" in reason) for row, reason in found] == [(3, True)]


def test_different_updates_of_one_item_conflict(tmp_path: Path, directory: Path) -> None:
    one = {
        "action": "update",
        "setting_type": "business_hours",
        "sub_setting_type": "custom_hours",
        "target": "type=user",
        "settings": '{"type": 1}',
    }
    two = {
        **one,
        "target": "site=London",
        "settings": '{"type": 2, "custom_hours_settings": [{"weekday": 2, "type": 1}]}',
    }
    found = errors(job(tmp_path, one, two), directory)
    assert len(found) == 1 and found[0][0] == 3
    assert "merge the rows" in found[0][1] and "e.g. id3" in found[0][1]


@pytest.mark.parametrize(
    ("delete_from", "conflict"),
    [
        pytest.param("2027-12-25", True, id="same-from"),
        pytest.param("", True, id="any-from"),
        pytest.param("2026-12-25", False, id="last-year"),
    ],
)
def test_add_and_delete_of_one_holiday(
    tmp_path: Path, directory: Path, delete_from: str, conflict: bool
) -> None:
    delete = holiday("*", "Xmas", delete_from, action="delete")
    found = errors(job(tmp_path, delete, holiday("id1")), directory)
    assert bool(found) == conflict
    if conflict:
        assert found[0][0] == 3 and "adds and deletes" in found[0][1]


def test_different_holidays_are_no_conflict(tmp_path: Path, directory: Path) -> None:
    assert (
        errors(
            job(tmp_path, holiday("*", "A"), holiday("id1", "B"), holiday("*", "A", "2028-12-25")),
            directory,
        )
        == []
    )


def test_build_plan_raises_with_every_problem(tmp_path: Path, directory: Path) -> None:
    bad = {**holiday("id1"), "action": "remove"}
    path = job(tmp_path, bad, holiday("site=Mars"), holiday("id1"), holiday("id1"))
    with pytest.raises(JobFileError) as caught:
        build_plan(path, directory=directory)
    rows = [p.row for p in caught.value.problems if p.severity == "error"]
    assert rows == [2, 3, 5]
    assert "3 problem(s)" in str(caught.value)


def test_directory_problems_are_reported_with_the_jobs(tmp_path: Path) -> None:
    broken = tmp_path / "dir.csv"
    broken.write_text("extension_id\na/b\n")
    path = job(tmp_path, holiday("*"), {**holiday("id1"), "action": "oops"})
    problems = validate(path, directory=broken)
    assert [(p.file, p.row) for p in problems] == [(str(broken), 2), (str(path), 3)]


def test_job_hash_covers_the_directory(tmp_path: Path, directory: Path) -> None:
    path = job(tmp_path, holiday("id1"))
    other = tmp_path / "other.csv"
    other.write_text(DIRECTORY + "id9,901,Zed,,user,Berlin\n")
    assert (
        build_plan(path, directory=directory).job_hash != build_plan(path, directory=other).job_hash
    )
    assert build_plan(path).job_hash != build_plan(path, directory=directory).job_hash


@pytest.mark.parametrize(
    "name",
    ["holiday-rollout.csv", "holiday-rollout-all.csv", "migration.csv", "cleanup.csv"],
)
def test_shipped_jobs_validate_against_the_sample_directory(name: str) -> None:
    path = REPO / "jobs" / name
    assert validate(path, directory=SAMPLE) == []
    plan = build_plan(path, directory=SAMPLE)
    assert len(plan) > 0
    if name == "holiday-rollout.csv":
        assert 100 <= len(plan) <= 200


def test_planning_sets_malloc_to_reuse_freed_memory_then_back_and_trims(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bulkops.jobs import plan as planning

    calls: list[tuple[str, tuple[int, ...]]] = []

    def libc(name: str) -> object:
        return lambda *args: calls.append((name, args))

    monkeypatch.setattr(planning, "_libc_function", libc)
    build_plan(job(tmp_path, holiday("id1")))
    assert calls == [
        ("mallopt", (planning._M_MMAP_THRESHOLD, 32 * 2**20)),
        ("mallopt", (planning._M_TRIM_THRESHOLD, 64 * 2**20)),
        ("mallopt", (planning._M_MMAP_THRESHOLD, 128 * 1024)),  # glibc's start values again
        ("mallopt", (planning._M_TRIM_THRESHOLD, 128 * 1024)),
        ("malloc_trim", (0,)),
    ]
    # Where the C library has neither (not glibc), planning goes on without them.
    monkeypatch.setattr(planning, "_libc_function", lambda name: None)
    assert len(build_plan(job(tmp_path, holiday("id2"), name="other.csv"))) == 1


def test_the_c_library_s_functions_are_found_or_none() -> None:
    from bulkops.jobs.plan import _libc_function

    assert _libc_function("no_such_function_in_any_libc") is None
    assert _libc_function("malloc") is not None  # every C library has it
