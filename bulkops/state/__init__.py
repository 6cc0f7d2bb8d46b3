"""The durable record of a run: the checkpoint owns its SQLite schema and every statement on it.

``Checkpoint`` is the run's read-write handle (lock, plan, grouped durable writes);
``open_readonly`` gives any other reader (status, reports) a lock-free ``StateReader`` whose
queries hand back typed records. Importing this package loads neither pandas nor the job stage.
"""

from __future__ import annotations

from .checkpoint import Checkpoint, default_state_dir
from .reader import StateReader, Statuses, open_readonly, statuses
from .schema import Attempt, OpRecord, RunRecord

__all__ = [
    "Attempt",
    "Checkpoint",
    "OpRecord",
    "RunRecord",
    "StateReader",
    "Statuses",
    "default_state_dir",
    "open_readonly",
    "statuses",
]
