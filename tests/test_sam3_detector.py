"""SAM 3's detector (everything after the encoders) against the official one, stage by stage.

The official ``Sam3Image`` is built at reduced width from its own classes with no backbone
(tests/oracles/sam3_detector.py) and fed the same random neck and text features as ours; its
weights are perturbed so scores spread across 0.5 and post-processing is exercised. The official
``Sam3Processor`` then gives the kept instances (boxes, scores, masks at the image size). For
each prompt case: prompt tokens, fused image tokens, query logits, boxes, presence and every
query's 288²-equivalent mask logits match, then the kept instances match in order (boxes within
1e-3 of the image size, scores within 1e-4, mask IoU ≥ 0.999).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

from model_runtime.checkpoints import load_strict
from model_runtime.models.sam3.detector import Sam3Detector, detect_config, detector_state_dict
from model_runtime.models.sam3.postprocess import detections_to_instances

pytestmark = pytest.mark.oracle

COARSE = 12  # the coarsest level's grid (72 in the released model; reduced here for speed)
ORIGINAL_SIZE = (375, 500)  # (H, W) of the "photo" the features stand for
THRESHOLD = 0.5
CONTEXT = 32


@dataclass
class Setup:
    official: Any
    ours: Sam3Detector
    fpn: list[torch.Tensor]
    pos: list[torch.Tensor]
    texts: dict[str, tuple[torch.Tensor, torch.Tensor]]  # name -> (features (32, 1, D), mask (1, 32))
    image: Any  # our ImageContext of fpn


def _text(gen: torch.Generator, d_model: int, tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    mask = torch.ones(1, CONTEXT, dtype=torch.bool)
    mask[:, :tokens] = False
    return torch.randn(CONTEXT, 1, d_model, generator=gen), mask


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    from tests.oracles import sam3_detector as oracle

    official = oracle.build_official_detector(oracle.SMALL, seed=0)
    state = oracle.informative(official.state_dict(), seed=1)
    oracle.load(official, state)
    file_state = {"detector." + k: v for k, v in state.items()}
    ours = Sam3Detector(detect_config(file_state))
    load_strict(ours, detector_state_dict(file_state), "small-sam3.pt", "sam3", ours.unused_keys())
    ours.eval()

    from sam3.model.position_encoding import PositionEmbeddingSine

    d = oracle.SMALL.d_model
    gen = torch.Generator().manual_seed(0)
    fpn = [torch.randn(1, d, COARSE * s, COARSE * s, generator=gen) for s in (4, 2, 1)]
    pos = [PositionEmbeddingSine(d, normalize=True)(level) for level in fpn]
    texts = {"red car": _text(gen, d, 5), "visual": _text(gen, d, 3), "a dog": _text(gen, d, 4)}
    with torch.inference_mode():
        image = ours.prepare_image(fpn)
    yield Setup(official, ours, fpn, pos, texts, image)


# Exemplar boxes as (x0, y0, x1, y1) pixels of ORIGINAL_SIZE and positive / negative.
CASES: dict[str, tuple[str, list[tuple[tuple[float, float, float, float], bool]]]] = {
    "text": ("red car", []),
    "two positive boxes": (
        "visual",
        [((40.0, 60.0, 180.0, 200.0), True), ((300.0, 90.0, 420.0, 330.0), True)],
    ),
    "text, positive and negative box": (
        "red car",
        [((120.0, 30.0, 260.0, 150.0), True), ((10.0, 200.0, 140.0, 360.0), False)],
    ),
    "exemplar alone": ("visual", [((200.5, 100.25, 330.0, 290.75), True)]),
}


def _normalised(box: tuple[float, float, float, float]) -> list[float]:
    """Pixel x0, y0, x1, y1 -> normalised cx, cy, w, h, as a caller of the official processor writes it."""
    height, width = ORIGINAL_SIZE
    x0, y0, x1, y1 = box
    return [(x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height]


def _official(setup: Setup, phrase: str, exemplars: list, threshold: float = THRESHOLD) -> tuple[dict, dict]:
    """Run the official detector and processor: (raw forward_grounding output, processor state)."""
    from sam3.model.sam3_image_processor import Sam3Processor

    from tests.oracles.sam3_detector import cpu_patches

    features, mask = setup.texts[phrase]
    with cpu_patches(), torch.inference_mode():
        processor = Sam3Processor(
            setup.official, resolution=COARSE * 14, device="cpu", confidence_threshold=threshold
        )
        state: dict[str, Any] = {
            "original_height": ORIGINAL_SIZE[0],
            "original_width": ORIGINAL_SIZE[1],
            "backbone_out": {
                "backbone_fpn": [x.clone() for x in setup.fpn],
                "vision_pos_enc": setup.pos,
                "language_features": features,
                "language_mask": mask,
            },
            "geometric_prompt": setup.official._get_dummy_prompt(),
        }
        # What add_geometric_prompt does per box, without its grounding run after every box.
        for box, positive in exemplars:
            boxes = torch.tensor(_normalised(box), dtype=torch.float32).view(1, 1, 4)
            state["geometric_prompt"].append_boxes(
                boxes, torch.tensor([positive], dtype=torch.bool).view(1, 1)
            )
        raw: dict[str, Any] = {}
        grounding = setup.official.forward_grounding

        def keep_raw(**kwargs: Any) -> dict:
            raw.update(grounding(**kwargs))
            return raw

        setup.official.forward_grounding = keep_raw
        try:
            state = processor._forward_grounding(state)
        finally:
            del setup.official.forward_grounding
    return raw, state


def _ours(setup: Setup, phrases: list[str], exemplars: list) -> tuple[Any, Any, list]:
    boxes = positive = None
    if exemplars:
        boxes = torch.tensor([_normalised(b) for b, _ in exemplars], dtype=torch.float32)
        positive = torch.tensor([p for _, p in exemplars])
    text = torch.cat([setup.texts[p][0] for p in phrases], dim=1).transpose(0, 1)
    padding = torch.cat([setup.texts[p][1] for p in phrases], dim=0)
    image = setup.image
    with torch.inference_mode():
        found = setup.ours.detect(image, text, padding, boxes, positive)
        answers = detections_to_instances(setup.ours, image, found, ORIGINAL_SIZE, THRESHOLD, list(phrases))
    return image, found, answers


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _assert_same_instances(found: Any, state: dict) -> None:
    """Our Instances against the official processor state: same kept queries, in order."""
    official_scores = state["scores"].numpy()
    assert len(found) == len(official_scores), (len(found), len(official_scores))
    np.testing.assert_allclose(found.scores, official_scores, atol=1e-4, rtol=0)
    height, width = ORIGINAL_SIZE
    np.testing.assert_allclose(found.boxes, state["boxes"].numpy(), atol=1e-3 * max(height, width), rtol=0)
    official_masks = state["masks"][:, 0].numpy()
    for ours_mask, theirs in zip(found.masks, official_masks, strict=True):
        assert ours_mask.shape == ORIGINAL_SIZE
        assert _iou(ours_mask, theirs) >= 0.999


@pytest.mark.parametrize("case", list(CASES))
def test_every_stage_matches_the_official_detector(setup: Setup, case: str) -> None:
    phrase, exemplars = CASES[case]
    raw, state = _official(setup, phrase, exemplars)
    image, found, (answer,) = _ours(setup, [phrase], exemplars)
    encoded = raw["prev_encoder_out"]["encoder_out"]

    torch.testing.assert_close(
        found.prompt, encoded["prompt_before_enc"].transpose(0, 1), atol=1e-5, rtol=1e-5
    )
    assert torch.equal(found.prompt_padding, encoded["prompt_mask"])
    torch.testing.assert_close(
        found.fused, encoded["encoder_hidden_states"].transpose(0, 1), atol=1e-4, rtol=1e-4
    )
    torch.testing.assert_close(found.logits, raw["pred_logits"][..., 0], atol=1e-4, rtol=0)
    torch.testing.assert_close(found.boxes, raw["pred_boxes"], atol=1e-5, rtol=0)
    torch.testing.assert_close(found.presence, raw["presence_logit_dec"][:, 0], atol=1e-4, rtol=0)
    torch.testing.assert_close(found.queries, raw["queries"], atol=1e-4, rtol=1e-4)
    with torch.inference_mode():
        pixels = setup.ours.pixel_features(image, found, 0)
        logits = setup.ours.masks(pixels, found, 0, torch.arange(found.logits.shape[1]))
    torch.testing.assert_close(logits, raw["pred_masks"][0], atol=1e-4, rtol=1e-4)

    # The weights spread scores over the threshold, so kept and dropped queries both occur.
    scores = (raw["pred_logits"].sigmoid() * raw["presence_logit_dec"].sigmoid()[:, None]).flatten()
    assert 0 < int((scores > THRESHOLD).sum()) < len(scores)
    assert float((scores - THRESHOLD).abs().min()) > 1e-4  # no query sits on the threshold
    _assert_same_instances(answer, state)


def test_several_phrases_in_one_pass_match_one_at_a_time(setup: Setup) -> None:
    exemplars = CASES["text, positive and negative box"][1]
    phrases = ["red car", "a dog", "visual"]
    _, batched, answers = _ours(setup, phrases, exemplars)
    assert [a.phrase for a in answers] == phrases
    for index, phrase in enumerate(phrases):
        _, single, (alone,) = _ours(setup, [phrase], exemplars)
        torch.testing.assert_close(batched.logits[index], single.logits[0], atol=1e-5, rtol=0)
        torch.testing.assert_close(batched.boxes[index], single.boxes[0], atol=1e-6, rtol=0)
        torch.testing.assert_close(batched.presence[index], single.presence[0], atol=1e-5, rtol=0)
        assert answers[index].pool_indices.tolist() == alone.pool_indices.tolist()
        np.testing.assert_allclose(answers[index].scores, alone.scores, atol=1e-6)
        for ours_mask, single_mask in zip(answers[index].masks, alone.masks, strict=True):
            assert _iou(ours_mask, single_mask) >= 0.9999


class _Counted:
    """Counts calls of one method of our detector (the test's spy)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, target: Any, name: str) -> None:
        self.calls = 0
        method = getattr(target, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return method(*args, **kwargs)

        monkeypatch.setattr(target, name, counted)


def test_masks_are_made_on_first_read_and_other_thresholds_reuse_the_answer(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    detect = _Counted(monkeypatch, setup.ours, "detect")
    pixels = _Counted(monkeypatch, setup.ours, "pixel_features")
    _, _, (answer,) = _ours(setup, ["red car"], [])
    assert detect.calls == 1 and pixels.calls == 1  # something was kept: its masks' logits are ready
    assert len(answer) > 0 and not any(answer.masks.is_made(i) for i in range(len(answer)))
    list(answer.masks)
    assert pixels.calls == 1

    lower = answer.above(0.1)
    assert len(lower) > len(answer) and detect.calls == 1
    assert set(answer.pool_indices) <= set(lower.pool_indices)
    _, state = _official(setup, "red car", [], threshold=0.1)
    _assert_same_instances(lower, state)
    assert pixels.calls == 2  # queries that were not kept: the pixel decoder once more, for all
    list(answer.above(0.05).masks)
    assert pixels.calls == 2 and detect.calls == 1
    assert len(answer.above(0.999)) == 0


def test_nothing_kept_runs_no_mask_work_until_a_mask_is_read(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    pixels = _Counted(monkeypatch, setup.ours, "pixel_features")
    boxes = torch.tensor([_normalised(CASES["exemplar alone"][1][0][0])])
    text, padding = setup.texts["visual"]
    image = setup.image
    with torch.inference_mode():
        found = setup.ours.detect(image, text.transpose(0, 1), padding, boxes, torch.tensor([True]))
        (answer,) = detections_to_instances(setup.ours, image, found, ORIGINAL_SIZE, 0.9999, ["visual"])
    assert len(answer) == 0 and answer.threshold == 0.9999 and pixels.calls == 0
    assert answer.presence is not None and 0 < answer.presence < 1
    again = answer.above(THRESHOLD)
    assert len(again) > 0 and pixels.calls == 0
    assert again.masks[0].shape == ORIGINAL_SIZE and pixels.calls == 1
