"""Test doubles for GUI tests: a prediction service answering with simple geometric masks.

Not a model: masks are discs around positive points minus discs around negative points (or
the prompt box), which makes the expected pixels easy to state in assertions. Unit tests of the
controller and widgets use it; the end-to-end session test uses the real runtime when present.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from samdesk.session import PredictRequest

RADII = (20, 40, 60)  # three candidates: small, medium, large discs


def disc_masks(request: PredictRequest) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(3, H, W) masks, scores favouring the medium disc, (3, 256, 256) logits."""
    h, w = request.media.height, request.media.width
    yy, xx = np.mgrid[0:h, 0:w]
    masks = np.zeros((len(RADII), h, w), dtype=bool)
    for k, r in enumerate(RADII):
        m = np.zeros((h, w), dtype=bool)
        prompts = request.prompts
        if prompts.box is not None:
            x0, y0, x1, y1 = (int(v) for v in prompts.box)
            m[max(0, y0) : y1, max(0, x0) : x1] = True
        if prompts.points:
            for (x, y), label in zip(prompts.points, prompts.labels, strict=True):
                disc = (xx - x) ** 2 + (yy - y) ** 2 <= r * r
                m = m | disc if label == 1 else m & ~disc
        masks[k] = m
    scores = np.array([0.7, 0.9, 0.8], dtype=np.float32)
    logits = np.stack([np.full((256, 256), float(k), np.float32) for k in range(len(RADII))])
    return masks, scores, logits


@dataclass
class RecordingService:
    """Records requests; the test decides when (and whether) each answer arrives."""

    requests: list[tuple[int, PredictRequest]] = field(default_factory=list)
    prefetched: list[list[int]] = field(default_factory=list)
    prefetched_frames: list[tuple[int, list[int]]] = field(default_factory=list)
    model_id: str | None = "double-disc"

    def predict(self, request: PredictRequest) -> int:
        request_id = len(self.requests) + 1
        self.requests.append((request_id, request))
        return request_id

    def prefetch(self, media) -> None:
        self.prefetched.append([m.id for m in media])

    def prefetch_frames(self, media, frames: list[int]) -> None:
        self.prefetched_frames.append((media.id, list(frames)))


class AsyncDiscService(RecordingService):
    """Answers every request on the next event-loop turn, like the bridge's queued signal."""

    def __init__(self, controller_getter) -> None:
        super().__init__()
        self._controller = controller_getter

    def predict(self, request: PredictRequest) -> int:
        from PySide6.QtCore import QTimer

        request_id = super().predict(request)
        masks, scores, logits = disc_masks(request)
        QTimer.singleShot(0, lambda: self._controller().prediction_ready(request_id, masks, scores, logits))
        return request_id
