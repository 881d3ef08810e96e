"""Segment everything: every object of an image proposed at once, as the official generators do.

The algorithm is the official automatic mask generator's (SAM 1 ``SamAutomaticMaskGenerator``,
SAM 2 ``SAM2AutomaticMaskGenerator``), learned from their sources and written for speed:

1. For the whole image and, with ``crop_n_layers``, for overlapping crops: encode the crop (the
   whole image reuses the cached embedding), then prompt a grid of single points in batches.
2. Per batch: drop candidates whose predicted IoU is at most ``pred_iou_thresh`` *before*
   making any full-size mask (the official code upsamples every candidate first); the
   stability score and the mask of each survivor come from sign-exact upsampling of its low-res
   logits (``mask_upsampling``), thresholded at ``mask_threshold`` ± offset, so only the pixels
   near a mask's border are interpolated. Masks touching a crop edge (not an image edge) go.
3. Box NMS per crop (by predicted IoU), across crops (smaller crops win), and after the optional
   small-region clean-up (changed masks lose), exactly as the official order of operations.

Masks are kept cropped to their boxes (:class:`BoxedMask`). :func:`iter_everything` yields a
preview after every batch (what is kept so far, NMS applied) so a GUI can show results while the
rest computes, and can be stopped between batches; :func:`segment_everything` runs it through.

The model needs ``encode_image``, ``predict`` (or ``predict_batch``, one decoder pass for a
batch) and ``mask_plan(embedding)`` (its low-res → image-size interpolation).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from model_runtime.api import EverythingProgress
from model_runtime.candidate_masks import CandidateMasks
from model_runtime.everything.boxes import box_nms, crop_areas, mask_boxes, near_crop_edge, to_edges
from model_runtime.everything.grid import CropBox, crop_boxes, layer_point_grids
from model_runtime.everything.regions import BoxedMask, remove_small_regions
from model_runtime.everything.settings import EverythingSettings
from model_runtime.everything.stability import StabilityRule, stable_masks
from model_runtime.instances import Instances
from model_runtime.models.common.heap_reuse import reusing_freed_memory
from model_runtime.models.common.mask_upsampling import Plan
from model_runtime.prompts import PromptError, Prompts

UPSAMPLE_CHUNK = 16  # masks upsampled at once: bounds the full-size temporaries (H×W bytes each)


class GridModel(Protocol):
    """What segment everything needs of a click model."""

    def encode_image(self, image: np.ndarray) -> Any: ...

    def predict(self, embedding: Any, points: Any = None, labels: Any = None, box: Any = None,
                mask_input: Any = None, multimask: bool = True) -> Any: ...

    def mask_plan(self, embedding: Any) -> Plan: ...


@dataclass
class _Found:
    """Kept masks with their data, in order (the official ``MaskData``)."""

    masks: list[BoxedMask] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)  # inclusive, original frame, int64 (4,)
    scores: list[float] = field(default_factory=list)  # predicted IoU
    stability: list[float] = field(default_factory=list)
    crops: list[CropBox] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.masks)

    def extend(self, other: _Found) -> None:
        for name in ("masks", "boxes", "scores", "stability", "crops"):
            getattr(self, name).extend(getattr(other, name))

    def select(self, keep: Sequence[int] | np.ndarray) -> _Found:
        return _Found(*([getattr(self, n)[int(i)] for i in keep]
                        for n in ("masks", "boxes", "scores", "stability", "crops")))

    def box_array(self) -> np.ndarray:
        return np.stack(self.boxes) if self.boxes else np.zeros((0, 4), dtype=np.int64)


def segment_everything(model: GridModel, image: np.ndarray, embedding: Any = None,
                       settings: EverythingSettings | None = None) -> Instances:
    """Every object of ``image`` (uint8 (H, W, 3)); see :func:`iter_everything`."""
    result = None
    for step in iter_everything(model, image, embedding, settings):
        result = step.instances
    assert result is not None
    return result


def iter_everything(model: GridModel, image: np.ndarray, embedding: Any = None,
                    settings: EverythingSettings | None = None) -> Iterator[EverythingProgress]:
    """Run segment everything one point batch at a time, yielding a preview after each batch
    and the final result last (``final=True``). ``embedding``: the whole image's, if cached."""
    s = settings or EverythingSettings()
    s.check()
    with reusing_freed_memory():  # every batch of the run reuses the pages of the one before
        yield from _run(model, image, embedding, s)


def _run(model: GridModel, image: np.ndarray, embedding: Any, s: EverythingSettings
         ) -> Iterator[EverythingProgress]:
    height, width = image.shape[:2]
    if embedding is not None and tuple(embedding.original_size) != (height, width):
        raise PromptError(f"the embedding is of a {embedding.original_size} image, not {height}×{width}")
    crops = crop_boxes((height, width), s.crop_n_layers, s.crop_overlap_ratio)
    grids = layer_point_grids(s.points_per_side, s.crop_n_layers, s.crop_n_points_downscale_factor)
    plans = [_crop_points(grids[layer], crop, s.region) for crop, layer in crops]
    total = sum(-(-len(points) // s.points_per_batch) for points in plans)
    done = 0
    found = _Found()
    for (crop, _), points in zip(crops, plans, strict=True):
        x0, y0, x1, y1 = crop
        whole = crop == (0, 0, width, height)
        crop_embedding = embedding if whole and embedding is not None else None
        in_crop = _Found()
        for start in range(0, len(points), s.points_per_batch):
            if crop_embedding is None:
                crop_embedding = model.encode_image(np.ascontiguousarray(image[y0:y1, x0:x1]))
            batch = points[start:start + s.points_per_batch]
            in_crop.extend(_process_batch(model, crop_embedding, batch, crop, (height, width), s))
            done += 1
            if done < total:
                preview = _nms_crop(in_crop, s)
                preview_all = _Found()
                preview_all.extend(found)
                preview_all.extend(preview)
                yield EverythingProgress(done, total, _instances(preview_all, (height, width)))
        found.extend(_nms_crop(in_crop, s))
    if len(crops) > 1 and len(found):
        areas = crop_areas(np.asarray(found.crops)).astype(np.float32)
        found = found.select(box_nms(found.box_array(), np.float32(1) / areas, s.crop_nms_thresh))
    if s.min_mask_region_area > 0 and len(found):
        found = _remove_small_regions(found, s.min_mask_region_area, max(s.box_nms_thresh, s.crop_nms_thresh))
    yield EverythingProgress(total, total, _instances(found, (height, width)), final=True)


def _crop_points(grid: np.ndarray, crop: CropBox, region: tuple[float, ...] | None) -> np.ndarray:
    """The grid scaled to the crop, in crop pixels (float64 (n, 2)); ``region`` filters it."""
    x0, y0, x1, y1 = crop
    points = grid * np.array([[x1 - x0, y1 - y0]])
    if region is not None:
        rx0, ry0, rx1, ry1 = region
        absolute = points + np.array([[x0, y0]])
        inside = ((absolute[:, 0] >= rx0) & (absolute[:, 0] <= rx1)
                  & (absolute[:, 1] >= ry0) & (absolute[:, 1] <= ry1))
        points = points[inside]
    return points


def _decode(
    model: GridModel, embedding: Any, prompts: list[Prompts], multimask: bool
) -> tuple[torch.Tensor, np.ndarray]:
    """Low-res logits float32 (B, K, h, w) and predicted IoU (B, K) for each prompt set."""
    predict_batch = getattr(model, "predict_batch", None)
    if predict_batch is not None:
        predictions = predict_batch(embedding, prompts, multimask=multimask)
    else:
        predictions = [model.predict(embedding, multimask=multimask, **p.click_arrays()) for p in prompts]
    low = torch.from_numpy(np.stack([np.asarray(p.low_res_logits, dtype=np.float32) for p in predictions]))
    scores = np.stack([np.asarray(p.scores, dtype=np.float32) for p in predictions])
    return low, scores


def _decode_points(model: GridModel, embedding: Any, points: np.ndarray, multimask: bool,
                   min_score: float | None) -> tuple[torch.Tensor, np.ndarray]:
    """The grid's single clicks: the model's ``decode_clicks`` (no Prediction per click; the
    logits of clicks with no score above ``min_score`` not computed) if it has one, else
    :func:`_decode`."""
    decode_clicks = getattr(model, "decode_clicks", None)
    if decode_clicks is not None:
        low, scores = decode_clicks(embedding, points, multimask=multimask, min_score=min_score)
        return low, np.asarray(scores, dtype=np.float32)
    return _decode(model, embedding, [Prompts(points=[p], labels=[1]) for p in points], multimask)


def _process_batch(model: GridModel, embedding: Any, points: np.ndarray, crop: CropBox,
                   image_size: tuple[int, int], s: EverythingSettings) -> _Found:
    if s.use_m2m:  # the refinement's mask inputs are the predictor's returned (SAM 2: clamped) logits
        low, iou = _decode(model, embedding, [Prompts(points=[p], labels=[1]) for p in points],
                           s.multimask_output)
    else:
        # Candidates at or below pred_iou_thresh are dropped below, unread: their clicks need no masks.
        low, iou = _decode_points(model, embedding, points, s.multimask_output,
                                  s.pred_iou_thresh if s.pred_iou_thresh > 0 else None)
    per_point = low.shape[1]
    low = low.flatten(0, 1)
    iou = iou.reshape(-1)
    point_of = np.repeat(np.arange(len(points)), per_point)
    if s.use_m2m:
        refine = [Prompts(points=[points[i]], labels=[1], mask_input=low[j:j + 1].numpy())
                  for j, i in enumerate(point_of)]
        low, iou = _decode(model, embedding, refine, multimask=False)
        low, iou = low[:, 0], iou[:, 0]
    keep = np.flatnonzero(iou > s.pred_iou_thresh) if s.pred_iou_thresh > 0 else np.arange(len(iou))
    plan = model.mask_plan(embedding)
    rule = StabilityRule(s.mask_threshold, s.stability_score_offset, s.stability_score_thresh)
    x0, y0, _, _ = crop
    out = _Found()
    for start in range(0, len(keep), UPSAMPLE_CHUNK):
        chunk = keep[start:start + UPSAMPLE_CHUNK]
        stable = stable_masks(low[torch.from_numpy(chunk)], plan, rule)
        if not len(stable.kept):
            continue
        boxes = mask_boxes(stable.masks)
        uncropped = boxes + np.array([[x0, y0, x0, y0]])
        for k in np.flatnonzero(~near_crop_edge(uncropped, crop, image_size)):
            out.masks.append(BoxedMask.of(stable.masks[k], boxes[k], offset=(x0, y0), image_size=image_size))
            out.boxes.append(uncropped[k])
            out.scores.append(float(iou[chunk[stable.kept[k]]]))
            out.stability.append(float(stable.stability[k]))
            out.crops.append(crop)
    return out


def _nms_crop(found: _Found, s: EverythingSettings) -> _Found:
    if not len(found):
        return found
    # The official NMS runs on crop-frame boxes; IoU is the same after the integer shift.
    return found.select(box_nms(found.box_array(), np.asarray(found.scores, np.float32), s.box_nms_thresh))


def _remove_small_regions(found: _Found, min_area: int, nms_thresh: float) -> _Found:
    cleaned: list[BoxedMask] = []
    unchanged: list[float] = []
    for mask in found.masks:
        new, changed = remove_small_regions(mask, min_area)
        cleaned.append(new)
        unchanged.append(0.0 if changed else 1.0)
    boxes = np.stack([np.asarray(m.box, dtype=np.int64) for m in cleaned])
    keep = box_nms(boxes, np.asarray(unchanged, np.float32), nms_thresh)
    for i in keep:
        if unchanged[i] == 0.0:
            found.masks[i] = cleaned[i]
            found.boxes[i] = boxes[i]
    return found.select(keep)


def _instances(found: _Found, image_size: tuple[int, int]) -> Instances:
    masks = list(found.masks)
    height, width = image_size
    return Instances(
        CandidateMasks((len(masks), height, width), lambda i: masks[i].full()),
        to_edges(found.box_array()),
        np.asarray(found.scores, dtype=np.float32),
        stability_scores=np.asarray(found.stability, dtype=np.float32),
    )
