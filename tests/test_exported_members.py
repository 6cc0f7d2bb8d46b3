"""The public surface: `__all__` lists exactly the public names, and each of them resolves."""

from __future__ import annotations
import __future__

import importlib
from collections.abc import Callable

import pytest

import bulkops

#: The entry points imported on first use: name → the object it must be.
LAZY: dict[str, tuple[str, str]] = {
    "EngineOptions": ("bulkops.run.engine", "EngineOptions"),
    "ExportResult": ("bulkops.export", "ExportResult"),
    "ExportSettings": ("bulkops.export", "ExportSettings"),
    "Plan": ("bulkops.jobs.plan", "Plan"),
    "RunOutcome": ("bulkops.runner", "RunOutcome"),
    "RunResult": ("bulkops.run.stats", "RunResult"),
    "RunSettings": ("bulkops.runner", "RunSettings"),
    "SyncSpec": ("bulkops.jobs.sync", "SyncSpec"),
    "build_plan": ("bulkops.jobs.plan", "build_plan"),
    "export_job": ("bulkops.export", "export_job"),
    "run_job": ("bulkops.runner", "run_job"),
    "validate_job": ("bulkops.jobs.plan", "validate"),
    "write_reports": ("bulkops.reports.results", "write_all"),
}


def _public(names: list[str]) -> set[str]:
    return {
        name
        for name in names
        if not name.startswith("_")
        and not isinstance(
            getattr(bulkops, name),
            type(bulkops) | __future__._Feature,  # type: ignore[attr-defined]
        )
    }


def test_all_matches_namespace() -> None:
    # Lazy names appear in vars() only once used; dir() lists them from the start.
    assert set(bulkops.__all__) == _public(list(vars(bulkops))) | set(LAZY) | {"__version__"}
    assert set(bulkops.__all__) == _public(dir(bulkops)) | {"__version__"}
    assert list(bulkops.__all__) == sorted(bulkops.__all__)


@pytest.mark.parametrize("name", sorted(set(bulkops.__all__) - set(LAZY)))
def test_eager_names_are_there_at_import(name: str) -> None:
    assert name in vars(bulkops)


@pytest.mark.parametrize(("name", "source"), sorted(LAZY.items()), ids=sorted(LAZY))
def test_lazy_names_resolve_to_their_source(name: str, source: tuple[str, str]) -> None:
    module, attribute = source
    assert getattr(bulkops, name) is getattr(importlib.import_module(module), attribute)
    assert name in vars(bulkops)  # cached: the next lookup is a plain attribute


def test_from_import_of_a_lazy_name() -> None:
    from bulkops import build_plan

    expected: Callable[..., object] = importlib.import_module("bulkops.jobs.plan").build_plan
    assert build_plan is expected


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'buld_plan'"):
        bulkops.buld_plan  # type: ignore[attr-defined]  # noqa: B018
