"""predict_batch: many prompt sets in one decoder pass give what predict gives one by one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from model_runtime.api import BatchPredictor, Prompts
from model_runtime.models.common.prompt_batches import shape_groups
from tests.tiny_models import small_sam2_model


@pytest.fixture(scope="module")
def mobilesam(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from model_runtime import load_model
    from tests.oracles.sam1 import cached_checkpoint

    return load_model(cached_checkpoint(tmp_path_factory, "vit_t"))


def _image(height: int = 300, width: int = 420) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 255, (height, width, 3), dtype=np.uint8)


def _mixed_prompts(height: int, width: int, mask_inputs: bool) -> list[Prompts]:
    rng = np.random.default_rng(4)
    prompts: list[Prompts] = []
    for i in range(11):
        if i % 4 == 3:
            x0, y0 = rng.random(2) * [width / 2, height / 2]
            prompts.append(Prompts(box=(x0, y0, x0 + 80, y0 + 60)))
        elif i % 4 == 2:
            points = rng.random((2, 2)) * [width, height]
            prompts.append(Prompts(points=points, labels=[1, 0], box=(5, 5, width - 5, height - 5)))
        else:
            prompts.append(Prompts(points=[tuple(rng.random(2) * [width, height])], labels=[1]))
    if not mask_inputs:
        return prompts
    logits = rng.normal(size=(1, 256, 256)).astype(np.float32) * 3
    prompts.append(Prompts(points=[(40.0, 50.0)], labels=[1], mask_input=logits))
    prompts.append(Prompts(points=[(90.0, 20.0)], labels=[1], mask_input=-logits))
    return prompts


@pytest.mark.parametrize("which", ["mobilesam", "sam2"])
@pytest.mark.parametrize("multimask", [True, False])
def test_batch_equals_one_by_one(which: str, multimask: bool, request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue("mobilesam") if which == "mobilesam" else small_sam2_model()
    assert isinstance(model, BatchPredictor)
    image = _image()
    embedding = model.encode_image(image)
    # The small SAM 2 runs at a 256² input, where mask inputs would be 64² (the API takes 256²).
    prompts = _mixed_prompts(*image.shape[:2], mask_inputs=which == "mobilesam")
    batch = model.predict_batch(embedding, prompts, multimask=multimask)
    assert len(batch) == len(prompts)
    for prompt, got in zip(prompts, batch, strict=True):
        assert not any(got.masks.is_made(i) for i in range(len(got.masks)))  # nothing made early
        one = model.predict(embedding, multimask=multimask, **prompt.click_arrays())
        np.testing.assert_allclose(got.low_res_logits, one.low_res_logits, atol=2e-4, rtol=0)
        np.testing.assert_allclose(got.scores, one.scores, atol=1e-5, rtol=0)
        for k in range(len(one.masks)):
            differ = np.count_nonzero(np.asarray(got.masks[k]) != np.asarray(one.masks[k]))
            assert differ <= 5, f"candidate {k}: {differ} pixels differ"


def test_shape_groups_keep_order_and_bound_size() -> None:
    prompts = [Prompts(points=[(1, 1)], labels=[1])] * 5 + [Prompts(box=(0, 0, 2, 2))] * 2
    prompts.insert(2, Prompts(box=(0, 0, 3, 3)))
    groups = shape_groups(prompts, max_batch=2)
    assert groups == [[0, 1], [3, 4], [5], [2, 6], [7]]


def test_everything_decodes_its_grid_through_decode_clicks() -> None:
    """segment everything decodes its grid's clicks in groups of points_per_batch through the
    model's decode_clicks, asking it to leave out the masks pred_iou_thresh drops."""
    from model_runtime.everything import EverythingSettings, segment_everything

    model = small_sam2_model()
    calls: list[tuple[int, float | None]] = []
    original = model.decode_clicks

    def counting(embedding: Any, points: Any, multimask: bool = True, min_score: float | None = None) -> Any:
        calls.append((len(points), min_score))
        return original(embedding, points, multimask=multimask, min_score=min_score)

    model.decode_clicks = counting  # type: ignore[method-assign]
    settings = EverythingSettings(points_per_side=4, points_per_batch=5, pred_iou_thresh=0.25,
                                  stability_score_thresh=0.0)
    segment_everything(model, _image(), None, settings)
    assert calls == [(5, 0.25), (5, 0.25), (5, 0.25), (1, 0.25)]


class _WithoutDecodeClicks:
    """A click model that offers predict_batch but not decode_clicks (test double)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls: list[int] = []

    def encode_image(self, image: np.ndarray) -> Any:
        return self.model.encode_image(image)

    def mask_plan(self, embedding: Any) -> Any:
        return self.model.mask_plan(embedding)

    def predict(self, embedding: Any, **kwargs: Any) -> Any:
        return self.model.predict(embedding, **kwargs)

    def predict_batch(self, embedding: Any, prompts: Any, multimask: bool = True) -> Any:
        self.calls.append(len(prompts))
        return self.model.predict_batch(embedding, prompts, multimask=multimask)


def test_everything_falls_back_to_predict_batch_and_finds_the_same() -> None:
    from model_runtime.everything import EverythingSettings, segment_everything

    model = small_sam2_model()
    plain = _WithoutDecodeClicks(model)
    settings = EverythingSettings(points_per_side=4, points_per_batch=5, pred_iou_thresh=0.0,
                                  stability_score_thresh=0.0, box_nms_thresh=1.0)
    image = _image()
    ours = segment_everything(plain, image, None, settings)  # type: ignore[arg-type]
    assert plain.calls == [5, 5, 5, 1]
    direct = segment_everything(model, image, None, settings)
    assert len(ours) == len(direct) > 0
    np.testing.assert_allclose(ours.scores, direct.scores, atol=1e-5)
    np.testing.assert_array_equal(ours.boxes, direct.boxes)


@pytest.mark.parametrize("which", ["mobilesam", "sam2"])
def test_decode_clicks_leaves_out_masks_under_min_score(which: str, request: pytest.FixtureRequest) -> None:
    """Clicks none of whose candidates scores above ``min_score`` get NaN logits (not computed);
    the others' logits and every score are what a full decode gives."""
    model = request.getfixturevalue("mobilesam") if which == "mobilesam" else small_sam2_model()
    image = _image()
    embedding = model.encode_image(image)
    points = np.random.default_rng(6).random((12, 2)) * [image.shape[1], image.shape[0]]
    logits, scores = model.decode_clicks(embedding, points)
    best = scores.max(axis=1)
    min_score = float(np.median(best))
    passing = best > min_score
    assert 0 < passing.sum() < len(points)
    gated, gated_scores = model.decode_clicks(embedding, points, min_score=min_score)
    np.testing.assert_array_equal(gated_scores, scores)
    assert torch.isnan(gated[torch.from_numpy(~passing)]).all()
    kept = torch.from_numpy(passing)
    torch.testing.assert_close(gated[kept], logits[kept], atol=1e-4, rtol=0)
