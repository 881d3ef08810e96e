"""The image list: one row per media item with its status (new / in progress / done)."""

from __future__ import annotations

import contextlib

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from samdesk.document import Change, Document, DocumentEvent, MediaStatus

STATUS_MARK = {MediaStatus.NEW: "○", MediaStatus.IN_PROGRESS: "◐", MediaStatus.DONE: "●"}
STATUS_TEXT = {MediaStatus.NEW: "new", MediaStatus.IN_PROGRESS: "in progress", MediaStatus.DONE: "done"}


class MediaListPanel(QWidget):
    media_activated = Signal(int)

    def __init__(self, document: Document, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        self.list.currentItemChanged.connect(self._current_changed)
        self._syncing = False
        document.events.subscribe(self._on_event)
        self.rebuild()

    def rebuild(self) -> None:
        self._syncing = True
        current = self.current_media_id()
        self.list.clear()
        for item in self.document.project.media:
            row = QListWidgetItem()
            row.setData(Qt.ItemDataRole.UserRole, item.id)
            self._fill(row, item.id)
            self.list.addItem(row)
        if current is not None:
            self.select(current)
        self._syncing = False

    def _fill(self, row: QListWidgetItem, media_id: int) -> None:
        item = self.document.project.media_item(media_id)
        count = len(self.document.project.objects_of(media_id))
        suffix = f"  ({count})" if count else ""
        frames = f"  · {item.frame_count} frames" if item.frame_count > 1 else ""
        row.setText(f"{STATUS_MARK[item.status]}  {item.name}{frames}{suffix}")
        size = f"{item.width}×{item.height}"
        if item.frame_count > 1:
            rate = f" at {item.fps:.3g} fps" if item.fps else ""
            size += f" · video, {item.frame_count} frames{rate}"
        row.setToolTip(f"{item.path}\n{size} · {STATUS_TEXT[item.status]}")

    def _row(self, media_id: int) -> QListWidgetItem | None:
        for i in range(self.list.count()):
            row = self.list.item(i)
            if row.data(Qt.ItemDataRole.UserRole) == media_id:
                return row
        return None

    def _on_event(self, event: DocumentEvent) -> None:
        if event.change in (Change.RESET, Change.MEDIA_ADDED, Change.MEDIA_REMOVED):
            self.rebuild()
        elif event.media_id is not None and (row := self._row(event.media_id)) is not None:
            with contextlib.suppress(KeyError):
                self._fill(row, event.media_id)

    def current_media_id(self) -> int | None:
        row = self.list.currentItem()
        return None if row is None else int(row.data(Qt.ItemDataRole.UserRole))

    def select(self, media_id: int | None) -> None:
        row = None if media_id is None else self._row(media_id)
        self._syncing = True
        self.list.setCurrentItem(row)
        if row is not None:
            self.list.scrollToItem(row)
        self._syncing = False

    def _current_changed(self, row: QListWidgetItem | None, _previous: object) -> None:
        if not self._syncing and row is not None:
            self.media_activated.emit(int(row.data(Qt.ItemDataRole.UserRole)))
