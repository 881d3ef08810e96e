"""Run on all images (from the find-all bar): the phrase set over every image of the project.

The same pieces as ``samdesk label`` (``samdesk.labelling``): the work list skips the images
already labelled for a phrase (so a cancelled run resumes where it stopped), the model part is
``labelling.local.label_many`` as a long job on the concept model's runtime, and each image's
labels land as one undoable step (``labelling.apply.image_change``): objects above the chosen
threshold, or results kept for review in the project, which the review strip offers when their
image is on screen and the image list marks. Progress: images done of total, time per image,
ETA; Cancel keeps what is done. The user keeps annotating meanwhile.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QWidget,
)

from samdesk.document import Document, MediaKind
from samdesk.labelling.request import LabelRequest
from samdesk.labelling.store import LabellingRecordError
from samdesk.runtime_bridge import RuntimeBridge
from samdesk.session import AnnotationController
from samdesk.session.find_all import DEFAULT_THRESHOLD, join_phrases, split_phrases
from samdesk.subcommands._progress import format_duration
from samdesk.ui.concept_link import NO_CONCEPT_MODEL, ConceptLink
from samdesk.ui.review import InstanceReview


class RunOnAllDialog(QDialog):
    """Where the results go: waiting for review (per image) or objects above a threshold."""

    def __init__(self, phrases: tuple[str, ...], images: int, threshold: float, parent: QWidget | None
                 ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Run on all images")
        form = QFormLayout(self)
        form.addRow("Find:", QLabel(join_phrases(phrases)))
        form.addRow("Images:", QLabel(f"{images} (those already labelled for a phrase are skipped)"))
        self.review_button = QRadioButton("Keep the results for review, image by image")
        self.accept_button = QRadioButton("Add the instances scoring above the threshold as objects")
        group = QButtonGroup(self)
        for button in (self.review_button, self.accept_button):
            group.addButton(button)
            form.addRow(button)
        self.review_button.setChecked(True)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 0.99)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(threshold)
        form.addRow("Threshold:", self.threshold)
        choice = QDialogButtonBox.StandardButton
        buttons = QDialogButtonBox(choice.Ok | choice.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


class RunOnAll(QObject):
    message = Signal(str, int)
    error = Signal(str, str)
    finished = Signal(object)  # counts: {"labelled", "failed", "found", "added", "pending", "duplicates"}

    def __init__(self, document: Document, controller: AnnotationController, link: ConceptLink,
                 review: InstanceReview, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.controller = controller
        self.link = link
        self.review = review
        self.widget = QWidget()
        row = QHBoxLayout(self.widget)
        row.setContentsMargins(6, 0, 6, 0)
        self.label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(160)
        self.cancel_button = QPushButton("Cancel run")
        self.cancel_button.clicked.connect(lambda _checked=False: self.cancel())
        for widget in (self.label, self.progress, self.cancel_button):
            row.addWidget(widget)
        row.addStretch(1)
        self.widget.hide()
        self._bridge: RuntimeBridge | None = None
        self._request: int | None = None
        self._run: dict[str, Any] = {}

    @property
    def running(self) -> bool:
        return self._request is not None

    def ask(self, text: str, threshold: float = DEFAULT_THRESHOLD, parent: QWidget | None = None) -> bool:
        """Ask where the results go, then start."""
        phrases = split_phrases(text)
        if not phrases:
            self.message.emit("Type the phrases to find first (car; person)", 5000)
            return False
        images = sum(m.kind == MediaKind.IMAGE for m in self.document.project.media)
        dialog = RunOnAllDialog(phrases, images, threshold, parent)
        if not dialog.exec():
            return False
        return self.start(text, dialog.threshold.value(), review=dialog.review_button.isChecked())

    def start(self, text: str, threshold: float, review: bool) -> bool:
        """Label every image of the project with the phrases of ``text``; ``review``: keep the
        results for review, else add those above ``threshold`` as objects."""
        # The batch machinery (and pycocotools under it) is imported when a run starts.
        from samdesk.labelling.apply import task_categories
        from samdesk.labelling.local import label_many
        from samdesk.labelling.run import work_list

        bridge = self.link.concept_bridge()
        if bridge is None:
            self.error.emit("Run on all images", NO_CONCEPT_MODEL)
            return False
        if self.running:
            self.message.emit("A run is going already (Cancel run stops it)", 5000)
            return False
        request = LabelRequest(split_phrases(text), threshold=threshold)
        media = [m for m in self.document.project.media if m.kind == MediaKind.IMAGE]
        try:
            items, skipped = work_list(self.document, media, request)
        except LabellingRecordError as exc:
            self.error.emit("Run on all images", f"The project's labelling record cannot be read: {exc}")
            return False
        if not items:
            self.message.emit(f"All {skipped} images are labelled for these phrases already", 6000)
            return False
        categories = task_categories(self.document, request)
        self._bridge = bridge
        self._request = bridge.run_job(label_many(items), name="label")
        self._run = {"request": request, "categories": categories, "review": review, "total": len(items),
                     "seconds": [], "failed": [], "started": time.monotonic(),
                     "counts": dict.fromkeys(("found", "added", "pending", "duplicates"), 0)}
        bridge.partial.connect(self._partial)
        bridge.jobFinished.connect(self._finished)
        bridge.failed.connect(self._failed)
        self.widget.show()
        self._show_progress(0)
        if skipped:
            self.message.emit(f"{skipped} images are labelled for these phrases already: skipped", 5000)
        return True

    def cancel(self) -> None:
        """Stop after the image in progress; what is done stays (running it again resumes)."""
        if self._bridge is not None and self._request is not None:
            self._bridge.cancel(self._request)
            self._end("cancelled")

    # --- answers -------------------------------------------------------------------------------

    def _partial(self, rid: int, labels: Any) -> None:
        from samdesk.labelling.apply import DEFAULT_DUPLICATE_IOU, ApplyOptions, image_change
        from samdesk.labelling.found import ImageLabels

        if rid != self._request or not isinstance(labels, ImageLabels):
            return
        run = self._run
        if labels.error is not None:
            run["failed"].append((labels.media_id, labels.error))
        else:
            options = ApplyOptions(review=run["review"], duplicate_iou=DEFAULT_DUPLICATE_IOU)
            command, outcome = image_change(self.document.project, labels, run["request"].threshold,
                                            run["categories"], options)
            self.document.execute(command)
            for name in run["counts"]:
                run["counts"][name] += sum(getattr(outcome, name).values())
            run["seconds"].append(labels.seconds)
            if labels.media_id == self.controller.media_id and run["review"]:
                self.review.show_stored()
        self._show_progress(len(run["seconds"]) + len(run["failed"]))

    def _finished(self, rid: int, _result: Any) -> None:
        if rid == self._request:
            self._end("done")

    def _failed(self, rid: int, error: BaseException) -> None:
        if rid == self._request:
            self._end(f"failed: {error}")

    # --- plumbing --------------------------------------------------------------------------------

    def _show_progress(self, done: int) -> None:
        run = self._run
        total = run["total"]
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        text = f"Labelling {done}/{total} images"
        if run["seconds"]:
            per_image = statistics.median(run["seconds"])
            text += f" · {per_image:.1f} s/image · ETA {format_duration(per_image * (total - done))}"
        self.label.setText(text)

    def _end(self, how: str) -> None:
        bridge, run = self._bridge, self._run
        if bridge is not None:
            bridge.partial.disconnect(self._partial)
            bridge.jobFinished.disconnect(self._finished)
            bridge.failed.disconnect(self._failed)
        self._bridge = self._request = None
        self.widget.hide()
        counts = dict(run.get("counts", {}))
        counts.update(labelled=len(run.get("seconds", [])), failed=len(run.get("failed", [])))
        where = "kept for review" if run.get("review") else "added"
        kept = counts.get("pending", 0) + counts.get("added", 0)
        self.message.emit(
            f"Run on all images {how}: {counts['labelled']} images labelled, {kept} instances {where}, "
            f"{counts.get('duplicates', 0)} duplicates skipped, {counts['failed']} failed", 15000)
        self.finished.emit(counts)
