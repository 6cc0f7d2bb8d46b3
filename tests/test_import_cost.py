"""A fast start: `import bulkops` and `bulkops --help` load no pandas, pyarrow or numpy.

Each command runs in a fresh interpreter with ``-X importtime``, which names every module it
imports on stderr, so the test sees exactly what the command loaded.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEAVY = frozenset({"pandas", "pyarrow", "numpy"})


def imported_modules(*args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return modules_in(proc.stderr)


def modules_in(importtime_stderr: str) -> set[str]:
    """The modules ``python -X importtime`` reported loading."""
    # "import time: self [us] | cumulative | module", the module indented by its depth
    return {
        line.rsplit("|", 1)[1].strip()
        for line in importtime_stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


@pytest.mark.parametrize(
    ("args", "must_load"),
    [
        pytest.param(("-c", "import bulkops"), "bulkops.model", id="import-bulkops"),
        pytest.param(("-m", "bulkops", "--help"), "bulkops.cli", id="bulkops-help"),
        pytest.param(("-m", "bulkops", "run", "--help"), "bulkops.cli", id="bulkops-run-help"),
        # A resumed run reads the report cache's manifest before its first request.
        pytest.param(
            ("-c", "import bulkops.reports.manifest"),
            "bulkops.reports.manifest",
            id="report-cache-manifest",
        ),
    ],
)
def test_start_loads_no_dataframe_libraries(args: tuple[str, ...], must_load: str) -> None:
    loaded = imported_modules(*args)
    assert must_load in loaded  # the parse saw the command's own imports
    assert not {name for name in loaded if name.split(".")[0] in HEAVY}


def test_an_entry_point_loads_them_on_first_use() -> None:
    # The other side of the laziness: the same probe does see pandas once a planner is used.
    loaded = imported_modules("-c", "import bulkops; bulkops.build_plan")
    assert "pandas" in loaded
