"""The stability filter of segment everything, and the masks of the candidates that pass it.

The official generators upsample every candidate's logits to the image size and compute the
stability score there: the pixel count above ``mask_threshold + offset`` divided by the count
above ``mask_threshold - offset``; a candidate is kept when the score is at least the threshold,
and its mask is the pixels above ``mask_threshold``. Three comparisons of one upsampled map.

Here each chunk of candidates takes the cheaper of two routes, with the same counts:

- smooth logits (real objects): the sign-exact sparse upsampling of
  :func:`~model_runtime.models.common.mask_upsampling.upsample_masks`, once per threshold, only
  interpolating pixels near each border;
- noisy logits (where nearly every pixel would need interpolating): each map is interpolated once
  in full and compared with the three thresholds, instead of three full interpolations.

Masks are made only for the candidates that pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from model_runtime.models.common.mask_upsampling import (
    Plan,
    interpolate_logits,
    prefers_interpolation,
    upsample_masks,
)


@dataclass(frozen=True)
class StableMasks:
    """Candidates that passed: ``kept`` int64 (M,) their indices in the chunk, ``stability``
    float32 (M,) their scores, ``masks`` bool (M, H, W)."""

    kept: np.ndarray
    stability: np.ndarray
    masks: np.ndarray


@dataclass(frozen=True)
class StabilityRule:
    """The official generator's settings: ``threshold`` (mask_threshold), ``offset``
    (stability_score_offset), ``minimum`` (stability_score_thresh; ≤ 0 keeps everything)."""

    threshold: float
    offset: float
    minimum: float

    def passes(self, stability: np.ndarray) -> np.ndarray:
        if self.minimum <= 0:
            return np.ones(stability.shape, dtype=bool)
        return stability >= self.minimum


def _ratio(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter.astype(np.float32) / union.astype(np.float32)


def stable_masks(logits: torch.Tensor, plan: Plan, rule: StabilityRule) -> StableMasks:
    """logits float32 (N, n, m) on the CPU -> the candidates whose stability passes ``rule``."""
    height, width = plan.out_size
    high_at = rule.threshold + rule.offset
    low_at = rule.threshold - rule.offset
    if len(logits) and prefers_interpolation(logits - low_at, plan):
        kept, scores, masks = [], [], []
        for i in range(len(logits)):
            full = interpolate_logits(logits[i].numpy(), plan)
            score = _ratio(np.count_nonzero(full > np.float32(high_at)),
                           np.count_nonzero(full > np.float32(low_at)))
            if rule.passes(np.asarray(score))[()]:
                kept.append(i)
                scores.append(score)
                masks.append(full > np.float32(rule.threshold))
        if not kept:
            none = np.zeros(0, np.int64)
            return StableMasks(none, none.astype(np.float32), np.zeros((0, height, width), bool))
        return StableMasks(np.asarray(kept, np.int64), np.asarray(scores, np.float32), np.stack(masks))
    high = upsample_masks(logits - high_at, plan)
    wide = upsample_masks(logits - low_at, plan)
    stability = _ratio(high.sum(axis=(1, 2), dtype=np.int64), wide.sum(axis=(1, 2), dtype=np.int64))
    del high, wide
    kept = np.flatnonzero(rule.passes(stability))
    masks = upsample_masks(logits[torch.from_numpy(kept)] - rule.threshold, plan)
    return StableMasks(kept.astype(np.int64), stability[kept].astype(np.float32), masks)
