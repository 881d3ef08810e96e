"""SAM 1 model wrapper behaviour that needs no oracle: the ImageModel contract, prompt errors,
the per-image decoder cache, and that a mask input bypasses it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model_runtime.api import Capability, ImageModel, PromptError
from model_runtime.checkpoints import MOBILESAM
from model_runtime.models.sam1.model import Sam, from_state_dict
from model_runtime.models.sam1.tiny_vit import TINY_VIT_5M, TinyViT


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    sam = Sam(TinyViT(TINY_VIT_5M))
    with torch.no_grad():
        for name, tensor in sam.state_dict().items():
            if tensor.is_floating_point():
                tensor.add_(0.05 * torch.randn_like(tensor))
                if name.endswith("running_var"):
                    tensor.abs_().add_(0.05)
    return from_state_dict(sam.state_dict(), family=MOBILESAM, path=Path("random.pt"), device="cpu")


@pytest.fixture(scope="module")
def embedding(model):
    image = np.random.default_rng(0).integers(0, 256, (300, 500, 3), dtype=np.uint8)
    return model.encode_image(image)


def test_contract(model, embedding) -> None:
    assert isinstance(model, ImageModel)
    assert model.info.model_id == f"mobilesam-tiny_vit_5m-{model.info.weights[:12]}"
    assert model.info.capabilities == {Capability.CLICK, Capability.EVERYTHING}
    assert embedding.original_size == (300, 500)
    assert embedding.input_size == (614, 1024)
    assert embedding.features["image_embed"].shape == (1, 256, 64, 64)
    pred = model.predict(embedding, points=[[250, 150]], labels=[1])
    assert pred.masks.shape == (3, 300, 500) and pred.masks.dtype == np.bool_
    # Only the best candidate is made before answering; the others when first read.
    best = int(np.argmax(pred.scores))
    assert [pred.masks.is_made(i) for i in range(3)] == [i == best for i in range(3)]
    assert all(m.dtype == np.bool_ and m.shape == (300, 500) and m.flags["C_CONTIGUOUS"] for m in pred.masks)
    assert pred.scores.shape == (3,) and pred.scores.dtype == np.float32
    assert pred.low_res_logits.shape == (3, 256, 256) and pred.low_res_logits.dtype == np.float32
    single = model.predict(embedding, box=[10, 20, 400, 280], multimask=False)
    assert single.masks.shape == (1, 300, 500)


def test_masks_are_the_thresholded_logits(model, embedding) -> None:
    # The official post-processing of the (unclamped) returned logits: 1024², crop, original size.
    pred = model.predict(embedding, points=[[250, 150], [50, 50]], labels=[1, 0])
    low = torch.from_numpy(pred.low_res_logits)[None]
    logits = F.interpolate(low, (1024, 1024), mode="bilinear", align_corners=False)[..., :614, :1024]
    logits = F.interpolate(logits, (300, 500), mode="bilinear", align_corners=False)[0]
    differ = pred.masks != (logits > 0).numpy()
    # Only where the official float32 value is within rounding of 0 (see test_mask_upsampling).
    assert (logits.numpy()[differ].__abs__() <= 1e-5 * max(1.0, float(low.abs().max()))).all()
    assert int(differ.sum()) <= 8


def test_cached_image_side_gives_the_uncached_answer(model, embedding) -> None:
    points, labels = np.array([[100.0, 80.0], [300.0, 200.0]]), np.array([1, 0])
    cached = model.predict(embedding, points=points, labels=labels)
    # The same features in new tensors: the model has no image side cached for them.
    copy = dataclasses.replace(embedding, features={k: v.clone() for k, v in embedding.features.items()})
    fresh = model.predict(copy, points=points, labels=labels)
    np.testing.assert_allclose(cached.low_res_logits, fresh.low_res_logits, atol=1e-5)
    # A mask input changes the dense prompt, so the cached image side must not be used.
    refined = model.predict(embedding, points=points, labels=labels, mask_input=cached.low_res_logits[:1])
    unrefined = model.predict(embedding, points=points, labels=labels)
    assert not np.allclose(refined.low_res_logits, unrefined.low_res_logits, atol=1e-3)


@pytest.mark.parametrize(
    "prompt, message",
    [
        ({}, "no prompt"),
        ({"points": [[1, 2]]}, "together"),
        ({"points": [[1, 2]], "labels": [2]}, "labels"),
        ({"box": [1, 2, 3]}, "box"),
        ({"mask_input": np.zeros((64, 64))}, "mask_input"),
    ],
)
def test_bad_prompts(model, embedding, prompt, message) -> None:
    with pytest.raises(PromptError, match=message):
        model.predict(embedding, **prompt)


def test_foreign_embedding_is_refused(model, embedding) -> None:
    from dataclasses import replace

    with pytest.raises(PromptError, match="sam2"):
        model.predict(replace(embedding, model_id="sam2-hiera_t"), points=[[1, 1]], labels=[1])


def test_bad_image_is_refused(model) -> None:
    with pytest.raises(ValueError, match="uint8"):
        model.encode_image(np.zeros((10, 10, 3), dtype=np.float32))
