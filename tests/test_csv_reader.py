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


def _read_as(data: bytes, encoding: str | None) -> Any:
    try:
        frame = tables._read_csv("job.csv", data, encoding, "job file", ())
    except JobFileError as exc:
        return ("error", [str(p) for p in exc.problems])
    return (frame.to_dict("split"), list(frame.index), [str(d) for d in frame.dtypes])


@given(
    header=st.sampled_from(["a", "a,b"]),
    body=st.text(alphabet=["a", ",", "\n", "\r", "\t", "é", "\x07", "\x7f", "\x00"], max_size=30),
    boms=st.integers(min_value=0, max_value=2),
    encoding=st.sampled_from([None, "utf-8", "UTF8", "utf_8_sig", "cp1252"]),
)
def test_utf8_bytes_read_as_the_decoded_text_is(
    header: str, body: str, boms: int, encoding: str | None
) -> None:
    """The UTF-8 shortcuts (control characters found by bytes, Arrow fed the file's own bytes
    past a byte-order mark) give the frame and the messages of the text route."""
    codec = encoding or "utf-8-sig"
    bom = "\ufeff" * boms if "8" in codec else ""
    data = (bom + f"{header}\n{body}").encode(codec)
    fast = _read_as(data, encoding)
    with (
        mock.patch.object(tables, "_read_unquoted", return_value=None),
        mock.patch.object(tables, "_NOT_CONTROL", b""),  # every byte is a suspect: the pattern
    ):
        slow = _read_as(data, encoding)
    assert fast == slow
