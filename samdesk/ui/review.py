"""The review of proposed instances in the window: the session's :class:`~samdesk.session.review.
Review` shown through the review strip (``panels/review_bar.py``) and the canvas.

Find all and segment everything propose; this part shows the strip while instances are proposed
(or being found), keeps its threshold, counts and buttons in step with the session, refines an
instance through the concept link (click model first), and offers the batch results a run kept
for review whenever their image comes on screen. Keys: Enter accepts all, Ctrl+Enter the
selected instance, Delete rejects it, Esc drops the proposal (the window's actions).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal

from samdesk.document import Change, Document, DocumentEvent
from samdesk.labelling.store import LabellingRecordError
from samdesk.session import AnnotationController
from samdesk.session.instances import PendingInstances
from samdesk.session.review import Accepted, Category, Review
from samdesk.ui.canvas.instances import instance_colors, prepare_drawing
from samdesk.ui.concept_link import ConceptLink
from samdesk.ui.panels.review_bar import ReviewBar


class InstanceReview(QObject):
    message = Signal(str, int)  # status bar text, milliseconds
    accepted = Signal(object)  # Accepted
    shown = Signal(object)  # a PendingInstances prepared off the GUI thread, now on screen
    _prepared = Signal(object, int)  # proposal, generation: from the worker thread, queued

    def __init__(self, controller: AnnotationController, document: Document, link: ConceptLink,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.document = document
        self.review = Review(controller)
        self.review.refiner = link
        self.bar = ReviewBar()
        self._cancel: Callable[[], None] | None = None
        self._generation = 0  # proposals prepared off the GUI thread: only the newest is shown
        self._prepared.connect(self._show_prepared, Qt.ConnectionType.QueuedConnection)
        link.refined.connect(lambda rid, masks, scores: self.review.refine_ready(rid, masks, scores))
        link.refine_failed.connect(self._refine_failed)
        controller.pending_instances_changed.append(self.refresh)
        controller.media_changed.append(self.show_stored)
        document.events.subscribe_batch(self._on_events)
        bar = self.bar
        bar.threshold_changed.connect(self.review.set_threshold)
        bar.min_area_changed.connect(self.review.set_min_area)
        bar.accept_all.connect(lambda: self.accept_all())
        bar.accept_above.connect(lambda: self._report(self.review.accept_above(self._category())))
        bar.accept_selected.connect(self.accept_selected)
        bar.reject_selected.connect(self.review.reject_selected)
        bar.allow_selected.connect(self.review.allow_selected)
        bar.drop_stored.connect(self.review.dismiss_stored)
        bar.cancel.connect(self.cancel)
        self._fill_categories()
        self.refresh()

    # --- what the window asks --------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.controller.pending_instances is not None

    def accept_all(self, category: Category = None) -> Accepted:
        """Enter: every shown instance (duplicates excepted) in one undo step; the review ends."""
        accepted = self.review.accept_all(category if category is not None else self._category())
        self._report(accepted)
        return accepted

    def accept_selected(self) -> Accepted:
        accepted = self.review.accept_selected(self._category())
        self._report(accepted)
        return accepted

    def reject_selected(self) -> bool:
        return self.review.reject_selected()

    def propose_prepared(self, proposal: PendingInstances) -> None:
        """Show ``proposal`` once the crops and outlines of what it shows are made on a worker
        thread (a hundred SAM 3 masks take the GUI thread a second otherwise), with the fill
        and outline paths the canvas draws them with (``canvas.instances.prepare_drawing``). A
        newer proposal made meanwhile wins. (Instances the slider reveals later are made when shown: making
        every candidate ahead would hold hundreds of full-size masks.)"""
        self._generation += 1
        generation = self._generation

        def work() -> None:
            try:
                keys = proposal.shown()
                proposal.prepare(keys)
                colors = instance_colors([proposal.color_index(k) for k in keys],
                                         [proposal.is_duplicate(k) for k in keys])
                outlines = [proposal.outline(k) for k in keys]
                prepare_drawing(proposal.crops(keys), colors, outlines, proposal.drawn)
            finally:
                self._prepared.emit(proposal, generation)

        threading.Thread(target=work, name="samdesk-prepare-instances", daemon=True).start()

    def _show_prepared(self, proposal: PendingInstances, generation: int) -> None:
        if generation == self._generation and self.review.show(proposal):
            self.shown.emit(proposal)

    def set_busy(self, text: str, cancel: Callable[[], None] | None, done: int = 0, total: int = 0) -> None:
        """Show work in progress on the strip ("" when done); ``cancel`` stops it."""
        self._cancel = cancel if text else None
        self.bar.set_busy(text, done, total)

    def cancel(self) -> None:
        cancel, self._cancel = self._cancel, None
        self.bar.set_busy("")
        if cancel is not None:
            cancel()

    def show_stored(self) -> None:
        """Offer the batch results waiting for review on the image now on screen."""
        try:
            if self.review.show_stored():
                text = "Batch results for review: Enter accepts, Del rejects the selected one"
                self.message.emit(text, 6000)
        except LabellingRecordError as exc:
            self.message.emit(f"The project's batch results cannot be read: {exc}", 15000)

    # --- keeping the strip in step ----------------------------------------------------------------

    def refresh(self) -> None:
        proposal = self.controller.pending_instances
        bar = self.bar
        if proposal is None:
            bar.set_reviewing(False)
            return
        bar.set_reviewing(True, proposal.stored, self.review.needs_category())
        bar.set_threshold(proposal.threshold)
        height, width = proposal.image_size
        bar.set_min_area(proposal.min_area, height * width)
        counts = proposal.counts()
        parts = []
        for label, shown, duplicates in counts:
            dup = f" ({duplicates} dup)" if duplicates else ""
            parts.append(f"{label} {shown}{dup}" if label else f"{shown} found{dup}")
        bar.set_counts("   ".join(parts))
        selected = proposal.selected
        bar.set_selection(selected is not None, selected is not None and proposal.overlaps_existing(selected))
        if self.review.refine_error:
            self.message.emit(self.review.refine_error, 8000)
            self.review.refine_error = None

    def counts_text(self) -> str:
        return self.bar.counts_label.text()

    def _category(self) -> str | None:
        return self.bar.category_name() if self.review.needs_category() else None

    def _report(self, accepted: Accepted) -> None:
        if accepted.object_ids:
            self.message.emit(f"Accepted {len(accepted.object_ids)} objects (Ctrl+Z takes them back)", 5000)
            self.accepted.emit(accepted)

    def _refine_failed(self, rid: int, message: str) -> None:
        self.review.refine_failed(rid, message)

    def _on_events(self, events: list[DocumentEvent]) -> None:
        if any(e.change in (Change.CATEGORY_ADDED, Change.CATEGORY_REMOVED, Change.CATEGORY_CHANGED,
                            Change.RESET) for e in events):
            self._fill_categories()

    def _fill_categories(self) -> None:
        self.bar.set_categories([c.name for c in self.document.project.categories])
