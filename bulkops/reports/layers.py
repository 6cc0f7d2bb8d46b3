"""The report cache: report rows rendered ahead (``reports.render``), kept in the state directory.

``<state>/report-cache/`` (0700, files 0600, nothing secret, as in the reports) holds immutable
layer files (Arrow IPC, plan order) and the manifest (``reports.manifest``: the cache's key and
its layers, oldest first, each with the change-log mark it was read at). A layer holds every
operation of the extensions it rendered; the newest layer holding a seq has its row.

Only the holder of the state's lock (the running ``bulkops run``: its refresher, then its final
pass) writes here: ``refresh`` renders the extensions changed after the newest layer's mark into
a new layer (everything when the cache is missing or not valid), and merges layers when there
are many. Anyone may read: a manifest that does not match the state as read now (another key,
a mark ahead of the state's or a change log that no longer holds what followed it, a missing
file) is no cache at all, and the reports are then written from the state alone. Deleting the
directory is harmless.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..jobs.tables import atomic_path
from ..state.files import private_dir
from ..state.reader import StateReader
from .manifest import SUFFIX, Layer, Manifest, cache_dir, cache_key, valid_cache, write_manifest
from .render import RENDER_CHUNK, Rendered, layer_schema, render
from .resultrows import CHUNK

MAX_LAYERS = 8  # more, and the newer layers are merged into one (all of them, once they are big)


# --- reading layers ----------------------------------------------------------------------------


class _Cursor:
    """One layer file read forward, a record batch at a time."""

    def __init__(self, path: Path) -> None:
        import pyarrow as pa

        self._source = pa.OSFile(str(path), "rb")
        self._file = pa.ipc.open_file(self._source)
        self._next = 0
        self._held: Any = None  # the rest of the batch read last

    def until(self, bound: int) -> Any:
        """The rows with a seq below ``bound`` not yet taken (a table, maybe empty)."""
        import numpy as np
        import pyarrow as pa

        parts = []
        while True:
            if self._held is None:
                if self._next >= self._file.num_record_batches:
                    break
                self._held = self._file.get_batch(self._next)
                self._next += 1
            batch = self._held
            n = int(np.searchsorted(batch.column(0).to_numpy(), bound, side="left"))
            if n < batch.num_rows:
                parts.append(batch.slice(0, n))
                self._held = batch.slice(n)
                break
            parts.append(batch)
            self._held = None
        return pa.Table.from_batches(parts, schema=self._file.schema)

    @property
    def done(self) -> bool:
        return self._held is None and self._next >= self._file.num_record_batches

    def close(self) -> None:
        self._source.close()


def merged(paths: Sequence[Path], *, span: int = CHUNK) -> Iterator[Any]:
    """The rows of the layer files ``paths`` (oldest first) in plan order, the newest file's row
    of each seq, a seq range of ``span`` at a time: one record batch per file in memory."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cursors = [_Cursor(path) for path in paths]
    try:
        bound = 0
        while not all(c.done for c in cursors):
            bound += span
            parts, taken = [], None
            for cursor in reversed(cursors):  # newest first: its rows win
                part = cursor.until(bound)
                if part.num_rows and taken is not None:
                    part = part.filter(pc.invert(pc.is_in(part["seq"], value_set=taken)))
                if part.num_rows:
                    parts.append(part)
                    seqs = part["seq"].combine_chunks()
                    taken = seqs if taken is None else pa.concat_arrays([taken, seqs])
            if len(parts) == 1:
                yield parts[0]
            elif parts:
                table = pa.concat_tables(parts)
                yield table.take(pc.sort_indices(table["seq"]))
    finally:
        for cursor in cursors:
            cursor.close()


def rechunk(tables: Iterator[Any], size: int) -> Iterator[Any]:
    """``tables`` (same schema) as tables of exactly ``size`` rows, the last one short."""
    import pyarrow as pa

    held: list[Any] = []
    rows = 0
    for table in tables:
        held.append(table)
        rows += table.num_rows
        while rows >= size:
            whole = pa.concat_tables(held)
            yield whole.slice(0, size)
            rest = whole.slice(size)
            held, rows = [rest], rest.num_rows
    if rows:
        yield pa.concat_tables(held)


# --- writing (the lock holder only) ----------------------------------------------------------


def refresh(
    reader: StateReader, state_dir: Path, *, pause: Callable[[], object], compact: bool = True
) -> Manifest | None:
    """Bring the cache up to the state ``reader`` holds (one moment): a new layer of the
    extensions changed since the newest one, or of all of them without a valid cache, and
    (``compact``) the layers merged when there are many. None for a checkpoint without a
    change log. Call only with the state's lock held."""
    mark = reader.change_mark()
    if mark is None:
        return None
    directory = cache_dir(state_dir)
    private_dir(directory)
    key = cache_key(reader)
    # No cache to use, or its change log was cut: everything is rendered again.
    manifest, changed = valid_cache(reader, directory, key, mark) or (None, None)
    _prune(directory, manifest)  # what an earlier writer left: temporaries, superseded layers
    if manifest is not None and not changed:
        return manifest
    layer = _write_layer(directory, mark, lambda path: render(reader, changed, path, pause=pause))
    layers = (*(manifest.layers if manifest is not None else ()), layer)
    manifest = Manifest(key, layers)
    write_manifest(directory, manifest)
    if compact and len(layers) > MAX_LAYERS:
        manifest = _compact(directory, manifest, pause)
        _prune(directory, manifest)
    return manifest


def _write_layer(directory: Path, mark: int, make: Callable[[Path], Rendered]) -> Layer:
    # Never a name used before: a reader holding an older manifest must not open another file
    # under a name it knows.
    name = f"{time.time_ns():016x}"
    with atomic_path(directory / f"{name}{SUFFIX}") as tmp:
        rendered = make(tmp)
    return Layer(name, mark, rendered.rows, rendered.undo_exact)


def _compact(directory: Path, manifest: Manifest, pause: Callable[[], object]) -> Manifest:
    """Merge the layers after the first into one, or all of them once the newer ones hold as
    many rows as the first: a long run's cache stays a few files, each row copied a few times."""
    import pyarrow as pa

    first, *newer = manifest.layers
    keep = [] if sum(layer.rows for layer in newer) >= first.rows else [first]
    merging = Manifest(manifest.key, tuple(manifest.layers[len(keep) :]))

    def write(path: Path) -> Rendered:
        rows = 0
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, layer_schema()) as out:
            for table in merged(merging.paths(directory)):
                # Batches as small as a render's: a reader holds one batch per layer file.
                out.write_table(table, max_chunksize=RENDER_CHUNK)
                rows += table.num_rows
                pa.default_memory_pool().release_unused()  # as the final pass does
                pause()
        return Rendered(rows, merging.undo_exact)

    layer = _write_layer(directory, merging.mark, write)
    compacted = Manifest(manifest.key, (*keep, layer))
    write_manifest(directory, compacted)
    return compacted


def _prune(directory: Path, manifest: Manifest | None) -> None:
    """Remove the layer files ``manifest`` does not list and the temporaries of dead writers."""
    kept = set(manifest.paths(directory)) if manifest is not None else set()
    for path in [*directory.glob(f"*{SUFFIX}"), *directory.glob(".*.tmp")]:
        if path not in kept:
            with contextlib.suppress(OSError):
                path.unlink()
