"""samdesk model backend ``threshold``: segmentation by colour thresholds, no weights at all.

Load it with ``samdesk --model threshold`` (or ``threshold:<tolerance>``, default 12) or
``model_runtime.load_model("threshold")``. It answers the ``click`` capability:

- **clicks**: the region of pixels connected to a positive click whose colour is within the
  tolerance of the clicked pixel's (a flood fill in CIE Lab, where distances follow what the eye
  sees); a negative click removes its own such region. The three candidates use half, once and
  twice the tolerance (part, object, surroundings), best scoring first.
- **a box**: without clicks, every pixel of the box whose colour is far from the box border's
  mean colour, at Otsu's threshold of that distance (and at 0.7× and 1.4× it for the other
  candidates), keeping the largest connected piece; with clicks, the clicks' regions inside it.

Work happens on a copy whose longest side is ``work_side`` (512) and masks are scaled back to
the image, so an answer takes milliseconds. Scores are the colour contrast between the mask and
the rest of the region (0..1). ``mask_input`` is accepted and not needed: every answer is made
from all the prompts. Low-res logits use SAM 1's frame (longest side 256 at the top-left of a
256×256 grid), ±``LOGIT_LIMIT`` inside/outside.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model_runtime.api import (
    Capability,
    ImageEmbedding,
    ModelInfo,
    Prediction,
    PromptError,
    check_embedding,
    validate_image,
    validate_prompts,
)

NAME = "threshold"
LOW_RES = 256
LOGIT_LIMIT = 20.0
CANDIDATE_FACTORS = (1.0, 0.5, 2.0)  # of the tolerance (clicks); the first is the one of multimask=False
BOX_FACTORS = (1.0, 0.7, 1.4)  # of Otsu's threshold (a box without clicks)


@dataclass(frozen=True)
class ThresholdConfig:
    """``tolerance``: largest Lab colour difference (per channel) from the clicked pixel that is
    still the same region; ``work_side``: longest side of the working copy."""

    tolerance: float = 12.0
    work_side: int = 512


def load(source: str, device: str | None) -> ThresholdModel | None:
    """The entry point: a model for ``"threshold"`` or ``"threshold:<tolerance>"``, else None
    (not ours). ``device`` is ignored: this runs on the CPU with OpenCV."""
    name, _, value = str(source).partition(":")
    if name != NAME:
        return None
    if not value:
        return ThresholdModel()
    try:
        tolerance = float(value)
    except ValueError:
        tolerance = float("nan")
    if not 1.0 <= tolerance <= 100.0:  # also refuses NaN
        raise ValueError(f"{source!r}: the tolerance after 'threshold:' must be a number from 1 to 100")
    return ThresholdModel(ThresholdConfig(tolerance=tolerance))


class ThresholdModel:
    """An :class:`~model_runtime.api.ImageModel` without weights (see the module docstring)."""

    def __init__(self, config: ThresholdConfig | None = None) -> None:
        self.config = config or ThresholdConfig()
        self.info = ModelInfo(
            family=NAME,
            variant=f"lab-t{self.config.tolerance:g}",
            image_size=self.config.work_side,
            parameter_count=0,
            device="cpu",
            source=NAME,
            capabilities=frozenset({Capability.CLICK}),
        )

    def encode_image(self, image: np.ndarray) -> ImageEmbedding:
        """image: uint8 (H, W, 3) RGB. Features: ``lab`` uint8 (h, w, 3), the working copy in
        Lab (OpenCV's 8-bit scaling); ``scale`` float64 (2,) = (w / W, h / H)."""
        image = validate_image(image)
        height, width = image.shape[:2]
        factor = min(1.0, self.config.work_side / max(height, width))
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        work = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if factor < 1.0 else image
        lab = cv2.cvtColor(work, cv2.COLOR_RGB2LAB)
        scale = np.array([lab.shape[1] / width, lab.shape[0] / height], dtype=np.float64)
        return ImageEmbedding(
            model_id=self.info.model_id,
            original_size=(height, width),
            input_size=(lab.shape[0], lab.shape[1]),
            features={"lab": lab, "scale": scale},
        )

    def predict(
        self,
        embedding: ImageEmbedding,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask: bool = True,
    ) -> Prediction:
        """Masks bool (K, H, W), scores float32 (K,), low_res_logits float32 (K, 256, 256);
        K = 3 with ``multimask``, else 1; best score first."""
        points, labels, box, _ = validate_prompts(points, labels, box, mask_input)
        check_embedding(embedding, self.info)
        lab: np.ndarray = embedding.features["lab"]
        scale: np.ndarray = embedding.features["scale"]
        h, w = lab.shape[:2]
        pos = neg = np.zeros((0, 2), dtype=np.int64)
        if points is not None and labels is not None:
            scaled = np.floor(points.astype(np.float64) * scale).astype(np.int64)
            scaled = np.clip(scaled, 0, [w - 1, h - 1])
            pos, neg = scaled[labels == 1], scaled[labels == 0]
        if len(pos) == 0 and box is None:
            raise PromptError("the threshold segmenter needs a positive click or a box")
        x0, y0, x1, y1 = _region(box, scale, w, h)
        crop = lab[y0:y1, x0:x1]
        origin = np.array([x0, y0])
        if len(pos):
            factors = CANDIDATE_FACTORS if multimask else CANDIDATE_FACTORS[:1]
            crops = [_clicked(crop, pos - origin, neg - origin, self.config.tolerance * f) for f in factors]
        else:
            factors = BOX_FACTORS if multimask else BOX_FACTORS[:1]
            crops = [_box_only(crop, f) for f in factors]
        candidates = []
        for mask in crops:
            full = np.zeros((h, w), dtype=bool)
            full[y0:y1, x0:x1] = mask
            candidates.append((_contrast(crop, mask), full))
        candidates.sort(key=lambda c: -c[0])
        height, width = embedding.original_size
        masks = np.stack([_resize(m, (height, width)) for _, m in candidates])
        logits = np.stack([_low_res_logits(m) for _, m in candidates])
        scores = np.array([s for s, _ in candidates], dtype=np.float32)
        return Prediction(masks=masks, scores=scores, low_res_logits=logits)


def _region(box: np.ndarray | None, scale: np.ndarray, w: int, h: int) -> tuple[int, int, int, int]:
    """The box in working pixels, ordered and inside the image (at least 1×1); all of it without."""
    if box is None:
        return 0, 0, w, h
    xs = sorted(float(v) * scale[0] for v in (box[0], box[2]))
    ys = sorted(float(v) * scale[1] for v in (box[1], box[3]))
    x0, y0 = min(w - 1, max(0, int(xs[0]))), min(h - 1, max(0, int(ys[0])))
    x1, y1 = max(x0 + 1, min(w, int(np.ceil(xs[1])))), max(y0 + 1, min(h, int(np.ceil(ys[1]))))
    return x0, y0, x1, y1


def _flood(lab: np.ndarray, seed: np.ndarray, tolerance: float) -> np.ndarray:
    """bool (h, w): pixels 8-connected to ``seed`` (x, y) within ``tolerance`` of its colour."""
    h, w = lab.shape[:2]
    mask = np.zeros((h + 2, w + 2), dtype=np.uint8)
    diff = (tolerance,) * 3
    flags = 8 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    cv2.floodFill(lab, mask, (int(seed[0]), int(seed[1])), (0, 0, 0), diff, diff, flags)
    return mask[1:-1, 1:-1].astype(bool)


def _clicked(lab: np.ndarray, pos: np.ndarray, neg: np.ndarray, tolerance: float) -> np.ndarray:
    """The positive clicks' regions minus the negative clicks' (clicks outside ``lab`` ignored)."""
    h, w = lab.shape[:2]
    inside = [p for p in pos if 0 <= p[0] < w and 0 <= p[1] < h]
    mask = np.zeros((h, w), dtype=bool)
    for seed in inside:
        mask |= _flood(lab, seed, tolerance)
    for seed in neg:
        if 0 <= seed[0] < w and 0 <= seed[1] < h:
            mask &= ~_flood(lab, seed, tolerance)
    return mask


def _box_only(lab: np.ndarray, factor: float) -> np.ndarray:
    """Pixels whose colour is far from the border's mean, at ``factor`` × Otsu's threshold of
    that distance; the largest connected piece."""
    pixels = lab.astype(np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    distance = np.linalg.norm(pixels - border.mean(axis=0), axis=2)
    top = float(distance.max())
    if top <= 0.0:
        return np.zeros(lab.shape[:2], dtype=bool)
    level, _ = cv2.threshold((distance * (255.0 / top)).astype(np.uint8), 0, 255, cv2.THRESH_OTSU)
    mask = distance * (255.0 / top) > level * factor
    count, pieces, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return pieces == largest


def _contrast(lab: np.ndarray, mask: np.ndarray) -> float:
    """How far the mask's mean colour is from the rest's, against its own spread: 0..1."""
    if not mask.any() or mask.all():
        return 0.0
    pixels = lab.astype(np.float32)
    inside, outside = pixels[mask], pixels[~mask]
    gap = float(np.linalg.norm(inside.mean(axis=0) - outside.mean(axis=0)))
    spread = float(inside.std(axis=0).mean())
    return gap / (gap + spread + 1.0)


def _resize(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """bool (h, w) -> bool ``size`` (H, W), nearest neighbour."""
    height, width = size
    if mask.shape == (height, width):
        return mask
    return cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)


def _low_res_logits(mask: np.ndarray) -> np.ndarray:
    """float32 (256, 256) in SAM 1's frame: ±LOGIT_LIMIT inside/outside, padding outside."""
    h, w = mask.shape
    factor = LOW_RES / max(h, w)
    small = _resize(mask, (max(1, round(h * factor)), max(1, round(w * factor))))
    logits = np.full((LOW_RES, LOW_RES), -LOGIT_LIMIT, dtype=np.float32)
    logits[: small.shape[0], : small.shape[1]][small] = LOGIT_LIMIT
    return logits
