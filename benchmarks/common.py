"""Shared pieces of the benchmark suite: inputs, the simulator in another process, the count.

Every scenario works on the same kind of job: ``extensions`` extensions (a seeded synthetic
directory) × ``holidays`` holiday adds, expanded by ``bulkops.jobs.plan.build_plan`` so that bulkops
and the naive scripts send exactly the same bodies.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulkops.config import Credentials

ROOT = Path(__file__).resolve().parent.parent
CREDS = Credentials("bench-account", "bench-client", "bench-secret-not-a-real-one")
LIBRARIES = ("aiohttp", "aiolimiter", "pandas", "pyarrow", "orjson")

#: (extension_id, name, from, to): what "this holiday exists on this extension" means.
HolidayKey = tuple[str, str, str, str]


def write_job(folder: Path, extensions: int, holidays: int, seed: int = 2026) -> tuple[Path, Path]:
    """A directory of ``extensions`` and a job adding ``holidays`` holidays to every one (``*``).

    Up to 2,000 extensions the simulator's seeded generator makes a realistic mix of users,
    queues, auto receptionists and shared lines; beyond (its extension numbers run out) the
    directory is synthetic users with unique numbers.
    """
    from bulkops.simulator import generate_directory, write_directory

    folder.mkdir(parents=True, exist_ok=True)
    directory = folder / "directory.csv"
    if extensions <= 2000:
        write_directory(generate_directory(extensions, seed), directory)
    else:
        with directory.open("w", encoding="utf-8") as out:
            out.write("extension_id,extension_number,name,email,type,site\n")
            for i in range(extensions):
                out.write(f"benchExt{seed:04d}{i:010d},{100000 + i},Person {i},,user,Berlin\n")
    job = folder / "job.csv"
    lines = ["action,setting_type,sub_setting_type,target,name,from,to"]
    for h in range(holidays):
        day = f"2027-{1 + h % 12:02d}-{10 + h // 12:02d}"
        lines.append(f"add,holiday_hours,holiday,*,Bench Holiday {h:03d},{day},{day}")
    job.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return job, directory


@dataclass(frozen=True, slots=True)
class HolidayOp:
    extension_id: str
    body: dict[str, Any]

    @property
    def key(self) -> HolidayKey:
        s = self.body["settings"]
        return (self.extension_id, s["name"], s["from"], s["to"])


def planned_ops(job: Path, directory: Path) -> list[HolidayOp]:
    """The job's operations in plan order, as (extension, POST body) for the naive scripts."""
    from bulkops.jobs.plan import build_plan
    from bulkops.zoom import routes as rq

    out = []
    for op in build_plan(job, directory=directory).iter_operations():
        request = rq.build(op, rq.resolve(op, None))
        assert request.method == "POST" and request.body is not None
        out.append(HolidayOp(op.extension_id, request.body))
    return out


def tally(
    expected: Iterable[HolidayKey], holidays_of: Callable[[str], list[Any]]
) -> dict[str, int]:
    """Duplicates and gaps: each expected (extension, name, from, to) must exist exactly once."""
    wanted = list(expected)
    seen: Counter[HolidayKey] = Counter()
    for ext in {k[0] for k in wanted}:
        for h in holidays_of(ext):
            seen[(ext, h.get("name"), h.get("from"), h.get("to"))] += 1
    duplicates = sum(max(0, seen[k] - 1) for k in wanted)
    missing = sum(1 for k in wanted if seen[k] == 0)
    return {"expected": len(wanted), "duplicates": duplicates, "missing": missing}


class NullDisplay:
    """A ``progress.Display`` that shows nothing (benchmarks print their own table)."""

    def start(self, stats: Any) -> None:
        pass

    def update(self, stats: Any) -> None:
        pass

    def finish(self, stats: Any) -> None:
        pass


@dataclass(frozen=True, slots=True)
class SimProcess:
    base_url: str
    pid: int

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v2"

    @property
    def oauth_url(self) -> str:
        return f"{self.base_url}/oauth/token"


def cli_env(**extra: str) -> dict[str, str]:
    """The environment a timed ``bulkops`` process runs in: this one's, with the benchmark's
    credentials, and with the modules' bytecode cached as an installed tool has it.

    A shell that sets ``PYTHONDONTWRITEBYTECODE`` (this sandbox does) would make every timed
    start compile bulkops from source (about 0.1 CPU s, 90 modules), which no ``pip install``ed
    copy pays; ``warm_bytecode`` compiles them once beforehand.
    """
    env = {**os.environ, **CREDS.as_env(), **extra}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def warm_bytecode() -> None:
    """Compile bulkops' modules into ``__pycache__`` (ignored by git), as installing it does."""
    import compileall

    compileall.compile_dir(ROOT / "bulkops", quiet=1)


@contextlib.contextmanager
def simulator_process(directory: Path, *extra: str) -> Iterator[SimProcess]:
    """``bulkops simulate`` in its own process (unlimited rate unless ``extra`` says otherwise).

    Its CPU is then not the client's: the client can measure itself with ``process_time``.
    """
    # Port 0: the simulator binds a free port itself and says which. Picking one here and
    # passing it on leaves a gap in which another process on a busy machine can take it.
    cmd = [sys.executable, "-m", "bulkops", "simulate", "--port", "0"]
    cmd += ["--directory", str(directory), *(extra or ("--rate", "unlimited"))]
    env = {**os.environ, **CREDS.as_env()}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "listening on" in line:
                base_url = line.split("listening on", 1)[1].strip()
                break
        else:
            raise RuntimeError(f"the simulator did not start (exit {proc.wait()})")
        yield SimProcess(base_url, proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def machine() -> dict[str, str]:
    """Date, CPU model and cores, Python and library versions, for RESULTS.md."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    versions = []
    for lib in ("bulkops", *LIBRARIES):
        try:
            versions.append(f"{lib} {importlib.metadata.version(lib)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{lib} (not installed)")
    info["libraries"] = ", ".join(versions)
    return info


def median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return float("nan")
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
