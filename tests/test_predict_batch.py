"""predict_batch: many prompt sets in one decoder pass give what predict gives one by one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

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


def test_everything_decodes_its_grid_in_groups_of_points_per_batch() -> None:
    """segment everything decodes its grid's single clicks through the model's batched
    ``decode_clicks``, ``points_per_batch`` clicks per call."""
    from model_runtime.everything import EverythingSettings, segment_everything

    model = small_sam2_model()
    calls: list[int] = []
    original = model.decode_clicks

    def counting(embedding: Any, points: Any, **options: Any) -> Any:
        calls.append(len(points))
        return original(embedding, points, **options)

    model.decode_clicks = counting  # type: ignore[method-assign]
    settings = EverythingSettings(points_per_side=4, points_per_batch=5, pred_iou_thresh=0.0,
                                  stability_score_thresh=0.0)
    segment_everything(model, _image(), None, settings)
    assert calls == [5, 5, 5, 1]
