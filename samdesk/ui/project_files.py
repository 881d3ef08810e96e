"""Project files for one window: open, save, recover, autosave, import and export.

Opening (probe and hash every file, read a project), importing and exporting run as jobs on
the runtime's background thread (``samdesk.session.file_jobs``) behind a progress dialog with
Cancel; their results become undoable commands here, on the GUI thread. Saving stays on the
GUI thread: it is one atomic write the user waits for.

Talks to the rest of the window through signals: ``media_opened`` when an open adds or loads
something to show, ``opened`` with the problems once an open is over, ``message`` for the status
bar and ``error`` for things the user must read.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from samdesk.document import AddMedia, Batch, Document
from samdesk.document import recovery as autosaves
from samdesk.document.files import PROJECT_SUFFIX
from samdesk.document.persistence import FileStamp, ProjectChangedOnDisk, save_project
from samdesk.io.output import OutputExists
from samdesk.session import AnnotationController
from samdesk.session.file_jobs import (
    OpenedMedia,
    OpenedProject,
    OpenProblem,
    export_dataset,
    import_dataset,
    media_suffixes,
    open_files,
)
from samdesk.ui.background import BackgroundJobs
from samdesk.ui.dialogs.export import ExportDialog, ImportDialog
from samdesk.ui.dialogs.export_done import ExportDoneDialog, export_summary
from samdesk.ui.settings import Settings

AUTOSAVE_POLL_S = 5  # tick() decides whether an autosave is due; polling often keeps it close


class ProjectFiles(QObject):
    media_opened = Signal(int)  # a media id to show: the first one an open added or loaded
    opened = Signal(list)  # an open is over: the problems to report (readable lines)
    project_opened = Signal()  # a project file became the document (it may name missing media)
    saved = Signal()  # the document was saved (it is clean, and may have a new path)
    message = Signal(str, int)  # status bar text, milliseconds
    error = Signal(str, str)  # title, message

    def __init__(
        self,
        document: Document,
        controller: AnnotationController,
        settings: Settings,
        jobs: BackgroundJobs,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.controller = controller
        self.settings = settings
        self.jobs = jobs
        self._parent = parent
        self._opening: deque[Any] = deque()  # partial results waiting their turn (see _apply)
        self._applying = False
        self.recovery = autosaves.RecoveryManager(document, float(settings.autosave_seconds))
        self._disk_stamp: FileStamp | None = None  # the project file as last read or written here
        self.export_done_dialog: ExportDoneDialog | None = None  # the last export's, while shown
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setInterval(AUTOSAVE_POLL_S * 1000)
        self._autosave_timer.timeout.connect(self.autosave)
        self._autosave_timer.start()

    # --- opening ---------------------------------------------------------------------------
    def open_paths(self, paths: Sequence[str | Path]) -> int:
        """Open images, videos, folders of them and projects on the background thread; returns
        the job's request id. ``opened`` reports the files that could not be read (named in
        the problems) once it is over; the others open, the first one shown at once."""
        known = {m.path for m in self.document.project.media}
        merge_key = object()  # every file of this open lands in one undo step
        problems: list[str] = []
        first: list[int] = []

        def arrived(what: Any) -> None:
            self._opening.append((what, merge_key, problems, first))
            self._apply()

        def finished(_result: Any = None) -> None:
            self._opening.append((None, merge_key, problems, first))
            self._apply()

        def failed(error: BaseException) -> None:
            problems.append(str(error) or type(error).__name__)
            finished()

        def cancelled() -> None:
            self.message.emit("Opening stopped: the files opened so far stay", 5000)
            finished()

        text = f"Opening {len(paths)} {'item' if len(paths) == 1 else 'items'}…"
        return self.jobs.run(
            open_files(list(paths), known), text, finished, failed, on_partial=arrived, on_cancelled=cancelled
        )

    @property
    def busy(self) -> bool:
        """Whether an open, import or export is still running (tests and benchmarks wait)."""
        return self.jobs.busy or bool(self._opening) or self._applying

    def _apply(self) -> None:
        """Apply opened files in the order they came. A project's recovery question runs a
        nested event loop: files arriving meanwhile wait here instead of landing in the middle."""
        if self._applying:
            return
        self._applying = True
        try:
            while self._opening:
                what, merge_key, problems, first = self._opening.popleft()
                if what is None:
                    self.opened.emit(list(problems))
                elif isinstance(what, OpenProblem):
                    problems.append(what.message)
                elif isinstance(what, OpenedProject):
                    self._use_project(what)
                    first[:] = [-1]  # the project's own first image is on screen
                elif isinstance(what, OpenedMedia):
                    self._add_media(what, merge_key, first)
        finally:
            self._applying = False

    def _add_media(self, opened: OpenedMedia, merge_key: object, first: list[int]) -> None:
        if any(m.path == opened.item.path for m in self.document.project.media):
            return
        add = AddMedia(opened.item)
        self.document.execute(Batch([add], text="add media", merge_key=merge_key))
        if not first:
            first.append(add.item.id)
            self.media_opened.emit(add.item.id)

    def _use_project(self, opened: OpenedProject) -> None:
        result = opened.result
        self.controller.set_media(None)
        self.document.replace_project(result.project, result.path)
        self.settings.remember_project(str(result.path))
        self._disk_stamp = result.stamp
        self._warn_if_open_elsewhere(result.path)
        self.offer_recovery(result.path)
        self._show_first()
        self.project_opened.emit()  # its missing media, if any, are the window's to offer to find

    def _show_first(self) -> None:
        media = self.document.project.media
        if media:
            self.media_opened.emit(media[0].id)

    def ask_open_images(self) -> None:
        patterns = " ".join(f"*{s}" for s in sorted(media_suffixes()))
        files, _ = QFileDialog.getOpenFileNames(
            self._parent,
            "Open images or videos",
            self.settings.last_open_dir,
            f"Images and videos ({patterns});;All files (*)",
        )
        if files:
            self.settings.last_open_dir = str(Path(files[0]).parent)
            self.open_paths(files)

    def ask_open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._parent, "Open folder", self.settings.last_open_dir)
        if folder:
            self.settings.last_open_dir = folder
            self.open_paths([folder])

    def ask_open_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self._parent, "Open project", self.settings.last_open_dir, f"samdesk project (*{PROJECT_SUFFIX})"
        )
        if path:
            self.open_paths([path])

    # --- autosave and recovery ---------------------------------------------------------------
    def autosave(self) -> None:
        if self.recovery.tick() is None and self.recovery.last_error:
            self.message.emit(f"Autosave failed: {self.recovery.last_error}", 8000)

    def ask_restore(self, when: str) -> bool:
        """Whether to restore an autosave; tests replace this with a policy."""
        answer = QMessageBox.question(
            self._parent,
            "Recover unsaved work",
            f"A samdesk window ended without saving; its autosave from {when} holds its unsaved work."
            "\nRestore it? (No deletes this autosave.)",
        )
        return answer == QMessageBox.StandardButton.Yes

    def offer_recovery(self, project_path: Path | None) -> None:
        """Offer, newest first, each autosave of ``project_path`` (or, with no project, of a
        never-saved session) left by a window that no longer runs, until one is restored; a
        declined one is deleted, the others stay for the next time."""
        me = self.recovery.instance
        if project_path is not None:
            found = autosaves.find_recoveries(project_path, me)
        else:
            found = autosaves.find_unsaved_recoveries(me=me)
        for info in found:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.modified))
            if not info.newer_than_project:
                when += " (the project file was saved after it, perhaps by another window)"
            if not self.ask_restore(when):
                autosaves.discard_recovery(info)
                continue
            try:
                autosaves.restore_recovery(self.document, info)
            except Exception as exc:  # a damaged autosave: say so, keep what is open
                self.error.emit("Recovery failed", str(exc))
                return
            self.recovery.adopt(info)
            self.message.emit("Restored unsaved work from the autosave", 8000)
            return

    def _warn_if_open_elsewhere(self, project_path: Path) -> None:
        holder = self.recovery.claim(project_path)
        if holder is None:
            return
        since = time.strftime("%H:%M", time.localtime(holder.opened))
        self.error.emit(
            "Project open in another window",
            f"{project_path} is also open in another samdesk window (process {holder.instance.pid} "
            f"on {holder.instance.host}, since {since}).\nBoth can edit it; before saving over a save "
            "made by the other window, samdesk asks.",
        )

    def recover_unsaved(self) -> None:
        """File ▸ Recover: restore the newest autosave of a session that was never saved."""
        self.controller.set_media(None)
        self.offer_recovery(None)
        self._show_first()

    def close(self) -> None:
        """A clean exit (saved, or the user chose to discard): no recovery file outlives it."""
        self._autosave_timer.stop()
        self.jobs.cancel_all()
        self.recovery.close()

    # --- saving ----------------------------------------------------------------------------
    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self.save_to(self.document.path)

    def save_as(self) -> bool:
        start = Path(self.default_dir())
        if self.document.path is not None:
            name = self.document.path.name
        else:  # a folder of images suggests its own name
            name = f"{start.name or 'project'}{PROJECT_SUFFIX}" if self.document.project.media else ""
        path, _ = QFileDialog.getSaveFileName(
            self._parent,
            "Save project",
            str(start / (name or f"project{PROJECT_SUFFIX}")),
            f"samdesk project (*{PROJECT_SUFFIX})",
        )
        if not path:
            return False
        if not path.endswith(PROJECT_SUFFIX):
            path = str(Path(path).with_suffix("")) + PROJECT_SUFFIX
        return self.save_to(Path(path))

    def ask_save_over_change(self, problem: str) -> bool:
        """Whether to save over a project file changed on disk; tests replace this with a policy."""
        answer = QMessageBox.question(
            self._parent,
            "Project changed on disk",
            f"{problem}.\nSave anyway, replacing those changes with yours?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def save_to(self, path: Path) -> bool:
        """Save the project to ``path``. Over the file this window opened or last saved, a change
        made meanwhile by another window or program is not overwritten unless the user says so."""
        same_file = self.document.path is not None and Path(path).absolute() == self.document.path.absolute()
        try:
            try:
                stamp = save_project(
                    self.document.project, path, expected=self._disk_stamp if same_file else None
                )
            except ProjectChangedOnDisk as exc:
                if not self.ask_save_over_change(str(exc)):
                    self.message.emit("Not saved: the project file changed on disk", 8000)
                    return False
                stamp = save_project(self.document.project, path)
        except Exception as exc:  # ProjectFileError, OSError: never lose work silently
            self.error.emit("Save failed", str(exc))
            return False
        self._disk_stamp = stamp
        self.document.mark_saved(path)
        self.autosave()  # the document is clean now: this removes the recovery file
        self.settings.remember_project(str(path))
        self.saved.emit()
        self.message.emit(f"Saved {path}", 4000)
        return True

    # --- datasets ----------------------------------------------------------------------------
    def default_dir(self) -> str:
        """Where Save As, Export and Import start: the project's folder; before the first save,
        the folder holding the images (their common folder, else the first one's); with no
        images, where files were last opened; else the home folder."""
        if self.document.path is not None:
            return str(self.document.path.parent)
        folders = [str(Path(m.path).absolute().parent) for m in self.document.project.media]
        if folders:
            common = Path(os.path.commonpath(folders))
            return str(common if common != Path(common.anchor) else folders[0])
        return self.settings.last_open_dir or str(Path.home())

    def ask_export(self) -> None:
        dialog = ExportDialog(self.document.project, self.default_dir(), self._parent)
        if dialog.exec():
            self.export(
                dialog.format_name(), dialog.destination(), only_done=dialog.only_done_images(),
                include_unannotated=dialog.include_unannotated_images(),
            )

    def export(
        self, name: str, out: Path, *, only_done: bool = False, include_unannotated: bool = False,
        overwrite: bool = False,
    ) -> int:
        """Export the project as it is now (a copy: editing goes on) as format ``name``. A file
        in the way is replaced only when ``overwrite`` or the user says so (``ask_overwrite``)."""
        project = self.document.project.clone()

        def done(result: Any) -> None:
            self.message.emit(export_summary(name, out, result), 8000)
            self.show_export_done(name, out, result)

        def failed(error: BaseException) -> None:
            if isinstance(error, OutputExists) and not overwrite and self.ask_overwrite(error.path):
                self.export(  # nothing was written yet
                    name, out, only_done=only_done, include_unannotated=include_unannotated, overwrite=True
                )
                return
            self.error.emit("Export failed", str(error) or type(error).__name__)

        options = {
            "only_done": only_done, "include_unannotated": include_unannotated, "overwrite": overwrite,
            "project_file": self.document.path,
        }
        return self.jobs.run(
            lambda report: export_dataset(name, project, out, report, **options),
            f"Exporting {name}…",
            done,
            failed,
            on_cancelled=lambda: self.message.emit("Export cancelled", 5000),
        )

    def show_export_done(self, name: str, out: Path, result: Any) -> None:
        """What the export wrote, with "Open folder"; it does not block (annotating goes on)."""
        if self.export_done_dialog is not None:
            self.export_done_dialog.close()
        dialog = ExportDoneDialog(name, out, result, self._parent)
        dialog.destroyed.connect(lambda _obj=None: self._forget_export_done(dialog))
        self.export_done_dialog = dialog
        dialog.show()

    def _forget_export_done(self, dialog: ExportDoneDialog) -> None:
        if self.export_done_dialog is dialog:
            self.export_done_dialog = None

    def ask_overwrite(self, path: Path) -> bool:
        """Whether an export may replace ``path`` (and the other files it writes); tests
        replace this with a policy."""
        answer = QMessageBox.question(
            self._parent,
            "Replace existing files?",
            f"{path} already exists (maybe with more files of an earlier export).\n"
            "Replace the files this export writes?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def ask_import(self) -> None:
        dialog = ImportDialog(self.default_dir(), self._parent)
        if dialog.exec():
            self.import_dataset(dialog.format_name(), dialog.dataset_path(), dialog.images_dir())

    def import_dataset(self, name: str, path: Path, images_dir: Path) -> int:
        """Read a dataset on the background thread; it lands as one undoable step."""
        project = self.document.project.clone()

        def done(result: Any) -> None:
            if result.nothing_imported():  # a dataset read as empty is almost always read wrong
                reasons = result.warnings.lines() or ["The dataset holds no annotations samdesk can read."]
                self.error.emit(
                    "Nothing imported", f"Nothing was imported from {path} as {name}:\n" + "\n".join(reasons)
                )
                return
            self.document.execute(result.command)
            summary = [
                f"{result.media_added} images added ({result.media_matched} already here), "
                f"{result.objects_added} objects, {result.categories_added} new categories"
            ] + result.warnings.lines()
            self.message.emit(summary[0], 10000)
            if len(summary) > 1:
                self.error.emit("Imported with warnings", "\n".join(summary))
            if self.controller.media is None:
                self._show_first()

        return self.jobs.run(
            lambda report: import_dataset(name, project, path, images_dir, report),
            f"Importing {name}…",
            done,
            lambda error: self.error.emit("Import failed", str(error) or type(error).__name__),
            on_cancelled=lambda: self.message.emit("Import cancelled: the project is unchanged", 5000),
        )
