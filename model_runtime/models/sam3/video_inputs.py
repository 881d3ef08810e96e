"""How SAM 3 turns a video frame into model input (not the image path's pre-processing).

The official video loader (``load_video_frames_from_image_folder``, what a folder of frames and
a list of frames go through) does, per frame: Pillow's bilinear resize of the uint8 image to
1008² (aspect not kept; Pillow antialiases), ``ToTensor`` (float32, ÷255), a cast to float16 for
storage, ``(x - 0.5) / 0.5`` *in float16*, and a cast back to float32 before the backbone. The
image path (``transforms.preprocess_image``) resizes with torchvision's kernel in uint8 and
normalises in float32: the two differ by a few float16 ulps per pixel, so a video frame is
always prepared this way here, whatever the source (the official code decodes a video *file*
with OpenCV and bicubic resizing instead; frames here come from our own readers, see
``model_runtime.models.sam2.frame_sources`` for the sources).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from model_runtime.models.sam3.transforms import IMAGE_SIZE, MEAN, STD


def preprocess_video_frame(frame: np.ndarray, size: int = IMAGE_SIZE) -> torch.Tensor:
    """uint8 (H, W, 3) RGB -> float32 (1, 3, size, size), normalised as the official video loader."""
    image = Image.fromarray(np.ascontiguousarray(frame))
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)
    stored = pixels.to(torch.float32).div(255).to(torch.float16)
    mean = torch.tensor([MEAN] * 3, dtype=torch.float16)[:, None, None]
    std = torch.tensor([STD] * 3, dtype=torch.float16)[:, None, None]
    stored -= mean
    stored /= std
    return stored.to(torch.float32)[None]
