"""A noun phrase's detections on one video frame, as SAM 3's video model takes them.

The image path scores a query sigmoid(logit) × sigmoid(presence) and keeps it above a threshold
(``postprocess.py``). The video detector (official ``Sam3ImageOnVideoMultiGPU`` with
``supervise_joint_box_scores``) turns that product back into a logit clamped to ±10
(``inverse_sigmoid`` with its 1e-3 clamp) and takes its sigmoid as the score; detections above
the detection threshold then go through mask NMS (``planner.nms``). Masks (288² logits) are made
only for the queries above the threshold (the official code makes all 200 and a semantic map).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from model_runtime.models.sam3.decoder import inverse_sigmoid
from model_runtime.models.sam3.detector import ImageContext, Sam3Detector
from model_runtime.models.sam3.features import TextFeatures
from model_runtime.models.sam3.planner import nms

JOINT_LOGIT_CLAMP = 10.0


@dataclass
class FrameDetections:
    """The kept detections of one frame, in query order: masks (N, 288, 288) logits, scores (N,),
    boxes (N, 4) normalised x0, y0, x1, y1."""

    masks: torch.Tensor
    scores: np.ndarray
    boxes: torch.Tensor

    @classmethod
    def empty(cls, side: int, device: torch.device | str = "cpu") -> FrameDetections:
        return cls(torch.zeros(0, side, side, device=device), np.zeros(0, np.float32), torch.zeros(0, 4))

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def nbytes(self) -> int:
        return int(self.masks.element_size() * self.masks.nelement())


def joint_scores(logits: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
    """logits (Q,), presence () -> (Q,) the video detector's scores."""
    joint = inverse_sigmoid(logits.sigmoid() * presence.sigmoid()).clamp(
        -JOINT_LOGIT_CLAMP, JOINT_LOGIT_CLAMP
    )
    return joint.sigmoid()


@torch.no_grad()
def detect_frame(
    detector: Sam3Detector,
    image: ImageContext,
    text: TextFeatures,
    threshold: float,
    nms_iou: float,
) -> FrameDetections:
    """One phrase (``text`` of batch 1) on one frame -> the detections above ``threshold`` that
    survive mask NMS at ``nms_iou`` (no NMS when it is 0)."""
    device = image.tokens.device
    features = text.language_features.transpose(0, 1).to(device)
    found = detector.detect(image, features, text.language_mask.to(device))
    scores = joint_scores(found.logits[0], found.presence[0])
    candidates = torch.nonzero(scores > threshold).flatten()
    side = 4 * image.size[0]
    if candidates.numel() == 0:
        return FrameDetections.empty(side, device)
    pixels = detector.pixel_features(image, found, 0)
    masks = detector.masks(pixels, found, 0, candidates)
    if nms_iou > 0.0:
        keep = nms(scores[candidates], masks, threshold, nms_iou)
        candidates, masks = candidates[keep], masks[keep]
    boxes = found.boxes[0, candidates]
    cx, cy, w, h = boxes.unbind(-1)
    xyxy = torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)
    return FrameDetections(masks.float(), scores[candidates].float().cpu().numpy(), xyxy)
