"""Find all (Ctrl+F): type ``car; person; bicycle``, Enter, and every instance of each phrase on
the image on screen is proposed for review, each phrase going to its category.

This part connects the find-all bar (``panels/find_all_bar.py``), the concept model
(``concept_link.py``) and the review (``review.py``): it asks for a query, shows what the model
is doing and for how long (with Cancel), turns the answer into review groups, and keeps the
exemplar boxes drawn with the exemplar tool (E): each box re-runs the query, with or without a
phrase. It knows no window; it reports through signals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsScene

from model_runtime.api import Exemplar
from samdesk.document import Change, Document, DocumentEvent
from samdesk.session import AnnotationController
from samdesk.session.find_all import FindAllQuery, answer_groups, remember, split_phrases
from samdesk.session.instances import PendingInstances
from samdesk.ui.canvas.overlays import dashed_pen
from samdesk.ui.concept_link import NO_CONCEPT_MODEL, ConceptLink
from samdesk.ui.model_link import media_key
from samdesk.ui.panels.find_all_bar import FindAllBar
from samdesk.ui.review import InstanceReview
from samdesk.ui.settings import Settings
from samdesk.ui.tools.exemplar import NEGATIVE_COLOR, POSITIVE_COLOR, ExemplarTool


class FindAll(QObject):
    message = Signal(str, int)
    error = Signal(str, str)
    load_requested = Signal()  # the user wants to choose a concept model file
    give_focus_back = Signal()  # Esc in the phrase field: the canvas takes the keys again
    accept_requested = Signal()  # Enter again on the answered phrases: accept what is shown
    _installed = Signal(str)  # a SAM 3 file found in the models folder (from a worker thread)

    def __init__(self, controller: AnnotationController, document: Document, link: ConceptLink,
                 review: InstanceReview, settings: Settings, scene: QGraphicsScene,
                 exemplar_tool: ExemplarTool | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.document = document
        self.link = link
        self.review = review
        self.settings = settings
        self.scene = scene
        self.bar = FindAllBar()
        self.bar.hide()
        # Why the image on screen cannot be asked about now (missing media, a frame still
        # decoding), or None; the window sets it.
        self.refusal: Callable[[], str | None] = lambda: None
        self.exemplars: list[Exemplar] = []
        self._exemplar_items: list[QGraphicsRectItem] = []
        # The phrases whose answer is on screen, while the field still says them: Enter in the
        # field then accepts (the first Enter finds, the second accepts) instead of asking again.
        self._answered: tuple[str, PendingInstances] | None = None
        self._looking_for_installed = False
        self._installed.connect(self._load_installed, Qt.ConnectionType.QueuedConnection)
        if exemplar_tool is not None:
            exemplar_tool.on_box = self.add_exemplar
        link.stage.connect(self._stage)
        link.found.connect(self._found)
        link.failed.connect(self._failed)
        link.loading.connect(lambda text: self.bar.set_model(text))
        link.loaded.connect(self._model_changed)
        link.load_failed.connect(self._load_failed)
        bar = self.bar
        bar.run.connect(self.enter)
        bar.field.textEdited.connect(lambda _text: self._forget_answer())
        bar.escaped.connect(self.give_focus_back.emit)
        bar.closed.connect(self.close)
        bar.load_model.connect(self.load_requested.emit)
        bar.clear_exemplars.connect(self.clear_exemplars)
        controller.media_changed.append(self._media_changed)
        controller.frame_changed.append(self.clear_exemplars)
        controller.pending_instances_changed.append(lambda: bar.set_counts(review.counts_text()))
        review.bar.threshold_changed.connect(self._remember_threshold)
        document.events.subscribe_batch(self._on_events)

    # --- the bar ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Ctrl+F: show the bar, focus the phrase field; load the remembered concept model, or
        else the SAM 3 installed in the models folder (``samdesk models add sam3.pt``)."""
        self.bar.show()
        self._fill_completions()
        remembered = self.settings.concept_model
        if self.link.concept_bridge() is None and not self.link.loading_now:
            if remembered and Path(remembered).is_file():
                self.link.load(remembered)
            elif not self._looking_for_installed:
                self._look_for_installed()  # each time: it may have been added since
        self._model_changed()
        self.bar.focus_field()
        media = self.controller.media
        if media is not None and self.refusal() is None:
            self.link.prefetch(media, self.controller.frame)

    def close(self) -> None:
        self.cancel()
        self.clear_exemplars()
        self.bar.hide()
        self.give_focus_back.emit()

    @property
    def is_open(self) -> bool:
        return self.bar.isVisible()

    # --- queries ---------------------------------------------------------------------------------

    def enter(self, text: str) -> None:
        """Enter in the phrase field (or Find): find the phrases; Enter again, with their
        answer still proposed and the field unchanged, accepts it."""
        proposal = self.controller.pending_instances
        if proposal is not None and self._answered is not None and self._answered == (text, proposal):
            self.accept_requested.emit()
            return
        self.run(text)

    def run(self, text: str | None = None) -> bool:
        """Find every instance of the phrases in ``text`` (default: the field's) and of the
        exemplar boxes on the image on screen."""
        text = self.bar.field.text() if text is None else text
        media = self.controller.media
        if media is None:
            self.message.emit("Open an image first", 4000)
            return False
        if (refused := self.refusal()) is not None:
            self.message.emit(refused, 8000)
            return False
        proposal = self.controller.pending_instances
        threshold = proposal.threshold if proposal is not None else None
        if threshold is None:
            threshold = self.settings.find_all_threshold
        query = FindAllQuery.of(text, self.exemplars, threshold)
        if query.empty:
            self.message.emit("Type a phrase (car; person) or draw an example box with the exemplar tool (E)",
                              5000)
            return False
        if query.phrases:
            self.settings.find_all_history = remember(self.settings.find_all_history, text)
            self._fill_completions()
        return self.link.find_all(media, self.controller.frame, query)

    def cancel(self) -> None:
        self.link.cancel()
        self.review.set_busy("", None)

    def add_exemplar(self, box: tuple[float, float, float, float], positive: bool) -> None:
        """A box drawn with the exemplar tool: kept, drawn, and the query runs again with it."""
        if self.controller.media is None:
            return
        self.exemplars.append(Exemplar(box, positive))
        item = QGraphicsRectItem(QRectF(box[0], box[1], box[2] - box[0], box[3] - box[1]))
        item.setPen(dashed_pen(POSITIVE_COLOR if positive else NEGATIVE_COLOR, 2.0))
        item.setZValue(990)
        self.scene.addItem(item)
        self._exemplar_items.append(item)
        self._show_exemplar_counts()
        if not self.is_open:
            self.bar.show()
            self._model_changed()
        self.run()

    def clear_exemplars(self) -> None:
        self._answered = None
        for item in self._exemplar_items:
            if item.scene() is not None:
                self.scene.removeItem(item)
        self._exemplar_items.clear()
        self.exemplars.clear()
        self._show_exemplar_counts()

    # --- answers ---------------------------------------------------------------------------------

    def _stage(self, text: str, seconds: float) -> None:
        self.review.set_busy(f"{text} {seconds:.0f} s" if text else "", self.cancel if text else None)

    def _found(self, query: FindAllQuery, result) -> None:
        media = self.controller.media
        here = None if media is None else (media_key(media), self.controller.frame)
        if here != (result.key.media_key, result.key.frame):
            return  # the user moved on: an answer about another image is not shown here
        groups = answer_groups(self.document.project, query, result.instances)
        proposal = self.review.review.make(groups, result.key.model_id, query.prompts(), query.threshold)
        if proposal is None:
            return
        self.review.propose_prepared(proposal)
        text = self.bar.field.text()
        self._answered = (text, proposal) if query.phrases == split_phrases(text) else None
        found = sum(len(g.pool.above(query.threshold)) for g in groups)
        self.message.emit(f"Found {found} in {result.seconds:.1f} s: Enter accepts, the slider filters", 5000)

    def _failed(self, message: str) -> None:
        if message == NO_CONCEPT_MODEL:
            self.bar.show()
            self.bar.set_help(NO_CONCEPT_MODEL)
        self.message.emit(f"Find all: {message}", 10000)

    def _model_changed(self, *_args: object) -> None:
        description = self.link.description()
        self.bar.set_model(description)
        self.bar.set_help("" if description or self.link.loading_now else NO_CONCEPT_MODEL)

    def _load_failed(self, message: str) -> None:
        self._model_changed()
        self.error.emit("Concept model", message)

    # --- plumbing --------------------------------------------------------------------------------

    def _look_for_installed(self) -> None:
        """Find an installed ``sam3.pt`` on a worker thread (the models folder's module imports
        torch: seconds the GUI thread must not spend)."""
        self._looking_for_installed = True

        def look() -> None:
            try:
                from model_runtime import download

                found = download.path("sam3")
                if found.is_file():
                    self._installed.emit(str(found))
            except OSError:  # an unreadable models folder: the bar's help says what to do
                pass
            finally:
                self._looking_for_installed = False

        threading.Thread(target=look, name="samdesk-find-installed-sam3", daemon=True).start()

    def _load_installed(self, path: str) -> None:
        if self.link.concept_bridge() is None and not self.link.loading_now:
            self.settings.concept_model = path
            self.link.load(path)
            self._model_changed()

    def _forget_answer(self) -> None:
        self._answered = None

    def _remember_threshold(self, value: float) -> None:
        proposal = self.controller.pending_instances
        if proposal is not None and any(g.task.startswith("text:") or not g.task for g in proposal.groups):
            self.settings.find_all_threshold = value

    def _media_changed(self) -> None:
        self.clear_exemplars()
        media = self.controller.media
        if self.is_open and media is not None and self.refusal() is None:
            self.link.prefetch(media, self.controller.frame)

    def _show_exemplar_counts(self) -> None:
        positive = sum(e.positive for e in self.exemplars)
        self.bar.set_exemplars(positive, len(self.exemplars) - positive)

    def _fill_completions(self) -> None:
        names = [c.name for c in self.document.project.categories]
        self.bar.set_completions(names, list(self.settings.find_all_history))

    def _on_events(self, events: list[DocumentEvent]) -> None:
        if self.is_open and any(e.change in (Change.CATEGORY_ADDED, Change.CATEGORY_CHANGED,
                                             Change.CATEGORY_REMOVED, Change.RESET) for e in events):
            self._fill_completions()

