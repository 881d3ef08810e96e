"""What the session asks of the model side: a prediction for the pending object, encodes ahead.

The session never calls a model. It hands a :class:`PredictRequest` to a
:class:`PredictionService` (in the app, ``samdesk.ui.model_link.ModelLink`` over the runtime
bridge) and is answered later, on its own thread, through the controller's ``prediction_ready``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from model_runtime.api import Prompts
from samdesk.document import MediaItem, MediaKind


def media_key(media: MediaItem) -> str:
    """The runtime's cache identity of a medium's pixels: its content hash when known, else its
    path. A video's (or frame folder's) frames are keyed apart (``video_frames_key``): they are
    encoded for clicks as tracking encodes them, so clicks and tracking runs share embeddings."""
    from model_runtime.runtime.requests import video_frames_key

    key = media.content_hash or f"path:{media.path}"
    return video_frames_key(key) if media.frame_count > 1 or media.kind == MediaKind.VIDEO else key


@dataclass(frozen=True)
class PredictRequest:
    """One prompt set for one image or video frame.

    ``prompts`` holds the clicks (pixel x, y, labels 1/0), the box (x0, y0, x1, y1) and, when
    refining, the previous answer's low-res logits as ``mask_input`` (1, 256, 256);
    ``multimask`` asks for three candidates instead of one.
    """

    media: MediaItem
    frame: int
    prompts: Prompts
    multimask: bool


class PredictionService(Protocol):
    """What the session needs from the model side (the runtime bridge in the app)."""

    def predict(self, request: PredictRequest) -> int:
        """Queue a prediction and return its request id; the answer arrives asynchronously."""
        ...

    def prefetch(self, media: list[MediaItem]) -> None:
        """Encode these images in the background, nearest first, so later clicks are fast."""
        ...

    def prefetch_frames(self, media: MediaItem, frames: list[int]) -> None:
        """Encode frame ``frames[0]`` of a video now and the others in the background."""
        ...

    @property
    def model_id(self) -> str | None: ...
