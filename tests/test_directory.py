"""The directory file, selectors and reference resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkops.errors import JobFileError
from bulkops.jobs.checks import ExtensionRef, RowSpec
from bulkops.jobs.directory import (
    Directory,
    load_directory,
    parse_selector,
    read_directory,
    resolve,
)
from bulkops.model import Action, SettingType, SubSettingType

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "directory.csv"

DIRECTORY = """extension_id,extension_number,name,email,type,site
id1,0101,Ann,Ann@Example.com,user,New York
id2,0102,Queue NY,,call_queue,New York
id3,201,Bob,bob@example.com,user,London
id4,202,Queue LDN,,call_queue,London
id5,301,Cleo,cleo@example.com,user,Berlin
id6,302,Front desk,,auto_receptionist,Berlin
"""


@pytest.fixture
def directory(tmp_path: Path) -> Directory:
    path = tmp_path / "directory.csv"
    path.write_text(DIRECTORY)
    return load_directory(path)


def spec(kind: str, value: str, row: int = 2) -> RowSpec:
    return RowSpec(
        row,
        Action.ADD,
        SettingType.HOLIDAY_HOURS,
        SubSettingType.HOLIDAY,
        {},
        ExtensionRef(kind),
        value,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("*", [1, 2, 3, 4, 5, 6], id="all"),
        pytest.param(" * ", [1, 2, 3, 4, 5, 6], id="all-spaced"),
        pytest.param("type=call_queue", [2, 4], id="type"),
        pytest.param("site=New York&type=user", [1], id="and"),
        pytest.param("site=London,Berlin", [3, 4, 5, 6], id="alternatives"),
        pytest.param("SITE = berlin , london & type=USER", [3, 5], id="case-and-spaces"),
        pytest.param("extension_number=0101,301", [1, 5], id="by-number"),
        pytest.param("type=user&type=call_queue", [], id="contradiction-matches-none"),
    ],
)
def test_selectors_match_in_directory_order(
    directory: Directory, text: str, expected: list[int]
) -> None:
    found = directory.match(parse_selector(text))
    assert [f"id{i + 1}" for i in found] == [f"id{i}" for i in expected]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("site", id="no-equals"),
        pytest.param("=London", id="no-column"),
        pytest.param("site=", id="no-value"),
        pytest.param("site=London,", id="trailing-comma"),
        pytest.param("site=London&", id="trailing-and"),
        pytest.param("**", id="double-star"),
    ],
)
def test_bad_selectors(text: str) -> None:
    with pytest.raises(ValueError, match="column=value"):
        parse_selector(text)


def test_resolution_reports_every_bad_reference(directory: Directory) -> None:
    specs = [
        spec("target", "site=London", 2),
        spec("extension_number", "101", 3),
        spec("extension_number", "0102", 4),
        spec("email", "ANN@example.COM", 5),
        spec("email", "zed@example.com", 6),
        spec("target", "site=Paris", 7),
        spec("target", "floor=3", 8),
        spec("target", "site", 9),
        spec("extension_id", "id9", 10),
        spec("extension_id", "id6", 11),
    ]
    resolution, problems = resolve(specs, directory, file="job.csv")
    assert [(p.row, p.severity) for p in problems] == [
        (3, "error"),
        (6, "error"),
        (7, "error"),
        (8, "error"),
        (9, "error"),
        (10, "warning"),
    ]
    assert "did you mean '0101'" in problems[0].reason
    assert "matches no extension" in problems[2].reason
    assert "floor" in problems[3].reason and "site" in problems[3].reason
    assert list(resolution.spec) == [0, 0, 2, 3, 8, 9]
    assert list(resolution.extension_id) == ["id3", "id4", "id2", "id1", "id9", "id6"]
    assert list(resolution.position) == [2, 3, 1, 0, -1, 5]


def test_references_need_a_directory() -> None:
    resolution, problems = resolve(
        [spec("extension_number", "101"), spec("extension_id", "abc", 3)], None, file="job.csv"
    )
    assert [p.row for p in problems] == [2] and "--directory" in problems[0].reason
    assert list(resolution.extension_id) == ["abc"]


def test_directory_defects(tmp_path: Path) -> None:
    path = tmp_path / "dir.csv"
    path.write_text(
        "extension_id,extension_number,email\n"
        "ok1,100,a@example.com\n"
        "a/b,101,b@example.com\n"
        "ok1,102,c@example.com\n"
        "ok3,100,A@example.com\n"
    )
    directory, problems = read_directory(path)
    assert directory is None
    assert sorted((p.row, p.column) for p in problems) == [
        (3, "extension_id"),
        (4, "extension_id"),
        (5, "email"),
        (5, "extension_number"),
    ]


def test_directory_needs_extension_id(tmp_path: Path) -> None:
    path = tmp_path / "dir.csv"
    path.write_text("extension_number,name\n100,Ann\n")
    with pytest.raises(JobFileError, match="extension_id"):
        load_directory(path)


def test_sample_directory_is_clean() -> None:
    directory = load_directory(SAMPLE)
    assert len(directory) >= 50
    assert {"user", "call_queue"} <= set(directory.frame["type"])
    assert len(directory.match(parse_selector("site=London"))) > 0


UNICODE_DIRECTORY = """extension_id,email,site
idk,kim@example.com,München
idz,strasse@example.com,Straße
idu,\u00fcrsula@example.com,Z\u00fcrich
"""


@pytest.fixture
def unicode_directory(tmp_path: Path) -> Directory:
    path = tmp_path / "directory.csv"
    path.write_text(UNICODE_DIRECTORY, encoding="utf-8")
    return load_directory(path)


@pytest.mark.parametrize(
    ("email", "position"),
    [
        pytest.param("kim@example.com", 0, id="same"),
        pytest.param("KIM@EXAMPLE.COM", 0, id="ascii-upper"),
        pytest.param("\u212aim@example.com", None, id="kelvin-sign-is-not-k"),
        pytest.param("stra\u00dfe@example.com", None, id="sharp-s-is-not-ss"),
        pytest.param("STRASSE@example.com", 1, id="ascii-ss"),
        pytest.param("\u00dcrsula@example.com", None, id="non-ascii-case-is-kept"),
        pytest.param("\u00fcrsula@EXAMPLE.com", 2, id="ascii-part-folds"),
        pytest.param(" kim@example.com", None, id="no-trimming"),
    ],
)
def test_email_lookup_folds_ascii_letters_only(
    unicode_directory: Directory, email: str, position: int | None
) -> None:
    assert unicode_directory.position(ExtensionRef.EMAIL, email) == position


def test_email_selector_folds_ascii_letters_only(unicode_directory: Directory) -> None:
    assert list(unicode_directory.match(parse_selector("email=KIM@example.com"))) == [0]
    assert list(unicode_directory.match(parse_selector("email=\u212aim@example.com"))) == []
    assert list(unicode_directory.match(parse_selector("email=stra\u00dfe@example.com"))) == []


def test_other_columns_still_fold_unicode_case(unicode_directory: Directory) -> None:
    assert list(unicode_directory.match(parse_selector("site=M\u00dcNCHEN"))) == [0]
    assert list(unicode_directory.match(parse_selector("site=z\u00fcrich"))) == [2]


def test_emails_differing_beyond_ascii_case_are_not_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "dir.csv"
    path.write_text(
        "extension_id,email\n"
        "a1,kim@example.com\n"
        "a2,\u212aim@example.com\n"
        "a3,strasse@example.com\n"
        "a4,stra\u00dfe@example.com\n"
        "a5,KIM@example.com\n",
        encoding="utf-8",
    )
    directory, problems = read_directory(path)
    assert directory is None
    assert [(p.row, p.column, p.value) for p in problems] == [(6, "email", "KIM@example.com")]


def test_a_selector_error_quotes_the_clause_clipped(directory: Directory) -> None:
    with pytest.raises(ValueError) as caught:
        parse_selector("site" + "x" * 500)
    assert len(str(caught.value)) < 250
