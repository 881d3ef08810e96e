"""Tracking a phrase through a video, as the session sees it (Qt-free): what range a run covers,
which document object each of the tracker's instances became, and what a correction re-tracks.

A phrase run (``model_runtime.runtime.track_phrase``) reports instances by the tracker's ids;
their document objects are made as they first appear (``samdesk.document.tracking.TrackingRun``).
:class:`PhraseTracks` remembers, for the video's kept SAM 3 session, which object each id became,
so a correction on any frame of an object goes back to the same instance, and instances whose
objects the user deleted or merged into another are removed from the session before the next
re-track (they would take pixels from the others).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from model_runtime.api import Prompts
from samdesk.document import masks
from samdesk.document.model import AnnotationObject, Project, Provenance
from samdesk.document.tracking import Keyframe, object_keyframes


class TrackRange(StrEnum):
    """How far a phrase is tracked from the frame on screen."""

    WHOLE = "whole"  # every frame of the video, both ways from here
    FROM_HERE = "from_here"  # from here to the end
    FRAMES = "frames"  # from here, a number of frames


RANGE_TEXT = {
    TrackRange.WHOLE: "whole video", TrackRange.FROM_HERE: "from here", TrackRange.FRAMES: "N frames"
}


class NothingToRetrack(Exception):
    """Why a re-track cannot start, in words for the status bar."""


def range_arguments(
    extent: TrackRange, frame: int, frame_count: int, frames: int = 0
) -> tuple[str, int | None]:
    """(direction, max_frames) of ``propagate`` for ``extent`` from ``frame`` of a video of
    ``frame_count`` frames; ``frames``: how many, for :attr:`TrackRange.FRAMES` (at least 1)."""
    if not 0 <= frame < frame_count:
        raise ValueError(f"frame {frame} is outside the video (0..{frame_count - 1})")
    if extent is TrackRange.WHOLE:
        return ("forward" if frame == 0 else "both"), None
    if extent is TrackRange.FROM_HERE:
        return "forward", None
    if frames < 1:
        raise ValueError(f"track at least one frame, not {frames}")
    return "forward", min(frames, frame_count - frame)


@dataclass
class PhraseTracks:
    """The instances of the phrase runs on one video's kept session: tracker id -> the document
    object made for it (the record: undo and redo bring the same one back)."""

    media_id: int
    phrase: str = ""
    objects: dict[int, AnnotationObject] = field(default_factory=dict)

    def start(self, phrase: str) -> None:
        """A new phrase run: the session starts over, ids too."""
        self.phrase = phrase
        self.objects.clear()

    def add(self, created: dict[int, AnnotationObject]) -> None:
        self.objects.update(created)

    def tracker_id(self, project: Project, object_id: int) -> int | None:
        """The tracker's id of document object ``object_id``, if it is one of these instances."""
        for tracker_id, record in self.objects.items():
            if record.id == object_id and _live(project, record):
                return tracker_id
        return None

    def gone(self, project: Project) -> list[int]:
        """Tracker ids whose objects are no longer in the project (deleted, merged into another,
        or their run undone)."""
        return sorted(t for t, record in self.objects.items() if not _live(project, record))

    def take(self, tracker_ids: list[int]) -> None:
        """Forget ``tracker_ids`` (removed from the session)."""
        for tracker_id in tracker_ids:
            self.objects.pop(tracker_id, None)


@dataclass(frozen=True)
class Retrack:
    """What a correction re-tracks: ``object_id`` from its corrected ``frame`` (the user's mask
    ``keyframe``, and the ``clicks`` that made it, if any), forward for ``max_frames`` frames: up
    to its next keyframe, or the end."""

    object_id: int
    frame: int
    keyframe: Keyframe
    max_frames: int
    clicks: Prompts | None = None


def plan_retrack(project: Project, object_id: int | None, frame: int) -> Retrack:
    """The re-track of ``object_id`` from ``frame``, or :class:`NothingToRetrack` saying why."""
    if object_id is None:
        raise NothingToRetrack("Select the instance you corrected, then re-track it")
    obj = project.object(object_id)
    if obj.locked:
        raise NothingToRetrack("The selected object is locked: unlock it to re-track it")
    media = project.media_item(obj.media_id)
    annotation = obj.frames.get(frame)
    tracked = annotation is None or annotation.provenance is Provenance.PROPAGATED
    if tracked or masks.area(annotation.rle) == 0:
        raise NothingToRetrack(
            "Correct the instance on this frame first (R, then clicks, Enter): "
            "re-tracking starts from your mask"
        )
    later = [f for f in object_keyframes(obj) if f > frame]
    end = later[0] if later else media.frame_count
    made = annotation.prompts
    clicks = Prompts(made.points, made.labels, made.box) if made.points or made.box is not None else None
    if annotation.provenance is not Provenance.MODEL:
        clicks = None  # edited by hand after the clicks: the mask is the correction
    keyframe = Keyframe(object_id, frame, annotation.rle)
    return Retrack(object_id, frame, keyframe, max(1, end - frame), clicks)


def _live(project: Project, record: AnnotationObject) -> bool:
    try:
        return project.object(record.id) is record
    except KeyError:
        return False
