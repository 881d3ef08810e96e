"""Objects of the current image: visibility, lock, category, attributes, delete, merge and
drawing order.

Rows are listed top-most first (the reverse of the document's drawing order). Every change goes
through a document command, so it is undoable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QIcon
from PySide6.QtWidgets import (
    QHBoxLayout,
    QMenu,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from samdesk.document import Change, Document, DocumentEvent, EditObject, MoveObject
from samdesk.document import masks as rle
from samdesk.document.attributes import OCCLUDED, TRUNCATED, describe
from samdesk.document.shapes import kind
from samdesk.session import AnnotationController
from samdesk.session.frame_numbers import frame_number
from samdesk.ui.panels.attributes import ObjectAttributesEditor
from samdesk.ui.panels.categories import swatch

COL_NAME, COL_CATEGORY, COL_LOCK, COL_FRAMES, COL_ATTRIBUTES = 0, 1, 2, 3, 4
REBUILD_ON = frozenset({
    Change.RESET,
    Change.OBJECT_ADDED,
    Change.OBJECT_REMOVED,
    Change.OBJECT_CHANGED,
    Change.MASK_CHANGED,
    Change.CATEGORY_CHANGED,
    Change.CATEGORY_REMOVED,
})


def frame_ranges(frames: Iterable[int]) -> str:
    """Compact list of frame numbers: [2, 5, 6, 7, 9] -> "2, 5–7, 9"."""
    runs: list[list[int]] = []  # [first, last] of each run of consecutive frames
    for f in sorted(frames):
        if runs and f == runs[-1][1] + 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)


class ObjectsPanel(QWidget):
    object_activated = Signal(int)  # double-click: the window brings the object into view

    def __init__(
        self,
        document: Document,
        controller: AnnotationController,
        parent=None,
        object_color: Callable[[int], tuple[int, int, int]] | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.controller = controller
        # The colour the canvas draws an object in: its row's swatch, so list and canvas match.
        self.object_color = object_color
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Object", "Category", "Lock", "Frames", "Attributes"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._menu)
        self.tree.itemChanged.connect(self._item_changed)
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.tree.itemDoubleClicked.connect(
            lambda row, _col: self.object_activated.emit(int(row.data(COL_NAME, Qt.ItemDataRole.UserRole)))
        )
        self.tree.setColumnWidth(COL_NAME, 120)
        self.tree.setColumnWidth(COL_CATEGORY, 100)
        self.tree.setColumnWidth(COL_LOCK, 40)
        self.tree.setColumnWidth(COL_FRAMES, 80)
        buttons = QHBoxLayout()
        self._buttons: dict[str, QPushButton] = {}
        for key, text, slot in (
            ("up", "▲", lambda: self.move_selected(+1)),
            ("down", "▼", lambda: self.move_selected(-1)),
            ("merge", "Merge", self.merge_selected),
            ("delete", "Delete", self.delete_selected),
        ):
            button = QPushButton(text)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(slot)
            buttons.addWidget(button)
            self._buttons[key] = button
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        layout.addLayout(buttons)
        self.attributes = ObjectAttributesEditor(document, self.attribute_targets)
        layout.addWidget(self.attributes)
        self._syncing = False
        document.events.subscribe_batch(self._on_events)
        controller.selection_changed.append(self._sync_selection)

    def rebuild(self) -> None:
        self._syncing = True
        kept = set(self.selected_ids())  # a multi-selection outlives a change to its objects
        self.tree.clear()
        project = self.document.project
        media_id = self.controller.media_id
        # On a video every object of it is listed, with the frames it has masks on; objects
        # without a mask on the frame on screen are shown in italics (select one and press R
        # to give it a mask here).
        video = self.controller.is_video
        self.tree.setColumnHidden(COL_FRAMES, not video)
        rows: list[QTreeWidgetItem] = []
        icons: dict[object, QIcon] = {}  # one swatch per category or colour, not one per row
        if media_id is not None:
            for obj in reversed(project.objects_of(media_id)):
                row = QTreeWidgetItem()
                row.setData(COL_NAME, Qt.ItemDataRole.UserRole, obj.id)
                row.setFlags(row.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                category = None
                if obj.category_id is not None:
                    try:
                        category = project.category(obj.category_id)
                    except KeyError:
                        category = None
                annotation = obj.frames.get(self.controller.frame)
                area = rle.area(annotation.rle) if annotation is not None else 0
                row.setText(COL_NAME, obj.name or f"#{obj.id}")
                if self.object_color is not None:
                    color = self.object_color(obj.id)
                    if color not in icons:
                        icons[color] = swatch(color)
                    row.setIcon(COL_NAME, icons[color])
                shape = "" if annotation is None or (k := kind(annotation)) == "mask" else f" · {k}"
                row.setToolTip(COL_NAME, f"object {obj.id} · {area} px{shape}")
                row.setText(COL_CATEGORY, category.name if category else "—")
                if video:
                    row.setText(COL_FRAMES, frame_ranges(frame_number(f) for f in obj.frames))
                    row.setToolTip(COL_FRAMES, f"{len(obj.frames)} annotated frames")
                    if annotation is None:
                        font = QFont(row.font(COL_NAME))
                        font.setItalic(True)
                        row.setFont(COL_NAME, font)
                if category is not None:
                    if category.id not in icons:
                        icons[category.id] = swatch(category.color)
                    row.setIcon(COL_CATEGORY, icons[category.id])
                if obj.attributes:
                    row.setText(COL_ATTRIBUTES, describe(obj.attributes))
                    row.setToolTip(COL_ATTRIBUTES, describe(obj.attributes))
                row.setCheckState(COL_NAME, Qt.CheckState.Checked if obj.visible else Qt.CheckState.Unchecked)
                row.setCheckState(COL_LOCK, Qt.CheckState.Checked if obj.locked else Qt.CheckState.Unchecked)
                rows.append(row)
        self.tree.addTopLevelItems(rows)  # one insertion for the whole list
        if self.controller.selected_object in kept:
            for row in rows:
                if row.data(COL_NAME, Qt.ItemDataRole.UserRole) in kept:
                    row.setSelected(True)
        self._syncing = False
        self._sync_selection()

    def _on_events(self, events: Sequence[DocumentEvent]) -> None:
        """Once per change: a command adding a thousand objects rebuilds the list once."""
        if any(event.change in REBUILD_ON for event in events):
            self.rebuild()

    def selected_ids(self) -> list[int]:
        return [int(r.data(COL_NAME, Qt.ItemDataRole.UserRole)) for r in self.tree.selectedItems()]

    def attribute_targets(self) -> list[int]:
        """The objects the attribute editor and its keys change: the selected rows, else the
        object selected on the canvas."""
        selected = self.controller.selected_object
        return self.selected_ids() or ([selected] if selected is not None else [])

    def _sync_selection(self) -> None:
        """Mirror the controller's selected object, keeping a multi-selection that contains it
        (the user picking several rows to merge or delete)."""
        self._syncing = True
        target = self.controller.selected_object
        if target not in self.selected_ids():
            self.tree.clearSelection()
            for i in range(self.tree.topLevelItemCount()):
                row = self.tree.topLevelItem(i)
                if row.data(COL_NAME, Qt.ItemDataRole.UserRole) == target:
                    row.setSelected(True)
                    self.tree.scrollToItem(row)
        self._syncing = False
        self.attributes.refresh()

    def _selection_changed(self) -> None:
        if self._syncing:
            return
        ids = self.selected_ids()
        self.controller.select_object(ids[0] if ids else None)
        self.attributes.refresh()

    def _item_changed(self, row: QTreeWidgetItem, column: int) -> None:
        if self._syncing:
            return
        object_id = int(row.data(COL_NAME, Qt.ItemDataRole.UserRole))
        obj = self.document.project.object(object_id)
        if column == COL_NAME:
            visible = row.checkState(COL_NAME) == Qt.CheckState.Checked
            if visible != obj.visible:
                self.document.execute(EditObject(object_id, visible=visible, text="show/hide object"))
        elif column == COL_LOCK:
            locked = row.checkState(COL_LOCK) == Qt.CheckState.Checked
            if locked != obj.locked:
                self.document.execute(EditObject(object_id, locked=locked, text="lock object"))

    def delete_selected(self) -> None:
        self.controller.delete_objects(self.selected_ids())

    def merge_selected(self) -> None:
        self.controller.merge_objects(self.selected_ids())

    def move_selected(self, step: int) -> None:
        """step +1 raises the object (drawn later), -1 lowers it."""
        ids = self.selected_ids()
        if len(ids) != 1:
            return
        objects = self.document.project.objects
        index = next(i for i, o in enumerate(objects) if o.id == ids[0])
        media_id = objects[index].media_id
        # Swap with the next/previous object of the same image (others keep their place).
        same = [i for i, o in enumerate(objects) if o.media_id == media_id]
        pos = same.index(index) + step
        if 0 <= pos < len(same):
            self.document.execute(MoveObject(ids[0], same[pos]))
            self.controller.select_object(ids[0])

    def set_category(self, object_ids: list[int], category_id: int | None) -> None:
        from samdesk.document import Batch

        commands = [EditObject(i, category_id=category_id) for i in object_ids]
        if commands:
            self.document.execute(Batch(commands, text="set category"))

    def _menu(self, pos) -> None:
        ids = self.selected_ids()
        if ids:
            self.context_menu(ids).exec(self.tree.viewport().mapToGlobal(pos))

    def context_menu(self, ids: list[int]) -> QMenu:
        """The right-click menu of the rows ``ids``: category, flags, note, merge, delete."""
        menu = QMenu(self)
        sub = menu.addMenu("Category")
        for category in self.document.project.categories:
            action = sub.addAction(swatch(category.color), category.name)
            action.triggered.connect(lambda _=False, c=category.id: self.set_category(ids, c))
        sub.addAction("None").triggered.connect(lambda: self.set_category(ids, None))
        objects = [self.document.project.object(i) for i in ids]
        for name, text in ((OCCLUDED, "Occluded (O)"), (TRUNCATED, "Truncated (U)")):
            flag = menu.addAction(text, lambda n=name: self.attributes.toggle(n))
            flag.setCheckable(True)
            flag.setChecked(all(o.attributes.get(name) is True for o in objects))
        menu.addAction("Note… (Shift+N)", self.attributes.edit_note)
        menu.addSeparator()
        menu.addAction("Merge", self.merge_selected).setEnabled(len(ids) > 1)
        menu.addAction("Delete", self.delete_selected)
        return menu
