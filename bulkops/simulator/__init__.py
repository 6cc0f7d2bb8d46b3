"""A faithful fake of Zoom Phone's call-handling settings API, for the demo, tests and benchmarks.

config.py      SimConfig, fault names, ``bulkops simulate`` flags
profile.py     what Zoom does where it is silent: the variants SimConfig can play
directory.py   extensions: seeded generator, CSV/Parquet directory files
listing.py     the directory as Zoom's six list endpoints (paging, sites, both ids)
state.py       per-extension settings in Zoom's GET shape; persistence
shown.py       what each setting type's GET shows of a write, and what the profile hides
storage.py     how holidays are stored (times to the second or minute, names verbatim or trimmed)
validation.py  Zoom's request checks
ratelimit.py   the strict one-second windows (LIGHT, MEDIUM) and the daily cap
faults.py      seeded fault decisions and latency
journal.py     the request journal and its counts
simulator.py   Simulator: tokens, gate, routes (no sockets)
app.py         aiohttp routes, including /__sim inspection
server.py      run_simulator (async context manager) and serve (blocking)
"""

from __future__ import annotations

from .app import make_app
from .config import FAULTS, FROM_PLAN, RetryAfter, SimConfig, add_arguments, config_from_args
from .directory import Extension, ExtensionType, generate_directory, load_directory, write_directory
from .faults import Fault
from .journal import JournalEntry
from .reply import Reply
from .server import RunningSimulator, run_simulator, serve
from .simulator import Simulator
from .storage import HolidayNames, HolidayTimes

__all__ = [
    "FAULTS",
    "FROM_PLAN",
    "Extension",
    "ExtensionType",
    "Fault",
    "HolidayNames",
    "HolidayTimes",
    "JournalEntry",
    "Reply",
    "RetryAfter",
    "RunningSimulator",
    "SimConfig",
    "Simulator",
    "add_arguments",
    "config_from_args",
    "generate_directory",
    "load_directory",
    "make_app",
    "run_simulator",
    "serve",
    "write_directory",
]
