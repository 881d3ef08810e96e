"""The image list: one row per media item with its status (new / in progress / done), the
project's done count above it, and, when the media come from several folders, a header row
with each folder's count (``samdesk/session/progress.py``). A row shows its object count and
how many batch results wait for review on it (``◆ 3 to review``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QProgressBar, QVBoxLayout, QWidget

from samdesk.document import Change, Document, DocumentEvent, MediaStatus
from samdesk.session.progress import ProgressTally, folder_names
from samdesk.ui.panels.attributes import ImageTagsEditor

STATUS_MARK = {MediaStatus.NEW: "○", MediaStatus.IN_PROGRESS: "◐", MediaStatus.DONE: "●"}
STATUS_TEXT = {MediaStatus.NEW: "new", MediaStatus.IN_PROGRESS: "in progress", MediaStatus.DONE: "done"}


class MediaListPanel(QWidget):
    media_activated = Signal(int)

    def __init__(self, document: Document, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        self.summary = QLabel("")  # "12 / 40 done (30%)"
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(6)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.bar)
        layout.addWidget(self.list)
        self.tags = ImageTagsEditor(document, self.current_media_id)
        layout.addWidget(self.tags)
        self.list.currentItemChanged.connect(self._current_changed)
        self._syncing = False
        self._rows: dict[int, QListWidgetItem] = {}  # media id -> its row
        self._headers: dict[str, list[QListWidgetItem]] = {}  # folder -> its header rows
        self._grouped = False  # the media come from several folders: header rows shown
        self.tally = ProgressTally()  # done counts, kept one medium at a time
        self._names: dict[str, str] = {}  # folder -> its header's short name
        self._last_folder: str | None = None  # of the last row appended
        self._to_review: dict[int, int] = {}  # media id -> batch results waiting for review
        document.events.subscribe_batch(self._on_events)
        self.rebuild()

    def rebuild(self) -> None:
        self._syncing = True
        self._to_review = results_to_review(self.document.project.settings)
        current = self.current_media_id()
        self.list.clear()
        self._rows.clear()
        self._headers.clear()
        self._last_folder = None
        media = self.document.project.media
        self.tally.reset(media)
        self._grouped = len(self.tally.folders) > 1
        self._names = folder_names(self.tally.folders) if self._grouped else {}
        for item in media:
            self._append(item.id)
        self._refresh_counts(self.tally.folders)
        if current is not None:
            self.select(current)
        self._syncing = False

    def _append(self, media_id: int) -> None:
        folder = self.tally.folder_of(media_id)
        if self._grouped and folder != self._last_folder:
            header = QListWidgetItem()
            header.setFlags(Qt.ItemFlag.ItemIsEnabled)  # not selectable: a title, not an image
            font = QFont(header.font())
            font.setBold(True)
            header.setFont(font)
            self.list.addItem(header)
            self._headers.setdefault(folder, []).append(header)
        self._last_folder = folder
        row = QListWidgetItem()
        row.setData(Qt.ItemDataRole.UserRole, media_id)
        self._fill(row, media_id)
        self.list.addItem(row)
        self._rows[media_id] = row

    def _fill(self, row: QListWidgetItem, media_id: int) -> None:
        item = self.document.project.media_item(media_id)
        count = len(self.document.project.objects_of(media_id))
        suffix = f"  ({count})" if count else ""
        if waiting := self._to_review.get(media_id):
            suffix += f"  ◆ {waiting} to review"
        frames = f"  · {item.frame_count} frames" if item.frame_count > 1 else ""
        row.setText(f"{STATUS_MARK[item.status]}  {item.name}{frames}{suffix}")
        size = f"{item.width}×{item.height}"
        if item.frame_count > 1:
            rate = f" at {item.fps:.3g} fps" if item.fps else ""
            size += f" · video, {item.frame_count} frames{rate}"
        tags = f"\ntags: {', '.join(item.tags)}" if item.tags else ""
        row.setToolTip(f"{item.path}\n{size} · {STATUS_TEXT[item.status]}{tags}")

    def _row(self, media_id: int) -> QListWidgetItem | None:
        return self._rows.get(media_id)

    def _refresh_counts(self, folders: Iterable[str]) -> None:
        """The project's count above the list, and the headers of ``folders``."""
        total = self.tally.total
        self.summary.setText(f"{total.text()}" if total.total else "No images yet")
        self.bar.setRange(0, max(total.total, 1))
        self.bar.setValue(total.done)
        for folder in folders:
            count = self.tally.folder(folder)
            for header in self._headers.get(folder, []):
                header.setText(f"{self._names.get(folder, folder)}  ·  {count.done}/{count.total} done")
                header.setToolTip(f"{folder}\n{count.text()}")

    def _on_events(self, events: Sequence[DocumentEvent]) -> None:
        """Once per change. Media added at the end (files still opening, an import) get rows
        appended; anything else that reorders the list rebuilds it; other changes refill the
        rows of the media they touch, each once."""
        changes = {event.change for event in events}
        media = self.document.project.media
        added = [e.media_id for e in events if e.change == Change.MEDIA_ADDED]
        appended = len(added) <= len(media) and [m.id for m in media[len(media) - len(added):]] == added
        if Change.RESET in changes or Change.MEDIA_REMOVED in changes or (added and not appended):
            self.rebuild()
            return
        known = set(self.tally.folders)
        new_folders = {self.tally.update(media.get(i)) for i in added} - known  # type: ignore[arg-type]
        first = self.tally.folder_of(added[0]) if added else None
        # From one folder to several (headers appear), or a folder listed earlier comes again
        # (its rows would go under another folder's header): list them all again.
        regroup = (len(self.tally.folders) > 1) != self._grouped or (
            first is not None and first in self._headers and first != self._last_folder
        )
        if regroup:
            self.rebuild()
            return
        if new_folders and self._grouped:  # a new folder may shorten the others' names
            self._names = folder_names(self.tally.folders)
            touched_headers = set(self._headers)
        else:
            touched_headers = set()
        for media_id in added:
            self._append(media_id)
        touched = {e.media_id for e in events if e.media_id is not None and e.change != Change.MEDIA_ADDED}
        if Change.SETTINGS_CHANGED in changes:
            before, after = self._to_review, results_to_review(self.document.project.settings)
            self._to_review = after
            touched |= {m for m in before.keys() | after.keys() if before.get(m) != after.get(m)}
        counted = {self.tally.folder_of(i) for i in added} | touched_headers
        for media_id in touched:
            if (row := self._row(media_id)) is not None:
                with contextlib.suppress(KeyError):
                    self._fill(row, media_id)
                    counted.add(self.tally.update(self.document.project.media_item(media_id)))
        if added or touched:
            self._refresh_counts(counted)

    def current_media_id(self) -> int | None:
        row = self.list.currentItem()
        media_id = None if row is None else row.data(Qt.ItemDataRole.UserRole)
        return None if media_id is None else int(media_id)

    def select(self, media_id: int | None) -> None:
        row = None if media_id is None else self._row(media_id)
        self._syncing = True
        self.list.setCurrentItem(row)
        if row is not None:
            self.list.scrollToItem(row)
        self._syncing = False
        self.tags.refresh()

    def _current_changed(self, row: QListWidgetItem | None, _previous: object) -> None:
        if not self._syncing and row is not None and row.data(Qt.ItemDataRole.UserRole) is not None:
            self.media_activated.emit(int(row.data(Qt.ItemDataRole.UserRole)))


def results_to_review(settings: dict) -> dict[int, int]:
    """Per media id, the batch results waiting for review (``settings["labelling"]["pending"]``,
    docs/project-format.md); read without validating each result, for a quick count."""
    record = settings.get("labelling")
    pending = record.get("pending") if isinstance(record, dict) else None
    if not isinstance(pending, dict):
        return {}
    return {int(k): len(v) for k, v in pending.items() if isinstance(v, list) and v and str(k).isdigit()}
