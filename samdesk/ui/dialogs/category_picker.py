"""Quick category picker shown on accept: type to filter, Enter picks, a new name creates one."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from samdesk.document import Category
from samdesk.ui.panels.categories import swatch


class CategoryPicker(QDialog):
    """``exec()``; then ``chosen_id`` (an existing category) or ``new_name`` (create it)."""

    def __init__(self, categories: list[Category], preselect: int | None, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Category")
        self.categories = categories
        self.chosen_id: int | None = None
        self.new_name: str | None = None
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("type to filter, or a new category name")
        self.list = QListWidget()
        layout = QVBoxLayout(self)
        layout.addWidget(self.edit)
        layout.addWidget(self.list)
        self.edit.textChanged.connect(self._filter)
        self.edit.returnPressed.connect(self._pick)
        self.list.itemActivated.connect(lambda _item: self._pick())
        self._filter("")
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == preselect:
                self.list.setCurrentRow(i)
        self.resize(300, 320)

    def _filter(self, text: str) -> None:
        self.list.clear()
        needle = text.strip().lower()
        for category in self.categories:
            if needle in category.name.lower():
                row = QListWidgetItem(swatch(category.color), category.name)
                row.setData(Qt.ItemDataRole.UserRole, category.id)
                self.list.addItem(row)
        name = text.strip()
        if name and not any(c.name.lower() == needle for c in self.categories):
            row = QListWidgetItem(f"+ new category “{name}”")
            row.setData(Qt.ItemDataRole.UserRole, -1)
            self.list.addItem(row)
        if self.list.count():
            self.list.setCurrentRow(0)

    def keyPressEvent(self, event) -> None:
        # Up/Down move in the list while typing continues in the line edit.
        if event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            step = -1 if event.key() == Qt.Key.Key_Up else 1
            self.list.setCurrentRow(max(0, min(self.list.count() - 1, self.list.currentRow() + step)))
            return
        super().keyPressEvent(event)

    def _pick(self) -> None:
        text = self.edit.text().strip()
        exact = next((c for c in self.categories if c.name.lower() == text.lower()), None)
        row = self.list.currentItem()
        if exact is not None:
            self.chosen_id = exact.id
        elif row is not None and int(row.data(Qt.ItemDataRole.UserRole)) >= 0:
            self.chosen_id = int(row.data(Qt.ItemDataRole.UserRole))
        elif text:
            self.new_name = text
        else:
            return
        self.accept()
