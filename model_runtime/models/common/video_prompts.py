"""A click or box prompt on a video frame, checked and turned into tracker input: the SAM 2 rule
that SAM 2's and SAM 3's video sessions share.

Points are pixel (x, y) of the video frame with labels 1 (foreground) / 0 (background); a box
(x0, y0, x1, y1) becomes two points labelled 2 and 3 placed before the clicks; both are divided by
the frame's (W, H) and then scaled to the model's square input size (the official order of
operations).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

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
