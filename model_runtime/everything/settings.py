"""Segment everything's settings: the official generators' keyword arguments and defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from model_runtime.prompts import PromptError, as_box

# The official SAM 1 generator's default predicted-IoU cut; SAM 2's generator uses 0.8.
SAM1_PRED_IOU_THRESH = 0.88
SAM2_PRED_IOU_THRESH = 0.8


@dataclass(frozen=True)
class EverythingSettings:
    """Names and defaults of ``SamAutomaticMaskGenerator`` / ``SAM2AutomaticMaskGenerator``.

    points_per_side:   an n × n grid of single-point prompts (per crop layer, see below)
    points_per_batch:  prompts per decoder pass
    pred_iou_thresh:   keep masks whose predicted IoU is above this (0 keeps all)
    stability_score_thresh / stability_score_offset: keep masks whose IoU between the logits
                       thresholded at mask_threshold ± offset is at least this
    mask_threshold:    logit threshold of a mask pixel
    box_nms_thresh:    box IoU above which the lower-scoring of two masks of a crop is dropped
    crop_n_layers:     > 0 also prompts (2^i)² overlapping crops in layer i = 1..n
    crop_nms_thresh, crop_overlap_ratio, crop_n_points_downscale_factor: as the official
    min_mask_region_area: > 0 fills holes and drops islands smaller than this many pixels
    use_m2m:           refine each mask once with its own logits as a mask prompt (SAM 2)
    multimask_output:  three candidates per point (False: one)
    region:            beyond the official: only grid points inside this (x0, y0, x1, y1) box
    """

    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = SAM1_PRED_IOU_THRESH
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    mask_threshold: float = 0.0
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    min_mask_region_area: int = 0
    use_m2m: bool = False
    multimask_output: bool = True
    region: tuple[float, float, float, float] | None = None

    @classmethod
    def for_family(cls, family: str, **overrides: Any) -> EverythingSettings:
        """The official defaults of the model family's generator, with ``overrides`` applied.
        Unknown names and out-of-range values raise :class:`PromptError` naming them."""
        pred_iou = SAM2_PRED_IOU_THRESH if family.startswith("sam2") else SAM1_PRED_IOU_THRESH
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise PromptError(f"unknown segment-everything setting(s): {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(known))})")
        settings = replace(cls(pred_iou_thresh=pred_iou), **overrides)
        settings.check()
        return settings

    def check(self) -> None:
        if self.points_per_side < 1:
            raise PromptError(f"points_per_side must be at least 1, got {self.points_per_side}")
        if self.points_per_batch < 1:
            raise PromptError(f"points_per_batch must be at least 1, got {self.points_per_batch}")
        if self.crop_n_layers < 0:
            raise PromptError(f"crop_n_layers must be 0 or more, got {self.crop_n_layers}")
        if self.crop_n_points_downscale_factor < 1:
            raise PromptError("crop_n_points_downscale_factor must be at least 1")
        if int(self.points_per_side / self.crop_n_points_downscale_factor**self.crop_n_layers) < 1:
            raise PromptError("the last crop layer's grid has no point: lower crop_n_layers or "
                              "crop_n_points_downscale_factor")
        if self.stability_score_offset < 0 or self.min_mask_region_area < 0:
            raise PromptError("stability_score_offset and min_mask_region_area must not be negative")
        if self.region is not None:
            x0, y0, x1, y1 = as_box(self.region, "region")
            if not (x1 > x0 and y1 > y0):
                raise PromptError(f"region {self.region} has zero area")
