"""Who decides what runs in reduced precision: the model, not the runtime (issue 14, bug 6).

On a GPU the runtime used to wrap every model call in bf16 autocast while SAM 2 also had its
own bf16 switch, so bf16 features could land in caches whose keys ignored the precision. Now
each model says what it computes in (``ModelInfo.compute_dtype``, part of ``model_id``), does
its own autocast, and the runtime adds none. CPU only: the logic, not CUDA numerics."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from model_runtime.api import ModelInfo, Prompts
from model_runtime.runtime import EmbeddingKey, Runtime, RuntimeConfig
from tests.runtime_doubles import WAIT, DoubleModel, provider
from tests.tiny_models import small_sam2_model

SLOW_WAIT = 120.0


def test_the_runtime_adds_no_autocast_to_model_calls(monkeypatch):
    entered: list[tuple] = []

    @contextlib.contextmanager
    def recording_autocast(*args, **kwargs):
        entered.append((args, kwargs))
        yield

    # A GPU that supports bf16, as far as the runtime can tell.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch, "autocast", recording_autocast)
    model = DoubleModel("gpu", device="cuda")  # computes on the CPU; only its info says cuda
    with Runtime(RuntimeConfig(disk_cache=False), loader=lambda s, d: model) as rt:
        rt.load_model("gpu").result(WAIT)
        click = Prompts(points=[(5, 5)], labels=[1])
        rt.predict("o", "m1", 0, click, image_provider=provider(1)).result(WAIT)
        rt.run_job(lambda ctx: iter([ctx.call(lambda: None)])).result(WAIT)
    assert model.encode_log == [1] and len(model.predict_log) == 1
    assert entered == []


def test_the_precision_is_part_of_the_model_id():
    fp32 = ModelInfo("sam2.1", "hiera_t", 1024, 1, device="cuda", weights="ab" * 8)
    bf16 = ModelInfo("sam2.1", "hiera_t", 1024, 1, device="cuda", weights="ab" * 8, compute_dtype="bfloat16")
    assert fp32.model_id == "sam2.1-hiera_t-abababababab"
    assert bf16.model_id == "sam2.1-hiera_t-abababababab-bfloat16"


def test_sam2_computes_in_float32_unless_it_chose_bf16():
    assert small_sam2_model().info.compute_dtype == "float32"  # CPU: exact, and bf16 brings no speed
    from model_runtime.models.sam2.model import default_encoder_dtype

    assert default_encoder_dtype(torch.device("cpu")) == "float32"
    assert default_encoder_dtype(torch.device("mps")) == "float32"


def test_sam2_chooses_bf16_on_a_gpu_that_supports_it(monkeypatch):
    from model_runtime.models.sam2.model import default_encoder_dtype

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert default_encoder_dtype(torch.device("cuda")) == "bfloat16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert default_encoder_dtype(torch.device("cuda")) == "float32"


def test_a_reduced_precision_encoder_never_shares_cached_embeddings(tmp_path):
    exact = small_sam2_model(seed=0)
    reduced = small_sam2_model(seed=0, encoder_dtype="bfloat16")  # bf16 autocast, here on the CPU
    assert exact.info.weights == reduced.info.weights
    assert (exact.info.compute_dtype, reduced.info.compute_dtype) == ("float32", "bfloat16")
    models = {"exact": exact, "reduced": reduced}
    config = RuntimeConfig(disk_cache_dir=tmp_path / "cache", interactive_threads=1, background_threads=1)
    image = np.random.default_rng(0).integers(0, 256, size=(64, 96, 3), dtype=np.uint8)
    with Runtime(config, loader=lambda s, d: models[s]) as rt:
        for name in ("exact", "reduced"):
            rt.load_model(name).result(SLOW_WAIT)
            assert rt.encode("photo", 0, lambda: image).result(SLOW_WAIT).source == "computed"
    with Runtime(config, loader=lambda s, d: models[s]) as rt:
        features = {}
        for name, model in models.items():
            rt.load_model(name).result(SLOW_WAIT)
            assert rt.encode("photo", 0, lambda: image).result(SLOW_WAIT).source == "disk"
            embedding = rt.memory_cache.get(EmbeddingKey("photo", 0, model.info.model_id))
            features[name] = embedding.features["image_embed"]
    assert features["reduced"].dtype == torch.float32  # stored as float32, computed in bf16
    assert not torch.equal(features["exact"], features["reduced"])
    torch.testing.assert_close(features["reduced"], features["exact"], atol=0.1, rtol=0.1)


@pytest.mark.parametrize("dtype", ["float16", "int8"])
def test_sam2_refuses_a_precision_it_does_not_implement(dtype):
    with pytest.raises(ValueError, match="float32 or bfloat16"):
        small_sam2_model(encoder_dtype=dtype)
