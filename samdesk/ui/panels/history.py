"""The undo history: every step of the document's history as a row (like Qt's QUndoView),
the current one selected; clicking a row undoes or redoes up to it.

Rows: "Opened" (no step done), then each step's text, oldest first; steps after the current one
(undone, waiting for redo) are grey and italic; the saved state is marked. Going to a row runs
the window's own undo/redo (``step_back``/``step_forward``), so a video shows the frame a step
changed and an object being made is taken back first, exactly as Ctrl+Z and Ctrl+Shift+Z do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from samdesk.document import Document, DocumentEvent

START = "Opened"
SAVED = "  · saved"


class HistoryPanel(QWidget):
    def __init__(
        self,
        document: Document,
        step_back: Callable[[], None],
        step_forward: Callable[[], None],
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.step_back = step_back
        self.step_forward = step_forward
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the window's shortcuts stay live
        self.list.itemClicked.connect(self._clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        self._shown: tuple | None = None  # (steps, depth, saved) the rows show
        document.events.subscribe_batch(self._on_events)
        self.refresh()

    def refresh(self) -> None:
        history = self.document.history
        steps, depth = history.steps(), history.depth
        saved = history.saved_depth if self.document.path is not None else None  # never saved: no mark
        # Most changes (a tracked frame landing in its run's step, each file of a folder being
        # opened) leave the list as it is: no rows are made again then.
        shown = (steps, depth, saved)
        if shown == self._shown:
            return
        self._shown = shown
        self.list.blockSignals(True)
        self.list.clear()
        grey = QBrush(QColor(140, 140, 140))
        for index, text in enumerate([START, *steps]):
            row = QListWidgetItem(text + (SAVED if index == saved else ""))
            row.setData(Qt.ItemDataRole.UserRole, index)
            if index > depth:  # undone: redo brings it back
                row.setForeground(grey)
                font = QFont(row.font())
                font.setItalic(True)
                row.setFont(font)
            self.list.addItem(row)
        current = self.list.item(depth)
        self.list.setCurrentItem(current)
        self.list.scrollToItem(current)
        self.list.blockSignals(False)

    def go_to(self, index: int) -> None:
        """Undo or redo until ``index`` steps are done."""
        history = self.document.history
        # Each call either takes back a prompt of the object being made or moves one step;
        # the bound only guards against a step that refuses to move.
        for _ in range(len(history.steps()) + 1000):
            if history.depth > index:
                self.step_back()
            elif history.depth < index and history.can_redo:
                self.step_forward()
            else:
                break
        self.refresh()

    def _clicked(self, row: QListWidgetItem) -> None:
        self.go_to(int(row.data(Qt.ItemDataRole.UserRole)))

    def _on_events(self, _events: Sequence[DocumentEvent]) -> None:
        self.refresh()
