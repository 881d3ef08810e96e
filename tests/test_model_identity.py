"""A model's id names its weights, not only its size: embeddings, the caches and the provenance
written into projects never mix two checkpoints of one architecture (a fine-tuned ViT-B and the
official one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model_runtime.models.sam1.model import Sam
from model_runtime.models.sam1.tiny_vit import TINY_VIT_5M, TinyViT
from model_runtime.runtime import EmbeddingKey, Runtime, RuntimeConfig

WAIT = 300.0


def mobilesam_checkpoint(path: Path, seed: int) -> Path:
    """MobileSAM with random weights in the official layout (``seed`` picks the weights)."""
    torch.manual_seed(seed)
    sam = Sam(TinyViT(TINY_VIT_5M))
    with torch.no_grad():
        for name, tensor in sam.state_dict().items():
            if tensor.is_floating_point():
                tensor.add_(0.05 * torch.randn_like(tensor))
                if name.endswith("running_var"):
                    tensor.abs_().add_(0.05)
    torch.save(sam.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    found = {}
    for name, seed in (("official", 0), ("tuned", 1), ("copy", 0)):
        # One file name, one size: only the weights differ (or, for the copy, only the folder).
        found[name] = mobilesam_checkpoint(tmp_path_factory.mktemp(name) / "mobile_sam.pt", seed)
    assert found["official"].stat().st_size == found["tuned"].stat().st_size
    return found


def photo() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, size=(120, 160, 3), dtype=np.uint8)


def config(tmp_path: Path) -> RuntimeConfig:
    return RuntimeConfig(disk_cache_dir=tmp_path / "cache", interactive_threads=1, background_threads=1)


def test_two_checkpoints_of_one_size_never_share_an_embedding_in_memory(checkpoints, tmp_path):
    with Runtime(config(tmp_path)) as rt:
        official = rt.load_model(checkpoints["official"]).result(WAIT)
        assert rt.encode("photo", 0, photo).result(WAIT).source == "computed"
        tuned = rt.load_model(checkpoints["tuned"]).result(WAIT)
        # Not the official model's embedding from memory: the tuned weights encode it anew.
        assert rt.encode("photo", 0, photo).result(WAIT).source == "computed"
    assert official.model_id != tuned.model_id


def test_two_checkpoints_of_one_size_never_share_an_embedding_on_disk(checkpoints, tmp_path):
    with Runtime(config(tmp_path)) as rt:
        official = rt.load_model(checkpoints["official"]).result(WAIT)
        assert rt.encode("photo", 0, photo).result(WAIT).source == "computed"
    with Runtime(config(tmp_path)) as rt:  # memory empty, the official embedding on disk
        tuned = rt.load_model(checkpoints["tuned"]).result(WAIT)
        assert rt.encode("photo", 0, photo).result(WAIT).source == "computed"
    with Runtime(config(tmp_path)) as rt:  # each finds its own on disk
        embeddings = {}
        for name, loaded in (("tuned", tuned), ("official", official)):
            assert rt.load_model(checkpoints[name]).result(WAIT).model_id == loaded.model_id
            assert rt.encode("photo", 0, photo).result(WAIT).source == "disk"
            embeddings[name] = rt.memory_cache.get(EmbeddingKey("photo", 0, loaded.model_id))
    tuned_features, official_features = (embeddings[n].features["image_embed"] for n in ("tuned", "official"))
    assert not torch.equal(tuned_features, official_features)


def test_the_same_weights_have_the_same_id_wherever_the_file_is(checkpoints, tmp_path):
    with Runtime(config(tmp_path)) as rt:
        official = rt.load_model(checkpoints["official"]).result(WAIT)
        assert rt.encode("photo", 0, photo).result(WAIT).source == "computed"
        copy = rt.load_model(checkpoints["copy"]).result(WAIT)
        assert copy.model_id == official.model_id
        assert rt.encode("photo", 0, photo).result(WAIT).source == "memory"
    assert official.model_id.startswith("mobilesam-tiny_vit_5m-")


def test_the_fingerprint_sees_any_changed_tensor_and_ignores_key_order():
    from model_runtime.fingerprint import weights_fingerprint

    generator = torch.Generator().manual_seed(0)
    weights = {
        "encoder.weight": torch.randn(64, 300, generator=generator),  # sampled (19,200 values)
        "encoder.bias": torch.randn(64, generator=generator),  # hashed whole
        "memory.embed": torch.randn(8, 8, generator=generator).to(torch.bfloat16),
    }
    base = weights_fingerprint(weights)
    assert weights_fingerprint(dict(reversed(weights.items()))) == base
    for name in weights:
        tuned = {k: v.clone() for k, v in weights.items()}
        tuned[name] += 0.01  # a fine-tune moves every value of a tensor it trains
        assert weights_fingerprint(tuned) != base, name
    renamed = {("decoder.bias" if k == "encoder.bias" else k): v for k, v in weights.items()}
    assert weights_fingerprint(renamed) != base
