"""Arrow reads an unquoted CSV exactly as pandas does: same frame, same index, same errors."""

from __future__ import annotations

from typing import Any
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from bulkops.errors import JobFileError
from bulkops.jobs import intake, tables

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


@given(header=st.sampled_from(["a", "a,b", "a,b,c"]), body=_BODY)
def test_arrow_s_threads_read_what_one_thread_reads(header: str, body: str) -> None:
    text = f"{header}\n{body}"
    with mock.patch.object(tables, "THREADED_BYTES", 0):
        threaded = _read(text)
    assert threaded == _read(text)


def test_a_large_file_read_on_threads_is_the_frame_one_thread_reads() -> None:
    # Several of Arrow's 1 MB blocks, so the threads each parse some: empty cells, a row of
    # too few fields near the end (Arrow refuses it: pandas reads and words it either way).
    rows = [f"ext{i:019d},Holiday {i % 50},{'' if i % 7 else 'x'}" for i in range(80_000)]
    for tail in ([], ["only,two"]):
        text = "id,name,note\n" + "\n".join(rows + tail) + "\n"
        assert len(text) > 2 * 1024 * 1024  # Arrow reads in blocks of 1 MB
        with mock.patch.object(tables, "THREADED_BYTES", len(text) // 2):
            threaded = _read(text)
        with mock.patch.object(tables, "THREADED_BYTES", len(text) * 2):
            single = _read(text)
        assert threaded == single


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


_UTF8_EDGES = [
    b"\xed\xa0\x80",  # a surrogate
    b"\xc0\x80",  # an overlong NUL
    b"\xf4\x90\x80\x80",  # past U+10FFFF
    b"\xe2\x82",  # a character cut short
    b"\xef\xbb\xbf",  # a byte-order mark
    "é€𝄞".encode(),
]


@given(st.lists(st.one_of(st.sampled_from(_UTF8_EDGES), st.binary(max_size=6)), max_size=6))
def test_utf8_is_valid_to_arrow_where_python_decodes_it(parts: list[bytes]) -> None:
    """A file Arrow calls valid UTF-8 is not decoded whole: Python's decoder must agree."""
    data = b"".join(parts)
    try:
        data.decode("utf-8")
        decodes = True
    except UnicodeDecodeError:
        decodes = False
    assert intake.valid_utf8(data) is decodes


@given(
    text=st.text(alphabet=["a", ",", "\n", "é", "𝄞", '"'], max_size=40),
    boms=st.integers(min_value=0, max_value=2),
    codec=st.sampled_from(["utf-8", "utf-8-sig"]),
)
def test_the_leading_records_are_read_alike_from_the_text_s_start(
    text: str, boms: int, codec: str
) -> None:
    """The header and first row read from the start of a valid UTF-8 file are those read from
    its whole text, the scan limits (made small here) falling anywhere."""
    data = ("\ufeff" * boms + text).encode(codec)

    def records(text: str) -> Any:
        try:
            return tables._leading_records("job.csv", text, "job file")
        except JobFileError as exc:
            return [str(p) for p in exc.problems]

    with (
        mock.patch.object(tables, "MAX_HEADER_CHARS", 5),
        mock.patch.object(tables, "FIRST_ROW_SCAN_CHARS", 7),
    ):
        start = records(tables._leading(data, codec))
        whole = records(intake.decoded("job.csv", data, codec, "job file"))
    assert start == whole
