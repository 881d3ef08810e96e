"""The review queue: which tracked frames are most likely wrong, so that checking a long track
means visiting dozens of frames, not thousands (Qt-free).

Every tracked frame of an object (a propagated mask, or an absence the tracker reported) gets a
suspicion in [0, 1] from what is around it, and the largest of these signals names the reason:

- **unsure**: the tracker's presence logit near 0 (``exp(-|score|)``: 1 at 0, 0.37 at ±1);
- **area jump**: the mask's area against the frame before, ``|ln(a / a_prev)| / ln 3``
  (a tripling or a third is 1);
- **overlap drop**: the IoU with the frame before, against the track's usual (median) IoU:
  ``(usual - iou) / usual``;
- **flicker**: one frame unlike both neighbours while they agree (the object vanishes or pops
  up for one frame, or the mask jumps away and back): ``iou(prev, next) - max(iou(prev, this),
  iou(this, next))`` as a fraction of ``iou(prev, next)``, and 1 for a one-frame presence change;
- **lost**: the object present on the frame before and absent here (0.5: worth a look).

A frame's suspicion is the largest over its objects. :func:`next_suspect` picks the most
suspicious frame the user has neither reviewed (the media's ``done_frames``) nor visited yet.
IoUs come from the masks' runs (``masks.iou``) and are kept per pair of annotations, so asking
again after an edit recomputes only the pairs the edit touched.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Set
from dataclasses import dataclass

import numpy as np

from samdesk.document import masks
from samdesk.document.model import AnnotationObject, FrameAnnotation, Provenance

THRESHOLD = 0.3  # frames less suspicious than this are not worth a visit
LOST = 0.5


@dataclass(frozen=True)
class Suspect:
    """A frame worth checking: ``object_id`` is the object that makes it suspicious."""

    frame: int
    object_id: int
    suspicion: float  # 0..1
    reason: str


class ReviewScorer:
    """Scores tracked frames; keeps the IoUs of neighbouring masks between calls."""

    def __init__(self) -> None:
        # (id(a), id(b)) -> (a, b, iou): the annotations are kept so their ids stay theirs.
        self._ious: dict[tuple[int, int], tuple[FrameAnnotation, FrameAnnotation, float]] = {}

    def iou(self, a: FrameAnnotation, b: FrameAnnotation) -> float:
        key = (id(a), id(b))
        found = self._ious.get(key)
        if found is None or found[0] is not a or found[1] is not b:
            found = (a, b, masks.iou(a.rle, b.rle))
            self._ious[key] = found
        return found[2]

    def forget_unused(self, objects: Iterable[AnnotationObject]) -> None:
        """Drop the IoUs of annotations no longer in ``objects`` (after edits, undo, tracking)."""
        alive = {id(a) for obj in objects for a in obj.frames.values()}
        self._ious = {k: v for k, v in self._ious.items() if k[0] in alive and k[1] in alive}

    def object_suspects(self, obj: AnnotationObject) -> list[Suspect]:
        """Every tracked frame of ``obj`` with its suspicion, in frame order."""
        frames = obj.frames
        tracked = sorted(
            {f for f, a in frames.items() if a.provenance is Provenance.PROPAGATED}
            | {f for f in obj.absent if f not in frames}
        )
        if not tracked:
            return []
        overlaps = [
            self.iou(frames[f - 1], frames[f]) for f in tracked if f in frames and f - 1 in frames
        ]
        usual = float(np.median(overlaps)) if overlaps else 1.0
        return [self._suspect(obj, f, usual) for f in tracked]

    def _suspect(self, obj: AnnotationObject, frame: int, usual: float) -> Suspect:
        frames = obj.frames
        here, after = frames.get(frame), frames.get(frame + 1)
        # The frames before that a good frame should resemble: the one just before, or the one
        # before that (when the frame just before is the odd one out, this one is not).
        before = [a for a in (frames.get(frame - 1), frames.get(frame - 2)) if a is not None]
        signals: dict[str, float] = {}
        score = here.object_score if here is not None else obj.absent[frame].object_score
        if score is not None and math.isfinite(score):
            signals[f"tracker unsure (presence {score:+.2f})"] = math.exp(-abs(score))
        present = here is not None and masks.area(here.rle) > 0
        was_present, stays_present = self._present(obj, frame - 1), self._present(obj, frame + 1)
        one_frame_change = present != was_present and stays_present == was_present
        if was_present is not None and stays_present is not None and one_frame_change:
            signals["flicker: " + ("appears" if present else "vanishes") + " for one frame"] = 1.0
        if not present and was_present:
            signals["object lost"] = LOST
        if here is not None and before:
            prev = before[0]
            if after is not None:
                agree = self.iou(prev, after)  # how much the neighbours agree ...
                spike = agree - max(self.iou(prev, here), self.iou(here, after))  # ... and this breaks
                if spike > 0:
                    signals["flicker: unlike both neighbours"] = spike / agree
            area_here = masks.area(here.rle)
            ratios = [(area_here + 1) / (masks.area(a.rle) + 1) for a in before]
            ratio = min(ratios, key=lambda r: abs(math.log(r)))
            signals[f"area ×{ratio:.2f} from the frame before"] = min(1.0, abs(math.log(ratio)) / math.log(3))
            overlap = max(self.iou(a, here) for a in before)
            if usual > 0:
                drop = max(0.0, (usual - overlap) / usual)
                signals[f"overlap {overlap:.2f} with the frame before (usual {usual:.2f})"] = min(1.0, drop)
        if not signals:
            return Suspect(frame, obj.id, 0.0, "")
        reason = max(signals, key=lambda k: signals[k])  # the first of equals: flicker before overlap
        return Suspect(frame, obj.id, signals[reason], reason)

    @staticmethod
    def _present(obj: AnnotationObject, frame: int) -> bool | None:
        """Whether ``obj`` is on ``frame`` (True: a mask, False: recorded absent, None: unknown)."""
        annotation = obj.frames.get(frame)
        if annotation is not None:
            return masks.area(annotation.rle) > 0
        return False if frame in obj.absent else None

    def suspects(self, objects: Iterable[AnnotationObject]) -> list[Suspect]:
        """The most suspicious object of every tracked frame, most suspicious first (ties: the
        earlier frame), down to :data:`THRESHOLD`."""
        best: dict[int, Suspect] = {}
        for obj in objects:
            for suspect in self.object_suspects(obj):
                current = best.get(suspect.frame)
                if current is None or suspect.suspicion > current.suspicion:
                    best[suspect.frame] = suspect
        ranked = [s for s in best.values() if s.suspicion >= THRESHOLD]
        return sorted(ranked, key=lambda s: (-s.suspicion, s.frame))


def next_suspect(ranked: list[Suspect], reviewed: Set[int], visited: Set[int]) -> Suspect | None:
    """The most suspicious frame not reviewed and not visited yet, if any."""
    return next((s for s in ranked if s.frame not in reviewed and s.frame not in visited), None)
