"""Segment everything's own behaviour: previews while it runs, settings, region, masks kept small.

Parity with the official generators is in test_everything_parity.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from model_runtime.api import Capability, EverythingModel, PromptError
from model_runtime.everything import EverythingSettings, iter_everything, segment_everything
from model_runtime.everything.regions import BoxedMask
from tests.tiny_models import small_sam2_model

LOOSE = {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0, "box_nms_thresh": 1.0}


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return small_sam2_model()


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(5).integers(0, 255, (120, 160, 3), dtype=np.uint8)


def test_models_declare_and_serve_everything(model, image: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(model, EverythingModel) and model.info.can(Capability.EVERYTHING)
    found = model.segment_everything(image, points_per_side=3, **LOOSE)
    assert len(found) == 27  # 9 points × 3 candidates, nothing filtered
    assert found.stability_scores is not None and len(found.stability_scores) == 27
    assert found.image_size == (120, 160)
    assert np.all(found.scores[:-1] >= found.scores[1:])  # NMS order: best predicted IoU first


def test_previews_stream_per_batch_and_the_last_step_is_final(model, image: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    settings = EverythingSettings(points_per_side=3, points_per_batch=4, **LOOSE)
    steps = list(iter_everything(model, image, None, settings))
    assert [(s.done, s.total, s.final) for s in steps] == [(1, 3, False), (2, 3, False), (3, 3, True)]
    assert [len(s.instances) for s in steps] == [12, 24, 27]
    final = segment_everything(model, image, None, settings)
    np.testing.assert_array_equal(final.boxes, steps[-1].instances.boxes)


def test_a_region_keeps_only_its_grid_points(model, image: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    whole = model.segment_everything(image, points_per_side=4, **LOOSE)
    left = model.segment_everything(image, points_per_side=4, region=(0, 0, 80, 120), **LOOSE)
    assert len(left) == len(whole) // 2


def test_the_whole_image_embedding_is_reused_and_checked(model, image: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    embedding = model.encode_image(image)
    calls = []
    original = model.encode_image
    model.encode_image = lambda img: calls.append(img.shape) or original(img)
    try:
        model.segment_everything(image, embedding=embedding, points_per_side=2, **LOOSE)
        assert calls == []
        with pytest.raises(PromptError, match="embedding is of a"):
            model.segment_everything(image[:60], embedding=embedding, points_per_side=2)
    finally:
        del model.encode_image


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"points_per_sid": 4}, "unknown segment-everything setting"),
        ({"points_per_side": 0}, "points_per_side"),
        ({"crop_n_layers": 3, "points_per_side": 4, "crop_n_points_downscale_factor": 2}, "no point"),
        ({"region": (5, 5, 5, 9)}, "zero area"),
    ],
)
def test_bad_settings_are_refused_by_name(model, image: np.ndarray, settings: dict, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PromptError, match=message):
        model.segment_everything(image, **settings)


def test_family_defaults_follow_the_official_generators() -> None:
    assert EverythingSettings.for_family("sam1").pred_iou_thresh == 0.88
    assert EverythingSettings.for_family("mobilesam").pred_iou_thresh == 0.88
    assert EverythingSettings.for_family("sam2.1").pred_iou_thresh == 0.8


def test_boxed_masks_round_trip() -> None:
    mask = np.zeros((30, 40), dtype=bool)
    mask[5:9, 10:21] = True
    boxed = BoxedMask.of(mask[2:, 3:], np.array([7, 3, 17, 6]), offset=(3, 2), image_size=(30, 40))
    assert boxed.box == (10, 5, 20, 8) and boxed.area == 44 and boxed.pixels.shape == (4, 11)
    np.testing.assert_array_equal(boxed.full(), mask)
    empty = BoxedMask.of(np.zeros((4, 4), bool), np.zeros(4, np.int64))
    assert empty.area == 0 and not empty.full().any()
