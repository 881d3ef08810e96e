"""Tracking a video's objects: which masks the tracker starts from, and how what it tracked
lands in the document.

The user's own masks (drawn, predicted from clicks, edited, imported) are keyframes: they
condition the tracker and are never overwritten by it. Frames the tracker fills in are
``Provenance.PROPAGATED``; tracking again replaces them, and a frame where the object is gone
loses its propagated mask. Locked objects are neither tracked nor changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from samdesk.document import masks
from samdesk.document.commands import Batch, Command, SetFrame
from samdesk.document.masks import Rle
from samdesk.document.model import FrameAnnotation, Project, Provenance

UNDO_TEXT = "track objects"


@dataclass(frozen=True)
class Keyframe:
    object_id: int
    frame: int
    rle: Rle


def keyframes(project: Project, media_id: int) -> list[Keyframe]:
    """The user's non-empty masks on the objects of ``media_id`` that may be tracked, by object
    then frame."""
    found = []
    for obj in project.objects_of(media_id):
        if obj.locked:
            continue
        for frame in sorted(obj.frames):
            annotation = obj.frames[frame]
            if annotation.provenance is not Provenance.PROPAGATED and masks.area(annotation.rle) > 0:
                found.append(Keyframe(obj.id, frame, annotation.rle))
    return found


def tracked_frame_command(
    project: Project,
    media_id: int,
    frame: int,
    tracked: Mapping[int, Rle],
    *,
    model_id: str | None,
    merge_key: object = None,
) -> Command | None:
    """The change that puts one tracked frame (object id -> mask) into the document, or None
    when it changes nothing. Objects deleted, locked or moved off the video since tracking
    started are left out, as are frames where the user has a mask of their own."""
    commands: list[Command] = []
    objects = {obj.id: obj for obj in project.objects_of(media_id) if not obj.locked}
    for object_id, rle in tracked.items():
        obj = objects.get(object_id)
        if obj is None:
            continue
        current = obj.frames.get(frame)
        if current is not None and current.provenance is not Provenance.PROPAGATED:
            continue
        if masks.area(rle) == 0:
            if current is not None:
                commands.append(SetFrame(object_id, frame, None, text=UNDO_TEXT))
            continue
        annotation = FrameAnnotation(rle, Provenance.PROPAGATED, model_id=model_id)
        commands.append(SetFrame(object_id, frame, annotation, text=UNDO_TEXT))
    if not commands:
        return None
    return Batch(commands, text=UNDO_TEXT, merge_key=merge_key)
