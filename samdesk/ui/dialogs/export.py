"""Export dialog: pick a dataset format and a destination; runs the samdesk.io exporter.

Formats are found in ``samdesk.io``: each ``export_<name>(project, out, options, progress, cancel)``
function there is offered; COCO gets two entries (lossless RLE and polygons).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
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
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QWidget,
)

from samdesk.document import Project


@dataclass(frozen=True)
class ExportFormat:
    label: str
    function: Callable[..., Any]
    options: Callable[[bool], Any]  # only_done -> options object
    writes_file: bool  # a single file (COCO) rather than a folder


def available_formats() -> list[ExportFormat]:
    """Every exporter in samdesk.io, COCO first."""
    import samdesk.io as io_package

    formats: list[ExportFormat] = []
    for info in pkgutil.iter_modules(io_package.__path__):
        module = importlib.import_module(f"samdesk.io.{info.name}")
        for name, value in vars(module).items():
            if not (name.startswith("export_") and callable(value) and value.__module__ == module.__name__):
                continue
            kind = name.removeprefix("export_")
            option_cls = next(
                (
                    v
                    for k, v in vars(module).items()
                    if k.lower() == f"{kind}exportoptions"
                    or (k.endswith("ExportOptions") and k.lower().startswith(kind.replace("_", "")))
                ),
                None,
            )
            if option_cls is None:
                from samdesk.io.common import ExportOptions as option_cls  # noqa: N813
            if kind == "coco":
                for encoding in ("rle", "polygon"):
                    formats.append(
                        ExportFormat(
                            f"COCO ({encoding})",
                            value,
                            lambda done, c=option_cls, e=encoding: c(only_done=done, encoding=e),
                            True,
                        )
                    )
            else:
                formats.append(
                    ExportFormat(
                        kind.replace("_", " ").upper() if len(kind) <= 4 else kind.replace("_", " "),
                        value,
                        lambda done, c=option_cls: c(only_done=done),
                        False,
                    )
                )
    formats.sort(key=lambda f: (not f.label.startswith("COCO"), f.label))
    return formats


def run_export(
    parent: QWidget | None, project: Project, fmt: ExportFormat, out: Path, only_done: bool
) -> Any:
    """Run one export with a cancellable progress dialog; errors raise (the caller shows them)."""
    dialog = QProgressDialog(f"Exporting {fmt.label}…", "Cancel", 0, 100, parent)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(300)

    def progress(done: int, total: int) -> None:
        dialog.setValue(int(100 * done / max(1, total)))
        QApplication.processEvents()

    return fmt.function(project, out, fmt.options(only_done), progress=progress, cancel=dialog.wasCanceled)


class ExportDialog(QDialog):
    def __init__(self, project: Project, default_dir: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.project = project
        self.formats = available_formats()
        self.format_box = QComboBox()
        for fmt in self.formats:
            self.format_box.addItem(fmt.label)
        self.path_edit = QLineEdit(str(Path(default_dir) / "annotations.json"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit)
        row.addWidget(browse)
        self.only_done = QCheckBox("only images marked done")
        form = QFormLayout(self)
        form.addRow("Format", self.format_box)
        form.addRow("Destination", row)
        form.addRow("", self.only_done)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._export)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.result_info: Any = None

    def _browse(self) -> None:
        fmt = self.formats[self.format_box.currentIndex()]
        if fmt.writes_file:
            path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(), "JSON (*.json)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Export into folder", self.path_edit.text())
        if path:
            self.path_edit.setText(path)

    def _export(self) -> None:
        fmt = self.formats[self.format_box.currentIndex()]
        try:
            self.result_info = run_export(
                self, self.project, fmt, Path(self.path_edit.text()), self.only_done.isChecked()
            )
        except Exception as exc:  # shown, not raised: a failed export must not close the app
            QMessageBox.critical(self, "Export failed", str(exc))
            return
        warnings = getattr(self.result_info, "warnings", None)
        lines = list(warnings.summary()) if warnings is not None and hasattr(warnings, "summary") else []
        if lines:
            QMessageBox.information(self, "Exported with warnings", "\n".join(lines))
        self.accept()
