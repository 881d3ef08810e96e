"""Tracking a video's objects: which masks the tracker starts from, and how what it tracked
lands in the document.

The user's own masks (drawn, predicted from clicks, edited, imported) are keyframes: they
condition the tracker and are never overwritten by it. Frames the tracker fills in are
``Provenance.PROPAGATED``; tracking again replaces them, and a frame where the object is gone
loses its propagated mask. Locked objects are neither tracked nor changed. Objects the tracker
finds on its own become document objects (:class:`TrackingRun`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from samdesk.document import masks
from samdesk.document.commands import AddObject, Batch, Command, SetFrame
from samdesk.document.masks import Rle
from samdesk.document.model import AnnotationObject, FrameAnnotation, Project, Provenance

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


@dataclass
class TrackingRun:
    """One tracking run over one video, as it lands in the document frame by frame.

    ``tracked_objects`` are the document objects the tracker was started from (its keyframes'
    objects); the tracker reports them by these ids. Any other id it reports is an object it
    found on its own mid-run (a concept tracker does): its first non-empty frame creates a
    document object with the run's ``category_id`` and ``name``, and later frames of that id
    land on it. All of it, created objects included, is one undo step (``merge_key``).
    """

    media_id: int
    tracked_objects: frozenset[int]
    model_id: str | None = None
    category_id: int | None = None  # for objects the tracker creates
    name: str = ""
    merge_key: object = field(default_factory=object)
    # Tracker id -> the object created for it. The record, not its id: AddObject assigns the id
    # when the command runs, and redo brings the same record back.
    _created: dict[int, AnnotationObject] = field(default_factory=dict, init=False, repr=False)

    def frame_command(self, project: Project, frame: int, tracked: Mapping[int, Rle]) -> Command | None:
        """The change that puts one tracked frame (tracker id -> mask) into the document, or
        None when it changes nothing. Objects deleted, locked or moved off the video since the
        run started are left out, as are frames where the user has a mask of their own."""
        commands: list[Command] = []
        for tracker_id, rle in tracked.items():
            obj = self._object(project, tracker_id)
            if obj is None:
                if tracker_id not in self.tracked_objects and tracker_id not in self._created:
                    commands += self._create(project, tracker_id, frame, rle)
                continue
            if obj.locked or obj.media_id != self.media_id:
                continue
            current = obj.frames.get(frame)
            if current is not None and current.provenance is not Provenance.PROPAGATED:
                continue
            if masks.area(rle) == 0:
                if current is not None:
                    commands.append(SetFrame(obj.id, frame, None, text=UNDO_TEXT))
                continue
            commands.append(SetFrame(obj.id, frame, self._annotation(rle), text=UNDO_TEXT))
        if not commands:
            return None
        return Batch(commands, text=UNDO_TEXT, merge_key=self.merge_key)

    def _object(self, project: Project, tracker_id: int) -> AnnotationObject | None:
        """The document object a tracker id stands for, if it is still in the project."""
        if tracker_id in self.tracked_objects:
            return _object_or_none(project, tracker_id)
        created = self._created.get(tracker_id)
        if created is None or _object_or_none(project, created.id) is not created:
            return None  # not created yet, or gone (deleted, or the run was undone)
        return created

    def _create(self, project: Project, tracker_id: int, frame: int, rle: Rle) -> list[Command]:
        if masks.area(rle) == 0:
            return []  # nothing to show yet: the object starts on its first non-empty frame
        category = self.category_id
        if category is not None and category not in {c.id for c in project.categories}:
            category = None  # the category was removed while tracking
        obj = AnnotationObject(0, self.media_id, category, {frame: self._annotation(rle)}, name=self.name)
        self._created[tracker_id] = obj
        return [AddObject(obj, text=UNDO_TEXT)]

    def _annotation(self, rle: Rle) -> FrameAnnotation:
        return FrameAnnotation(rle, Provenance.PROPAGATED, model_id=self.model_id)


def _object_or_none(project: Project, object_id: int) -> AnnotationObject | None:
    try:
        return project.object(object_id)
    except KeyError:
        return None
