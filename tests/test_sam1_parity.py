"""Our SAM 1 / MobileSAM against the official SamPredictor on real photos.

Each model encodes each image once per module (module-scoped fixtures); every prompt kind is
then compared with and without multimask output. ViT-B and MobileSAM run by default; ViT-L and
ViT-H are slow.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import tests.oracles  # noqa: F401  (torchvision shim before any official package)

pytestmark = pytest.mark.oracle

IMAGES = ("truck.jpg", "dog.jpg")  # 1800×1200 landscape; 800×534, not a multiple of anything


@dataclass
class Pair:
    """Our model and the official predictor over the same checkpoint, with cached encodings."""

    variant: str
    ours: Any
    official: Any
    media_dir: Path
    embeddings: dict[str, Any] = field(default_factory=dict)
    official_features: dict[str, Any] = field(default_factory=dict)
    images: dict[str, np.ndarray] = field(default_factory=dict)

    def image(self, name: str) -> np.ndarray:
        if name not in self.images:
            self.images[name] = np.asarray(Image.open(self.media_dir / name).convert("RGB"))
        return self.images[name]

    def run(self, name: str, **prompt: Any) -> tuple[tuple[np.ndarray, ...], Any]:
        """Official (masks, scores, low_res) and our Prediction for one prompt on image ``name``."""
        image = self.image(name)
        if name not in self.embeddings:
            self.embeddings[name] = self.ours.encode_image(image)
            self.official.set_image(image)
            self.official_features[name] = self.official.features
        # Switch the official predictor to this image's cached encoding.
        self.official.original_size = image.shape[:2]
        self.official.input_size = self.embeddings[name].input_size
        self.official.features = self.official_features[name]
        self.official.is_image_set = True
        official = self.official.predict(
            point_coords=prompt.get("points"),
            point_labels=prompt.get("labels"),
            box=prompt.get("box"),
            mask_input=prompt.get("mask_input"),
            multimask_output=prompt["multimask"],
        )
        ours = self.ours.predict(self.embeddings[name], **prompt)
        return official, ours


@pytest.fixture(
    scope="module",
    params=[
        "vit_b",
        "vit_t",
        pytest.param("vit_l", marks=pytest.mark.slow),
        pytest.param("vit_h", marks=pytest.mark.slow),
    ],
)
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, media_dir: Path):
    pytest.importorskip("segment_anything")
    from model_runtime import load_model
    from tests.oracles.sam1 import cached_checkpoint, official_predictor

    variant = request.param
    path = cached_checkpoint(tmp_path_factory, variant)
    result = Pair(variant, load_model(path, device="cpu"), official_predictor(path, variant), media_dir)
    yield result
    del result
    gc.collect()


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _assert_close(official: tuple[np.ndarray, ...], ours: Any) -> None:
    masks, scores, low_res = official
    assert ours.masks.shape == masks.shape and ours.masks.dtype == np.bool_
    assert ours.low_res_logits.shape == low_res.shape
    assert ours.scores.shape == scores.shape
    tol = 1e-3 * max(1.0, float(np.abs(low_res).max()))
    assert float(np.abs(ours.low_res_logits - low_res).max()) <= tol
    np.testing.assert_allclose(ours.scores, scores, atol=1e-4, rtol=1e-3)
    for k in range(len(masks)):
        assert _iou(ours.masks[k], masks[k]) >= 0.999, f"mask {k}"


def _prompts(shape: tuple[int, ...]) -> dict[str, dict[str, np.ndarray]]:
    h, w = shape[:2]
    return {
        "one_click": {"points": np.array([[0.45 * w, 0.55 * h]]), "labels": np.array([1])},
        "two_clicks_with_negative": {
            "points": np.array([[0.45 * w, 0.55 * h], [0.2 * w, 0.3 * h]]),
            "labels": np.array([1, 0]),
        },
        "box": {"box": np.array([0.1 * w, 0.2 * h, 0.8 * w, 0.9 * h])},
        "click_and_box": {
            "points": np.array([[0.5 * w, 0.5 * h]]),
            "labels": np.array([1]),
            "box": np.array([0.2 * w, 0.15 * h, 0.85 * w, 0.95 * h]),
        },
    }


@pytest.mark.parametrize("multimask", [True, False], ids=["multi", "single"])
@pytest.mark.parametrize("kind", ["one_click", "two_clicks_with_negative", "box", "click_and_box"])
@pytest.mark.parametrize("image", IMAGES)
def test_prompt_matches_official(pair: Pair, image: str, kind: str, multimask: bool) -> None:
    prompt = _prompts(pair.image(image).shape)[kind]
    official, ours = pair.run(image, multimask=multimask, **prompt)
    _assert_close(official, ours)


@pytest.mark.parametrize("multimask", [True, False], ids=["multi", "single"])
@pytest.mark.parametrize("image", IMAGES)
def test_mask_refinement_round_matches_official(pair: Pair, image: str, multimask: bool) -> None:
    """Click, feed the best low-res logits back with a second (negative) click."""
    h, w = pair.image(image).shape[:2]
    first = {"points": np.array([[0.45 * w, 0.55 * h]]), "labels": np.array([1])}
    (_, scores, low_res), ours_first = pair.run(image, multimask=True, **first)
    best = int(np.argmax(scores))
    assert int(np.argmax(ours_first.scores)) == best
    second = {
        "points": np.array([[0.45 * w, 0.55 * h], [0.7 * w, 0.25 * h]]),
        "labels": np.array([1, 0]),
        "mask_input": low_res[best][None],
    }
    official, ours = pair.run(image, multimask=multimask, **second)
    _assert_close(official, ours)
    # Our own logits fed back give the same answer as the official ones.
    chained = pair.ours.predict(
        pair.embeddings[image],
        points=second["points"],
        labels=second["labels"],
        mask_input=ours_first.low_res_logits[best][None],
        multimask=multimask,
    )
    _assert_close(official, chained)
