"""Validation by columns (``jobs.columns``) against the per-row path (``rules.check_row``).

The column checks may only ever take a row the per-row path accepts without a word, and must
build the very spec it builds; everything else falls back to the per-row path. So a job file
read with the column checks and one read row by row (the column checks switched off) give equal
specs and equal problems, row for row and word for word, on any file.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkops.jobs.checks import ExtensionRef, RowSpec
from bulkops.jobs.columns import plain_specs
from bulkops.jobs.conflicts import _keys, template_frame
from bulkops.jobs.jobfile import JobRows, load
from bulkops.jobs.plan import validate
from bulkops.jobs.specs import Coded
from bulkops.model import Action, SettingType, SubSettingType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_rows import SHAPES, write_rows_job

#: Per column: values that pass and values a hair off (case, spaces, look-alikes, spreadsheet
#: damage, impossible dates, out-of-range offsets, Unicode digits and spaces).
CELLS: dict[str, tuple[str, ...]] = {
    "action": ("add", "update", "delete", "", "Add", " add", "remove"),
    "setting_type": ("holiday_hours", "business_hours", "closed_hours", "", "holiday"),
    "sub_setting_type": (
        "holiday",
        "call_forwarding",
        "",
        "custom_hours",
        "call_handling",
        "Holiday",
    ),
    "extension_id": ("abc123", "id_1-2", "", "a/b", "x" * 65, "ab c", "é1", "a\nb"),
    "extension_number": ("", "1001", "1.2E+3", "0012", "12a", "١٢"),
    "email": ("", "a@b.co", "a b@c.de", "a@b", "ä@b.co", "a\u00a0b@c.de", "a@b.c@d"),
    "target": ("", "*", "site=London"),
    "name": ("", "Xmas", " ", "\u200b", "\u00a0", "Noël", "=SUM(A1)", "a\nb", "\u3000"),
    "from": (
        "",
        "2027-12-25",
        "2027-12-25T09:00:00Z",
        "2027-12-25 09:00",
        "2027-02-30",
        "25/12/2027",
        "2027-12-25T09:00+25:00",
        "0001-01-01T00:30+01:00",
        "9999-12-31",
        "2027-12-25T09:00:00+05:30",
        "２０２７-12-25",
    ),
    "to": ("", "2027-12-26", "2027-12-25", "2027-12-24", "2027-12-25T08:00:00Z", "2027-13-01"),
    "holiday_id": ("", "h1", "a/b", "%2e", "h 1"),
    "phone_number": ("", "+14155550123", "14155550123", "+1 415", "1.4E+10", "+١٢٣٤", "+0123"),
    "description": ("", "Desk", " "),
    "call_forwarding_id": ("", "f1", "../x"),
    "timezone": ("", "Europe/Berlin", "europe/berlin", "Mars/Base", "America/New_York"),
    "settings": ("", "  ", '{"type": 1}', "[1]", '{"name": "Xmas"}'),
    "hours": ("", "Mon-Fri 08:00-18:00"),
}
#: Rows of every plain shape, so that a mutated cell lands next to otherwise clean ones.
BASES: tuple[dict[str, str], ...] = (
    {"action": "add", "setting_type": "holiday_hours", "sub_setting_type": "holiday",
     "extension_id": "e1", "name": "Xmas", "from": "2027-12-25", "to": "2027-12-26"},
    {"action": "update", "setting_type": "holiday_hours", "extension_id": "e2",
     "holiday_id": "h1", "name": "Xmas", "from": "2027-12-25 09:00", "to": "2027-12-26"},
    {"action": "delete", "setting_type": "holiday_hours", "target": "*", "name": "Xmas",
     "from": "2027-12-25"},
    {"action": "delete", "setting_type": "holiday_hours", "email": "a@b.co", "holiday_id": "h9"},
    {"action": "add", "setting_type": "business_hours", "sub_setting_type": "call_forwarding",
     "extension_number": "1001", "phone_number": "+14155550123", "description": "Desk"},
    {"action": "delete", "setting_type": "closed_hours", "extension_id": "e3",
     "call_forwarding_id": "f1"},
    {"action": "delete", "setting_type": "business_hours", "extension_id": "e4",
     "phone_number": "+14155550123"},
)  # fmt: skip


@st.composite
def rows(draw: st.DrawFn) -> dict[str, str]:
    row = dict(draw(st.sampled_from(BASES)))
    for column in draw(st.lists(st.sampled_from(sorted(CELLS)), max_size=3)):
        row[column] = draw(st.sampled_from(CELLS[column]))
    return row


def write(path: Path, table: list[dict[str, str]]) -> Path:
    header = sorted({"action", "setting_type", "extension_id"} | {c for r in table for c in r})
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, header, restval="")
        writer.writeheader()
        writer.writerows(table)
    return path


def by_rows(path: Path, timezone: str | None = None) -> JobRows:
    """The job file read by the per-row path alone: the column checks take no row."""

    def nothing(frame: pd.DataFrame, tz: object) -> tuple[np.ndarray, list[object]]:
        return np.zeros(len(frame), dtype=bool), []

    with mock.patch("bulkops.jobs.jobfile.plain_specs", nothing):
        return load(path, timezone=timezone)


@given(table=st.lists(rows(), min_size=1, max_size=8), timezone=st.sampled_from(["", "Asia/Tokyo"]))
def test_columns_and_rows_accept_and_reject_the_same(
    tmp_path_factory: pytest.TempPathFactory, table: list[dict[str, str]], timezone: str
) -> None:
    path = write(tmp_path_factory.mktemp("job") / "job.csv", table)
    assert load(path, timezone=timezone or None) == by_rows(path, timezone or None)


@given(row=rows(), timezone=st.sampled_from([None, ZoneInfo("Asia/Tokyo")]))
def test_a_plain_row_is_one_the_rules_accept_silently_and_build_alike(
    row: dict[str, str], timezone: ZoneInfo | None
) -> None:
    from bulkops.jobs.rules import check_row

    cells = {column: row.get(column, "") for column in CELLS}
    frame = pd.DataFrame({c: [v] for c, v in cells.items()}, dtype="str", index=[2])
    plain, specs = plain_specs(frame, timezone)
    spec, problems = check_row(cells, file="job.csv", row=2, tz=timezone)
    if plain[0]:
        assert (specs, problems) == ([spec], [])
    else:
        assert specs == []


@pytest.mark.parametrize("shape", SHAPES)
def test_the_benchmark_shapes_are_all_plain(tmp_path: Path, shape: str) -> None:
    path = write_rows_job(tmp_path / "job.csv", 400, shape)
    frame = pd.read_csv(path, dtype="str", keep_default_na=False)
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    plain, specs = plain_specs(frame, None)
    assert plain.all() and len(specs) == 400
    assert load(path) == by_rows(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_mixed_file_keeps_row_order_and_every_message(tmp_path: Path, suffix: str) -> None:
    table = [
        dict(BASES[0]),
        {**BASES[4], "phone_number": "14155550123"},  # the leading '+' is missing
        {**BASES[1], "sub_setting_type": "holiday", "settings": '{"name": "Xmas"}'},
        dict(BASES[5]),
        {**BASES[2], "from": "2027-02-30"},
    ]
    path = write(tmp_path / "job.csv", table)
    if suffix == ".parquet":  # the same cells, as Parquet text columns
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        path = tmp_path / "job.parquet"
        frame.to_parquet(path, index=False)
    job = load(path)
    assert job == by_rows(path)
    assert [s.row for s in job.specs] == [2, 4, 5]
    assert [(p.row, p.column) for p in job.problems] == [(3, "phone_number"), (6, "from")]
    assert "the leading '+' is missing" in job.problems[0].reason


# --- conflicts by columns --------------------------------------------------------------------

#: Field values that stress the keys: absent, empty, separators inside values, look-alikes.
_KEY_TEXT = st.sampled_from([None, "", "h1", "id:h1", "a|b", "None", "Xmas", "2027-12-25"])


def _reference_keys(spec: RowSpec) -> tuple[str, str, str]:
    """The per-row keys ``conflicts`` spelled one spec at a time before it went by columns."""
    holiday = f"{spec.holiday_id or ''}|{spec.holiday_name or ''}"
    sub = spec.sub_setting_type
    if sub == SubSettingType.HOLIDAY:
        entity = (
            f"holiday|id:{spec.holiday_id}" if spec.holiday_id else f"holiday|{spec.holiday_name}"
        )
        when = spec.holiday_from or ""
    elif sub == SubSettingType.CALL_FORWARDING:
        number = f"id:{spec.call_forwarding_id}" if spec.call_forwarding_id else spec.phone_number
        entity = f"forwarding|{spec.setting_type}|{holiday}|{spec.holiday_from or ''}|{number}"
        when = ""
    else:
        entity = f"{sub}|{spec.setting_type}|{holiday}|{spec.holiday_from or ''}"
        when = ""
    body = orjson.dumps(spec.settings, option=orjson.OPT_SORT_KEYS).decode()
    sig = f"{spec.action}|{entity}|{when}|{spec.holiday_to}|{spec.phone_number}|{body}"
    return entity, when, sig


_SPECS = st.builds(
    RowSpec,
    row=st.integers(2, 9),
    action=st.sampled_from(Action),
    setting_type=st.sampled_from(SettingType),
    sub_setting_type=st.sampled_from(SubSettingType),
    settings=st.sampled_from([{}, {"name": "a|b"}, {"type": 1, "a": None}]),
    ref=st.just(ExtensionRef.EXTENSION_ID),
    ref_value=st.sampled_from(["e1", "e2"]),
    holiday_id=_KEY_TEXT,
    call_forwarding_id=_KEY_TEXT,
    holiday_name=_KEY_TEXT,
    holiday_from=_KEY_TEXT,
    holiday_to=_KEY_TEXT,
    phone_number=_KEY_TEXT,
)


@given(specs=st.lists(_SPECS, min_size=1, max_size=12))
def test_conflict_keys_by_columns_spell_what_each_row_spelled(specs: list[RowSpec]) -> None:
    entity, when, sig = _keys(template_frame(specs))
    expected = [_reference_keys(s) for s in specs]
    assert list(zip(entity.to_pylist(), when.to_pylist(), sig.to_pylist(), strict=True)) == expected


@given(table=st.lists(st.sampled_from(BASES), min_size=2, max_size=10))
def test_repeated_rows_are_flagged_by_row_with_the_words_of_the_rules(
    tmp_path_factory: pytest.TempPathFactory, table: list[dict[str, str]]
) -> None:
    """A file of plain rows, some repeated: each repeat is flagged against its first row."""
    path = write(tmp_path_factory.mktemp("job") / "job.csv", table)
    directory = tmp_path_factory.mktemp("dir") / "directory.csv"
    directory.write_text(
        "extension_id,extension_number,email\ne1,1001,a@b.co\ne2,1002,\ne3,1003,\ne4,1004,\n"
    )
    problems = [p for p in validate(path, directory=directory) if p.severity == "error"]
    flagged = {(p.row, p.reason.split(" on ")[0]) for p in problems}
    expected = set()
    for i, row in enumerate(table):
        first = table.index(row)
        if first < i:
            adds = row["action"] == "add"
            why = (
                f"adds the same item as row {first + 2} (adds are not idempotent)"
                if adds
                else f"repeats row {first + 2}"
            )
            expected.add((i + 2, why))
    assert expected <= flagged


# --- plans by columns ------------------------------------------------------------------------


def _planned(path: Path, directory: Path, timezone: str | None) -> tuple[object, ...]:
    """The plan frame (its categorical columns as categories and codes) and every problem."""
    from bulkops.jobs.plan import _prepare

    plan, problems = _prepare(path, directory, None, timezone)
    if plan is None:
        return (None, [str(p) for p in problems])
    frame = plan.frame
    shown = {
        name: (
            (list(frame[name].cat.categories), frame[name].cat.codes.tolist())
            if isinstance(frame[name].dtype, pd.CategoricalDtype)
            else (str(frame[name].dtype), frame[name].tolist())
        )
        for name in frame.columns
    }
    return (shown, plan.job_hash, [str(p) for p in problems])


@given(table=st.lists(rows(), min_size=1, max_size=8), timezone=st.sampled_from(["", "Asia/Tokyo"]))
def test_plans_from_columns_and_from_rows_are_the_same(
    tmp_path_factory: pytest.TempPathFactory, table: list[dict[str, str]], timezone: str
) -> None:
    """The plan's columns taken as codes from the column checks (``specs.Coded``) are the
    columns the per-row path's specs give: same categories in the same order, same codes."""
    path = write(tmp_path_factory.mktemp("job") / "job.csv", table)
    directory = tmp_path_factory.mktemp("dir") / "directory.csv"
    directory.write_text(
        "extension_id,extension_number,email,timezone\n"
        "e1,1001,a@b.co,Europe/Berlin\ne2,1002,,\ne3,1003,,America/New_York\ne4,1004,,\n"
    )

    def nothing(frame: pd.DataFrame, tz: object) -> tuple[np.ndarray, list[object]]:
        return np.zeros(len(frame), dtype=bool), []

    by_columns = _planned(path, directory, timezone or None)
    with mock.patch("bulkops.jobs.jobfile.plain_specs", nothing):
        assert by_columns == _planned(path, directory, timezone or None)


#: Every character orjson escapes, and neighbours it does not.
_JSON_EDGES = [chr(c) for c in range(0x21)] + ['"', "\\", "\x7f", "\u2028", "é", "/"]


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(
                st.one_of(st.sampled_from(_JSON_EDGES), st.characters(exclude_categories=["Cs"]))
            ),
        ),
        max_size=8,
    )
)
def test_cells_are_spelled_as_json_as_orjson_spells_them(values: list[str | None]) -> None:
    from bulkops.jobs.cells import _json

    held = np.empty(len(values), dtype=object)
    held[:] = values
    spelled = [orjson.dumps(v).decode() for v in values] + ["null"]
    none = np.zeros(0, dtype=np.int64)
    assert _json(Coded(none, held)).to_pylist() == spelled
    # The same values held as Arrow text (as the job's columns hold them): the same JSON.
    text = pa.array(values, pa.large_string())
    assert _json(Coded(none, held, text=text)).to_pylist() == spelled
    assert _json(Coded(none, None, text=text)).to_pylist() == spelled
