"""The timeline part of the main window: keeps the lanes (``view.TimelineView``) in step with the
document and the session, and turns what the user does on them into selection, scrubbing and
document commands. It also holds the frame review: Video ▸ Mark frame reviewed and Video ▸ Next
frame to review (the review queue, ``samdesk.session.review_queue``).

Lanes are recomputed per object, only for the objects a change touched (a tracking run landing
a frame recomputes one lane), and only while a video is on screen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QObject, Signal

from samdesk.document import Change, Document, DocumentEvent, EditMedia, EditObject, masks
from samdesk.document.model import AnnotationObject, Provenance
from samdesk.session import AnnotationController
from samdesk.session.lanes import StaleRule, object_marks
from samdesk.session.review_queue import ReviewScorer, Suspect, next_suspect
from samdesk.ui.timeline.view import Lane, TimelineView, frame_for_people

LANES_CHANGE = frozenset({
    Change.RESET, Change.OBJECT_ADDED, Change.OBJECT_REMOVED, Change.OBJECT_CHANGED,
    Change.CATEGORY_CHANGED, Change.CATEGORY_REMOVED, Change.CATEGORY_ADDED,
})


class Timeline(QObject):
    """``view`` goes under the canvas; ``frame_requested`` asks the window to show a frame."""

    frame_requested = Signal(int)
    scrubbing = Signal(bool)
    message = Signal(str, int)  # status bar text, milliseconds

    def __init__(self, document: Document, controller: AnnotationController, color_of) -> None:
        super().__init__()
        self.document = document
        self.controller = controller
        self.color_of = color_of  # object id -> (r, g, b), as the canvas draws it
        self.view = TimelineView()
        self.view.setVisible(False)
        self.view.describe = self.describe
        self.scorer = ReviewScorer()
        self.visited: set[int] = set()  # frames the review queue has shown (this video)
        self._marks: dict[int, np.ndarray] = {}  # object id -> its lane's marks
        view = self.view
        view.frame_requested.connect(self.frame_requested)
        view.scrubbing.connect(self.scrubbing)
        view.object_clicked.connect(self._object_clicked)
        view.visibility_clicked.connect(self._toggle_visible)
        view.lock_clicked.connect(self._toggle_locked)
        controller.media_changed.append(self._media_changed)
        controller.frame_changed.append(lambda: view.set_frame(controller.frame))
        controller.selection_changed.append(lambda: view.set_selected(controller.selected_object))
        document.events.subscribe_batch(self._document_changed)

    # --- following the session and the document ---------------------------------------------
    def _media_changed(self) -> None:
        media = self.controller.media
        video = media is not None and self.controller.is_video
        self.view.setVisible(video)
        self._marks.clear()
        self.visited.clear()
        if not video:
            return
        self.view.set_video(media.frame_count)
        self.view.set_frame(self.controller.frame)
        self.view.set_reviewed(media.done_frames)
        self.view.set_selected(self.controller.selected_object)
        self._rebuild()

    def _document_changed(self, events: Sequence[DocumentEvent]) -> None:
        media = self.controller.media
        if media is None or not self.controller.is_video:
            return
        if any(e.change == Change.RESET for e in events):
            self._media_changed()
            return
        here = media.id
        touched = {e.object_id for e in events if e.change == Change.MASK_CHANGED and e.media_id == here}
        for object_id in touched:
            self._marks.pop(object_id, None)  # type: ignore[arg-type]
        if any(e.change in LANES_CHANGE for e in events) or touched:
            self._rebuild()
        if any(e.change == Change.MEDIA_CHANGED and e.media_id == here for e in events):
            self.view.set_reviewed(media.done_frames)

    def _rebuild(self) -> None:
        """Lanes in the objects panel's order (top-most object first)."""
        media = self.controller.media
        if media is None:
            return
        lanes = []
        for obj in reversed(self.document.project.objects_of(media.id)):
            marks = self._marks.get(obj.id)
            if marks is None:
                marks = self._marks[obj.id] = object_marks(obj, media.frame_count)
            name = obj.name or f"#{obj.id}"
            lanes.append(Lane(obj.id, name, self.color_of(obj.id), obj.visible, obj.locked, marks))
        self.view.set_lanes(lanes)

    # --- what the user does on the lanes ------------------------------------------------------
    def _object_clicked(self, object_id: int) -> None:
        self.controller.select_object(object_id)

    def _toggle_visible(self, object_id: int) -> None:
        with contextlib.suppress(KeyError):
            obj = self.document.project.object(object_id)
            self.document.execute(EditObject(object_id, visible=not obj.visible, text="show/hide object"))

    def _toggle_locked(self, object_id: int) -> None:
        with contextlib.suppress(KeyError):
            obj = self.document.project.object(object_id)
            self.document.execute(EditObject(object_id, locked=not obj.locked, text="lock object"))

    def describe(self, object_id: int, frame: int) -> str:
        """What ``object_id``'s lane shows on ``frame``, in words (the lane's tooltip)."""
        try:
            obj = self.document.project.object(object_id)
        except KeyError:
            return ""
        where = f"Frame {frame_for_people(frame)} · {obj.name or f'#{obj.id}'}: "
        annotation = obj.frames.get(frame)
        rule = StaleRule(obj)
        if annotation is not None and annotation.provenance is not Provenance.PROPAGATED:
            return where + f"keyframe ({annotation.provenance.value}, {masks.area(annotation.rle)} px)"
        if annotation is not None:
            text = f"tracked, presence {_score(annotation.object_score)}"
            source = annotation.tracked_from
        elif frame in obj.absent:
            absence = obj.absent[frame]
            text = f"absent or hidden (the tracker's presence {_score(absence.object_score)})"
            source = absence.tracked_from
        else:
            return where + "no mask"
        if source is not None:
            text += f", from keyframe {frame_for_people(source.frame)}"
            if rule.is_stale(frame, source):
                text += " — stale: corrected since, track again"
        return where + text

    # --- review -------------------------------------------------------------------------------
    def toggle_reviewed(self) -> None:
        """Mark the frame on screen reviewed (its masks are right), or not any more."""
        media = self.controller.media
        if media is None or not self.controller.is_video:
            return
        frame = self.controller.frame
        done = set(media.done_frames) ^ {frame}
        reviewed = frame in done
        text = "mark frame reviewed" if reviewed else "unmark reviewed frame"
        self.document.execute(EditMedia(media.id, done_frames=done, text=text))
        count = len(done)
        state = "reviewed" if reviewed else "no longer reviewed"
        self.message.emit(
            f"Frame {frame_for_people(frame)} {state} ({count} of {media.frame_count} frames reviewed)", 4000
        )

    def next_to_review(self) -> Suspect | None:
        """Go to the frame the review queue ranks most likely wrong that is neither reviewed nor
        shown by the queue yet, and select the object that makes it suspicious."""
        media = self.controller.media
        if media is None or not self.controller.is_video:
            return None
        objects = self.document.project.objects_of(media.id)
        self.scorer.forget_unused(objects)
        ranked = self.scorer.suspects(objects)
        suspect = next_suspect(ranked, media.done_frames, self.visited)
        if suspect is None and self.visited:
            self.visited.clear()  # every suspect has been shown: start over with those left
            suspect = next_suspect(ranked, media.done_frames, self.visited)
        if suspect is None:
            self.message.emit("No tracked frame left that looks wrong (reviewed frames are skipped)", 6000)
            return None
        self.visited.add(suspect.frame)
        self.frame_requested.emit(suspect.frame)
        self.controller.select_object(suspect.object_id)
        left = sum(1 for s in ranked if s.frame not in media.done_frames and s.frame not in self.visited)
        name = _name(self.document, suspect.object_id)
        self.message.emit(
            f"Frame {frame_for_people(suspect.frame)}, {name}: {suspect.reason}. Shift+R if right, "
            f"N for the next ({left} more)",
            10000,
        )
        return suspect


def _score(value: float | None) -> str:
    return "unknown" if value is None else f"{value:+.2f}"


def _name(document: Document, object_id: int) -> str:
    try:
        obj: AnnotationObject = document.project.object(object_id)
    except KeyError:
        return f"#{object_id}"
    return obj.name or f"#{obj.id}"
