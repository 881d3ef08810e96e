"""The review strip above the canvas while instances are proposed (find all, segment everything)
or being found: what is going on and for how long (with Cancel), the score threshold and the
minimum area (both re-filter at once, without the model), the category of instances that have
no phrase, and the accept / reject buttons with their keys.

A widget only: it emits what the user asks and shows what it is told (``samdesk/ui/review.py``
connects it to the session).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QWidget,
)


def shrinkable(label: QLabel) -> None:
    """Let ``label`` be narrower than its text (cut at the window's edge) rather than widen
    the window: a long count or phrase list must not push the window past the screen."""
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
    label.setMinimumWidth(40)  # below its text's width: Qt cuts the text rather than widen the window


SLIDER_STEPS = 100  # the threshold slider moves in hundredths
DEFAULT_CATEGORY = "object"


class ReviewBar(QWidget):
    threshold_changed = Signal(float)
    min_area_changed = Signal(int)
    accept_all = Signal()
    accept_above = Signal()
    accept_selected = Signal()
    reject_selected = Signal()
    allow_selected = Signal()
    drop_stored = Signal()
    cancel = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._reviewing = self._busy = False
        self._stored = self._needs_category = self._duplicate_selected = False
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 2, 6, 2)
        self.busy_label = QLabel("")
        self.busy_bar = QProgressBar()
        self.busy_bar.setFixedWidth(110)
        self.busy_bar.setTextVisible(False)
        self.cancel_button = self._button("Cancel", self.cancel, "Stop (the click model keeps working)")
        row.addWidget(self.busy_label)
        row.addWidget(self.busy_bar)
        row.addWidget(self.cancel_button)
        self.review_widgets: list[QWidget] = []
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0, SLIDER_STEPS)
        self.threshold_slider.setFixedWidth(100)
        self.threshold_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.threshold_slider.setToolTip("Show the instances scoring above this (no model call)")
        self.threshold_label = QLabel("")
        self.threshold_slider.valueChanged.connect(self._threshold_moved)
        # Minimum area: a slider over the image's area, finer at the small end (where
        # specks are told from objects), the pixels shown beside it.
        self.area_slider = QSlider(Qt.Orientation.Horizontal)
        self.area_slider.setRange(0, SLIDER_STEPS)
        self.area_slider.setFixedWidth(80)
        self.area_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.area_slider.setToolTip("Hide instances smaller than this (no model call)")
        self.area_slider.valueChanged.connect(self._area_moved)
        self.area_label = QLabel("0 px")
        self.area_label.setMinimumWidth(60)
        self._image_area = 0
        self.category = QComboBox()
        self.category.setEditable(True)
        self.category.setMinimumWidth(110)
        self.category.setToolTip("The category of instances found without a phrase (a new name makes one)")
        self.category_label = QLabel(" Category ")
        self.counts_label = QLabel("")
        shrinkable(self.counts_label)
        widgets: list[QWidget] = [
            QLabel(" Score > "), self.threshold_slider, self.threshold_label,
            QLabel(" Min area "), self.area_slider, self.area_label, self.category_label, self.category,
        ]
        # Short texts, keys in the tooltips: the strip must fit a laptop screen's width.
        buttons = (
            ("Accept all", self.accept_all, "Enter: every instance shown becomes an object (one undo step)"),
            ("Accept above", self.accept_above,
             "The instances shown become objects; the review goes on (lower the threshold to see more)"),
            ("Accept one", self.accept_selected, "Ctrl+Enter: the selected instance (click one to select)"),
            ("Reject", self.reject_selected, "Del: reject the selected instance (or right click it)"),
            ("Allow duplicate", self.allow_selected,
             "The selected instance overlaps an object already there: accept it anyway"),
        )
        self.buttons = {text: self._button(text, signal, tip) for text, signal, tip in buttons}
        self.drop_button = self._button("Drop results", self.drop_stored,
                                        "Remove this image's batch results waiting for review (undoable)")
        for widget in [*widgets, *self.buttons.values(), self.drop_button, self.counts_label]:
            row.addWidget(widget)
            self.review_widgets.append(widget)
        row.addStretch(1)
        self.set_busy("")
        self.set_reviewing(False)

    def _button(self, text: str, signal: Signal, tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the canvas
        button.clicked.connect(lambda _checked=False: signal.emit())
        return button

    # --- what it shows ---------------------------------------------------------------------------

    def set_busy(self, text: str, done: int = 0, total: int = 0) -> None:
        """Work going on (``text``, with ``done`` of ``total`` when known), or none ("")."""
        busy = self._busy = bool(text)
        self.busy_label.setText(text)
        self.busy_label.setVisible(busy)
        self.busy_bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.busy_bar.setRange(0, max(0, total))
        if total > 0:
            self.busy_bar.setValue(min(done, total))
        self._update_visible()

    def set_reviewing(self, reviewing: bool, stored: bool = False, needs_category: bool = False) -> None:
        self._reviewing, self._stored, self._needs_category = reviewing, stored, needs_category
        self._show_review_widgets()
        self._update_visible()

    def set_threshold(self, value: float | None) -> None:
        """Move the slider without emitting (None: every instance is shown: 0)."""
        self.threshold_slider.blockSignals(True)
        self.threshold_slider.setValue(round((value or 0.0) * SLIDER_STEPS))
        self.threshold_slider.blockSignals(False)
        self.threshold_label.setText(f"{(value or 0.0):.2f}")

    def set_min_area(self, pixels: int, image_area: int) -> None:
        """Move the minimum-area slider without emitting; ``image_area``: the image's pixels."""
        self._image_area = max(0, int(image_area))
        top = max(1, self._image_area)
        self.area_slider.blockSignals(True)
        self.area_slider.setValue(round(SLIDER_STEPS * min(1.0, pixels / top) ** 0.5))
        self.area_slider.blockSignals(False)
        self.area_label.setText(f"{pixels} px")

    def min_area(self) -> int:
        """The pixels the minimum-area slider stands for."""
        return round((self.area_slider.value() / SLIDER_STEPS) ** 2 * self._image_area)

    def _area_moved(self, _value: int) -> None:
        pixels = self.min_area()
        self.area_label.setText(f"{pixels} px")
        self.min_area_changed.emit(pixels)

    def set_counts(self, text: str) -> None:
        self.counts_label.setText(text)
        self.counts_label.setToolTip(text)

    def set_selection(self, selected: bool, duplicate: bool) -> None:
        self.buttons["Accept one"].setEnabled(selected)
        self.buttons["Reject"].setEnabled(selected)
        self.buttons["Allow duplicate"].setEnabled(duplicate)
        self._duplicate_selected = duplicate
        self._show_review_widgets()

    def set_categories(self, names: list[str], current: str | None = None) -> None:
        text = self.category.currentText() or current or DEFAULT_CATEGORY
        self.category.blockSignals(True)
        self.category.clear()
        self.category.addItems(names)
        self.category.setCurrentText(text)
        self.category.blockSignals(False)

    def category_name(self) -> str:
        return self.category.currentText().strip() or DEFAULT_CATEGORY

    def threshold(self) -> float:
        return self.threshold_slider.value() / SLIDER_STEPS

    def _threshold_moved(self, value: int) -> None:
        self.threshold_label.setText(f"{value / SLIDER_STEPS:.2f}")
        self.threshold_changed.emit(value / SLIDER_STEPS)

    def _show_review_widgets(self) -> None:
        """Each review widget shown or hidden once, to what it ends as: a widget shown for a
        moment widens the strip's minimum, and Qt grows the window to it for good."""
        reviewing = self._reviewing
        wanted = dict.fromkeys(self.review_widgets, reviewing)
        wanted[self.drop_button] = reviewing and self._stored
        wanted[self.category] = wanted[self.category_label] = reviewing and self._needs_category
        # Allow duplicate only when it applies: the strip stays narrow.
        wanted[self.buttons["Allow duplicate"]] = reviewing and self._duplicate_selected
        for widget, visible in wanted.items():
            if widget.isVisibleTo(self) != visible:
                widget.setVisible(visible)

    def _update_visible(self) -> None:
        self.setVisible(self._reviewing or self._busy)
