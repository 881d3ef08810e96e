"""Export and import dialogs over ``samdesk.io.formats`` (the same registry the CLI uses).

They only ask what to do; ``samdesk.ui.project_files`` runs the exporter or importer on the
runtime's background thread, and an import's result lands as one undoable document command.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
)

from samdesk.document import Project
from samdesk.io.formats import EXPORT_FORMATS, IMPORT_FORMATS


def _path_row(edit: QLineEdit, browse: Callable[[], None]) -> QHBoxLayout:
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    row = QHBoxLayout()
    row.addWidget(edit)
    row.addWidget(button)
    return row


def _buttons(dialog: QDialog) -> QDialogButtonBox:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


class ExportDialog(QDialog):
    def __init__(self, project: Project, default_dir: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.project = project
        self.format_box = QComboBox()
        for name, fmt in EXPORT_FORMATS.items():
            self.format_box.addItem(f"{name} — {fmt.description}", name)
        self.path_edit = QLineEdit(str(Path(default_dir) / "annotations.json"))
        self.only_done = QCheckBox("only images marked done")
        form = QFormLayout(self)
        form.addRow("Format", self.format_box)
        form.addRow("Destination", _path_row(self.path_edit, self._browse))
        form.addRow("", self.only_done)
        form.addRow(_buttons(self))

    def format_name(self) -> str:
        return str(self.format_box.currentData())

    def destination(self) -> Path:
        return Path(self.path_edit.text())

    def only_done_images(self) -> bool:
        return self.only_done.isChecked()

    def _browse(self) -> None:
        fmt = EXPORT_FORMATS[self.format_name()]
        if fmt.single_file:
            path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(), "JSON (*.json)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Export into folder", self.path_edit.text())
        if path:
            self.path_edit.setText(path)


class ImportDialog(QDialog):
    def __init__(self, default_dir: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import")
        self.format_box = QComboBox()
        for name in IMPORT_FORMATS:
            self.format_box.addItem(name, name)
        self.path_edit = QLineEdit(default_dir)
        self.images_edit = QLineEdit(default_dir)
        form = QFormLayout(self)
        form.addRow("Format", self.format_box)
        form.addRow("Dataset (file or folder)", _path_row(self.path_edit, self._browse_dataset))
        form.addRow("Images folder", _path_row(self.images_edit, self._browse_images))
        form.addRow(QLabel("The import is one step: Ctrl+Z takes all of it back."))
        form.addRow(_buttons(self))

    def format_name(self) -> str:
        return str(self.format_box.currentData())

    def dataset_path(self) -> Path:
        return Path(self.path_edit.text())

    def images_dir(self) -> Path:
        return Path(self.images_edit.text())

    def _browse_dataset(self) -> None:
        if self.format_name() == "coco":
            path, _ = QFileDialog.getOpenFileName(self, "COCO file", self.path_edit.text(), "JSON (*.json)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Dataset folder", self.path_edit.text())
        if path:
            self.path_edit.setText(path)

    def _browse_images(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Images folder", self.images_edit.text())
        if path:
            self.images_edit.setText(path)
