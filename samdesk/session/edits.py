"""Hand edits of masks: brush strokes in progress, clean-ups, and what an edit does to provenance."""

from __future__ import annotations

import numpy as np

from model_runtime.api import Prompts
from samdesk.document import AnnotationObject, FrameAnnotation, Provenance
from samdesk.document import masks as rle
from samdesk.session import mask_ops


class Stroke:
    """A brush or eraser stroke in progress on a copy of a bool (H, W) mask."""

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask.copy()

    def to(self, start: tuple[float, float], end: tuple[float, float], radius: float, erase: bool) -> None:
        """Sweep the round brush from ``start`` to ``end`` (x, y in image pixels)."""
        mask_ops.stamp_segment(self.mask, start, end, radius, not erase)


def cleaned(mask: np.ndarray, fill: bool, min_island: int) -> np.ndarray:
    """``mask`` with its holes filled (``fill``) and islands under ``min_island`` px removed."""
    out = mask_ops.fill_holes(mask) if fill else mask
    if min_island > 0:
        out = mask_ops.remove_small_islands(out, min_island)
    return out


def hand_edited(before: FrameAnnotation | None, mask: np.ndarray) -> FrameAnnotation:
    """The annotation of a frame after the user edited ``before`` (or drew on an empty frame)
    by hand into ``mask``: hand-drawn stays MANUAL, a model's mask becomes EDITED; its prompts
    and model are kept, its score is not (it no longer describes the mask)."""
    if before is None or before.provenance == Provenance.MANUAL:
        provenance = Provenance.MANUAL
    else:
        provenance = Provenance.EDITED
    prompts = before.prompts if before else Prompts()
    return FrameAnnotation(rle.encode(mask), provenance, None, prompts, before.model_id if before else None)


def topmost_at(objects: list[AnnotationObject], frame: int, x: float, y: float) -> int | None:
    """The id of the last visible object in ``objects`` (drawing order) whose mask on ``frame``
    covers pixel (x, y)."""
    xi, yi = int(x), int(y)
    for obj in reversed(objects):
        annotation = obj.frames.get(frame)
        if not obj.visible or annotation is None:
            continue
        h, w = annotation.rle["size"]
        if 0 <= xi < w and 0 <= yi < h and rle.decode(annotation.rle)[yi, xi]:
            return obj.id
    return None
