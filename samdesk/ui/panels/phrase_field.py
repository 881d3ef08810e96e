"""The find-all bar's phrase field: ``car; person; bicycle``.

- The phrase being typed (the text after the last ``;``) completes from the project's category
  names and the phrases of past queries; choosing a completion replaces only that phrase.
- Up / Down recall past queries, newest first (as a shell's history), Down past the newest
  gives back what was being typed.
- Enter runs the query and Esc hands the keys back to the canvas: both are also the window's
  shortcuts (accept, discard), so the field takes them first while it has the focus.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QStringListModel, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QCompleter, QLineEdit, QWidget

from samdesk.session.find_all import PHRASE_SEPARATOR, split_phrases

POPUP_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape, Qt.Key.Key_Tab, Qt.Key.Key_Backtab)


def last_phrase(text: str) -> str:
    """The phrase being typed: what follows the last separator, stripped."""
    return " ".join(text.rsplit(PHRASE_SEPARATOR, 1)[-1].split())


def with_last_phrase(text: str, phrase: str) -> str:
    """``text`` with its last phrase replaced by ``phrase``: ``"car; pe"`` -> ``"car; person"``."""
    head, sep, _ = text.rpartition(PHRASE_SEPARATOR)
    return f"{head}{sep} {phrase}" if sep else phrase


class PhraseField(QLineEdit):
    escaped = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._names = QStringListModel(self)
        self.completer_ = QCompleter(self._names, self)
        self.completer_.setWidget(self)  # driven by hand: it completes the last phrase only
        self.completer_.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer_.setFilterMode(Qt.MatchFlag.MatchStartsWith)
        self.completer_.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer_.activated[str].connect(self._complete)
        self.textEdited.connect(self._offer)
        self._history: list[str] = []
        self._recalled = -1  # index into the history being shown by Up/Down; -1: the user's text
        self._typed = ""

    def set_completions(self, categories: list[str], history: list[str]) -> None:
        """Complete phrases from the category names and the phrases of ``history`` (past
        queries, newest first, which Up/Down recall)."""
        self._history = list(history)
        self._recalled = -1
        names = list(categories)
        folded = {n.casefold() for n in names}
        for query in history:
            for phrase in split_phrases(query):
                if phrase.casefold() not in folded:
                    folded.add(phrase.casefold())
                    names.append(phrase)
        self._names.setStringList(names)

    def completions(self) -> list[str]:
        """What the popup offers now."""
        completer = self.completer_
        found = []
        for row in range(completer.completionCount()):
            completer.setCurrentRow(row)
            found.append(completer.currentCompletion())
        return found

    # --- events ----------------------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) and event.key() in (
            Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape
        ):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if self.completer_.popup().isVisible() and key in POPUP_KEYS:
            event.ignore()  # the popup takes it (its own event filter chooses or closes)
            return
        if key == Qt.Key.Key_Escape:
            self.escaped.emit()
            return
        if key in (Qt.Key.Key_Up, Qt.Key.Key_Down) and self._history:
            self._recall(+1 if key == Qt.Key.Key_Up else -1)
            return
        super().keyPressEvent(event)

    # --- plumbing --------------------------------------------------------------------------------

    def _offer(self, text: str) -> None:
        self._recalled = -1
        prefix = last_phrase(text)
        completer = self.completer_
        if not prefix:
            completer.popup().hide()
            return
        completer.setCompletionPrefix(prefix)
        count = completer.completionCount()
        if count == 0 or (count == 1 and completer.currentCompletion().casefold() == prefix.casefold()):
            completer.popup().hide()
        else:
            completer.complete()

    def _complete(self, phrase: str) -> None:
        self.setText(with_last_phrase(self.text(), phrase))

    def _recall(self, step: int) -> None:
        if self._recalled == -1:
            self._typed = self.text()
        index = max(-1, min(len(self._history) - 1, self._recalled + step))
        self._recalled = index
        self.setText(self._typed if index == -1 else self._history[index])
        self.completer_.popup().hide()
