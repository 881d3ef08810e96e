"""Our SAM 2 / 2.1 image model against the official ``SAM2ImagePredictor`` on real photos.

Random checkpoints in the official layout (tests/oracles/sam2.py) are loaded unchanged by both.
Each image is encoded once per module and variant; every prompt case reuses the embeddings.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from model_runtime.models.common.upscaling_head import SkipFeatures, from_block_order

pytestmark = pytest.mark.oracle

IMAGES = ("truck.jpg", "dog.jpg")


@dataclass
class Pair:
    ours: Any
    embeddings: dict[str, Any]
    predictors: dict[str, Any]  # one official SAM2ImagePredictor per image, each keeps its features


def _load_pair(family: str, variant: str, tmp: Path, media_dir: Path, images: tuple[str, ...]) -> Pair:
    from model_runtime import load_model
    from tests.oracles import sam2 as oracle

    ckpt = oracle.make_checkpoint(family, variant, tmp / oracle.FILE_NAMES[family][variant], seed=1)
    ours = load_model(ckpt, device="cpu")
    embeddings, predictors = {}, {}
    for name in images:
        image = np.array(Image.open(media_dir / name).convert("RGB"))
        embeddings[name] = ours.encode_image(image)
        predictor = oracle.make_predictor(family, variant, ckpt)
        predictor.set_image(image)
        predictors[name] = predictor
    return Pair(ours, embeddings, predictors)


@pytest.fixture(scope="module")
def sam21_tiny(tmp_path_factory: pytest.TempPathFactory, media_dir: Path) -> Iterator[Pair]:
    pair = _load_pair("sam2.1", "hiera_t", tmp_path_factory.mktemp("sam21t"), media_dir, IMAGES)
    yield pair
    del pair
    gc.collect()


def _official_kwargs(prompt: dict[str, Any]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if "points" in prompt:
        kw["point_coords"] = np.asarray(prompt["points"], dtype=np.float32)
        kw["point_labels"] = np.asarray(prompt["labels"])
    if "box" in prompt:
        kw["box"] = np.asarray(prompt["box"], dtype=np.float32)
    if "mask_input" in prompt:
        kw["mask_input"] = prompt["mask_input"]
    return kw


def _scale(prompt: dict[str, Any], size: tuple[int, int]) -> dict[str, Any]:
    """Prompts are written for a 1800×1200 image; scale them to the image at hand."""
    h, w = size
    sx, sy = w / 1800, h / 1200
    out = dict(prompt)
    if "points" in prompt:
        out["points"] = [[x * sx, y * sy] for x, y in prompt["points"]]
    if "box" in prompt:
        x0, y0, x1, y1 = prompt["box"]
        out["box"] = [x0 * sx, y0 * sy, x1 * sx, y1 * sy]
    return out


PROMPTS = {
    "one_click": {"points": [[500, 375]], "labels": [1]},
    "two_clicks_negative": {"points": [[500, 375], [1125, 625]], "labels": [1, 0]},
    "box": {"box": [425, 600, 700, 875]},
    "click_and_box": {"points": [[575, 750]], "labels": [0], "box": [425, 600, 700, 875]},
}


def assert_matches(ours: Any, masks: np.ndarray, scores: np.ndarray, low_res: np.ndarray) -> None:
    """The parity criteria: logits within 1e-3 × max(1, max|official|), mask IoU ≥ 0.999, scores."""
    assert ours.masks.shape == masks.shape
    assert ours.masks.dtype == np.bool_
    assert ours.low_res_logits.shape == low_res.shape
    tol = 1e-3 * max(1.0, float(np.abs(low_res).max()))
    diff = float(np.abs(ours.low_res_logits - low_res).max())
    assert diff <= tol, f"low-res logits differ by {diff} (tolerance {tol})"
    for k, (a, b) in enumerate(zip(ours.masks, masks.astype(bool), strict=True)):
        union = np.logical_or(a, b).sum()
        iou = np.logical_and(a, b).sum() / union if union else 1.0
        assert iou >= 0.999, f"mask {k}: IoU {iou}"
    np.testing.assert_allclose(ours.scores, scores, atol=1e-4, rtol=1e-4)


def check_case(pair: Pair, image: str, prompt: dict[str, Any], multimask: bool) -> tuple[Any, np.ndarray]:
    emb = pair.embeddings[image]
    prompt = _scale(prompt, emb.original_size)
    masks, scores, low_res = pair.predictors[image].predict(
        multimask_output=multimask, **_official_kwargs(prompt)
    )
    ours = pair.ours.predict(emb, multimask=multimask, **prompt)
    assert_matches(ours, masks, scores, low_res)
    return ours, low_res[int(np.argmax(scores))][None]


@pytest.mark.parametrize("multimask", [True, False], ids=["multi", "single"])
@pytest.mark.parametrize("case", list(PROMPTS))
@pytest.mark.parametrize("image", IMAGES)
def test_sam21_tiny_prompts(sam21_tiny: Pair, image: str, case: str, multimask: bool) -> None:
    check_case(sam21_tiny, image, PROMPTS[case], multimask)


@pytest.mark.parametrize("case", ["one_click", "click_and_box"])
def test_sam21_tiny_mask_input_refinement(sam21_tiny: Pair, case: str) -> None:
    """A second round feeds the best low-res logits back as ``mask_input`` with the clicks."""
    _, best = check_case(sam21_tiny, "truck.jpg", PROMPTS[case], multimask=True)
    refined = dict(PROMPTS[case], mask_input=best)
    check_case(sam21_tiny, "truck.jpg", refined, multimask=False)


def test_sam21_tiny_mask_input_alone(sam21_tiny: Pair) -> None:
    """Only a mask prompt: no sparse tokens at all on either side."""
    _, best = check_case(sam21_tiny, "dog.jpg", PROMPTS["box"], multimask=True)
    check_case(sam21_tiny, "dog.jpg", {"mask_input": best}, multimask=False)


def test_sam21_tiny_embeddings_identical(sam21_tiny: Pair) -> None:
    """The encoder path reproduces the official features (image_embed incl. no_mem_embed)."""
    emb = sam21_tiny.embeddings["truck.jpg"]
    features = sam21_tiny.predictors["truck.jpg"]._features
    # Our skip features are stored in the decoder's block order; compare them in raster order.
    upscaling = sam21_tiny.ours.network.sam_mask_decoder.output_upscaling
    skips = SkipFeatures(emb.features["skip_s0"], emb.features["skip_s1"]).without_bias(upscaling)
    s0 = from_block_order(skips[0], (64, 64), 2)
    s1 = from_block_order(skips[1], (64, 64), 1)
    ours = [emb.features["image_embed"], s0, s1]
    theirs = [features["image_embed"], *features["high_res_feats"]]
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def test_sam20_tiny_loads_and_matches(tmp_path: Path, media_dir: Path) -> None:
    """The SAM 2.0 layout (no no_obj_embed_spatial / obj_ptr_tpos_proj) loads strictly and matches."""
    pair = _load_pair("sam2", "hiera_t", tmp_path, media_dir, ("dog.jpg",))
    assert pair.ours.info.family == "sam2"
    assert pair.ours.info.variant == "hiera_t"
    for multimask in (True, False):
        check_case(pair, "dog.jpg", PROMPTS["click_and_box"], multimask)
        check_case(pair, "dog.jpg", PROMPTS["one_click"], multimask)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["sam2.1", "sam2"])
@pytest.mark.parametrize("variant", ["hiera_s", "hiera_b+", "hiera_l"])
def test_larger_variants(tmp_path: Path, media_dir: Path, family: str, variant: str) -> None:
    pair = _load_pair(family, variant, tmp_path, media_dir, ("dog.jpg",))
    assert pair.ours.info.variant == variant
    for case in ("one_click", "two_clicks_negative", "click_and_box"):
        for multimask in (True, False):
            check_case(pair, "dog.jpg", PROMPTS[case], multimask)
    del pair
    gc.collect()
