"""Export and import dialogs over ``samdesk.io.formats`` (the same registry the CLI uses).

Both run the exporter/importer on the GUI thread behind a cancellable progress dialog: the
formats report progress per image, and the import's result is one undoable document command.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QWidget,
)

from samdesk.document import Document, Project


def progress_dialog(parent: QWidget | None, text: str) -> tuple[QProgressDialog, Callable[[int, int], None]]:
    dialog = QProgressDialog(text, "Cancel", 0, 100, parent)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(300)

    def progress(done: int, total: int) -> None:
        dialog.setValue(int(100 * done / max(1, total)))
        QApplication.processEvents()

    return dialog, progress


def run_export(
    parent: QWidget | None, project: Project, name: str, out: Path, only_done: bool, overwrite: bool = False
) -> Any:
    """Export ``project`` as format ``name`` (a key of EXPORT_FORMATS); errors raise (an
    ``OutputExists`` when a file is in the way and ``overwrite`` is False)."""
    from samdesk.io import formats

    dialog, progress = progress_dialog(parent, f"Exporting {name}…")
    try:
        return formats.run_export(
            name, project, out, progress, dialog.wasCanceled, only_done=only_done, overwrite=overwrite
        )
    finally:
        dialog.close()


def run_import(parent: QWidget | None, document: Document, name: str, path: Path, images_dir: Path) -> Any:
    """Import a dataset into ``document`` as one undoable step; returns the ImportResult."""
    from samdesk.io import formats

    dialog, progress = progress_dialog(parent, f"Importing {name}…")
    try:
        result = formats.IMPORT_FORMATS[name](
            document.project, path, images_dir, progress, dialog.wasCanceled
        )
    finally:
        dialog.close()
    document.execute(result.command)
    return result


def _path_row(edit: QLineEdit, browse: Callable[[], None]) -> QHBoxLayout:
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    row = QHBoxLayout()
    row.addWidget(edit)
    row.addWidget(button)
    return row


class ExportDialog(QDialog):
    def __init__(self, project: Project, default_dir: str, parent=None) -> None:
        super().__init__(parent)
        from samdesk.io.formats import EXPORT_FORMATS

        self.setWindowTitle("Export")
        self.project = project
        self.formats = EXPORT_FORMATS
        self.format_box = QComboBox()
        for name, fmt in self.formats.items():
            self.format_box.addItem(f"{name} — {fmt.description}", name)
        self.path_edit = QLineEdit(str(Path(default_dir) / "annotations.json"))
        self.only_done = QCheckBox("only images marked done")
        form = QFormLayout(self)
        form.addRow("Format", self.format_box)
        form.addRow("Destination", _path_row(self.path_edit, self._browse))
        form.addRow("", self.only_done)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._export)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.result_info: Any = None

    def _browse(self) -> None:
        fmt = self.formats[self.format_box.currentData()]
        if fmt.single_file:
            path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(), "JSON (*.json)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Export into folder", self.path_edit.text())
        if path:
            self.path_edit.setText(path)

    def _export(self) -> None:
        from samdesk.io.output import OutputExists

        overwrite = False
        while self.result_info is None:
            try:
                self.result_info = run_export(
                    self,
                    self.project,
                    self.format_box.currentData(),
                    Path(self.path_edit.text()),
                    self.only_done.isChecked(),
                    overwrite,
                )
            except OutputExists as exc:  # nothing was written: ask, then export again
                answer = QMessageBox.question(
                    self,
                    "Replace existing files?",
                    f"{exc.path} already exists (maybe with more files of an earlier export).\n"
                    "Replace the files this export writes?",
                )
                if answer != QMessageBox.StandardButton.Yes:
                    return
                overwrite = True
            except Exception as exc:  # shown, not raised: a failed export must not close the app
                QMessageBox.critical(self, "Export failed", str(exc))
                return
        lines = self.result_info.warnings.lines()
        if lines:
            QMessageBox.information(self, "Exported with warnings", "\n".join(lines))
        self.accept()


class ImportDialog(QDialog):
    def __init__(self, document: Document, default_dir: str, parent=None) -> None:
        super().__init__(parent)
        from samdesk.io.formats import IMPORT_FORMATS

        self.setWindowTitle("Import")
        self.document = document
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
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._import)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.result_info: Any = None

    def _browse_dataset(self) -> None:
        if self.format_box.currentData() == "coco":
            path, _ = QFileDialog.getOpenFileName(self, "COCO file", self.path_edit.text(), "JSON (*.json)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Dataset folder", self.path_edit.text())
        if path:
            self.path_edit.setText(path)

    def _browse_images(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Images folder", self.images_edit.text())
        if path:
            self.images_edit.setText(path)

    def _import(self) -> None:
        try:
            self.result_info = run_import(
                self,
                self.document,
                self.format_box.currentData(),
                Path(self.path_edit.text()),
                Path(self.images_edit.text()),
            )
        except Exception as exc:  # DatasetError & co: readable, and the project is unchanged
            QMessageBox.critical(self, "Import failed", str(exc))
            return
        r = self.result_info
        summary = [
            f"{r.media_added} images added ({r.media_matched} already here), {r.objects_added} objects, "
            f"{r.categories_added} new categories"
        ] + r.warnings.lines()
        QMessageBox.information(self, "Imported", "\n".join(summary))
        self.accept()
