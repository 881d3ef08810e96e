"""Segment everything against the official automatic mask generators, on random weights.

Random weights make speckled masks whose predicted IoU sits near 0 and whose stability is low,
so the thresholds are lowered until a fair share survives; box NMS at 1.0 keeps every survivor
(testing the filters, the order and the masks), the official 0.7 tests NMS itself. Each
official record must have its twin in our result, in the same place: mask IoU ≥ 0.999, the same
box, predicted IoU and stability score within 1e-4.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import tests.oracles  # noqa: F401  (torchvision shim before any official package)
from model_runtime.everything.boxes import box_nms, mask_boxes
from model_runtime.everything.grid import crop_boxes, layer_point_grids
from model_runtime.everything.regions import BoxedMask, remove_small_regions

pytestmark = pytest.mark.oracle


@pytest.fixture(autouse=True, scope="module")
def _torchvision_nms() -> None:
    from tests.oracles.torchvision_shim import enable_ops

    enable_ops()  # the official generators call torchvision's batched_nms

LOW = {"pred_iou_thresh": 0.01, "stability_score_thresh": 0.15}


@pytest.fixture(scope="module")
def dog(media_dir: Any) -> np.ndarray:
    return np.asarray(Image.open(media_dir / "dog.jpg").convert("RGB"))


def assert_same_records(records: list[dict[str, Any]], ours: Any) -> None:
    assert len(ours) == len(records), f"official kept {len(records)}, ours {len(ours)}"
    assert len(records) > 0, "nothing survived: the test's thresholds exercise nothing"
    masks = np.asarray(ours.masks)
    for i, record in enumerate(records):
        official = record["segmentation"]
        union = np.count_nonzero(official | masks[i])
        iou = np.count_nonzero(official & masks[i]) / max(union, 1)
        assert iou >= 0.999, f"mask {i}: IoU {iou}"
        x0, y0, x1, y1 = ours.boxes[i]
        np.testing.assert_allclose([x0, y0, x1 - x0 - 1, y1 - y0 - 1], record["bbox"], atol=1e-6)
        assert abs(float(ours.scores[i]) - record["predicted_iou"]) <= 1e-4, i
        assert abs(float(ours.stability_scores[i]) - record["stability_score"]) <= 1e-4, i


@pytest.fixture(scope="module")
def mobilesam(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    from model_runtime import load_model
    from tests.oracles.sam1 import build_official, cached_checkpoint

    path = cached_checkpoint(tmp_path_factory, "vit_t")
    return load_model(path), build_official("vit_t", path)


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"points_per_side": 6, "min_mask_region_area": 40, **LOW}, id="nms-small-regions"),
        pytest.param({"points_per_side": 4, "crop_n_layers": 1, "crop_nms_thresh": 1.0, **LOW}, id="crops"),
        pytest.param({"points_per_side": 8, "box_nms_thresh": 1.0, **LOW}, id="keep-all",
                     marks=pytest.mark.slow),
        pytest.param({"points_per_side": 6, "crop_n_layers": 1, "crop_n_points_downscale_factor": 2, **LOW},
                     id="crops-downscaled", marks=pytest.mark.slow),
    ],
)
def test_sam1_generator_parity(mobilesam: tuple[Any, Any], dog: np.ndarray, settings: dict[str, Any]) -> None:
    from mobile_sam import SamAutomaticMaskGenerator

    ours, official = mobilesam
    torch.manual_seed(0)
    records = SamAutomaticMaskGenerator(official, **settings).generate(dog)
    assert_same_records(records, ours.segment_everything(dog, **settings))


@pytest.fixture(scope="module")
def sam21_tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    from model_runtime import load_model
    from tests.oracles.sam2 import build_official, make_checkpoint

    path = make_checkpoint("sam2.1", "hiera_t", tmp_path_factory.mktemp("sam21") / "t.pt")
    return load_model(path), build_official("sam2.1", "hiera_t", path)


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"points_per_side": 5, "use_m2m": True, "box_nms_thresh": 1.0, **LOW},
                     id="m2m-keep-all"),
        pytest.param({"points_per_side": 8, **LOW}, id="nms", marks=pytest.mark.slow),
    ],
)
def test_sam2_generator_parity(
    sam21_tiny: tuple[Any, Any], dog: np.ndarray, settings: dict[str, Any]
) -> None:
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    ours, official = sam21_tiny
    records = SAM2AutomaticMaskGenerator(official, **settings).generate(dog)
    embedding = ours.encode_image(dog)  # the cached embedding is reused for the whole image
    assert_same_records(records, ours.segment_everything(dog, embedding=embedding, **settings))


def test_grids_and_crops_match_the_official_helpers() -> None:
    from segment_anything.utils import amg

    for n, layers, factor in [(32, 0, 1), (16, 2, 2), (10, 1, 3)]:
        for ours, theirs in zip(layer_point_grids(n, layers, factor),
                                amg.build_all_layer_point_grids(n, layers, factor), strict=True):
            np.testing.assert_array_equal(ours, theirs)
    for size in [(534, 800), (1200, 1800), (1000, 333)]:
        for layers in (0, 1, 2):
            boxes, layer_ids = amg.generate_crop_boxes(size, layers, 512 / 1500)
            ours = crop_boxes(size, layers, 512 / 1500)
            assert [list(box) for box, _ in ours] == boxes and [i for _, i in ours] == layer_ids


def test_mask_boxes_and_nms_match_the_official_semantics() -> None:
    from segment_anything.utils.amg import batched_mask_to_box
    from torchvision.ops.boxes import batched_nms

    rng = np.random.default_rng(0)
    masks = np.zeros((30, 40, 50), dtype=bool)
    for m in masks[1:]:
        y, x = rng.integers(0, 35), rng.integers(0, 45)
        m[y:y + rng.integers(1, 6), x:x + rng.integers(1, 6)] = True
    np.testing.assert_array_equal(mask_boxes(masks), batched_mask_to_box(torch.from_numpy(masks)).numpy())
    boxes = rng.integers(0, 40, (200, 2)).repeat(2, axis=1).astype(np.float32)
    boxes[:, 2:] += rng.integers(1, 30, (200, 2))
    boxes = boxes[:, [0, 2, 1, 3]]
    scores = rng.integers(0, 5, 200).astype(np.float32)  # many ties: the order of ties decides
    for threshold in (0.3, 0.7, 1.0):
        theirs = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.zeros(200), threshold)
        np.testing.assert_array_equal(box_nms(boxes, scores, threshold), theirs.numpy())


def test_small_regions_match_the_official_helper() -> None:
    from segment_anything.utils.amg import remove_small_regions as official

    rng = np.random.default_rng(1)
    for _ in range(20):
        mask = rng.random((60, 80)) > 0.55
        mask[rng.integers(0, 60):, rng.integers(0, 80):] = False
        expected, changed = official(mask, 30, "holes")
        expected, changed_islands = official(expected, 30, "islands")
        boxed = BoxedMask.of(mask, mask_boxes(mask[None])[0])
        got, got_changed = remove_small_regions(boxed, 30)
        np.testing.assert_array_equal(got.full(), expected)
        assert got_changed == (changed or changed_islands)
