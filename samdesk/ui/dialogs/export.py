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
from samdesk.io.formats import IMPORT_FORMATS, ExportFormat, export_formats

EXPORT_FILE_STEM = "annotations"  # the default file of a single-file format, with its suffix


def default_destination_name(fmt: ExportFormat) -> str:
    """The destination's name until the user types one: a file, or a folder named as the format."""
    return EXPORT_FILE_STEM + fmt.file_suffix if fmt.single_file else fmt.name


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
    """Format, destination and what to include. The destination follows the format: a file for
    the single-file formats (COCO), a folder for the others; a name the user typed stays as long
    as the kind of destination does."""

    def __init__(self, project: Project, default_dir: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.project = project
        self.format_box = QComboBox()
        self.formats = export_formats()  # the built-in ones and those of exporter plugins
        for name, fmt in self.formats.items():
            self.format_box.addItem(f"{name} — {fmt.description}", name)
        self._format = self.format_name()
        self.path_edit = QLineEdit(str(Path(default_dir) / default_destination_name(self.export_format())))
        self.destination_label = QLabel()
        self.problem_label = QLabel()
        self.problem_label.setStyleSheet("color: #c0392b")
        self.problem_label.setWordWrap(True)
        self.only_done = QCheckBox("only images marked done")
        self.include_unannotated = QCheckBox("also images without objects (written as having none)")
        self.include_unannotated.setToolTip(
            "Off: images with no objects are left out unless marked done (Ctrl+D), so nobody's "
            "unfinished image teaches a model that there is nothing on it."
        )
        form = QFormLayout(self)
        form.addRow("Format", self.format_box)
        form.addRow(self.destination_label, _path_row(self.path_edit, self._browse))
        form.addRow("", self.only_done)
        form.addRow("", self.include_unannotated)
        form.addRow(self.problem_label)
        form.addRow(_buttons(self))
        self._show_destination_kind()
        self.format_box.currentIndexChanged.connect(self._format_changed)
        self.path_edit.textChanged.connect(lambda _text: self.problem_label.setText(""))

    def format_name(self) -> str:
        return str(self.format_box.currentData())

    def export_format(self) -> ExportFormat:
        return self.formats[self.format_name()]

    def _format_changed(self) -> None:
        before, now = self.formats[self._format], self.export_format()
        self._format = now.name
        path = self.destination()
        if before.single_file != now.single_file or path.name == default_destination_name(before):
            self.path_edit.setText(str(path.parent / default_destination_name(now)))
        self._show_destination_kind()

    def _show_destination_kind(self) -> None:
        self.destination_label.setText("Destination file" if self.export_format().single_file
                                       else "Destination folder")

    def accept(self) -> None:
        """Refuse a destination of the wrong kind here, where the user can still change it."""
        path, single_file = self.destination(), self.export_format().single_file
        if single_file and path.is_dir():
            self.problem_label.setText(f"{path} is a folder: {self.format_name()} writes one file.")
            return
        if not single_file and path.exists() and not path.is_dir():
            self.problem_label.setText(f"{path} is a file: {self.format_name()} writes a folder of files.")
            return
        super().accept()

    def destination(self) -> Path:
        return Path(self.path_edit.text())

    def only_done_images(self) -> bool:
        return self.only_done.isChecked()

    def include_unannotated_images(self) -> bool:
        return self.include_unannotated.isChecked()

    def _browse(self) -> None:
        fmt = self.export_format()
        if fmt.single_file:
            kind = f"{fmt.file_suffix.lstrip('.').upper()} (*{fmt.file_suffix})"
            path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(), kind)
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
