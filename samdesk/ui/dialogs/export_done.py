"""What a finished export wrote: the counts, the destination, the files, and "Open folder".

Shown without blocking (the user goes on annotating); warnings and objects the format holds only
approximately are in the details, all of them.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox, QWidget

from samdesk.io.common import ExportResult

FILES_LISTED = 12  # file names shown; the rest are counted


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def export_summary(name: str, out: Path, result: ExportResult) -> str:
    """One sentence: what was exported, as what, where."""
    what = [plural(result.media, "image" if result.frames == result.media else "media file")]
    if result.frames != result.media:
        what.append(plural(result.frames, "frame"))
    what.append(plural(result.annotations, "object"))
    return f"Exported {', '.join(what)} as {name} to {out}"


def written_files(out: Path, result: ExportResult) -> list[str]:
    """The files written, relative to the export folder when they are in it."""
    folder = out if out.is_dir() else out.parent
    names = []
    for path in result.files:
        try:
            names.append(Path(path).relative_to(folder).as_posix())
        except ValueError:
            names.append(str(path))
    return names


class ExportDoneDialog(QMessageBox):
    def __init__(self, name: str, out: Path, result: ExportResult, parent: QWidget | None = None) -> None:
        notes = [*result.summary, *result.warnings.lines(), *result.approximations]
        notes += [f"missing, left out: {path}" for path in result.missing_media]
        icon = QMessageBox.Icon.Warning if notes else QMessageBox.Icon.Information
        super().__init__(icon, "Export finished", export_summary(name, out, result), parent=parent)
        self.folder = out if out.is_dir() else out.parent
        files = written_files(out, result)
        listed = files[:FILES_LISTED]
        more = f"\n… and {len(files) - len(listed)} more" if len(files) > len(listed) else ""
        self.setInformativeText(f"{plural(len(files), 'file')} written:\n" + "\n".join(listed) + more)
        if notes:
            self.setDetailedText("\n".join(notes))
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = self.addButton("Open folder", QMessageBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(self.open_folder)
        self.addButton(QMessageBox.StandardButton.Ok)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def open_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.folder)))
