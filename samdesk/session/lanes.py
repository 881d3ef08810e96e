"""What the timeline shows on each object's lane, frame by frame (Qt-free).

Each frame of an object's lane carries one :class:`Mark`: a keyframe (the user's own mask), a
tracked mask, a frame where the tracker found the object gone (an absence), either of the last
two made **stale** by a later correction, or nothing. Stale follows from what each tracked frame
records (``FrameAnnotation.tracked_from``, ``TrackerAbsence.tracked_from``): the keyframe it was
carried from has changed or is gone, or another keyframe now lies between the two. Tracking the
stretch again replaces the frame, and the mark goes.

``object_marks`` gives a lane as a uint8 array (one value per frame, O(annotated frames));
``binned`` folds it to one value per pixel column, keeping the most important mark of the
frames a column covers, so a 10,000-frame lane drawn 800 pixels wide still shows every keyframe.
"""

from __future__ import annotations

import bisect
from enum import IntEnum

import numpy as np

from samdesk.document import masks
from samdesk.document.model import AnnotationObject, Provenance, TrackedFrom
from samdesk.document.tracking import object_keyframes


class Mark(IntEnum):
    """A frame's state on a lane; a higher value wins when frames share a pixel."""

    NONE = 0
    TRACKED = 1
    ABSENT = 2
    STALE_TRACKED = 3
    STALE_ABSENT = 4
    KEYFRAME = 5


class StaleRule:
    """Whether a tracked frame of one object is stale, from the object's keyframes now."""

    def __init__(self, obj: AnnotationObject) -> None:
        self.keyframes = object_keyframes(obj)
        self._digests = {frame: masks.digest(obj.frames[frame].rle) for frame in self.keyframes}

    def is_stale(self, frame: int, source: TrackedFrom | None) -> bool:
        if source is None:
            return False  # tracked before samdesk recorded where from: nothing to compare
        if self._digests.get(source.frame) != source.mask_digest:
            return True  # its keyframe was changed or removed
        low, high = sorted((source.frame, frame))
        after_low = bisect.bisect_right(self.keyframes, low)
        return after_low < len(self.keyframes) and self.keyframes[after_low] < high


def object_marks(obj: AnnotationObject, frame_count: int) -> np.ndarray:
    """uint8 (frame_count,) of :class:`Mark` values for ``obj``'s lane."""
    marks = np.zeros(frame_count, dtype=np.uint8)
    rule = StaleRule(obj)
    for frame, absence in obj.absent.items():
        if 0 <= frame < frame_count:
            stale = rule.is_stale(frame, absence.tracked_from)
            marks[frame] = Mark.STALE_ABSENT if stale else Mark.ABSENT
    for frame, annotation in obj.frames.items():
        if not 0 <= frame < frame_count:
            continue
        if annotation.provenance is Provenance.PROPAGATED:
            stale = rule.is_stale(frame, annotation.tracked_from)
            marks[frame] = Mark.STALE_TRACKED if stale else Mark.TRACKED
        else:
            marks[frame] = Mark.KEYFRAME  # the user's mask wins over an absence recorded there
    return marks


def stale_frames(obj: AnnotationObject) -> list[int]:
    """The frames of ``obj`` whose tracked result (mask or absence) is stale, ascending."""
    rule = StaleRule(obj)
    found = [f for f, a in obj.frames.items() if a.provenance is Provenance.PROPAGATED
             and rule.is_stale(f, a.tracked_from)]
    found += [f for f, a in obj.absent.items() if f not in obj.frames and rule.is_stale(f, a.tracked_from)]
    return sorted(found)


def binned(marks: np.ndarray, first: float, frames_per_column: float, columns: int) -> np.ndarray:
    """One mark per pixel column: column ``x`` covers the frames from ``first + x *
    frames_per_column`` to the next column's start (at least one frame) and shows the highest
    mark among them -> uint8 (columns,); columns outside the video are ``Mark.NONE``."""
    count = len(marks)
    out = np.zeros(max(columns, 0), dtype=np.uint8)
    if columns <= 0 or count == 0 or frames_per_column <= 0:
        return out
    edges = first + np.arange(columns + 1) * frames_per_column
    starts = np.floor(edges[:-1]).astype(np.int64)
    ends = np.maximum(np.floor(edges[1:]).astype(np.int64), starts + 1)
    inside = (starts < count) & (ends > 0)
    starts, ends = np.clip(starts, 0, count), np.clip(ends, 0, count)
    # For each mark, whether any frame of a column has it: a difference of running counts.
    for mark in Mark:
        if mark is Mark.NONE:
            continue
        seen = np.concatenate(([0], np.cumsum(marks == mark)))
        present = inside & (seen[ends] - seen[starts] > 0)
        out[present] = mark  # marks ascend, so the highest present one is written last
    return out


def runs(values: np.ndarray) -> list[tuple[int, int, int]]:
    """Consecutive equal values as (start, stop, value) with stop exclusive."""
    if len(values) == 0:
        return []
    changes = np.flatnonzero(np.diff(values)) + 1
    starts = np.concatenate(([0], changes))
    stops = np.concatenate((changes, [len(values)]))
    return [(int(a), int(b), int(values[a])) for a, b in zip(starts, stops, strict=True)]
