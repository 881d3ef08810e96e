"""The find-all bar (Ctrl+F) above the canvas: a phrase field (``car; person; bicycle``:
``phrase_field.py``) that completes each phrase from the project's categories and past queries,
the phrase → category mapping and the count per phrase, exemplar boxes in use, and Run on all
images; on a video, Track follows the phrase's instances over a range of frames (whole video,
from here, N frames). Without a concept model it explains how to get one.

A widget only: ``samdesk/ui/find_all.py`` connects it to the model and the session.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from samdesk.session.find_all import split_phrases
from samdesk.session.phrase_tracks import RANGE_TEXT, TrackRange
from samdesk.ui.panels.phrase_field import PhraseField
from samdesk.ui.panels.review_bar import shrinkable


class FindAllBar(QWidget):
    run = Signal(str)  # the phrase text
    run_on_all = Signal(str)
    track = Signal(str, str, int)  # the phrase text, the TrackRange, the frames (for N frames)
    clear_exemplars = Signal()
    load_model = Signal()
    closed = Signal()
    escaped = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        column = QVBoxLayout(self)
        column.setContentsMargins(6, 4, 6, 2)
        column.setSpacing(2)
        row = QHBoxLayout()
        column.addLayout(row)
        row.addWidget(QLabel("Find all:"))
        self.field = PhraseField()
        self.field.setPlaceholderText("car; person; bicycle — Enter finds them on this image")
        self.field.setClearButtonEnabled(True)
        self.field.returnPressed.connect(lambda: self.run.emit(self.field.text()))
        self.field.escaped.connect(self.escaped.emit)
        self.field.textChanged.connect(lambda _text: self.mapping_changed())
        row.addWidget(self.field, 1)
        self.find_button = self._button("Find", lambda: self.run.emit(self.field.text()))
        row.addWidget(self.find_button)
        self.run_all_button = self._button("Run on all images…",
                                           lambda: self.run_on_all.emit(self.field.text()))
        self.run_all_button.setToolTip(
            "These phrases over every image of the project, as a job you can cancel and resume "
            "(images already labelled for a phrase are skipped)"
        )
        row.addWidget(self.run_all_button)
        self.model_label = QLabel("")
        row.addWidget(self.model_label)
        close = QToolButton()
        close.setText("×")
        close.setToolTip("Close the find-all bar")
        close.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        close.clicked.connect(self.closed.emit)
        row.addWidget(close)
        # Under the field: where each phrase goes, what was found, the exemplar boxes in use.
        details = QHBoxLayout()
        column.addLayout(details)
        self.mapping_label = QLabel("")
        self.mapping_label.setTextFormat(Qt.TextFormat.PlainText)
        self.mapping_label.setToolTip("Where each phrase's instances go when accepted")
        self.mapping_label.setStyleSheet("color: palette(mid); font-style: italic")
        shrinkable(self.mapping_label)
        details.addWidget(self.mapping_label, 1)
        self.counts_label = QLabel("")
        self.counts_label.setToolTip("Instances shown per phrase (dup: overlapping an object already there)")
        self.counts_label.setStyleSheet("font-weight: bold; margin-left: 10px; margin-right: 10px")
        shrinkable(self.counts_label)
        details.addWidget(self.counts_label)
        self.exemplar_label = QLabel("")
        details.addWidget(self.exemplar_label)
        self.clear_exemplars_button = self._button("Clear boxes", self.clear_exemplars.emit)
        details.addWidget(self.clear_exemplars_button)
        # On a video: track the phrase over a range of frames.
        self.track_row = QWidget()
        track = QHBoxLayout(self.track_row)
        track.setContentsMargins(0, 0, 0, 0)
        track.addWidget(QLabel("Track in this video:"))
        self.range_box = QComboBox()
        for extent, text in RANGE_TEXT.items():
            self.range_box.addItem(text, extent)
        self.range_box.setCurrentIndex(list(RANGE_TEXT).index(TrackRange.FROM_HERE))
        self.range_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.range_box.currentIndexChanged.connect(lambda _i: self._range_changed())
        track.addWidget(self.range_box)
        self.frames_box = QSpinBox()
        self.frames_box.setRange(1, 1_000_000)
        self.frames_box.setValue(30)
        self.frames_box.setSuffix(" frames")
        track.addWidget(self.frames_box)
        self.track_button = self._button("Track", self._track)
        track.addWidget(self.track_button)
        track.addStretch(1)
        column.addWidget(self.track_row)
        self.track_row.setVisible(False)
        self._range_changed()
        help_row = QHBoxLayout()
        self.help_label = QLabel("")
        self.help_label.setWordWrap(True)
        self.help_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        help_row.addWidget(self.help_label, 1)
        self.load_button = self._button("Load concept model…", self.load_model.emit)
        help_row.addWidget(self.load_button)
        column.addLayout(help_row)
        self._categories: list[str] = []
        self.set_help("")
        self.set_exemplars(0, 0)

    def _button(self, text: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    def _range_changed(self) -> None:
        self.frames_box.setVisible(self.range_box.currentData() == TrackRange.FRAMES)

    def _track(self) -> None:
        self.track.emit(self.field.text(), str(self.range_box.currentData()), self.frames_box.value())

    def set_range(self, extent: str, frames: int = 0) -> None:
        self.range_box.setCurrentIndex(list(RANGE_TEXT).index(TrackRange(extent)))
        if frames:
            self.frames_box.setValue(frames)

    # --- what it shows ---------------------------------------------------------------------------

    def set_video(self, video: bool, refusal: str | None) -> None:
        """Show the Track row on a video; ``refusal``: why no loaded model can track (the
        button is then off, and its tooltip says so)."""
        self.track_row.setVisible(video)
        self.track_button.setEnabled(refusal is None)
        self.track_button.setToolTip(refusal or "Find the phrase on this frame and follow every instance "
                                     "through the range (a background run: Stop keeps what is done)")

    def set_completions(self, categories: list[str], history: list[str]) -> None:
        """Complete each phrase from the category names and past phrases; Up/Down recall
        past queries."""
        self._categories = list(categories)
        self.field.set_completions(categories, history)
        self.mapping_changed()

    def mapping_changed(self) -> None:
        """Say where each typed phrase goes: its category, or a new one made from it."""
        folded = {c.casefold(): c for c in self._categories}
        parts = []
        for phrase in split_phrases(self.field.text()):
            existing = folded.get(phrase.casefold())
            parts.append(f"{phrase} → {existing}" if existing else f"{phrase} → new category")
        self.mapping_label.setText("   ".join(parts))
        self.mapping_label.setToolTip("\n".join(parts))

    def set_counts(self, text: str) -> None:
        self.counts_label.setText(text)
        self.counts_label.setToolTip(text)

    def set_exemplars(self, positive: int, negative: int) -> None:
        shown = positive + negative > 0
        self.exemplar_label.setText(f"exemplars: {positive} +, {negative} −" if shown else "")
        self.exemplar_label.setVisible(shown)
        self.clear_exemplars_button.setVisible(shown)

    def set_model(self, description: str) -> None:
        self.model_label.setText(f"· {description}" if description else "")

    def set_help(self, text: str) -> None:
        """Explain what is missing (no concept model); "" hides the explanation."""
        self.help_label.setText(text)
        self.help_label.setVisible(bool(text))
        self.load_button.setVisible(bool(text))
        self.find_button.setEnabled(not text)
        self.run_all_button.setEnabled(not text)

    def focus_field(self) -> None:
        self.field.setFocus()
        self.field.selectAll()
