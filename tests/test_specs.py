"""Specs: a job's rows as columns that still read as a sequence of RowSpec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkops.jobs.checks import ExtensionRef, RowSpec
from bulkops.jobs.jobfile import load
from bulkops.jobs.specs import Coded, Specs
from bulkops.model import Action, SettingType, SubSettingType

HEADER = "action,setting_type,sub_setting_type,extension_id,name,from,to,settings\n"


def _spec(row: int, name: str) -> RowSpec:
    return RowSpec(
        row,
        Action.ADD,
        SettingType.HOLIDAY_HOURS,
        SubSettingType.HOLIDAY,
        {"name": name, "from": "2027-01-01T00:00:00Z", "to": "2027-01-02T00:00:00Z"},
        ExtensionRef.EXTENSION_ID,
        "e1",
        holiday_name=name,
    )


def test_built_specs_read_back_as_the_same_objects_and_compare_as_a_list() -> None:
    built = [_spec(2, "A"), _spec(3, "B"), _spec(4, "C")]
    specs = Specs.of(built)
    assert Specs.of(specs) is specs
    assert len(specs) == 3 and specs[0] is built[0] and specs[-1] is built[2]
    assert specs[1:] == built[1:]
    assert specs == built and specs != built[:2] and specs != [_spec(2, "A")] * 3
    assert (specs == 3) is False
    assert "holiday_name='B'" in repr(specs)
    with pytest.raises(IndexError):
        specs[3]


def test_merged_parts_keep_their_places() -> None:
    first, second = Specs.of([_spec(2, "A"), _spec(4, "C")]), Specs.of([_spec(3, "B")])
    merged = Specs.merge(3, [(np.array([0, 2]), first), (np.array([1]), second)])
    assert [s.holiday_name for s in merged] == ["A", "B", "C"]
    assert list(merged.columns["row"]) == [2, 3, 4]


def test_plain_rows_are_made_on_demand_next_to_the_rows_the_rules_built(tmp_path: Path) -> None:
    path = tmp_path / "job.csv"
    path.write_text(
        HEADER
        + "add,holiday_hours,holiday,e1,New Year,2027-01-01,2027-01-01,\n"
        + 'update,business_hours,custom_hours,e2,,,,"{""type"": 1}"\n'
        + "add,holiday_hours,holiday,e3,Xmas,2027-12-25,2027-12-25,\n"
    )
    job = load(path)
    assert job.problems == []
    assert list(job.specs.built) == [1]  # only the settings row was built by the rules
    first, middle, last = job.specs
    assert (first.row, middle.row, last.row) == (2, 3, 4)
    assert first.settings == {
        "name": "New Year",
        "from": "2027-01-01T00:00:00Z",
        "to": "2027-01-01T23:59:59Z",
    }
    assert first.naive == (("from", "2027-01-01"), ("to", "2027-01-01"))
    assert middle.settings == {"type": 1} and last.ref_value == "e3"


@given(
    values=st.lists(st.sampled_from(["a", "b", "", None, "a"]), max_size=5),
    picks=st.lists(st.integers(-1, 4), max_size=12),
)
def test_coded_columns_read_and_factorize_as_their_arrays_do(
    values: list[str | None], picks: list[int]
) -> None:
    """A column held as codes (duplicates and None among its values, -1 for None) reads as the
    array of its cells, and its canonical codes are what ``pd.factorize`` gives that array."""
    held = np.empty(len(values), dtype=object)
    held[:] = values
    codes = np.array([p if p < len(values) else -1 for p in picks], dtype=np.int64)
    coded = Coded(codes, held)
    cells = [None if c < 0 else values[c] for c in codes.tolist()]
    assert coded.array().tolist() == cells
    expected_codes, expected_values = pd.factorize(np.array(cells, dtype=object))
    canonical = coded.canonical()
    assert canonical.codes.tolist() == expected_codes.tolist()
    assert canonical.values.tolist() == list(expected_values)
    assert Coded.of(coded.array()).array().tolist() == cells
    # Values known distinct (a factorization's) are numbered without hashing: the same codes.
    assert Coded.of(held).distinct and canonical.distinct
    distinct = np.array([None, *Coded.of(held).values], dtype=object)  # None once, as Cells has it
    picked = np.array([p if p < len(distinct) else -1 for p in picks], dtype=np.int64)
    hashed = Coded(picked, distinct).canonical()
    numbered = Coded(picked, distinct, True).canonical()
    assert numbered.codes.tolist() == hashed.codes.tolist()
    assert numbered.values.tolist() == hashed.values.tolist()
    # Values held only as Arrow text (a job's columns, the bodies): made when asked, the same.
    lazy = Coded(codes, None, False, pa.array(values, pa.large_string()))
    assert lazy.count() == len(values) and lazy.missing().tolist() == [v is None for v in values]
    assert lazy.canonical().codes.tolist() == expected_codes.tolist()
    assert lazy.canonical().values.tolist() == list(expected_values)
    assert lazy.array().tolist() == cells
    text = pa.array(distinct.tolist(), pa.large_string())
    lazy_numbered = Coded(picked, None, True, text).canonical()
    assert lazy_numbered.codes.tolist() == hashed.codes.tolist()
    assert lazy_numbered.values.tolist() == hashed.values.tolist()


@given(
    st.lists(
        st.tuples(st.integers(-1, 3), st.sampled_from(["a", "b", None]), st.integers(-1, 70000)),
        min_size=1,
        max_size=30,
    )
)
def test_distinct_rows_number_rows_as_factorizing_them_does(rows: list[tuple[object, ...]]) -> None:
    """Codes (small integers, numbered without hashing, or a span too wide for that) and text
    together: equal rows, equal codes, in order of first appearance; each code's first row."""
    from bulkops.jobs.specs import distinct_rows

    small, text, wide = (
        np.array(c, dtype=object if i == 1 else np.int64)
        for i, c in enumerate(zip(*rows, strict=True))
    )
    codes, first = distinct_rows([small, text, wide])
    expected, _ = pd.factorize(pd.Series([str(r) for r in rows]))
    assert codes.tolist() == expected.tolist()
    assert first.tolist() == [codes.tolist().index(c) for c in range(len(first))]
