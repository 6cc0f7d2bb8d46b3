"""bulkops: change Zoom Phone call-handling settings of thousands of extensions, safely.

From Python, the road the CLI takes::

    problems = bulkops.validate_job("holidays.csv", directory="directory.csv")  # sends nothing
    plan = bulkops.build_plan("holidays.csv", directory="directory.csv")  # JobFileError if bad
    done = asyncio.run(bulkops.run_job(bulkops.RunSettings(job=Path("holidays.csv"))))
    bulkops.write_reports(done.state_dir)  # again, as `bulkops report` does; run_job wrote them
    backup = bulkops.ExportSettings(out=Path("backup.csv"), directory=Path("directory.csv"))
    saved = asyncio.run(bulkops.export_job(backup))  # a job file that recreates the account

The entry points load pandas, aiohttp and the engine on first use, so ``import bulkops`` and
``bulkops --help`` stay light; the values, errors and settings below are imported at once.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing
from importlib.metadata import version as _version

from .config import AccountPlan, Credentials, Endpoints
from .errors import (
    ApiError,
    AuthError,
    BulkopsError,
    CheckpointError,
    CheckpointWriteError,
    ConfigError,
    ExtensionNotFoundError,
    FatalApiError,
    JobFileError,
    Problem,
    RateLimitedError,
    RetriableApiError,
    StateLockedError,
    StateMismatchError,
    UnreadableAnswerError,
)
from .model import Action, Operation, OpStatus, Outcome, SettingType, SubSettingType

if _typing.TYPE_CHECKING:
    from .export import ExportResult, ExportSettings, export_job
    from .jobs.plan import Plan, build_plan
    from .jobs.plan import validate as validate_job
    from .jobs.sync import SyncSpec
    from .reports.results import write_all as write_reports
    from .run.engine import EngineOptions
    from .run.stats import RunResult
    from .runner import RunOutcome, RunSettings, run_job

__version__ = _version("bulkops")

#: Public name → (module, name there), imported on first access (PEP 562).
_LAZY: dict[str, tuple[str, str]] = {
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

# Hidden from mypy: a module-level __getattr__ would make every misspelt attribute type as Any;
# mypy sees the TYPE_CHECKING imports above instead.
if not _typing.TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        try:
            module, attribute = _LAZY[name]
        except KeyError:
            raise AttributeError(f"module 'bulkops' has no attribute {name!r}") from None
        value = getattr(_importlib.import_module(module), attribute)
        globals()[name] = value  # later lookups find it without coming back here
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AccountPlan",
    "Action",
    "ApiError",
    "AuthError",
    "BulkopsError",
    "CheckpointError",
    "CheckpointWriteError",
    "ConfigError",
    "Credentials",
    "Endpoints",
    "EngineOptions",
    "ExportResult",
    "ExportSettings",
    "ExtensionNotFoundError",
    "FatalApiError",
    "JobFileError",
    "OpStatus",
    "Operation",
    "Outcome",
    "Plan",
    "Problem",
    "RateLimitedError",
    "RetriableApiError",
    "RunOutcome",
    "RunResult",
    "RunSettings",
    "SettingType",
    "StateLockedError",
    "StateMismatchError",
    "SubSettingType",
    "SyncSpec",
    "UnreadableAnswerError",
    "__version__",
    "build_plan",
    "export_job",
    "run_job",
    "validate_job",
    "write_reports",
]
