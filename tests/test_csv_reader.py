"""Arrow reads an unquoted CSV exactly as pandas does: same frame, same index, same errors."""

from __future__ import annotations

from typing import Any
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from bulkops.errors import JobFileError
from bulkops.jobs import tables

_BODY = st.text(alphabet=["a", "1", " ", ",", "\n", "\r", "é"], max_size=40)


def _read(text: str) -> Any:
    try:
        frame = tables._read_csv("job.csv", text.encode(), None, "job file", ())
    except JobFileError as exc:
        return ("error", [str(p) for p in exc.problems])
    return (frame.to_dict("split"), list(frame.index), [str(d) for d in frame.dtypes])


@given(header=st.sampled_from(["a", "a,b", "a,b,c"]), body=_BODY)
def test_unquoted_files_read_alike_by_arrow_and_pandas(header: str, body: str) -> None:
    text = f"{header}\n{body}"
    fast = _read(text)
    with mock.patch.object(tables, "_read_unquoted", return_value=None):
        slow = _read(text)
    assert fast == slow


def test_arrow_reads_a_plain_file_and_leaves_quoted_ones_to_pandas() -> None:
    plain = tables._read_unquoted("a,b\n1,2\n3,\n", 2)
    assert plain is not None
    assert plain.to_dict("split")["data"] == [["1", "2"], ["3", ""]]
    assert list(plain.index) == [2, 3]
    assert tables._read_unquoted('a,b\n"1,5",2\n', 2) is None
    assert tables._read_unquoted("a,b\n1,2,3\n", 2) is None  # pandas words the error
