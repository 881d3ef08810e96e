"""The find-all bar (Ctrl+F) above the canvas: a phrase field (``car; person; bicycle``:
``phrase_field.py``) that completes each phrase from the project's categories and past queries,
the phrase → category mapping and the count per phrase, exemplar boxes in use, and Run on all
images. Without a concept model it explains how to get one.

A widget only: ``samdesk/ui/find_all.py`` connects it to the model and the session.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from samdesk.session.find_all import split_phrases
from samdesk.ui.panels.phrase_field import PhraseField
from samdesk.ui.panels.review_bar import shrinkable


class FindAllBar(QWidget):
    run = Signal(str)  # the phrase text
    run_on_all = Signal(str)
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

    # --- what it shows ---------------------------------------------------------------------------

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
