"""One run per Zoom account at a time on this host: a lease the kernel drops when its process dies.

Two runs on one account would each pace themselves to the account's whole rate budget, and the
same job started twice under two state directories would send its adds twice. So a run takes the
account's lease before it opens its state: an ``fcntl.flock`` on a file named by a hash of the
API base and the account id (never the secret) in a private runtime directory,
``$XDG_RUNTIME_DIR/bulkops/`` or else ``<tmp>/bulkops-<uid>/``, both 0700. The file holds the
holder's job, state directory and pid, so a second run can say whom it is waiting for, or exit 73
naming them. The lease covers one host and one user: runs on another machine cannot see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import stat
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from ..errors import AccountBusyError, CheckpointError

__all__ = ["Holder", "account_lease", "lease_path", "runtime_dir"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds an account's lease, as its file tells."""

    pid: int
    job: str
    state: str
    since: float  # wall-clock seconds

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"job {self.job} with state {self.state} (pid {self.pid}, started {started})"


def runtime_dir(env: Mapping[str, str]) -> Path:
    """Where this user's leases live: the session's runtime directory, else one in the temp dir."""
    base = env.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        return Path(base) / "bulkops"
    return Path(tempfile.gettempdir()) / f"bulkops-{os.geteuid()}"


def lease_path(directory: Path, api_url: str, account_id: str) -> Path:
    key = hashlib.sha256(f"{api_url.rstrip('/')}\n{account_id}".encode()).hexdigest()[:32]
    return directory / f"account-{key}.lock"


@contextlib.asynccontextmanager
async def account_lease(
    directory: Path,
    api_url: str,
    account_id: str,
    *,
    job: str,
    state: str,
    wait: bool,
) -> AsyncIterator[Path]:
    """Hold the lease of ``account_id`` at ``api_url`` for the ``async with`` body.

    Raises AccountBusyError when another run holds it and ``wait`` is False; with ``wait`` it
    waits for that run to end. Yields the lease file's path.
    """
    _private_runtime_dir(directory)
    path = lease_path(directory, api_url, account_id)
    fd = await _acquire(path, account_id, wait=wait)
    try:
        holder = Holder(os.getpid(), job, state, time.time())
        data = orjson.dumps(
            {"pid": holder.pid, "job": holder.job, "state": holder.state, "since": holder.since}
        )
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        yield path
    finally:
        # Unlink while still holding it: a run that opened the old file notices and retries.
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _private_runtime_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(directory)
    except OSError as exc:
        raise CheckpointError(
            f"cannot create {directory} for bulkops's account leases: {exc.strerror}; set "
            "XDG_RUNTIME_DIR to a private directory of this user"
        ) from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise CheckpointError(
            f"{directory} is not a directory of this user; remove it, or set XDG_RUNTIME_DIR to "
            "a private directory of this user"
        )
    if info.st_mode & 0o077:
        os.chmod(directory, 0o700)


async def _acquire(path: Path, account_id: str, *, wait: bool) -> int:
    announced = False
    while True:
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            if not isinstance(exc, BlockingIOError):
                os.close(fd)
                raise CheckpointError(f"cannot lock the account lease {path}: {exc}") from None
            if not wait:
                os.close(fd)
                raise AccountBusyError(_busy_message(account_id, holder)) from None
            if not announced:
                log.warning(
                    "waiting for the other bulkops run on Zoom account %s to finish: %s",
                    account_id,
                    holder.describe() if holder else "(its details are not readable)",
                )
                announced = True
            try:
                await _wait_for_lock(fd)
            except BaseException:
                os.close(fd)
                raise
        if _still_named(fd, path):
            return fd
        os.close(fd)  # the holder unlinked it as it left: take the new file


def _open(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        os.fchmod(fd, 0o600)
    except OSError as exc:
        raise CheckpointError(
            f"cannot open the account lease {path}: {exc.strerror}; set XDG_RUNTIME_DIR to a "
            "private directory of this user"
        ) from None
    return fd


def _still_named(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


async def _wait_for_lock(fd: int) -> None:
    """Block in ``flock`` on a helper thread; the loop (and the other run, in tests) goes on.

    A daemon thread, not the loop's executor: a waiting run that is interrupted must be able to
    leave while the thread still blocks (closing the descriptor then drops what it gets).
    """
    loop = asyncio.get_running_loop()
    got: asyncio.Future[None] = loop.create_future()

    def settle(error: OSError | None) -> None:
        if got.done():
            return
        if error is None:
            got.set_result(None)
        else:
            got.set_exception(error)

    def block() -> None:
        error: OSError | None = None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(settle, error)

    threading.Thread(target=block, name="bulkops-lease-wait", daemon=True).start()
    await got


def _read_holder(fd: int) -> Holder | None:
    try:
        data = orjson.loads(os.pread(fd, 8192, 0))
        return Holder(int(data["pid"]), str(data["job"]), str(data["state"]), float(data["since"]))
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None  # written a moment ago, or being rewritten


def _busy_message(account_id: str, holder: Holder | None) -> str:
    who = holder.describe() if holder else "another bulkops run (its details are not readable)"
    return (
        f"another bulkops run is working on Zoom account {account_id} on this host: {who}. "
        "One run per account at a time keeps to the rate limit, and the same job run twice "
        "(even with another --state) would send its changes twice. Wait for it to finish, "
        "or pass --wait to start when it does"
    )
