"""Tracking a video's objects: which masks the tracker starts from, and how what it tracked
lands in the document.

The user's own masks (drawn, predicted from clicks, edited, imported) are keyframes: they
condition the tracker and are never overwritten by it. Frames the tracker fills in are
``Provenance.PROPAGATED``, with the tracker's presence logit (``object_score``) and the keyframe
they were carried from (``tracked_from``); tracking again replaces them. A frame where the
tracker finds the object gone loses its propagated mask and is recorded as an absence
(``AnnotationObject.absent``). Locked objects are neither tracked nor changed. Objects the
tracker finds on its own become document objects (:class:`TrackingRun`).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from samdesk.document import masks
from samdesk.document.commands import (
    AddCategory,
    AddObject,
    Batch,
    Command,
    RemoveObject,
    SetAbsence,
    SetFrame,
)
from samdesk.document.masks import Rle
from samdesk.document.model import (
    AnnotationObject,
    FrameAnnotation,
    Project,
    Provenance,
    TrackedFrom,
    TrackerAbsence,
)

UNDO_TEXT = "track objects"


@dataclass(frozen=True)
class Keyframe:
    object_id: int
    frame: int
    rle: Rle


def is_keyframe(annotation: FrameAnnotation) -> bool:
    """Whether a frame's mask conditions the tracker: the user's own, and not empty."""
    return annotation.provenance is not Provenance.PROPAGATED and masks.area(annotation.rle) > 0


def object_keyframes(obj: AnnotationObject) -> list[int]:
    """The frames of ``obj`` that are keyframes, ascending."""
    return [frame for frame in sorted(obj.frames) if is_keyframe(obj.frames[frame])]


def keyframes(project: Project, media_id: int) -> list[Keyframe]:
    """The user's non-empty masks on the objects of ``media_id`` that may be tracked, by object
    then frame."""
    found = []
    for obj in project.objects_of(media_id):
        if obj.locked:
            continue
        found += [Keyframe(obj.id, frame, obj.frames[frame].rle) for frame in object_keyframes(obj)]
    return found


@dataclass
class TrackingRun:
    """One tracking run over one video, as it lands in the document frame by frame.

    ``tracked_objects`` are the document objects the tracker was started from (its keyframes'
    objects); the tracker reports them by these ids. Any other id it reports is an object it
    found on its own mid-run (a concept tracker does): its first non-empty frame creates a
    document object with the run's ``category_id`` and ``name``, and later frames of that id
    land on it. All of it, created objects included, is one undo step (``merge_key``).

    ``keyframes`` (what the tracker was given) and ``start_frame`` say which keyframe each
    tracked frame was carried from: the nearest one on the side the run came from (before the
    frame when it lies at or after ``start_frame``, after it otherwise).
    """

    media_id: int
    tracked_objects: frozenset[int]
    model_id: str | None = None
    category_id: int | None = None  # for objects the tracker creates
    name: str = ""
    merge_key: object = field(default_factory=object)
    keyframes: Sequence[Keyframe] = ()
    start_frame: int = 0
    # Commands that go with the first change the run makes (the category its objects get,
    # made in the same undo step), and only if it makes one.
    first_commands: Sequence[Command] = ()
    # Object id -> its keyframes' frames (ascending) and mask digests, from ``keyframes``.
    _sources: dict[int, tuple[list[int], dict[int, str]]] = field(
        default_factory=dict, init=False, repr=False
    )
    # Tracker id -> the object created for it. The record, not its id: AddObject assigns the id
    # when the command runs, and redo brings the same record back.
    _created: dict[int, AnnotationObject] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for key in self.keyframes:
            frames, digests = self._sources.setdefault(key.object_id, ([], {}))
            bisect.insort(frames, key.frame)
            digests[key.frame] = masks.digest(key.rle)

    def frame_command(
        self,
        project: Project,
        frame: int,
        tracked: Mapping[int, Rle],
        scores: Mapping[int, float] | None = None,
    ) -> Command | None:
        """The change that puts one tracked frame (tracker id -> mask, and -> presence logit in
        ``scores``) into the document, or None when it changes nothing. An empty mask or a
        logit <= 0 is an absence. Objects deleted, locked or moved off the video since the run
        started are left out, as are frames where the user has a mask of their own."""
        commands: list[Command] = []
        scores = scores or {}
        for tracker_id, rle in tracked.items():
            score = scores.get(tracker_id)
            obj = self._object(project, tracker_id)
            if obj is None:
                if tracker_id not in self.tracked_objects and tracker_id not in self._created:
                    commands += self._create(project, tracker_id, frame, rle, score)
                continue
            if obj.locked or obj.media_id != self.media_id:
                continue
            current = obj.frames.get(frame)
            if current is not None and current.provenance is not Provenance.PROPAGATED:
                continue
            commands += self._land(obj, frame, rle, score, self._source(tracker_id, frame))
        if not commands:
            return None
        if self.first_commands:
            commands[:0], self.first_commands = list(self.first_commands), ()
        return Batch(commands, text=UNDO_TEXT, merge_key=self.merge_key)

    @property
    def created_objects(self) -> dict[int, AnnotationObject]:
        """Tracker id -> the object the run created for it (its ``id`` is the document's while
        the object is in the project; undo and redo bring the same record back)."""
        return dict(self._created)

    def end_command(self, project: Project) -> Command | None:
        """At the end of the run: remove the objects it created that kept no mask (the tracker
        retired them on every frame it showed them), in the run's undo step; None if none."""
        empty = [o for o in self._created.values() if _object_or_none(project, o.id) is o and not o.frames]
        if not empty:
            return None
        removals: list[Command] = [RemoveObject(o.id, text=UNDO_TEXT) for o in empty]
        return Batch(removals, text=UNDO_TEXT, merge_key=self.merge_key)

    def _land(
        self, obj: AnnotationObject, frame: int, rle: Rle, score: float | None, source: TrackedFrom | None
    ) -> list[Command]:
        """Commands that make ``frame`` of ``obj`` the tracker's mask, or its absence."""
        commands: list[Command] = []
        if masks.area(rle) == 0 or (score is not None and score <= 0):
            if frame in obj.frames:
                commands.append(SetFrame(obj.id, frame, None, text=UNDO_TEXT))
            absence = TrackerAbsence(score, source, self.model_id)
            if obj.absent.get(frame) != absence:
                commands.append(SetAbsence(obj.id, frame, absence, text=UNDO_TEXT))
            return commands
        if frame in obj.absent:
            commands.append(SetAbsence(obj.id, frame, None, text=UNDO_TEXT))
        commands.append(SetFrame(obj.id, frame, self._annotation(rle, score, source), text=UNDO_TEXT))
        return commands

    def _source(self, object_id: int, frame: int) -> TrackedFrom | None:
        """The keyframe of ``object_id`` that ``frame`` was carried from (see the class)."""
        found = self._sources.get(object_id)
        if found is None:
            return None
        frames, digests = found
        below = bisect.bisect_right(frames, frame)
        above = bisect.bisect_left(frames, frame)
        before = frames[below - 1] if below > 0 else None  # at or before the frame
        after = frames[above] if above < len(frames) else None  # at or after it
        near, far = (before, after) if frame >= self.start_frame else (after, before)
        chosen = near if near is not None else far
        return None if chosen is None else TrackedFrom(chosen, digests[chosen])

    def _object(self, project: Project, tracker_id: int) -> AnnotationObject | None:
        """The document object a tracker id stands for, if it is still in the project."""
        if tracker_id in self.tracked_objects:
            return _object_or_none(project, tracker_id)
        created = self._created.get(tracker_id)
        if created is None or _object_or_none(project, created.id) is not created:
            return None  # not created yet, or gone (deleted, or the run was undone)
        return created

    def _create(
        self, project: Project, tracker_id: int, frame: int, rle: Rle, score: float | None
    ) -> list[Command]:
        if masks.area(rle) == 0 or (score is not None and score <= 0):
            return []  # nothing to show yet: the object starts on its first non-empty frame
        category = self.category_id
        made_with_it = {c.category_id for c in self.first_commands if isinstance(c, AddCategory)}
        if category is not None and category not in {c.id for c in project.categories} | made_with_it:
            category = None  # the category was removed while tracking
        annotation = self._annotation(rle, score, None)
        obj = AnnotationObject(0, self.media_id, category, {frame: annotation}, name=self.name)
        self._created[tracker_id] = obj
        return [AddObject(obj, text=UNDO_TEXT)]

    def _annotation(self, rle: Rle, score: float | None, source: TrackedFrom | None) -> FrameAnnotation:
        return FrameAnnotation(
            rle, Provenance.PROPAGATED, model_id=self.model_id, object_score=score, tracked_from=source
        )


def _object_or_none(project: Project, object_id: int) -> AnnotationObject | None:
    try:
        return project.object(object_id)
    except KeyError:
        return None
