"""Boxes of masks, non-maximum suppression, and the crop-edge rule of segment everything.

Box conventions: the official generators compute *inclusive* boxes (x1 is the last column that
holds the mask); everything here uses them internally so that the NMS and edge rules see the same
numbers, and :func:`to_edges` turns them into pixel-edge boxes (x1 one past the last column) for
:class:`~model_runtime.api.Instances`.

:func:`box_nms` is greedy NMS with the semantics of torchvision's ``nms`` (the product must not
need torchvision): scores sorted descending with a *stable* sort (ties keep their input order),
IoU = inter / (area_i + area_j − inter) with areas (x1 − x0)(y1 − y0) in float32, and a box is
suppressed when its IoU with a kept box is *greater* than the threshold.
"""

from __future__ import annotations

import numpy as np
import torch

from model_runtime.everything.grid import CropBox

EDGE_TOLERANCE = 20.0  # pixels: a box this close to a crop edge (not an image edge) is dropped


def mask_boxes(masks: np.ndarray) -> np.ndarray:
    """bool (N, H, W) -> int64 (N, 4) inclusive x0, y0, x1, y1; (0, 0, 0, 0) for an empty mask."""
    count, height, width = masks.shape
    boxes = np.zeros((count, 4), dtype=np.int64)
    if count == 0:
        return boxes
    rows = masks.any(axis=2)  # (N, H)
    cols = masks.any(axis=1)  # (N, W)
    filled = rows.any(axis=1)
    boxes[:, 0] = np.where(filled, cols.argmax(axis=1), 0)
    boxes[:, 1] = np.where(filled, rows.argmax(axis=1), 0)
    boxes[:, 2] = np.where(filled, width - 1 - cols[:, ::-1].argmax(axis=1), 0)
    boxes[:, 3] = np.where(filled, height - 1 - rows[:, ::-1].argmax(axis=1), 0)
    return boxes


def box_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the kept boxes, by decreasing score (ties in input order). boxes (N, 4)."""
    count = len(boxes)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    score_t = torch.as_tensor(np.asarray(scores, dtype=np.float32))
    order = score_t.sort(descending=True, stable=True)[1].numpy()
    b = np.asarray(boxes, dtype=np.float32)[order]
    x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    areas = (x1 - x0) * (y1 - y0)
    suppressed = np.zeros(count, dtype=bool)
    keep: list[int] = []
    threshold = np.float32(iou_threshold)
    for i in range(count):
        if suppressed[i]:
            continue
        keep.append(i)
        rest = slice(i + 1, count)
        width = np.maximum(np.float32(0), np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]))
        height = np.maximum(np.float32(0), np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]))
        inter = width * height
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = inter / (areas[i] + areas[rest] - inter)
        suppressed[rest] |= iou > threshold
    return order[np.asarray(keep, dtype=np.int64)]


def near_crop_edge(boxes: np.ndarray, crop: CropBox, image_size: tuple[int, int]) -> np.ndarray:
    """bool (N,): boxes (inclusive, original frame) within 20 px of an edge of the crop that is
    not also an edge of the image — the object probably continues outside the crop."""
    height, width = image_size
    b = np.asarray(boxes, dtype=np.float32)
    crop_edges = np.asarray(crop, dtype=np.float32)[None]
    image_edges = np.asarray((0, 0, width, height), dtype=np.float32)[None]
    near_crop = np.abs(b - crop_edges) <= EDGE_TOLERANCE
    near_image = np.abs(b - image_edges) <= EDGE_TOLERANCE
    return (near_crop & ~near_image).any(axis=1)


def to_edges(boxes: np.ndarray) -> np.ndarray:
    """Inclusive boxes -> float32 pixel-edge boxes (x1, y1 one past the last pixel); empty stay 0."""
    b = np.asarray(boxes, dtype=np.float32).copy()
    filled = (b != 0).any(axis=1)
    b[filled, 2:] += 1
    return b


def crop_areas(crops: np.ndarray) -> np.ndarray:
    """int64 (N,) areas of (N, 4) x0, y0, x1, y1 crop boxes."""
    c = np.asarray(crops, dtype=np.int64)
    return (c[:, 2] - c[:, 0]) * (c[:, 3] - c[:, 1])
