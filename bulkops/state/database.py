"""Opening the state database for writing: its file private before SQLite touches it, WAL with
``synchronous=FULL`` (a commit is on disk when it returns), and every table or none."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .files import private_file
from .schema import SCHEMA

__all__ = ["connect_writable", "prepare"]


def connect_writable(path: Path) -> sqlite3.Connection:
    # SQLite gives its -wal and -shm files the mode of the database file: make that 0600 first.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level="DEFERRED")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def prepare(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    # All tables or none: a disk that fills half-way through must not leave a state that reads
    # as one with lost tables.
    try:
        conn.executescript(f"BEGIN;\n{SCHEMA}\nCOMMIT;")
    except sqlite3.Error:
        conn.rollback()
        raise
    for suffix in ("-wal", "-shm"):  # made by an older bulkops, or by SQLite before the chmod
        private_file(path.with_name(path.name + suffix))
