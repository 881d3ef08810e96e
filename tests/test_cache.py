"""Embedding caches: byte bounds, LRU order, exact disk round trips, corrupt entries, processes."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from model_runtime.api import ImageEmbedding
from model_runtime.runtime import DiskEmbeddingCache, EmbeddingKey, MemoryEmbeddingCache
from model_runtime.runtime.cache import FORMAT_VERSION, STALE_TEMPORARY_SECONDS

REPO_ROOT = Path(__file__).resolve().parents[1]


def embedding(seed: int, n: int = 256) -> ImageEmbedding:
    """``n`` float32 values in the main tensor: nbytes = 4 * n + 8 * n (the pyramid)."""
    g = torch.Generator().manual_seed(seed)
    return ImageEmbedding(
        model_id="m",
        original_size=(30, 40),
        input_size=(24, 32),
        features={
            "image_embed": torch.randn(n, generator=g),
            "high_res": [torch.randn(n, generator=g), torch.randn(n, generator=g).to(torch.bfloat16)],
            "extra": np.arange(n // 4, dtype=np.int16),
            "pair": (torch.ones(2, dtype=torch.int64), 3.5),
        },
    )


def key(i: int, model: str = "double-a") -> EmbeddingKey:
    return EmbeddingKey(f"hash{i}", i % 3, model)


def assert_same(a: ImageEmbedding, b: ImageEmbedding) -> None:
    assert (a.model_id, a.original_size, a.input_size) == (b.model_id, b.original_size, b.input_size)
    assert a.features.keys() == b.features.keys()
    for name in a.features:
        _assert_same_value(a.features[name], b.features[name])


def _assert_same_value(x, y) -> None:
    assert type(x) is type(y)
    if isinstance(x, torch.Tensor):
        assert x.dtype == y.dtype and torch.equal(x, y)
    elif isinstance(x, np.ndarray):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    elif isinstance(x, (list, tuple)):
        assert len(x) == len(y)
        for u, v in zip(x, y, strict=True):
            _assert_same_value(u, v)
    else:
        assert x == y


# --- memory ---------------------------------------------------------------------------------


def test_memory_cache_is_bounded_by_bytes_and_evicts_least_recently_used():
    size = embedding(0).nbytes()
    cache = MemoryEmbeddingCache(max_bytes=3 * size)
    for i in range(3):
        assert cache.put(key(i), embedding(i))
    assert cache.nbytes == 3 * size
    assert cache.get(key(0)) is not None  # 0 becomes the most recent
    cache.put(key(3), embedding(3))
    assert cache.lru_order() == [key(2), key(0), key(3)]
    assert cache.get(key(1)) is None
    assert cache.nbytes <= cache.max_bytes


def test_memory_cache_refuses_an_embedding_larger_than_its_bound():
    cache = MemoryEmbeddingCache(max_bytes=100)
    assert not cache.put(key(0), embedding(0))
    assert len(cache) == 0 and cache.nbytes == 0


def test_memory_cache_replacing_a_key_keeps_the_byte_count_right_and_drops_models():
    cache = MemoryEmbeddingCache(max_bytes=1 << 20)
    cache.put(key(0), embedding(0))
    cache.put(key(0), embedding(1, n=512))
    assert cache.nbytes == embedding(1, n=512).nbytes()
    cache.put(key(1, "other"), embedding(2))
    cache.discard_model("double-a")
    assert cache.lru_order() == [key(1, "other")]
    assert cache.nbytes == embedding(2).nbytes()


# --- disk -----------------------------------------------------------------------------------


def test_disk_round_trip_is_exact(tmp_path):
    cache = DiskEmbeddingCache(tmp_path)
    original = embedding(5)
    assert cache.put(key(5), original)
    restored = cache.get(key(5))
    assert restored is not None
    assert_same(original, restored)
    path = cache.path_for(key(5))
    assert path.parent.parent.name == f"v{FORMAT_VERSION}" and path.parent.parent.parent.name == "double-a"
    assert not list(tmp_path.rglob(".tmp-*"))  # the temporary file was renamed into place


def test_disk_cache_misses_other_keys_and_models(tmp_path):
    cache = DiskEmbeddingCache(tmp_path)
    cache.put(key(1), embedding(1))
    assert cache.get(key(2)) is None
    assert cache.get(key(1, "double-b")) is None


@pytest.mark.parametrize(
    "damage",
    ["truncate", "garbage", "empty", "pickle_object", "wrong_key", "old_format"],
)
def test_corrupt_disk_entries_are_misses_and_deleted(tmp_path, damage):
    cache = DiskEmbeddingCache(tmp_path)
    cache.put(key(1), embedding(1))
    path = cache.path_for(key(1))
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a torch file" * 10)
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "pickle_object":
        # Would run code if loaded without weights_only.
        path.write_bytes(pickle.dumps(subprocess.Popen))
    elif damage == "wrong_key":
        cache.put(key(2), embedding(2))
        path.write_bytes(cache.path_for(key(2)).read_bytes())
    else:
        payload = torch.load(path, weights_only=True)
        payload["format"] = FORMAT_VERSION + 100
        torch.save(payload, path)
    assert cache.get(key(1)) is None
    assert not path.exists()
    assert cache.put(key(1), embedding(1)) and cache.get(key(1)) is not None


def test_disk_cache_is_bounded_and_evicts_least_recently_used(tmp_path):
    probe = DiskEmbeddingCache(tmp_path / "probe")
    probe.put(key(0), embedding(0))
    entry = probe.path_for(key(0)).stat().st_size
    cache = DiskEmbeddingCache(tmp_path / "c", max_bytes=int(2.5 * entry))

    for i in range(3):
        cache.put(key(i), embedding(i))
        # mtimes are the LRU clock; make the order explicit rather than depend on its resolution
        os.utime(cache.path_for(key(i)), (1000 + i, 1000 + i))
        if i == 1:
            os.utime(cache.path_for(key(0)), (2000, 2000))  # as if key 0 was just read
    assert cache.total_bytes() <= cache.max_bytes
    assert cache.get(key(1)) is None
    assert cache.get(key(0)) is not None and cache.get(key(2)) is not None


def test_a_temporary_left_by_a_dead_writer_is_deleted_and_a_live_one_is_left_alone(tmp_path):
    """A process killed mid-write leaves ``.tmp-*.pt`` beside the entries: never counted as an
    entry, deleted by the first scan once stale, and a younger one (another process's write in
    progress) is neither deleted nor evicted."""
    writer = DiskEmbeddingCache(tmp_path)
    writer.put(key(1), embedding(1))
    folder = writer.path_for(key(1)).parent
    stale, live = folder / ".tmp-dead.pt", folder / ".tmp-writing.pt"
    for path in (stale, live):
        path.write_bytes(b"\0" * 4096)
    old = time.time() - STALE_TEMPORARY_SECONDS - 60
    os.utime(stale, (old, old))

    cache = DiskEmbeddingCache(tmp_path)
    assert cache.total_bytes() == writer.path_for(key(1)).stat().st_size
    assert not stale.exists() and live.exists()
    cache.clear()
    assert live.exists() and not writer.path_for(key(1)).exists()


def test_subclassed_embeddings_stay_in_memory_only(tmp_path):
    from dataclasses import dataclass

    @dataclass
    class Custom(ImageEmbedding):
        extra: int = 0

    cache = DiskEmbeddingCache(tmp_path)
    assert not cache.put(key(0), Custom("m", (1, 1), (1, 1), {}, extra=3))
    assert cache.get(key(0)) is None


_WRITER = """
import sys, torch
sys.path.insert(0, sys.argv[1])
from tests.test_cache import embedding, key
from model_runtime.runtime import DiskEmbeddingCache
assert DiskEmbeddingCache(sys.argv[2]).put(key(9), embedding(9))
"""

_READER = """
import sys
import time
sys.path.insert(0, sys.argv[1])
from tests.test_cache import assert_same, embedding, key
from model_runtime.runtime import DiskEmbeddingCache
got = DiskEmbeddingCache(sys.argv[2]).get(key(9))
assert got is not None, "miss"
assert_same(embedding(9), got)
print("same")
"""


def test_disk_entries_written_by_one_process_are_read_by_another(tmp_path):
    for script in (_WRITER, _READER):
        done = subprocess.run(
            [sys.executable, "-c", script, str(REPO_ROOT), str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "same"
