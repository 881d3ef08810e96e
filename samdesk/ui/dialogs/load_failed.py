"""After a model failed to load: the whole reason, and what to load instead (if anything).

Nothing is loaded in a failed model's place unless the user picks it here: a remembered model
that moved away must not turn silently into GrabCut.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

USE_CLASSICAL = "classical"
CHOOSE_FILE = "choose"


def ask_after_failed_load(parent: QWidget, text: str, offer_classical: bool) -> str | None:
    """Show ``text`` (the whole reason, selectable to copy) and return :data:`USE_CLASSICAL`,
    :data:`CHOOSE_FILE` or None (close, load nothing). ``offer_classical``: nothing is loaded
    now, so the zero-download model is offered."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Model not loaded", text, parent=parent)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    classical = None
    if offer_classical:
        classical = box.addButton("Use GrabCut (no download)", QMessageBox.ButtonRole.AcceptRole)
    choose = box.addButton("Choose another model…", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Close)
    box.exec()
    clicked = box.clickedButton()
    if classical is not None and clicked is classical:
        return USE_CLASSICAL
    if clicked is choose:
        return CHOOSE_FILE
    return None
