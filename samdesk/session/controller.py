"""The annotation session: pending object, candidate masks, refinement, accept/discard, edits.

Qt-free on purpose: the widgets call these methods and repaint when the listeners fire, and the
tests drive a whole session without a window. The controller never calls a model; it asks a
:class:`PredictionService` (in the app, the runtime bridge) and is told the answer later through
:meth:`AnnotationController.prediction_ready`, so the GUI thread never waits for a model.

Document changes go through undoable commands; the pending object (prompts and candidates not yet
accepted) lives here, with its own small undo stack so Ctrl+Z first takes back the last prompt.
Which image and frame are on screen is :class:`~samdesk.session.navigation.Navigation`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from model_runtime.api import CandidateMasks, Instances, Prompts
from samdesk.document import (
    AddObject,
    AnnotationObject,
    Batch,
    Command,
    Document,
    EditMedia,
    EditObject,
    FrameAnnotation,
    MediaItem,
    MediaStatus,
    Provenance,
    RemoveObject,
    SetFrame,
    merge_objects,
)
from samdesk.document import masks as rle
from samdesk.document.shapes import polygon_frame
from samdesk.session import mask_ops
from samdesk.session.edits import Stroke, cleaned, hand_edited, topmost_at
from samdesk.session.instances import PendingInstances
from samdesk.session.navigation import Navigation
from samdesk.session.pending import Candidates, Pending, PendingHistory, with_box, with_point
from samdesk.session.requests import PredictionService, PredictRequest
from samdesk.session.review import accept_step
from samdesk.session.shape_edits import accepted, drawn

Listener = Callable[[], None]

# What the session says when the model's answer holds no pixel, or Enter has nothing to accept.
NOTHING_FOUND = "Nothing found — try a larger box or a click"


class AnnotationController:
    """Turns tool gestures into prompts, requests and document commands for the current image."""

    def __init__(self, document: Document, service: PredictionService | None = None) -> None:
        self.document = document
        self.service = service
        self.navigation = Navigation(document)
        self.pending: Pending | None = None
        self.pending_instances: PendingInstances | None = None  # many objects proposed at once
        # A click while instances are proposed goes here first (samdesk.session.review.Review):
        # True when it was about one of them (select, refine, reject).
        self.instance_click: Callable[[float, float, bool], bool] | None = None
        self.selected_object: int | None = None
        self.current_category: int | None = None  # the "last used" category for quick accepts
        self.last_click_ms: float | None = None
        self.waiting = False  # a prediction for the pending object is in flight
        self.error: str | None = None  # for the status bar: a failure, or an empty answer
        self.encoding_ahead_paused = False  # see pause_encoding_ahead
        self._history = PendingHistory()
        # The prediction the pending object waits for and when it was asked (for last_click_ms).
        # Only the newest: the model side drops answers to superseded requests, so anything
        # kept per request would never be cleared.
        self._awaited: tuple[int, float] | None = None
        self._logits_by_object: dict[int, np.ndarray] = {}  # refinement input for accepted objects
        self._stroke: Stroke | None = None
        self.pending_changed: list[Listener] = []
        self.pending_instances_changed: list[Listener] = []
        self.selection_changed: list[Listener] = []
        self.status_changed: list[Listener] = []
        self.frame_changed: list[Listener] = []
        self.media_changed: list[Listener] = []

    @property
    def requests_in_flight(self) -> set[int]:
        """Ids of the predictions whose answers the session still waits for."""
        return set() if self._awaited is None else {self._awaited[0]}

    # --- current image --------------------------------------------------------------------
    @property
    def media_id(self) -> int | None:
        return self.navigation.media_id

    @property
    def frame(self) -> int:
        """The frame on screen: always 0 for images."""
        return self.navigation.frame

    @property
    def media(self) -> MediaItem | None:
        return self.navigation.media

    @property
    def is_video(self) -> bool:
        return self.navigation.is_video

    def set_media(self, media_id: int | None) -> None:
        """Switch image: the pending object (or proposed ones) is discarded: never accepted."""
        if media_id == self.media_id:
            return
        self._drop_pending()
        self.set_pending_instances(None)
        self.navigation.go_to_media(media_id)
        # Refinement logits are kept for the image being worked on only (256 KB per object).
        self._logits_by_object.clear()
        self.select_object(None)
        self.prefetch()
        self._emit(self.media_changed)

    def set_frame(self, frame: int) -> bool:
        """Show another frame of the video on screen; returns whether the frame changed.

        Like switching images, the pending object (never accepted) is dropped: its prompts and
        candidates belong to the frame they were made on. Accepted masks stay on their frames,
        and the document's undo history spans all frames.
        """
        media = self.media
        if media is None or max(0, min(media.frame_count - 1, frame)) == self.frame:
            return False
        self._drop_pending()
        self.set_pending_instances(None)
        self.navigation.go_to_frame(frame)
        # Refinement logits describe one frame's mask: stale on any other frame.
        self._logits_by_object.clear()
        self.prefetch()
        self._emit(self.frame_changed)
        return True

    def pause_encoding_ahead(self, paused: bool) -> None:
        """While paused (a tracking run encodes the video itself), showing another image or
        frame asks for no encode; a prompt still gets the encode it needs. Resuming encodes what
        is on screen."""
        self.encoding_ahead_paused = paused
        if not paused:
            self.prefetch()

    def prefetch(self) -> None:
        """Ask the model side to encode what is on screen now and what comes next: the
        neighbouring images, or on a video the next and previous frames."""
        media = self.media
        if self.service is None or media is None or self.encoding_ahead_paused:
            return
        if media.frame_count > 1:
            self.service.prefetch_frames(media, self.navigation.frames_ahead())
        else:
            self.service.prefetch(self.navigation.neighbours(media.id))

    def annotated_frames(self) -> set[int]:
        """Frames of the media on screen where at least one object has a mask (timeline ticks)."""
        return self.navigation.annotated_frames()

    def display_neighbours(self, media_id: int) -> list[MediaItem]:
        """The images around ``media_id`` that Next/Previous would show (not itself)."""
        return self.navigation.display_neighbours(media_id)

    def neighbour_id(self, step: int) -> int | None:
        return self.navigation.neighbour_id(step)

    # --- prompts ----------------------------------------------------------------------------
    def add_point(self, x: float, y: float, positive: bool) -> None:
        """A click: start an object, or refine the pending one with one more point."""
        if self.pending_instances is not None and self.instance_click is not None and self.instance_click(
            x, y, positive
        ):
            return
        pending = self._editable_pending()
        if pending is None:
            return
        pending.prompts = with_point(pending.prompts, x, y, positive)
        self._commit_pending(pending)
        self._request(pending)

    def set_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """A dragged box; existing points stay, so box + clicks work together."""
        pending = self._editable_pending()
        if pending is None:
            return
        pending.prompts = with_box(pending.prompts, (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        self._commit_pending(pending)
        self._request(pending)

    def _editable_pending(self) -> Pending | None:
        if self.media is None:
            return None
        self.set_pending_instances(None)  # prompting starts one object: proposed ones go
        if self.pending is not None and not self.pending.manual:
            return self.pending.snapshot()
        if self.pending is not None and self.pending.manual:
            self.accept()  # a hand-drawn object is finished when the user starts prompting
        return Pending()

    def refine_selected(self) -> None:
        """Reopen the selected accepted object as the pending one; clicks then refine it.

        On a video frame where the object has no mask yet, the pending object starts empty but
        targets that object: the prompts that follow give it its mask on this frame.
        """
        obj = self._selected_obj()
        if obj is None or obj.locked or obj.media_id != self.media_id:
            return
        annotation = obj.frames.get(self.frame)
        if annotation is None:
            self._set_pending(Pending(target_object=obj.id), record=True)
            return
        mask = rle.decode(annotation.rle)
        logits = self._logits_by_object.get(obj.id)
        pending = Pending(
            prompts=annotation.prompts,
            candidates=Candidates(
                CandidateMasks.of(mask),
                np.array([annotation.score or 1.0], np.float32),
                None if logits is None else logits[None],
            ),
            target_object=obj.id,
        )
        self._set_pending(pending, record=True)

    def _request(self, pending: Pending) -> None:
        media = self.media
        if self.service is None or media is None:
            self.error = "No model is loaded: choose one in the Model menu (or draw by hand)."
            self._emit(self.status_changed)
            return
        prompts = pending.prompts
        mask_input = None
        cands = pending.candidates
        if cands is not None and (logit := cands.logit()) is not None:
            # Refinement: the previous answer's low-res logits steer the next one (as in SAM's demo).
            mask_input = logit[None]
        # One click (or a lone box) is ambiguous: ask for 3 candidates. More prompts pin the
        # object down, where SAM's single-mask output is the better one.
        n_prompts = len(prompts.points) + (prompts.box is not None)
        multimask = n_prompts == 1 and mask_input is None
        asked = replace(prompts, mask_input=mask_input)
        request_id = self.service.predict(PredictRequest(media, self.frame, asked, multimask))
        self._awaited = (request_id, time.perf_counter())
        self.waiting = True
        self.error = None
        self._emit(self.status_changed)

    def prediction_ready(
        self,
        request_id: int,
        masks: CandidateMasks | np.ndarray,
        scores: np.ndarray,
        logits: np.ndarray | None,
    ) -> None:
        """The model's answer: K masks (``CandidateMasks``, or bool (K, H, W) / (H, W) arrays),
        scores (K,), logits (K, 256, 256) or None.

        Answers to superseded requests are dropped: only the latest prompt set counts.
        """
        if self._awaited is None or request_id != self._awaited[0] or self.pending is None:
            return
        self.last_click_ms = (time.perf_counter() - self._awaited[1]) * 1000.0
        self._awaited = None
        self.waiting = False
        if not isinstance(masks, CandidateMasks):
            masks = CandidateMasks.of(masks)
        scores = np.asarray(scores, dtype=np.float32).reshape(-1)
        candidates = Candidates(masks, scores, None if logits is None else np.asarray(logits))
        # The answer belongs to the pending state already on the undo stack (the prompt that
        # asked for it), so it replaces that state instead of adding an undo step of its own.
        self.pending.candidates = candidates
        self.pending.edited_mask = None
        if not candidates.mask(0).any():  # the best is the likeliest to hold something
            self.error = NOTHING_FOUND
        self._emit(self.pending_changed)
        self._emit(self.status_changed)

    def prediction_failed(self, request_id: int, message: str) -> None:
        if self._awaited is not None and request_id == self._awaited[0]:
            self._awaited = None
            self.waiting = False
        self.error = message
        self._emit(self.status_changed)

    # --- many proposed objects ----------------------------------------------------------------
    def set_pending_instances(
        self,
        instances: Instances | PendingInstances | None,
        model_id: str | None = None,
        prompts: Prompts | None = None,
    ) -> None:
        """Propose ``instances`` (found on the frame on screen) as new objects, or drop the
        proposal (None). Proposing drops the pending object: one kind of proposal at a time."""
        if instances is None:
            if self.pending_instances is None:
                return
            self.pending_instances = None
        elif isinstance(instances, PendingInstances):
            self._drop_pending()
            self.pending_instances = instances
        else:
            media_id = self.media_id
            if media_id is None:
                return
            self._drop_pending()
            self.pending_instances = PendingInstances(
                instances, media_id, self.frame, model_id, prompts or Prompts()
            )
        self._emit(self.pending_instances_changed)

    def accept_pending_instances(self, category_id: int | None = None) -> list[int]:
        """Add every proposed instance shown (duplicates of existing objects excepted) as an
        object, in one undoable step, and end the proposal; returns their ids. Instances of a
        phrase go to its category; the others to ``category_id`` (default: the last used)."""
        proposal = self.pending_instances
        if proposal is None or self.media is None:
            return []
        step = accept_step(self.document.project, proposal, None,
                           self.current_category if category_id is None else category_id)
        ids: list[int] = []
        if step is not None:
            self.document.execute(step[0])
            ids = step[1].object_ids
            first = next((item.category_id for item in step[1].items if item.category_id is not None), None)
            if first is not None:
                self.current_category = first
        self.set_pending_instances(None)
        return ids

    def has_pending(self) -> bool:
        """Whether something not yet accepted is on screen (a pending object or proposed ones)."""
        return self.pending is not None or self.pending_instances is not None

    # --- candidates ---------------------------------------------------------------------------
    def candidate_count(self) -> int:
        if self.pending is None or self.pending.candidates is None:
            return 0
        return len(self.pending.candidates)

    def select_candidate(self, index: int) -> None:
        if not 0 <= index < self.candidate_count():
            return
        assert self.pending is not None and self.pending.candidates is not None
        self.pending.candidates.selected = index
        self.pending.edited_mask = None
        self._emit(self.pending_changed)

    def cycle_candidate(self) -> None:
        count = self.candidate_count()
        if count > 1:
            assert self.pending is not None and self.pending.candidates is not None
            self.select_candidate((self.pending.candidates.selected + 1) % count)

    # --- accept / discard ---------------------------------------------------------------------
    def accept(self, category_id: int | None = None) -> int | None:
        """Turn the pending mask into an object (or update the refined one); returns its id.
        With objects proposed at once instead, accepts them all and returns the first id."""
        if self.pending is None and self.pending_instances is not None:
            return next(iter(self.accept_pending_instances(category_id)), None)
        pending, media = self.pending, self.media
        if pending is None or media is None:
            return None
        if not self.ready_to_accept():
            return None
        mask = pending.mask()
        assert mask is not None
        if category_id is None:
            category_id = self.current_category
        cands = pending.candidates
        score = cands.score() if cands is not None and pending.edited_mask is None else None
        if pending.manual:
            provenance = Provenance.MANUAL
        elif pending.edited_mask is not None:
            provenance = Provenance.EDITED
        else:
            provenance = Provenance.MODEL
        model_id = self.service.model_id if self.service is not None and not pending.manual else None
        annotation = accepted(pending) or FrameAnnotation(
            rle.encode(mask), provenance, score, pending.prompts, model_id
        )
        commands: list[Command] = []
        if pending.target_object is None:
            obj = AnnotationObject(0, media.id, category_id, {self.frame: annotation})
            add = AddObject(obj, text="add object")
            commands.append(add)
        else:
            obj = self.document.project.object(pending.target_object)
            commands.append(SetFrame(obj.id, self.frame, annotation, text="refine object"))
            if category_id is not None and category_id != obj.category_id:
                commands.append(EditObject(obj.id, category_id=category_id))
        if media.status == MediaStatus.NEW:
            commands.append(EditMedia(media.id, status=MediaStatus.IN_PROGRESS))
        self.document.execute(Batch(commands, text="accept object"))
        if cands is not None and (logit := cands.logit()) is not None and pending.edited_mask is None:
            self._logits_by_object[obj.id] = logit
        if category_id is not None:
            self.current_category = category_id
        self._drop_pending()
        self.select_object(obj.id)
        return obj.id

    def ready_to_accept(self) -> bool:
        """Whether :meth:`accept` would add something now; when it would not, ``error`` says why
        (still predicting, or nothing found) and ``status_changed`` fires."""
        if self.pending_instances is not None:
            return True
        if self.pending is None:
            return False
        mask = self.pending.mask()
        if mask is not None and mask.any():
            return True
        self.error = "Still predicting: accept when the mask shows" if self.waiting else NOTHING_FOUND
        self._emit(self.status_changed)
        return False

    def discard(self) -> None:
        """Esc: drop the pending object or the proposed ones (they never reach the document)."""
        self._drop_pending()
        self.set_pending_instances(None)

    # --- undo ------------------------------------------------------------------------------------
    def undo(self) -> None:
        """Take back the last prompt/edit of the pending object, else the last document command."""
        if self._history.can_undo():
            self._restore_pending(self._history.undo(self.pending))
        else:
            self.document.undo()
            self._drop_stale_selection()

    def redo(self) -> None:
        if self._history.can_redo():
            self._restore_pending(self._history.redo(self.pending))
        else:
            self.document.redo()
            self._drop_stale_selection()

    def _restore_pending(self, pending: Pending | None) -> None:
        self._awaited = None  # answers to the abandoned state must not land on this one
        self.waiting = False
        self._set_pending(pending, record=False)
        if pending is not None and pending.candidates is None and not pending.prompts.is_empty():
            self._request(pending)  # its answer had not arrived when it was left: ask again

    def _drop_stale_selection(self) -> None:
        if self.selected_object is not None and self._selected_obj() is None:
            self.select_object(None)

    # --- selection and object edits -----------------------------------------------------------
    def select_object(self, object_id: int | None) -> None:
        if object_id == self.selected_object:
            return
        self.selected_object = object_id
        self._emit(self.selection_changed)

    def _selected_obj(self) -> AnnotationObject | None:
        if self.selected_object is None:
            return None
        try:
            return self.document.project.object(self.selected_object)
        except KeyError:
            return None

    def delete_objects(self, object_ids: list[int]) -> None:
        commands: list[Command] = [RemoveObject(i) for i in object_ids]
        if commands:
            self.document.execute(Batch(commands, text="delete objects"))
            self._drop_stale_selection()

    def merge_objects(self, object_ids: list[int]) -> int | None:
        """Merge several objects into the first in drawing order, one undo step; each frame
        keeps its provenance (see :func:`samdesk.document.merge_objects`)."""
        wanted = set(object_ids)
        ordered = [o.id for o in self.document.project.objects if o.id in wanted]
        if len(ordered) < 2:
            return None
        self.document.execute(merge_objects(self.document.project, ordered))
        self.select_object(ordered[0])
        return ordered[0]

    def set_object_mask(self, object_id: int, mask: np.ndarray, text: str) -> None:
        """Replace an accepted object's mask by a hand-edited one (undoable)."""
        before = self.document.project.object(object_id).frames.get(self.frame)
        self.document.execute(SetFrame(object_id, self.frame, hand_edited(before, mask), text=text))
        self._logits_by_object.pop(object_id, None)  # the logits no longer describe the mask

    def object_at(self, x: float, y: float) -> int | None:
        """The topmost visible object of this image whose mask covers pixel (x, y)."""
        if self.media_id is None:
            return None
        return topmost_at(self.document.project.objects_of(self.media_id), self.frame, x, y)

    def object_mask(self, object_id: int) -> np.ndarray | None:
        annotation = self.document.project.object(object_id).frames.get(self.frame)
        return None if annotation is None else rle.decode(annotation.rle)

    def cleanup_selected(self, fill: bool, min_island: int = 0) -> None:
        """Fill holes and/or remove islands smaller than ``min_island`` px on the edit target."""
        mask = self._edit_target_mask()
        if mask is None:
            return
        self._store_edit(cleaned(mask, fill, min_island), "fill holes" if fill else "remove small islands")

    # --- brush -----------------------------------------------------------------------------------
    def begin_stroke(self) -> bool:
        """Start a brush stroke on the pending mask, the selected object, or a new manual object."""
        media = self.media
        if media is None:
            return False
        mask = self._edit_target_mask()
        if mask is None:
            if self.pending is None:
                mask = np.zeros((media.height, media.width), dtype=bool)
            else:
                return False
        self._stroke = Stroke(mask)
        return True

    def stroke_to(
        self, start: tuple[float, float], end: tuple[float, float], radius: float, erase: bool
    ) -> None:
        if self._stroke is None:
            return
        self._stroke.to(start, end, radius, erase)
        self._emit(self.pending_changed)

    def stroke_preview(self) -> np.ndarray | None:
        """The mask as the stroke in progress has it (for the overlay), or None outside a stroke."""
        return self._stroke.mask if self._stroke is not None else None

    def end_stroke(self, erase: bool) -> None:
        if self._stroke is None:
            return
        mask, self._stroke = self._stroke.mask, None
        self._store_edit(mask, "erase" if erase else "brush")

    def add_polygon(self, points: list[tuple[float, float]], subtract: bool) -> None:
        """A closed polygon: added to (or cut from) the edit target, else a new manual object."""
        media = self.media
        if media is None or len(points) < 3:
            return
        shape = mask_ops.polygon_mask((media.height, media.width), points)
        target = self._edit_target_mask()
        if target is None:
            if not subtract:  # a new object: a polygon annotation (its vertices kept)
                self.add_shape(polygon_frame(points, media.height, media.width))
            return
        self._store_edit(target & ~shape if subtract else target | shape, "polygon")

    def add_shape(self, frame: FrameAnnotation) -> None:
        """A box or polygon drawn as a new object: the pending object, kept as that shape."""
        self._set_pending(drawn(frame), record=True)

    def _edit_target_mask(self) -> np.ndarray | None:
        if self.pending is not None:
            mask = self.pending.mask()
            return None if mask is None else mask.copy()
        obj = self._selected_obj()
        if obj is None or obj.locked or obj.media_id != self.media_id:
            return None
        return self.object_mask(obj.id)

    def _store_edit(self, mask: np.ndarray, text: str) -> None:
        if self.pending is not None:
            pending = self.pending.snapshot()
            pending.edited_mask = mask
            self._commit_pending(pending)
        elif self.selected_object is not None and self._selected_obj() is not None:
            self.set_object_mask(self.selected_object, mask, text)
        else:
            self._set_pending(Pending(edited_mask=mask, manual=True), record=True)

    # --- plumbing --------------------------------------------------------------------------------
    def _commit_pending(self, pending: Pending) -> None:
        self._set_pending(pending, record=True)

    def _set_pending(self, pending: Pending | None, record: bool) -> None:
        if record:
            self._history.record(self.pending)
        self.pending = pending
        if pending is None:
            self.waiting = False
            self._awaited = None
        self._emit(self.pending_changed)

    def _drop_pending(self) -> None:
        """No pending object, and nothing to undo back to (it was never accepted)."""
        self._set_pending(None, record=False)
        self._history.clear()

    @staticmethod
    def _emit(listeners: list[Listener]) -> None:
        for listener in list(listeners):
            listener()
