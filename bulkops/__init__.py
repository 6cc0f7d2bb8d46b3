"""bulkops: change Zoom Phone call-handling settings of thousands of extensions, safely."""

from __future__ import annotations

from importlib.metadata import version as _version

from .config import AccountPlan, Credentials, Endpoints
from .errors import (
    ApiError,
    AuthError,
    BulkopsError,
    CheckpointError,
    CheckpointWriteError,
    ConfigError,
    FatalApiError,
    JobFileError,
    Problem,
    RateLimitedError,
    RetriableApiError,
    StateLockedError,
    StateMismatchError,
)
from .model import Action, Operation, OpStatus, Outcome, SettingType, SubSettingType

__version__ = _version("bulkops")

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
    "FatalApiError",
    "JobFileError",
    "OpStatus",
    "Operation",
    "Outcome",
    "Problem",
    "RateLimitedError",
    "RetriableApiError",
    "SettingType",
    "StateLockedError",
    "StateMismatchError",
    "SubSettingType",
    "__version__",
]
