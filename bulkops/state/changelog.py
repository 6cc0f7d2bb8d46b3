"""The reports' change log as a reader sees it (``state.schema.CHANGE_LOG``), and the set of
extensions a focused read keeps to: what ``StateReader`` asks of them (it inherits these)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from .schema import CHANGE_LOG_TABLE, META_LOG_PRUNED

#: The extensions ``focused`` reads keep to: a temporary table of the reader's connection.
FOCUS_TABLE = "temp.focus"


def _meta(conn: sqlite3.Connection, key: str) -> str:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return "0" if row is None else str(row[0])


class ChangeLogReads:
    """The change log's reads, on the reader's connection."""

    _conn: sqlite3.Connection

    def change_mark(self) -> int | None:
        """The newest entry of the change log (0 while empty); None for a checkpoint without
        one (made by an older bulkops and not opened for writing since)."""
        try:
            row = self._conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {CHANGE_LOG_TABLE}")
        except sqlite3.OperationalError:
            return None
        return int(row.fetchone()[0])

    def changed_since(self, mark: int) -> list[str] | None:
        """The extensions whose operations or before-image changed after ``mark``; None when
        the log no longer holds every entry after it (``Checkpoint.prune_change_log``)."""
        if int(_meta(self._conn, META_LOG_PRUNED)) > mark:
            return None
        rows = self._conn.execute(
            f"SELECT DISTINCT extension_id FROM {CHANGE_LOG_TABLE} WHERE id > ?", (mark,)
        )
        return [str(r[0]) for r in rows]

    def focus(self, extension_ids: Iterable[str]) -> None:
        """The extensions the ``focused`` reads keep to, until the next ``focus``."""
        self._conn.execute("CREATE TEMP TABLE IF NOT EXISTS focus (extension_id TEXT PRIMARY KEY)")
        self._conn.execute(f"DELETE FROM {FOCUS_TABLE}")
        self._conn.executemany(
            f"INSERT OR IGNORE INTO {FOCUS_TABLE} VALUES (?)", ((e,) for e in extension_ids)
        )
