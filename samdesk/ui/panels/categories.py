"""Categories: add, rename (double-click), recolour, remove, show/hide (the row's check box: a
view setting, the canvas hides that category's objects); the selected one is used on accept."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QHBoxLayout,
    QInputDialog,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from samdesk.document import AddCategory, Change, Document, DocumentEvent, EditCategory, RemoveCategory

# Well-separated default colours for new categories (cycled).
DEFAULT_COLORS = [
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (170, 110, 40),
]


def swatch(color: tuple[int, int, int], size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(*color))
    return QIcon(pixmap)


def next_color(document: Document) -> tuple[int, int, int]:
    used = {c.color for c in document.project.categories}
    for color in DEFAULT_COLORS:
        if color not in used:
            return color
    return DEFAULT_COLORS[len(document.project.categories) % len(DEFAULT_COLORS)]


class CategoriesPanel(QWidget):
    category_selected = Signal(object)  # int | None
    visibility_changed = Signal(int, bool)  # category id, shown

    def __init__(self, document: Document, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.list = QListWidget()
        self.list.setEditTriggers(
            QListWidget.EditTrigger.DoubleClicked | QListWidget.EditTrigger.EditKeyPressed
        )
        add = QPushButton("Add")
        color = QPushButton("Colour…")
        remove = QPushButton("Remove")
        buttons = QHBoxLayout()
        for b in (add, color, remove):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        add.clicked.connect(self.ask_add)
        color.clicked.connect(self.ask_color)
        remove.clicked.connect(self.remove_current)
        self.list.itemChanged.connect(self._renamed)
        self.list.currentItemChanged.connect(lambda *_: self.category_selected.emit(self.current_id()))
        self._syncing = False
        self.hidden: set[int] = set()  # categories whose objects the canvas hides
        document.events.subscribe(self._on_event)
        self.rebuild()

    def rebuild(self) -> None:
        self._syncing = True
        current = self.current_id()
        self.list.clear()
        for category in self.document.project.categories:
            row = QListWidgetItem(swatch(category.color), category.name)
            row.setData(Qt.ItemDataRole.UserRole, category.id)
            row.setFlags(row.flags() | Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsUserCheckable)
            shown = category.id not in self.hidden
            row.setCheckState(Qt.CheckState.Checked if shown else Qt.CheckState.Unchecked)
            row.setToolTip("Check box: show or hide this category's objects · double-click: rename")
            self.list.addItem(row)
            if category.id == current:
                self.list.setCurrentItem(row)
        self._syncing = False

    def _on_event(self, event: DocumentEvent) -> None:
        if event.change in (
            Change.RESET,
            Change.CATEGORY_ADDED,
            Change.CATEGORY_CHANGED,
            Change.CATEGORY_REMOVED,
        ):
            self.rebuild()

    def current_id(self) -> int | None:
        row = self.list.currentItem()
        return None if row is None else int(row.data(Qt.ItemDataRole.UserRole))

    def select(self, category_id: int | None) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == category_id:
                if self.list.currentRow() == i:
                    self.category_selected.emit(category_id)  # already current: still tell
                else:
                    self.list.setCurrentRow(i)
                return

    def add(self, name: str) -> int:
        command = AddCategory(name, next_color(self.document))
        self.document.execute(command)
        assert command.category_id is not None
        self.select(command.category_id)
        return command.category_id

    def ask_add(self) -> None:
        name, ok = QInputDialog.getText(self, "New category", "Name:")
        if ok and name.strip():
            self.add(name.strip())

    def ask_color(self) -> None:
        category_id = self.current_id()
        if category_id is None:
            return
        before = QColor(*self.document.project.category(category_id).color)
        chosen = QColorDialog.getColor(before, self, "Category colour")
        if chosen.isValid():
            self.document.execute(
                EditCategory(category_id, color=(chosen.red(), chosen.green(), chosen.blue()))
            )

    def remove_current(self) -> None:
        category_id = self.current_id()
        if category_id is not None:
            self.document.execute(RemoveCategory(category_id))

    def _renamed(self, row: QListWidgetItem) -> None:
        """A row changed: its check box (show/hide) or its text (rename)."""
        if self._syncing:
            return
        category_id = int(row.data(Qt.ItemDataRole.UserRole))
        shown = row.checkState() == Qt.CheckState.Checked
        if shown == (category_id in self.hidden):
            if shown:
                self.hidden.discard(category_id)
            else:
                self.hidden.add(category_id)
            self.visibility_changed.emit(category_id, shown)
            return
        name = row.text().strip()
        if name and name != self.document.project.category(category_id).name:
            self.document.execute(EditCategory(category_id, name=name))
