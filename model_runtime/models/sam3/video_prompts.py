"""A mask prompt on a SAM 3 video frame, checked and turned into tracker input (clicks and
boxes: ``models/common/video_prompts.point_inputs``, shared with SAM 2). A mask is bool (H, W),
resized (bilinear, antialiased) to the tracker's 1152² mask-prompt size and thresholded at 0.5.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from model_runtime.api import PromptError


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
