"""The files of a state directory: who may read them, and the lock that also keeps count.

Every directory bulkops creates for state is 0700 and every file in it 0600, whatever the umask:
the checkpoint holds the plan and every extension's before-image. A state directory made looser
(by an older version, or by hand) is tightened when it is opened.

``StateLock`` is the directory's OS file lock (``fcntl.flock``: the kernel drops it when the
process dies). Its file also holds the *commit mark*: how many transactions this state has
committed, written after each one. It lives outside SQLite on purpose: when the write-ahead log
is deleted, truncated or replaced, SQLite silently opens an older database, and only a witness
outside the database can tell that commits went missing (``state.integrity``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
from pathlib import Path

from ..errors import CheckpointError, StateLockedError
from .schema import LOCK_NAME

__all__ = ["StateLock", "private_dir", "private_file", "read_mark"]

_MARK = re.compile(rb"^commits (\d+)\n")


def private_dir(directory: Path) -> None:
    """Create ``directory`` and any missing parent 0700; tighten it to 0700 if it exists."""
    missing: list[Path] = []
    for path in (directory, *directory.parents):
        if path.exists() or path.is_symlink():
            break
        missing.append(path)
    try:
        for path in reversed(missing):
            with contextlib.suppress(FileExistsError):  # another run made it meanwhile
                path.mkdir(mode=0o700)
                os.chmod(path, 0o700)  # the umask can only take bits away; make sure of owner rwx
        info = directory.stat()
    except OSError as exc:
        raise CheckpointError(
            f"cannot create the state directory {directory}: {exc.strerror}; "
            "pass --state DIR with a directory this user can write"
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise CheckpointError(f"{directory} is not a directory; pass --state DIR with a directory")
    if info.st_mode & 0o077 and info.st_uid == os.geteuid():
        private_file(directory, mode=0o700)


def private_file(path: Path, *, mode: int = 0o600) -> None:
    """``chmod`` an existing file of ours to ``mode``; a file that is not there is fine."""
    with contextlib.suppress(FileNotFoundError):
        os.chmod(path, mode)


def read_mark(directory: Path) -> int | None:
    """The commit mark of a state directory, read without locking; None when it has none."""
    try:
        with open(directory / LOCK_NAME, "rb") as fh:
            return _parse(fh.read(64))
    except OSError:
        return None


def _parse(data: bytes) -> int | None:
    match = _MARK.match(data)
    return None if match is None else int(match.group(1))


class StateLock:
    """The held lock of one state directory, and its commit mark."""

    def __init__(self, path: Path, fd: int, mark: int | None) -> None:
        self.path = path
        self._fd = fd
        self.mark = mark  # the mark found when the lock was taken: what the database must reach

    @classmethod
    def acquire(cls, directory: Path) -> StateLock:
        """Take the lock without waiting; StateLockedError when another process holds it."""
        path = directory / LOCK_NAME
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            raise CheckpointError(_cannot_open(path, exc)) from None
        try:
            os.fchmod(fd, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateLockedError(
                f"another bulkops run is using {directory}; wait for it to finish "
                "(`bulkops status --state DIR` shows its progress)"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise CheckpointError(_cannot_open(path, exc)) from None
        return cls(path, fd, _parse(os.pread(fd, 64, 0)))

    def write_mark(self, commits: int) -> None:
        """Record that ``commits`` transactions are durable. Called after each commit returns,
        so the mark never runs ahead of the database; no fsync: after a power cut a mark that
        lags behind is harmless."""
        data = b"commits %d\n" % commits
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _cannot_open(path: Path, exc: OSError) -> str:
    if exc.errno in (errno.EISDIR, errno.ELOOP) or path.is_dir():
        return (
            f"{path} is not bulkops's lock file (it is a directory or a link); remove it and run "
            "again"
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"cannot write in the state directory {path.parent}: {exc.strerror}; make it writable "
            "by this user, or pass --state DIR with a directory this user can write"
        )
    return f"cannot open the lock file {path}: {exc.strerror}; check the state directory"
