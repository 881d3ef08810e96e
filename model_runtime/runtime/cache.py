"""Embedding caches: a byte-bounded in-memory LRU and an optional byte-bounded on-disk cache.

Keys are :class:`~model_runtime.runtime.requests.EmbeddingKey` (media content hash, frame,
model id), so a renamed file keeps its embeddings and two models never share one.

On disk, one entry is one file
``<root>/<model_id>/v<FORMAT_VERSION>/<sha256(media_key, frame)[:2]>/<sha256(...)>.pt`` written
with ``torch.save`` to a temporary file, fsync'ed and renamed into place (a crash leaves either
the old state or the complete entry, never half a file; a temporary file left by a process that
died mid-write is deleted by the first scan once it is :data:`STALE_TEMPORARY_SECONDS` old), and
read with
``torch.load(weights_only=True)`` so a planted file cannot run code. An entry that fails to load
or does not describe the key asked for is treated as a miss and deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model_runtime.api import ImageEmbedding
from model_runtime.runtime.requests import EmbeddingKey

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# Bump when the on-disk layout of an entry or the features a model stores change; old entries
# are then simply never read. 2: SAM 2 skip features stored in the decoder's block order.
# 3: model ids name the weights (ModelInfo.weights), so a fine-tuned checkpoint of one size no
# longer reads the official one's entries; entries of format 2 may hold either.
FORMAT_VERSION = 3

DEFAULT_MEMORY_BYTES = 1 << 30  # ~64 SAM 1 or ~60 SAM 2 embeddings
DEFAULT_DISK_BYTES = 10 << 30
# A temporary entry file this old belongs to a writer that died (a write takes seconds): the first
# scan of the cache deletes it. Younger ones may be another process's write in progress.
STALE_TEMPORARY_SECONDS = 3600
_TEMPORARY_PREFIX = ".tmp-"


def default_disk_root() -> Path:
    """``platformdirs.user_cache_dir("samdesk")/embeddings``."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("samdesk")) / "embeddings"


class MemoryEmbeddingCache:
    """Least-recently-used embeddings, bounded by the sum of ``ImageEmbedding.nbytes()``.

    An embedding larger than the whole bound is not kept. Thread-safe.
    """

    def __init__(self, max_bytes: int = DEFAULT_MEMORY_BYTES):
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[EmbeddingKey, tuple[ImageEmbedding, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: EmbeddingKey) -> bool:
        return key in self._entries

    def lru_order(self) -> list[EmbeddingKey]:
        """Oldest first."""
        with self._lock:
            return list(self._entries)

    def get(self, key: EmbeddingKey) -> ImageEmbedding | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: EmbeddingKey, embedding: ImageEmbedding) -> bool:
        """Store and return True, evicting the least recently used; False if it can never fit."""
        size = embedding.nbytes()
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:
                return False
            self._entries[key] = (embedding, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted
            return True

    def discard_model(self, model_id: str) -> None:
        """Drop every embedding of one model (after a swap its tensors only waste memory)."""
        with self._lock:
            for key in [k for k in self._entries if k.model_id == model_id]:
                self._bytes -= self._entries.pop(key)[1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


class DiskEmbeddingCache:
    """Embeddings as files under ``root``, bounded by ``max_bytes`` (least recently used files
    are deleted first; a read refreshes a file's modification time).

    Safe to share between processes: entries are written atomically and read defensively.
    Within a process, instances are called from runtime threads only (file I/O stays off the GUI).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, max_bytes: int = DEFAULT_DISK_BYTES):
        self.root = Path(root) if root is not None else default_disk_root()
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._total: int | None = None  # lazily measured: the first scan walks the tree

    def path_for(self, key: EmbeddingKey) -> Path:
        digest = hashlib.sha256(f"{key.media_key}\0{key.frame}".encode()).hexdigest()
        return self.root / _safe_name(key.model_id) / f"v{FORMAT_VERSION}" / digest[:2] / f"{digest}.pt"

    def get(self, key: EmbeddingKey, device: str | torch.device = "cpu") -> ImageEmbedding | None:
        import torch  # runtime threads only (see service.py)

        path = self.path_for(key)
        if not path.is_file():
            return None
        try:
            payload = torch.load(path, map_location=device, weights_only=True)
            embedding = _decode(payload, key)
        except Exception as exc:  # corrupt, truncated, foreign or from another key: a miss
            log.warning("discarding unreadable embedding cache entry %s: %s", path, exc)
            self._remove(path)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # mark as recently used for eviction
        return embedding

    def put(self, key: EmbeddingKey, embedding: ImageEmbedding) -> bool:
        """Write one entry atomically; False (logged) when it cannot be stored."""
        import torch

        if not encodable(embedding):
            return False
        path = self.path_for(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=_TEMPORARY_PREFIX, suffix=".pt", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    torch.save(_encode(embedding, key), fh)
                    fh.flush()
                    os.fsync(fh.fileno())
                previous = path.stat().st_size if path.exists() else 0
                os.replace(tmp_name, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)
                raise
            _fsync_dir(path.parent)
        except OSError as exc:
            log.warning("could not write embedding cache entry %s: %s", path, exc)
            return False
        with self._lock:
            if self._total is not None:
                self._total += path.stat().st_size - previous
        self._evict()
        return True

    def total_bytes(self) -> int:
        with self._lock:
            if self._total is None:
                self._total = sum(size for _, size, _ in self._entries())
            return self._total

    def _entries(self) -> list[tuple[Path, int, float]]:
        """(path, size, mtime) of every complete entry; stale temporaries are deleted on the way,
        live ones (another write in progress) are neither counted nor evicted."""
        found = []
        if not self.root.is_dir():
            return found
        now = time.time()
        for path in self.root.rglob("*.pt"):
            try:
                st = path.stat()
            except OSError:
                continue
            if path.name.startswith(_TEMPORARY_PREFIX):
                if now - st.st_mtime > STALE_TEMPORARY_SECONDS:
                    with contextlib.suppress(OSError):
                        path.unlink()
                continue
            found.append((path, st.st_size, st.st_mtime))
        return found

    def _evict(self) -> None:
        if self.total_bytes() <= self.max_bytes:
            return
        with self._lock:
            entries = sorted(self._entries(), key=lambda e: e[2])
            total = sum(size for _, size, _ in entries)
            for path, size, _ in entries:
                if total <= self.max_bytes:
                    break
                with contextlib.suppress(OSError):
                    path.unlink()
                    total -= size
            self._total = total

    def _remove(self, path: Path) -> None:
        try:
            size = path.stat().st_size
            path.unlink()
        except OSError:
            return
        with self._lock:
            if self._total is not None:
                self._total -= size

    def clear(self) -> None:
        with self._lock:
            for path, _, _ in self._entries():
                with contextlib.suppress(OSError):
                    path.unlink()
            self._total = 0


# --- entry format ----------------------------------------------------------------------------
# Only plain containers, tensors, numbers and strings, so ``weights_only=True`` can read it.
# numpy arrays become tensors plus a marker and come back as numpy arrays of the same dtype.

_NUMPY = "__ndarray__"


def encodable(embedding: ImageEmbedding) -> bool:
    """Only the base class's fields are stored: a backend subclass that adds its own fields
    cannot be restored faithfully, so it is kept in memory only."""
    return type(embedding) is ImageEmbedding


def _encode(embedding: ImageEmbedding, key: EmbeddingKey) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "model_id": key.model_id,
        "media_key": key.media_key,
        "frame": key.frame,
        "embedding_model_id": embedding.model_id,
        "original_size": list(embedding.original_size),
        "input_size": list(embedding.input_size),
        "features": {name: _encode_value(v) for name, v in embedding.features.items()},
    }


def _encode_value(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().contiguous()
    if isinstance(value, np.ndarray):
        return {_NUMPY: torch.from_numpy(np.ascontiguousarray(value).copy())}
    if isinstance(value, (list, tuple)):
        return {"__seq__": [_encode_value(v) for v in value], "tuple": isinstance(value, tuple)}
    if isinstance(value, dict):
        return {"__map__": {str(k): _encode_value(v) for k, v in value.items()}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in the embedding cache")


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if _NUMPY in value:
            return value[_NUMPY].cpu().numpy()
        if "__seq__" in value:
            items = [_decode_value(v) for v in value["__seq__"]]
            return tuple(items) if value.get("tuple") else items
        if "__map__" in value:
            return {k: _decode_value(v) for k, v in value["__map__"].items()}
        raise ValueError("unknown container in cache entry")
    return value


def _decode(payload: Any, key: EmbeddingKey) -> ImageEmbedding:
    if not isinstance(payload, dict):
        raise ValueError(f"entry holds a {type(payload).__name__}")
    if payload.get("format") != FORMAT_VERSION:
        raise ValueError(f"format {payload.get('format')!r}, expected {FORMAT_VERSION}")
    stored = (payload.get("media_key"), payload.get("frame"), payload.get("model_id"))
    if stored != (key.media_key, key.frame, key.model_id):
        raise ValueError(f"entry is for {stored}, not {(key.media_key, key.frame, key.model_id)}")
    features = payload["features"]
    if not isinstance(features, dict):
        raise ValueError("features are not a mapping")
    return ImageEmbedding(
        model_id=str(payload["embedding_model_id"]),
        original_size=_pair(payload["original_size"]),
        input_size=_pair(payload["input_size"]),
        features={name: _decode_value(v) for name, v in features.items()},
    )


def _pair(value: Any) -> tuple[int, int]:
    h, w = value
    return int(h), int(w)


def _safe_name(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", model_id) or "_"


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on Windows.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
