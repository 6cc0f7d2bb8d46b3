"""A report's scratch table: per-operation words kept on disk while a report streams.

The reports join each operation's before → after words (``reports.changes``) to rows they
stream in plan order, where an extension's operations lie far apart. Those words are worked out
extension by extension, so they wait here, in a private temporary SQLite file that SQLite
deletes on close, and come back by seq in flat memory. It holds no state of the run: a report
that dies leaves nothing behind.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

__all__ = ["SeqTable", "WordsTable"]

#: SQLite's limit on the parameters of one statement, with room to spare.
_PARAMETERS = 500


class WordsTable:
    """(seq, before, after, noop) rows, written in any order, read back by seq."""

    def __init__(self) -> None:
        self._conn = sqlite3.connect("")  # "": a temporary file SQLite deletes on close
        self._conn.execute(
            "CREATE TABLE changes (seq INTEGER PRIMARY KEY, before TEXT, after TEXT, noop INT)"
        )

    def insert(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self._conn.executemany("INSERT INTO changes VALUES (?, ?, ?, ?)", rows)

    def of(self, seqs: Sequence[int]) -> Iterator[tuple[int, str, str, int]]:
        """The rows of ``seqs`` that are kept, in no particular order."""
        for start in range(0, len(seqs), _PARAMETERS):
            part = [int(s) for s in seqs[start : start + _PARAMETERS]]
            yield from self._conn.execute(
                f"SELECT seq, before, after, noop FROM changes WHERE seq IN "
                f"({', '.join('?' * len(part))})",
                part,
            )

    def between(self, first: int, last: int) -> list[tuple[int, str, str]]:
        """(seq, before, after) of the seqs ``first``..``last``, in order: one range scan."""
        return self._conn.execute(
            "SELECT seq, before, after FROM changes WHERE seq BETWEEN ? AND ? ORDER BY seq",
            (first, last),
        ).fetchall()

    def close(self) -> None:
        self._conn.close()


class SeqTable:
    """Rows of ``width`` cells keyed by seq, written in any order, read back by seq range: a
    report's per-operation pieces made in another order than the one they are joined in
    (``reports.render``'s undo, made newest first, joined to results in plan order)."""

    def __init__(self, width: int) -> None:
        self._conn = sqlite3.connect("")  # "": a temporary file SQLite deletes on close
        cells = ", ".join(f"c{i}" for i in range(width))
        self._conn.execute(f"CREATE TABLE pieces (seq INTEGER PRIMARY KEY, {cells})")
        self._insert = f"INSERT INTO pieces VALUES (?, {', '.join('?' * width)})"

    def insert(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self._conn.executemany(self._insert, rows)

    def between(self, first: int, last: int) -> list[tuple[Any, ...]]:
        """The rows of the seqs ``first``..``last`` (seq first), in order: one range scan."""
        return self._conn.execute(
            "SELECT * FROM pieces WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last)
        ).fetchall()

    def close(self) -> None:
        self._conn.close()
