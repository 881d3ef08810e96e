"""The window's parts for many objects at once, built and connected together: the concept model
in a second slot (``concept_link``), the review of proposed instances (``review``), find all
(``find_all``), segment everything (``everything``), run on all images (``batch_label``) and,
on a video, a phrase tracked through it (``phrase_tracking``).

The window builds them with :func:`build` and routes its actions here (``instances.…`` in the
actions table); their bars go above the canvas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QVBoxLayout

from samdesk.ui.batch_label import RunOnAll
from samdesk.ui.concept_link import ConceptLink
from samdesk.ui.everything import SegmentEverything
from samdesk.ui.find_all import FindAll
from samdesk.ui.phrase_tracking import PhraseTracker, tracking_refusal
from samdesk.ui.review import InstanceReview

if TYPE_CHECKING:
    from samdesk.ui.main_window import MainWindow


@dataclass
class InstanceParts:
    window: MainWindow
    link: ConceptLink
    review: InstanceReview
    find_all: FindAll
    everything: SegmentEverything
    batch: RunOnAll
    phrases: PhraseTracker

    # --- what the actions call -------------------------------------------------------------------

    def accept_all(self, picker: Callable[[], int | None] | None = None) -> int | None:
        """Enter on proposed instances; ``picker`` (Shift+Enter) chooses the category of those
        without a phrase. Returns the first object made, if any."""
        category = None
        if picker is not None and self.review.review.needs_category():
            category = picker()
            if category is None:
                return None
        accepted = self.review.accept_all(category)
        return accepted.object_ids[0] if accepted.object_ids else None

    def accept_selected(self) -> None:
        self.review.accept_selected()

    def reject_selected(self) -> bool:
        return self.review.active and self.review.reject_selected()

    def cancel(self) -> bool:
        """Esc with nothing proposed: stop a phrase tracking run, a find-all query or a sweep."""
        if self.phrases.running:
            self.phrases.stop()
            return True
        if self.link.busy:
            self.find_all.cancel()
            return True
        if self.everything.running:
            self.everything.cancel()
            return True
        return False

    def open_tracking(self) -> None:
        """Video ▸ Track a phrase…: the find-all bar, with its Track row (on a video)."""
        self.find_all.open()
        self.refresh_tracking()

    def refresh_tracking(self) -> None:
        """Show the bar's Track row on a video, on or off by what the loaded models can do."""
        self.find_all.bar.set_video(self.window.controller.is_video, tracking_refusal(self.link))

    def ask_load_concept_model(self) -> None:
        settings = self.window.settings
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Load concept model (SAM 3)", settings.last_open_dir,
            "Checkpoints (*.pt *.pth *.ckpt *.bin);;All files (*)",
        )
        if path:
            self.load_concept_model(path)

    def load_concept_model(self, path: str) -> None:
        self.window.settings.concept_model = path
        self.link.load(path)

    def unload_concept_model(self) -> None:
        self.window.settings.concept_model = None
        self.phrases.drop()
        self.link.unload()
        self.refresh_tracking()
        self.window._update_actions()
        self.find_all._model_changed()
        self.window.status.show_message("Concept model unloaded", 4000)

    def run_on_all(self, text: str) -> None:
        settings = self.window.settings
        threshold = self.review.bar.threshold() if self.review.active else settings.find_all_threshold
        self.batch.ask(text, threshold, self.window)

    def close(self, timeout: float = 2.0) -> None:
        """``timeout``: the most seconds to wait for a model call of the second runtime."""
        self.batch.cancel()
        self.everything.cancel()
        self.phrases.drop()
        self.link.shutdown(timeout)
        self.review.review.close()


def build(window: MainWindow, column: QVBoxLayout) -> InstanceParts:
    """Make the parts for ``window`` and put their bars at the top of ``column`` (the canvas's)."""
    controller, document, status = window.controller, window.document, window.status
    link = ConceptLink(window.bridge, window.navigation.loader.frames, window)
    review = InstanceReview(controller, document, link, window)
    find_all = FindAll(controller, document, link, review, window.settings, window.scene,
                       window.tools.get("exemplar"), window)  # type: ignore[arg-type]
    everything = SegmentEverything(controller, window.bridge, review, window.navigation.loader.frames, window)
    batch = RunOnAll(document, controller, link, review, window)
    phrases = PhraseTracker(link, document, controller, window)
    parts = InstanceParts(window, link, review, find_all, everything, batch, phrases)
    find_all.refusal = everything.refusal = window.navigation.input_refusal
    for index, widget in enumerate((find_all.bar, batch.widget, review.bar)):
        column.insertWidget(index, widget)
    for part in (review, find_all, everything, batch, phrases):
        part.message.connect(status.show_message)
    for part in (find_all, batch, phrases):
        part.error.connect(window.show_error)
    status.add_permanent(phrases.bar)
    status.add_permanent(phrases.stop_button)
    find_all.bar.track.connect(phrases.start)
    controller.media_changed.append(parts.refresh_tracking)
    link.loaded.connect(lambda _text: parts.refresh_tracking())
    link.load_failed.connect(lambda _text: parts.refresh_tracking())
    find_all.load_requested.connect(parts.ask_load_concept_model)
    find_all.give_focus_back.connect(window.canvas.setFocus)
    find_all.accept_requested.connect(lambda: parts.accept_all())
    find_all.bar.run_on_all.connect(parts.run_on_all)
    link.loaded.connect(lambda text: status.show_message(f"Concept model: {text}", 5000))
    remembered = window.settings.concept_model
    if remembered and not Path(remembered).is_file():
        window.settings.concept_model = None
    return parts
