"""`bulkops status`: where a job stands, read from its state directory without touching Zoom."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from ..model import OpStatus
from ..state import generations
from ..state.reader import open_readonly
from ..state.schema import LOCK_NAME


def _locked(state_dir: Path) -> bool:
    """Whether a run holds the state now (probe the lock without keeping it)."""
    try:
        fd = os.open(state_dir / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def read_status(state_dir: Path) -> dict[str, Any]:
    with open_readonly(state_dir) as reader:
        meta = reader.meta()
        counts = reader.counts()
        runs = reader.runs()
    total = sum(counts.values())
    final = sum(n for s, n in counts.items() if s.final)
    last = runs[-1] if runs else None
    return {
        "state_dir": str(state_dir),
        "job": meta.get("job_path"),
        "total": total,
        "finished": final,
        "remaining": total - final,
        "counts": {s.value: counts[s] for s in OpStatus if counts.get(s)},
        "running_now": _locked(state_dir),
        "generation": generations.current(state_dir),
        "runs": len(runs),
        "last_run": None
        if last is None
        else {
            "started_at": last.started_at,
            "ended_at": last.ended_at,
            "exit_code": last.exit_code,
            "stop": (last.stats or {}).get("stop"),
            "stats": last.stats,
        },
    }


def format_status(status: dict[str, Any]) -> str:
    lines = [
        f"job        {status['job']}",
        f"state      {status['state_dir']}"
        + ("  (a run is in progress)" if status["running_now"] else ""),
        f"progress   {status['finished']:,} of {status['total']:,} operations finished, "
        f"{status['remaining']:,} to go",
    ]
    if status["generation"] > 1:
        lines.insert(
            2,
            f"generation {status['generation']} (the finished runs of earlier job files are in "
            f"{Path(status['state_dir']) / generations.GENERATIONS_DIR})",
        )
    for name, count in status["counts"].items():
        lines.append(f"  {name:<16} {count:>9,}")
    last = status["last_run"]
    if last is not None:
        lines.append(f"last run   exit code {last['exit_code']} ({status['runs']} run(s) so far)")
        if last["stop"]:
            stop = last["stop"]
            lines.append(
                f"stopped    {stop['reason']}" + (f": {stop['detail']}" * bool(stop["detail"]))
            )
    if status["remaining"] and not status["running_now"]:
        lines.append("resume     run the same `bulkops run` command again")
    return "\n".join(lines)
