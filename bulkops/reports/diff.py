"""The preview of a job: diff.csv, diff.parquet, summary.json and report.html of a dry run.

A dry run (``bulkops run --dry-run``, ``bulkops diff``) reads every extension the job touches,
the same reads through the same lanes as a run, and records in a throw-away state what each
write would be (``would_change``), what is already in place (``already_present``,
``already_absent``) and what could not be resolved (``failed``). This module turns that state
into the preview, one row per operation in plan order:

| column | meaning |
|---|---|
| ``seq``, ``source_row`` | the operation's place in the plan, its job-file row |
| ``extension_id``, ``extension_number``, ``extension_name``, ``site`` | the extension (the last three when a directory gives them) |
| ``action``, ``setting_type``, ``sub_setting_type`` | what the row does |
| ``status`` | ``would_change``, ``already_present``, ``already_absent``, ``failed``, ``skipped`` (the words of the progress line and the summary) |
| ``noop`` | Zoom already holds what the row asks for: nothing would change |
| ``before``, ``after`` | what Zoom has now and what it would have after, in words (``reports.changes``) |
| ``message`` | why a row failed; the request a ``would_change`` row would send |

Rows that depend on an item the same job adds are planned against the extension as the earlier
rows would leave it, so they are ``would_change``, not failures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..jobs.tables import atomic_file, atomic_path, neutralise_frame
from ..model import OpStatus
from ..state.reader import StateReader, open_readonly
from .beforeafter import section_html
from .changes import ChangeIndex
from .collected import Collected, collect
from .results import results_chunks, table_rows, write_page
from .summary import STATUSES

DIFF_COLUMNS = (
    "seq",
    "source_row",
    "extension_id",
    "extension_number",
    "extension_name",
    "site",
    "action",
    "setting_type",
    "sub_setting_type",
    "status",
    "noop",
    "before",
    "after",
    "message",
)
PREVIEW_FILES = ("diff.csv", "diff.parquet", "summary.json", "report.html")
_ORDER = (OpStatus.WOULD_CHANGE.value, *STATUSES)


@dataclass(slots=True)
class Preview:
    """Where the preview went, and its counts: by status, each by action."""

    paths: dict[str, Path]
    by_status: dict[str, Counter[str]] = field(default_factory=dict)
    noop: int = 0  # rows where Zoom already holds what the row asks for

    def lines(self) -> list[tuple[str, str]]:
        """The counts as label/value pairs: ``would_change: add 120 · update 40``."""
        rows = []
        for status in _ORDER:
            actions = self.by_status.get(status)
            if actions:
                rows.append((status, " · ".join(f"{a} {n:,}" for a, n in sorted(actions.items()))))
        rows.append(("no-op", f"{self.noop:,} (already in place: nothing would change)"))
        return rows


def _parquet_schema() -> Any:
    import pyarrow as pa

    types = {c: pa.string() for c in DIFF_COLUMNS}
    types.update(seq=pa.int64(), source_row=pa.int64(), noop=pa.bool_())
    return pa.schema([(c, types[c]) for c in DIFF_COLUMNS])


def diff_frame(
    results: pd.DataFrame, changes: ChangeIndex, sites: Mapping[str, str]
) -> pd.DataFrame:
    """Rows shaped as results.csv's, as diff rows: with ``site`` and the ``noop`` flag."""
    frame = results.copy()
    found = changes.of(frame["seq"].tolist())
    frame["noop"] = [bool(found[s].noop) if s in found else False for s in frame["seq"]]
    frame["site"] = frame["extension_id"].map(lambda x: sites.get(str(x))).astype("string")
    return frame.loc[:, list(DIFF_COLUMNS)]


def write_preview(state_dir: Path, out: Path, *, sites: Mapping[str, str] | None = None) -> Preview:
    """Write the preview of the dry-run state ``state_dir`` into ``out``; ``sites`` maps
    extension ids to their directory's site."""
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    preview = Preview({name: out / name for name in PREVIEW_FILES})
    with open_readonly(state_dir) as reader:
        reader.hold_one_moment()
        with ChangeIndex(reader) as changes:
            _write(reader, state_dir, preview, changes, sites or {})
    return preview


def _write(
    reader: StateReader,
    state_dir: Path,
    preview: Preview,
    changes: ChangeIndex,
    sites: Mapping[str, str],
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = preview.paths
    source = reader.meta().get("job_path", "")
    acc = Collected()
    schema = _parquet_schema()
    with (
        atomic_file(paths["diff.csv"]) as fh,
        atomic_path(paths["diff.parquet"]) as tmp,
        pq.ParquetWriter(tmp, schema) as writer,
    ):
        fh.write(",".join(DIFF_COLUMNS) + "\n")
        for results in results_chunks(reader, source, changes):
            collect(acc, results)
            frame = diff_frame(results, changes, sites)
            csv = frame.assign(noop=frame["noop"].map({True: "true", False: "false"}))
            neutralise_frame(csv).to_csv(fh, header=False, index=False, lineterminator="\n")
            writer.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
            preview.noop += int(frame["noop"].sum())
            for status, action in zip(frame["status"], frame["action"], strict=True):
                preview.by_status.setdefault(str(status), Counter())[str(action)] += 1
    table = table_rows(reader, source, changes)
    section = section_html(diff_frame(table, changes, sites), preview=True, total=acc.total)
    extra = {
        "preview": True,
        "noop": preview.noop,
        "state_dir": "a dry run (nothing was sent; its state was not kept)",
        "files": {k: str(v) for k, v in paths.items()},
    }
    write_page(reader, state_dir, acc, table, section, paths, extra)
