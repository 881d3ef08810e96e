"""A click, box or mask prompt on a SAM 3 video frame, checked and turned into tracker input.

Points are pixel (x, y) of the video frame with labels 1 (foreground) / 0 (background); a box
(x0, y0, x1, y1) becomes two points labelled 2 and 3 placed before the clicks (the SAM 2 rule);
both are scaled to the tracker's 1008² input. A mask is bool (H, W), resized (bilinear,
antialiased) to the tracker's 1152² mask-prompt size and thresholded at 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from model_runtime.api import PromptError

BOX_LABELS = (2, 3)

Points = np.ndarray | Sequence[Sequence[float]]


def point_inputs(
    points: Points | None,
    labels: np.ndarray | Sequence[int] | None,
    box: np.ndarray | Sequence[float] | None,
    frame_size: tuple[int, int],
    image_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompts on a frame of ``frame_size`` (H, W) -> model-input coordinates (1, P, 2) float32
    and labels (1, P) int32, box corners first. PromptError naming what is wrong."""
    if (points is None) != (labels is None):
        raise PromptError("points and labels must be given together")
    if points is None and box is None:
        raise PromptError("a prompt needs points, a box or a mask")
    parts_xy: list[np.ndarray] = []
    parts_lab: list[np.ndarray] = []
    if box is not None:
        box_arr = np.asarray(box, dtype=np.float32).reshape(-1)
        if box_arr.shape != (4,) or not np.isfinite(box_arr).all():
            raise PromptError(f"box must be 4 finite numbers x0, y0, x1, y1, got {box!r}")
        parts_xy.append(box_arr.reshape(2, 2))
        parts_lab.append(np.asarray(BOX_LABELS, dtype=np.int32))
    if points is not None:
        pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        lab = np.asarray(labels, dtype=np.int32).reshape(-1)
        if len(pts) != len(lab):
            raise PromptError(f"{len(pts)} points but {len(lab)} labels")
        if not np.isfinite(pts).all():
            raise PromptError("points contain NaN or infinity")
        if not np.isin(lab, (0, 1)).all():
            raise PromptError(f"point labels must be 0 or 1, got {sorted(set(lab.tolist()))}")
        parts_xy.append(pts)
        parts_lab.append(lab)
    xy = torch.from_numpy(np.concatenate(parts_xy))[None]
    h, w = frame_size
    coords = (xy / torch.tensor([w, h], dtype=torch.float32)) * image_size
    return coords, torch.from_numpy(np.concatenate(parts_lab))[None]


def mask_inputs(
    mask: np.ndarray, input_size: int, frame_size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """bool (H, W) -> (the tracker's prompt bool (S, S), S = ``input_size``; the mask at video
    resolution bool (1, H', W'), (H', W') = ``frame_size``)."""
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise PromptError(f"mask must be a 2-D (H, W) array, got shape {arr.shape}")
    plane = torch.from_numpy(arr.astype(bool))[None, None].float()
    prompt = plane
    if prompt.shape[-2:] != (input_size, input_size):
        prompt = F.interpolate(
            prompt, size=(input_size, input_size), mode="bilinear", align_corners=False, antialias=True
        )
    video = plane[0] > 0.5
    if video.shape[-2:] != frame_size:
        resized = F.interpolate(plane, size=frame_size, mode="bilinear", align_corners=False, antialias=True)
        video = resized[0] > 0.5
    return prompt[0, 0] > 0.5, video
