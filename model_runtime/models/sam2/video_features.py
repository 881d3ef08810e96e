"""One video frame's SAM 2 image features, shared by tracking and clicks.

A video frame is encoded the way the official video predictor does it (``preprocess_video_frame``:
Pillow's bicubic resize, not the image predictor's antialiased bilinear one), in float32. The
same features serve both:

- tracking (:class:`FrameFeatures`: raw stride-16 ``s16``, the decoder's skip features, the
  sine encoding ``pos16``), and
- clicks (an :class:`~model_runtime.api.ImageEmbedding` whose ``image_embed`` is ``s16`` plus
  ``no_mem_embed``, what a frame without memory sees, as the image predictor's is).

So a frame the user clicked on is not encoded again when a tracking run reaches it, and a frame
a run tracked answers the next click at once: the runtime's embedding cache holds the embedding
(with ``video_s16``, the raw features, beside ``image_embed``), a session converts both ways.

Shapes for a 1024² model: s16 / image_embed (1, 256, 64, 64); skip_s0 (1, 65536, 32);
skip_s1 (1, 16384, 64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from model_runtime.api import ImageEmbedding
from model_runtime.models.common.upscaling_head import SkipFeatures
from model_runtime.models.sam2.frame_sources import preprocess_video_frame
from model_runtime.models.sam2.network import Sam2Network

VIDEO_S16 = "video_s16"  # the embedding feature that marks a video-frame embedding


@dataclass
class FrameFeatures:
    """One frame's image features (batch 1): ``skips`` the stride-4/8 maps already through the
    decoder's conv_s0/conv_s1, in the decoder's block order; ``s16`` (1, 256, 64, 64) raw
    stride-16 features; ``pos16`` (1, 256, 64, 64) their sine encoding."""

    skips: SkipFeatures
    s16: torch.Tensor
    pos16: torch.Tensor

    def nbytes(self) -> int:
        tensors = (self.skips.s0, self.skips.s1, self.s16)
        return sum(t.element_size() * t.nelement() for t in tensors)


class SharedEmbeddings(Protocol):
    """Embeddings of one video's frames kept outside a session (the runtime's cache), by frame."""

    def get(self, frame: int) -> ImageEmbedding | None:
        """The frame's embedding, or None when none is kept."""
        ...

    def put(self, frame: int, embedding: ImageEmbedding) -> None:
        """Keep the frame's embedding (a frame the session has just encoded)."""
        ...


@torch.no_grad()
def encode_frame(network: Sam2Network, rgb: np.ndarray, device: torch.device) -> FrameFeatures:
    """uint8 (H, W, 3) RGB video frame -> its features, as the official video predictor computes
    them (float32, no autocast)."""
    x = preprocess_video_frame(rgb, network.config.image_size).to(device)
    encoder = network.image_encoder
    s4, s8, s16 = encoder(x)
    decoder = network.sam_mask_decoder
    return FrameFeatures(
        skips=SkipFeatures.from_maps(decoder.conv_s0(s4), decoder.conv_s1(s8), decoder.output_upscaling),
        s16=s16,
        pos16=encoder.position_encodings([s16])[0],
    )


def as_embedding(
    features: FrameFeatures, network: Sam2Network, model_id: str, original_size: tuple[int, int]
) -> ImageEmbedding:
    """The click side of a frame's features (no copy of the shared tensors; ``image_embed`` is
    new). ``original_size``: (H, W) of the video frame."""
    size = network.config.image_size
    with torch.no_grad():
        image_embed = features.s16 + network.no_mem_embed.view(1, -1, 1, 1)
    return ImageEmbedding(
        model_id=model_id,
        original_size=(int(original_size[0]), int(original_size[1])),
        input_size=(size, size),  # the frame is squashed to a square, as an image is
        features={
            "image_embed": image_embed,
            "skip_s0": features.skips.s0,
            "skip_s1": features.skips.s1,
            VIDEO_S16: features.s16,
        },
    )


def from_embedding(embedding: ImageEmbedding, network: Sam2Network, model_id: str) -> FrameFeatures | None:
    """The tracking side of a video-frame embedding of this model; None for any other embedding
    (a still image's, or another model's: its features would not be the video path's)."""
    s16 = embedding.features.get(VIDEO_S16)
    if embedding.model_id != model_id or s16 is None:
        return None
    return FrameFeatures(
        skips=SkipFeatures(s0=embedding.features["skip_s0"], s1=embedding.features["skip_s1"]),
        s16=s16,
        pos16=network.image_encoder.position_encodings([s16])[0],
    )
