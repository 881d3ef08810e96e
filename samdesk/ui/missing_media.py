"""Media a project names that are not on disk: say so once, and find them again.

When a project opens with missing files, one dialog lists them (``dialogs.missing_media``);
"Locate…" (or File ▸ Locate missing media…) searches a folder on the runtime's background
thread (``session.file_jobs.find_moved_media``: by name and content) and relinks every file
found there in one undoable step. Meanwhile the canvas shows a stand-in of the right size
(``media_navigation``), so the annotations line up and nothing is drawn at a wrong scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from samdesk.document import Change, Document, DocumentEvent, MediaItem
from samdesk.document.media_files import media_present
from samdesk.document.relocate import relocate_command
from samdesk.session.file_jobs import find_moved_media
from samdesk.ui.background import BackgroundJobs
from samdesk.ui.dialogs import missing_media as dialogs


class MissingMedia(QObject):
    relinked = Signal(list)  # media ids now pointing at found files
    message = Signal(str, int)  # status bar text, milliseconds
    error = Signal(str, str)  # title, message

    def __init__(self, document: Document, jobs: BackgroundJobs, parent: QWidget) -> None:
        super().__init__(parent)
        self.document = document
        self.jobs = jobs
        self._parent = parent
        self.last_folder = ""
        self._missing_ids: set[int] = set()  # as last looked (see any_missing)
        document.events.subscribe_batch(self._document_changed)

    def missing(self) -> list[MediaItem]:
        """The project's media whose files are not where it says (one stat each)."""
        found = [m for m in self.document.project.media if not media_present(m.path)]
        self._missing_ids = {m.id for m in found}
        return found

    @property
    def any_missing(self) -> bool:
        """Whether some media were missing when last looked: when the project was opened or its
        media added, relinked or removed (not a stat per file each time the menus update)."""
        return bool(self._missing_ids)

    def _document_changed(self, events: Sequence[DocumentEvent]) -> None:
        """Look again at the media a change touched (all of them after a reset), one stat each."""
        if any(e.change == Change.RESET for e in events):
            self.missing()
            return
        touched = (Change.MEDIA_ADDED, Change.MEDIA_CHANGED, Change.MEDIA_REMOVED)
        for media_id in {e.media_id for e in events if e.change in touched and e.media_id is not None}:
            item = self.document.project.media.get(media_id)
            if item is None or media_present(item.path):
                self._missing_ids.discard(media_id)
            else:
                self._missing_ids.add(media_id)

    def offer(self, missing: Sequence[MediaItem]) -> None:
        """A project opened with ``missing`` files: the one dialog; "Locate…" searches."""
        if not missing:
            return
        folder = self.ask_locate(missing)
        if folder is not None:
            self.locate_in(folder)

    def ask_locate(self, missing: Sequence[MediaItem]) -> Path | None:
        """The dialog, then the folder to search, or None ("Not now"); tests replace this."""
        dialog = dialogs.MissingMediaDialog(missing, len(self.document.project.media), self._parent)
        if not dialog.exec():
            return None
        return self.ask_folder()

    def ask_folder(self) -> Path | None:
        """The folder to search; tests replace this."""
        start = self.last_folder or (str(self.document.path.parent) if self.document.path else "")
        return dialogs.ask_folder(self._parent, start)

    def locate(self) -> None:
        """File ▸ Locate missing media…"""
        if not self.missing():
            self.message.emit("No media file is missing", 4000)
            return
        folder = self.ask_folder()
        if folder is not None:
            self.locate_in(folder)

    def locate_in(self, folder: str | Path) -> int:
        """Search ``folder`` (and below) on the background thread; every missing file found
        there is relinked in one undoable step. Returns the job's request id."""
        folder = Path(folder)
        self.last_folder = str(folder)
        missing = self.missing()
        names = {m.id: m.name for m in missing}

        def found(result: Any) -> None:
            still = [m for m in self.missing() if m.id in names]  # the project may have changed
            hits = {i: p for i, p in result.items() if any(m.id == i for m in still)}
            if hits:
                self.document.execute(relocate_command(hits))
            left = [names[m.id] for m in still if m.id not in hits]
            text = f"Relinked {len(hits)} of {len(names)} missing files from {folder}"
            if left:
                text += f"; still missing: {', '.join(left[:5])}{' …' if len(left) > 5 else ''}"
            self.message.emit(text, 15000)
            self.relinked.emit(sorted(hits))

        return self.jobs.run(
            find_moved_media(missing, folder),
            f"Looking for {len(missing)} files in {folder}…",
            found,
            lambda error: self.error.emit("Locate missing media", str(error) or type(error).__name__),
            on_cancelled=lambda: self.message.emit("Search cancelled: nothing was relinked", 5000),
        )
