"""The report cache's manifest: which layer files ``<state>/report-cache/`` holds, and for what.

``manifest.json`` carries the cache's key — what identifies the checkpoint (its job hash and
creation time), its operations' count and highest seq, the job file's path the rows name,
``RENDER_VERSION`` — and the layers, oldest first, each with the change-log mark
(``state.schema.CHANGE_LOG``) it was read at. Kept apart from the layers themselves
(``reports.layers``) so that a run can ask for the cache's mark before the engine starts without
importing pandas or pyarrow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from ..state.reader import StateReader

#: Bump whenever a rendered row's bytes change: an older cache is then not used.
RENDER_VERSION = 1
CACHE_DIR = "report-cache"
MANIFEST = "manifest.json"
SUFFIX = ".layer.arrow"


@dataclass(frozen=True, slots=True)
class Layer:
    name: str
    mark: int  # the change log's newest entry when the layer's state was read
    rows: int
    undo_exact: bool  # ``render.Rendered.undo_exact``


@dataclass(frozen=True, slots=True)
class Manifest:
    key: dict[str, Any]
    layers: tuple[Layer, ...]  # oldest first; never empty

    @property
    def mark(self) -> int:
        return self.layers[-1].mark

    @property
    def undo_exact(self) -> bool:
        return all(layer.undo_exact for layer in self.layers)

    def paths(self, directory: Path) -> list[Path]:
        return [directory / f"{layer.name}{SUFFIX}" for layer in self.layers]


def cache_dir(state_dir: Path) -> Path:
    return Path(state_dir) / CACHE_DIR


def cache_key(reader: StateReader) -> dict[str, Any]:
    """What a cache's rows depend on besides the extensions' own data."""
    meta = reader.meta()
    count, top = reader.op_extent()
    return {
        "render_version": RENDER_VERSION,
        "job_hash": meta.get("job_hash", ""),
        "created_at": meta.get("created_at", ""),
        "source": meta.get("job_path", ""),
        "ops": count,
        "max_seq": top,
    }


def read_manifest(directory: Path, key: dict[str, Any], mark: int) -> Manifest | None:
    """The cache in ``directory`` if it is valid for a state of ``key`` read at ``mark``."""
    try:
        data = orjson.loads((directory / MANIFEST).read_bytes())
        layers = tuple(Layer(**item) for item in data["layers"])
        manifest = Manifest(dict(data["key"]), layers)
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    marks = [layer.mark for layer in layers]
    if manifest.key != key or not layers or marks != sorted(marks) or marks[-1] > mark:
        return None  # another state, or one read before the cache's newest layer
    if not all(path.is_file() for path in manifest.paths(directory)):
        return None
    return manifest


def valid_cache(
    reader: StateReader, directory: Path, key: dict[str, Any], mark: int
) -> tuple[Manifest, list[str]] | None:
    """The cache in ``directory`` if it can be used for the state ``reader`` reads (its
    ``cache_key`` and ``change_mark``), and the extensions changed since its newest layer; None
    when there is none to use (another state, a mark ahead, or a change log cut past its mark)."""
    manifest = read_manifest(directory, key, mark)
    if manifest is None:
        return None
    changed = reader.changed_since(manifest.mark)
    return None if changed is None else (manifest, changed)


def write_manifest(directory: Path, manifest: Manifest) -> None:
    from ..jobs.tables import write_text  # pandas' module: the writers have it loaded

    data = {"key": manifest.key, "layers": [asdict(layer) for layer in manifest.layers]}
    write_text(directory / MANIFEST, orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def cache_mark(reader: StateReader, state_dir: Path) -> int | None:
    """The newest mark of ``state_dir``'s cache if it is valid for the state ``reader`` reads:
    the change log's entries before it are no longer needed (``Checkpoint.prune_change_log``)."""
    mark = reader.change_mark()
    if mark is None:
        return None
    manifest = read_manifest(cache_dir(state_dir), cache_key(reader), mark)
    return None if manifest is None else manifest.mark
