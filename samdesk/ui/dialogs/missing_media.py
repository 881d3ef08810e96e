"""The one dialog a project with missing media shows: which files are not where it says, and
"Locate…", which asks for a folder to search (and its subfolders)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QListWidget,
    QVBoxLayout,
    QWidget,
)

from samdesk.document import MediaItem


def ask_folder(parent: QWidget | None, start: str = "") -> Path | None:
    folder = QFileDialog.getExistingDirectory(parent, "Folder holding the missing files", start)
    return Path(folder) if folder else None


class MissingMediaDialog(QDialog):
    """``exec()`` is accepted when the user chose "Locate…"."""

    def __init__(self, missing: Sequence[MediaItem], total: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Missing media")
        count = len(missing)
        head = QLabel(
            f"<b>{count} of this project's {total} files {'is' if count == 1 else 'are'} not where the "
            "project says.</b><br>Their annotations are kept; they show over a grey stand-in until "
            "the files are found."
        )
        head.setWordWrap(True)
        self.list = QListWidget()
        for item in missing:
            self.list.addItem(f"{item.name}    — was in {Path(item.path).parent}")
        hint = QLabel(
            "Locate… searches a folder and its subfolders and relinks every missing file it "
            "finds there (same name and content, or renamed with the same content), all in one "
            "step that Ctrl+Z undoes. File ▸ Locate missing media… does it later."
        )
        hint.setWordWrap(True)
        buttons = QDialogButtonBox()
        self.locate_button = buttons.addButton("Locate…", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton("Not now", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(head)
        layout.addWidget(self.list)
        layout.addWidget(hint)
        layout.addWidget(buttons)
        self.resize(620, 380)
