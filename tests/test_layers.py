"""The house follows the data's road: a module imports only from its own stage or a lower one.

docs/CONTRACTS.md draws the stages; this test holds the code to the drawing, so an import that
reaches up a stage (and would one day close a circle) fails here first.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bulkops"

#: Bottom to top. The simulator is a one-way package: it may use only the bottom stage.
STAGES: dict[str, int] = {
    "errors": 0,
    "model": 0,
    "config": 0,
    "simulator": 1,
    "zoom": 1,
    "jobs": 2,
    "state": 3,
    "run": 4,
    "reports": 5,
    "exit_codes": 6,
    "progress": 6,
    "directory_pull": 6,
    "confirm": 6,
    "run_settings": 6,
    "run_target": 6,
    "run_plan": 6,
    "run_generations": 6,
    "run_consent": 6,
    "runner": 7,
    "authoring": 7,
    "directory_cmd": 7,
    "export": 7,
    "export_cmd": 7,
    "job_commands": 7,
    "cli": 8,
    "__init__": 9,
    "__main__": 9,
}


def _imports(path: Path, root: Path = PACKAGE) -> list[tuple[str, int]]:
    """The ``bulkops`` stage each relative or absolute import of ``path`` reaches, with its line."""
    package = ["bulkops", *path.relative_to(root).parts[:-1]]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
                names = [target] if node.module else [[*target, a.name] for a in node.names]
            else:
                names = [node.module.split(".")] if node.module else []
        elif isinstance(node, ast.Import):
            names = [a.name.split(".") for a in node.names]
        else:
            continue
        found += [(n[1], node.lineno) for n in names if n[0] == "bulkops" and len(n) > 1]
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", _modules(), ids=[str(p.relative_to(PACKAGE)) for p in _modules()])
def test_imports_only_go_down(path: Path) -> None:
    stage = path.relative_to(PACKAGE).with_suffix("").parts[0]
    assert stage in STAGES, f"{stage}: a new stage; place it in STAGES and docs/CONTRACTS.md"
    upward = [
        f"line {line}: {stage} imports {target}"
        for target, line in _imports(path)
        if target != stage and STAGES.get(target, -1) > STAGES[stage]
    ]
    assert not upward, upward


def test_the_simulator_uses_only_the_bottom_stage() -> None:
    reached = {
        target
        for path in (PACKAGE / "simulator").rglob("*.py")
        for target, _ in _imports(path)
        if target != "simulator"
    }
    assert reached <= {"errors", "model", "config"}, reached


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The test above can fail: an import from zoom/ up into run/ is found, one down is not."""
    probe = tmp_path / "bulkops" / "zoom" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text(
        "from ..run.retry import RetryPolicy\nfrom ..errors import BulkopsError\n"
        "from . import schema\nimport bulkops.reports.undo\n"
    )
    found = _imports(probe, root=tmp_path / "bulkops")
    assert found == [("run", 1), ("errors", 2), ("zoom", 3), ("reports", 4)]
