"""From the detector's raw answer to :class:`Instances`: the official ``Sam3Processor`` rules.

For each prompt (as ``Sam3Processor._forward_grounding``):

- score = sigmoid(query logit) × sigmoid(presence logit); kept: score > threshold; no NMS;
- boxes: normalised (cx, cy, w, h) -> pixel (x0, y0, x1, y1) of the original image (not clipped);
- masks: the 288² logits resized bilinearly (``align_corners=False``) to the original size, > 0
  (the official sigmoid > 0.5; they differ only for logits within 6e-8 of 0).

Every query is kept in the result's *pool* (its scores and boxes cost nothing), so
``Instances.above(t)`` re-filters without the model. Masks are where the work is, so:

- the kept queries' 288² logits are made before returning (the pixel decoder runs once per prompt,
  only if something was kept), then the pixel features are dropped;
- every mask is resized to the image only when first read (``CandidateMasks``), kept bit-packed
  (five phrases on a 2 MP photo: ~650 masks, 1.4 GB as bytes), and its low-res logits dropped;
- reading a mask of a query that was not kept (after ``above`` with a lower threshold) runs the
  pixel decoder again once and makes all that prompt's remaining logits then.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable

import numpy as np
import torch

from model_runtime.api import CandidateMasks, Instances
from model_runtime.models.common.mask_upsampling import sam2_plan, upsample_masks
from model_runtime.models.sam3.detector import Detections, ImageContext, Sam3Detector
from model_runtime.models.sam3.geometry_encoder import box_xyxy


def query_scores(logits: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
    """logits (B, Q), presence (B,) logits -> (B, Q) scores in [0, 1]."""
    return logits.sigmoid() * presence.sigmoid()[:, None]


def boxes_to_pixels(boxes: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """(..., 4) normalised cx, cy, w, h -> (..., 4) float32 pixel x0, y0, x1, y1 of an (H, W) image."""
    height, width = image_size
    scale = torch.tensor([width, height, width, height], dtype=boxes.dtype, device=boxes.device)
    return box_xyxy(boxes) * scale


class MaskLogits:
    """The low-res (h, w) mask logits of one prompt's Q queries, each made at most once and
    kept until taken (:meth:`take`: its full-size mask is then kept by the caller).

    ``pixels()`` -> (D, h, w) pixel features (the expensive part); ``logits(pixels, queries)``
    -> (K, h, w) for int64 query indices (K,). Thread-safe: masks may be read from any thread.
    """

    def __init__(
        self,
        num_queries: int,
        low_size: tuple[int, int],
        pixels: Callable[[], torch.Tensor],
        logits: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> None:
        self._num_queries = num_queries
        self.low_size = (int(low_size[0]), int(low_size[1]))
        self._pixels = pixels
        self._logits = logits
        self._made: dict[int, torch.Tensor] = {}
        self._taken: set[int] = set()
        self._lock = threading.Lock()

    def make(self, queries: np.ndarray) -> None:
        """Make the logits of ``queries`` (and keep them); one pixel-decoder run at most."""
        with self._lock:
            self._make_missing_locked([int(q) for q in queries])

    def take(self, query: int) -> torch.Tensor:
        """(h, w) logits of ``query``, forgotten here; a query not made yet brings all the others
        not taken along (a query taken before is made again)."""
        with self._lock:
            if query not in self._made:
                self._taken.discard(query)
                self._make_missing_locked(range(self._num_queries))
            self._taken.add(query)
            return self._made.pop(query)

    def _make_missing_locked(self, queries: Iterable[int]) -> None:
        missing = [q for q in queries if q not in self._made and q not in self._taken]
        if not missing:
            return
        with torch.inference_mode():
            made = self._logits(self._pixels(), torch.tensor(missing, dtype=torch.int64))
        # Rows of one block (no copies): it is freed when the last of them is taken.
        for query, row in zip(missing, made.to("cpu", torch.float32).unbind(0), strict=True):
            self._made[query] = row


def instances(
    scores: np.ndarray,
    boxes: np.ndarray,
    presence: float,
    masks: MaskLogits,
    original_size: tuple[int, int],
    threshold: float,
    phrase: str | None,
) -> Instances:
    """One prompt's answer: the pool of every query (scores (Q,), pixel boxes (Q, 4)), filtered at
    ``threshold``; the kept queries' low-res logits are made now, every full-size mask on first read."""
    kept = np.flatnonzero(scores > threshold)
    masks.make(kept)
    height, width = original_size
    count = len(scores)

    def make(index: int) -> np.ndarray:
        return upsample_masks(masks.take(index)[None], sam2_plan(masks.low_size, original_size))[0]

    pool = Instances(
        CandidateMasks((count, height, width), make, packed=True),
        boxes,
        scores,
        presence=presence,
        phrase=phrase,
    )
    return pool.above(threshold)


def detections_to_instances(
    detector: Sam3Detector,
    image: ImageContext,
    found: Detections,
    original_size: tuple[int, int],
    threshold: float,
    phrases: list[str | None],
) -> list[Instances]:
    """One :class:`Instances` per prompt of ``found`` (B prompts, ``phrases`` naming them)."""
    scores = query_scores(found.logits, found.presence).to("cpu", torch.float32).numpy()
    boxes = boxes_to_pixels(found.boxes, original_size).to("cpu", torch.float32).numpy()
    presence = found.presence.sigmoid().to("cpu", torch.float32).numpy()
    low_size = (4 * image.size[0], 4 * image.size[1])
    results = []
    for index, phrase in enumerate(phrases):
        masks = MaskLogits(
            scores.shape[1],
            low_size,
            pixels=functools.partial(detector.pixel_features, image, found, index),
            logits=functools.partial(_mask_logits, detector, found, index),
        )
        results.append(
            instances(
                scores[index], boxes[index], float(presence[index]), masks, original_size, threshold, phrase
            )
        )
    return results


def _mask_logits(
    detector: Sam3Detector, found: Detections, index: int, pixels: torch.Tensor, queries: torch.Tensor
) -> torch.Tensor:
    return detector.masks(pixels, found, index, queries)
