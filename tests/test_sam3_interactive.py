"""SAM 3's interactive head (clicks, boxes, mask refinement) against the official ``predict_inst``.

Reduced-width random weights in the ``sam3.pt`` layout (tests/oracles/sam3_official.py) are
loaded by both; each photo is encoded once by each side. The official predictor's hole filling
runs through the oracle's connected-components shim (module docstring there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

pytestmark = pytest.mark.oracle

IMAGES = ("truck.jpg", "groceries.jpg")


@dataclass
class Side:
    official: Any  # Sam3Image with its interactive predictor
    states: dict[str, dict]  # per image: the official Sam3Processor state after set_image
    head: Any  # our InteractiveHead
    features: dict[str, dict[str, torch.Tensor]]  # per image: what our head reads
    sizes: dict[str, tuple[int, int]]


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory, media_dir: Path) -> Side:
    from model_runtime.checkpoints import read_state_dict
    from model_runtime.models.sam3.checkpoint import load_encoders
    from model_runtime.models.sam3.interactive import load_interactive_head
    from model_runtime.models.sam3.transforms import preprocess_image
    from tests.oracles import sam3_official as oracle

    path = oracle.make_checkpoint(tmp_path_factory.mktemp("sam3i") / "sam3.pt", seed=5)
    state_dict = read_state_dict(path)
    encoders = load_encoders(state_dict, path, with_text=False)
    head = load_interactive_head(state_dict, path, encoders.config.d_model)
    official = oracle.load_official(path)
    processor = oracle.processor(official)
    states, features, sizes = {}, {}, {}
    for name in IMAGES:
        image = np.array(Image.open(media_dir / name).convert("RGB"))
        sizes[name] = image.shape[:2]
        # A PIL image: given a numpy array, the official set_image takes image.shape[-2:], i.e.
        # (W, 3), for (height, width), and every prompt coordinate is scaled wrongly.
        states[name] = processor.set_image(Image.fromarray(image))
        vision = encoders.vision_backbone(preprocess_image(image), tracker_heads=head.neck_heads)
        features[name] = head.image_features(vision.sam2_backbone_out)
    return Side(official, states, head, features, sizes)


def _both(sides: Side, name: str, **prompt: Any) -> tuple[Any, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    multimask = prompt.pop("multimask", True)
    ours = sides.head.predict(sides.features[name], sides.sizes[name], multimask=multimask, **prompt)
    official_kwargs = {
        "point_coords": prompt.get("points"),
        "point_labels": prompt.get("labels"),
        "box": prompt.get("box"),
        "mask_input": prompt.get("mask_input"),
        "multimask_output": multimask,
    }
    with torch.inference_mode():
        expected = sides.official.predict_inst(sides.states[name], **official_kwargs)
    return ours, expected


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _check(ours: Any, expected: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    masks, scores, low_res = expected
    assert ours.low_res_logits.shape == low_res.shape and low_res.shape[-2:] == (288, 288)
    np.testing.assert_allclose(ours.scores, scores, atol=1e-4)
    scale = float(np.abs(low_res).max())
    assert float(np.abs(ours.low_res_logits - low_res).max()) <= 1e-4 * scale
    order = np.argsort(-scores, kind="stable")  # ours: best first
    ours_masks = [ours.masks[i] for i in range(len(ours.masks))]
    expected_masks = masks[order] if len(masks) > 1 else masks
    ours_by_score = [ours_masks[i] for i in np.argsort(-ours.scores, kind="stable")]
    for mine, theirs in zip(ours_by_score, expected_masks, strict=True):
        assert mine.shape == theirs.shape
        assert _iou(mine, theirs > 0) >= 0.999


@pytest.mark.parametrize("name", IMAGES)
def test_a_click_matches_official_predict_inst(sides: Side, name: str) -> None:
    h, w = sides.sizes[name]
    points = np.array([[w * 0.45, h * 0.55]], dtype=np.float32)
    ours, expected = _both(sides, name, points=points, labels=np.array([1]))
    assert len(ours.masks) == 3
    _check(ours, expected)


@pytest.mark.parametrize("name", IMAGES)
def test_a_box_matches_official_predict_inst(sides: Side, name: str) -> None:
    h, w = sides.sizes[name]
    box = np.array([w * 0.2, h * 0.25, w * 0.7, h * 0.8], dtype=np.float32)
    ours, expected = _both(sides, name, box=box, multimask=False)
    assert len(ours.masks) == 1
    _check(ours, expected)


def test_clicks_with_a_box_and_a_refinement_match_official(sides: Side) -> None:
    name = IMAGES[0]
    h, w = sides.sizes[name]
    points = np.array([[w * 0.3, h * 0.4], [w * 0.6, h * 0.5]], dtype=np.float32)
    box = np.array([w * 0.1, h * 0.2, w * 0.8, h * 0.9], dtype=np.float32)
    first, expected = _both(sides, name, points=points, labels=np.array([1, 0]), box=box, multimask=False)
    _check(first, expected)
    again, expected = _both(
        sides, name, points=points, labels=np.array([1, 0]), mask_input=first.low_res_logits[:1]
    )
    _check(again, expected)


def test_small_background_holes_are_filled_as_the_official_predictor_does() -> None:
    from model_runtime.models.sam3.interactive import fill_small_holes
    from tests.oracles.sam3_official import import_official

    import_official()
    from sam3.model.utils.sam1_utils import SAM2Transforms

    logits = torch.full((2, 288, 288), 3.0)
    logits[0, 10:20, 10:20] = -1.0  # a 100-pixel hole: filled
    logits[0, 100:130, 100:130] = -1.0  # 900 pixels: kept
    logits[1, :16, :16] = -2.0  # 256 pixels in a corner, touching the border: filled too
    logits[1, 200, 200] = 0.0  # exactly 0 counts as background
    logits[1, 50:60, 50:60] = -1.0
    logits[1, 60, 60] = -1.0  # touches the square above only diagonally: one 8-connected region
    filled = fill_small_holes(logits)
    official = SAM2Transforms(1008, 0.0, max_hole_area=256.0).postprocess_masks(logits[None], (288, 288))[0]
    assert torch.equal(filled > 0, official > 0)
    assert bool((filled[0, 10:20, 10:20] == 10.0).all()) and bool((filled[0, 100:130, 100:130] < 0).all())


def test_a_mask_input_of_the_wrong_size_is_refused(sides: Side) -> None:
    from model_runtime.api import PromptError

    name = IMAGES[0]
    with pytest.raises(PromptError, match=r"\(1, 288, 288\)"):
        sides.head.predict(sides.features[name], sides.sizes[name], mask_input=np.zeros((1, 256, 256)))
