"""Attributes of the selected objects (occluded, truncated, a note) and the tags of the image on
screen: small editors under the objects and images lists.

Every edit is one undoable command (``samdesk/document/attributes.py``); the editors show the
document again after each change (also after undo), so they never hold state of their own.
With several objects selected a flag some of them have shows partly checked, and a click sets
it on all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QStringListModel, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QCheckBox, QCompleter, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from samdesk.document import Change, Document, DocumentEvent, SetAttributes, SetTags
from samdesk.document.attributes import FLAGS, NOTE, OCCLUDED, TRUNCATED, all_tags, describe, parse_tags

FLAG_TEXT = {OCCLUDED: "Occluded", TRUNCATED: "Truncated"}
FLAG_TIPS = {
    OCCLUDED: "Partly hidden by another object (O)",
    TRUNCATED: "Cut off by the image border (U)",
}


class FieldEdit(QLineEdit):
    """A line edit that keeps Enter and Esc (the window's accept and discard shortcuts) while
    it has the focus: Enter stores what was typed, Esc drops it; both give the keys back to
    the window."""

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in KEYS_KEPT:  # type: ignore[attr-defined]
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.undo_typing()
            self.clearFocus()
            return
        super().keyPressEvent(event)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.clearFocus()

    def undo_typing(self) -> None:
        """Forget what was typed since the field took the focus (set by the editor's refresh)."""
        self.setText(self.property("shown") or "")


KEYS_KEPT = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape)


class ObjectAttributesEditor(QWidget):
    """Flags and a note for the objects ``selection()`` returns (ids, first one shown)."""

    def __init__(self, document: Document, selection: Callable[[], list[int]], parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.selection = selection
        self.flags: dict[str, QCheckBox] = {}
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        for name in FLAGS:
            box = QCheckBox(FLAG_TEXT[name])
            box.setToolTip(FLAG_TIPS[name])
            box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            box.clicked.connect(lambda _checked=False, n=name: self.toggle(n))
            row.addWidget(box)
            self.flags[name] = box
        row.addStretch(1)
        self.note = FieldEdit()
        self.note.setPlaceholderText("Note on the selected objects…")
        self.note.setClearButtonEnabled(True)
        self.note.editingFinished.connect(self._note_edited)
        self.others = QLabel("")  # attributes an import brought, read-only here
        self.others.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.addLayout(row)
        layout.addWidget(self.note)
        layout.addWidget(self.others)
        document.events.subscribe_batch(self._on_events)
        self.refresh()

    def _objects(self):
        project = self.document.project
        return [o for o in (project.objects.get(i) for i in self.selection()) if o is not None]

    def refresh(self) -> None:
        objects = self._objects()
        for name, box in self.flags.items():
            count = sum(1 for o in objects if o.attributes.get(name) is True)
            box.setTristate(0 < count < len(objects))
            state = (
                Qt.CheckState.Unchecked
                if count == 0
                else Qt.CheckState.Checked
                if count == len(objects)
                else Qt.CheckState.PartiallyChecked
            )
            box.blockSignals(True)
            box.setCheckState(state)
            box.blockSignals(False)
            box.setEnabled(bool(objects))
        notes = {str(o.attributes.get(NOTE, "")) for o in objects}
        if not self.note.hasFocus():
            self.note.setText(notes.pop() if len(notes) == 1 else "")
            self.note.setProperty("shown", self.note.text())
            self.note.setPlaceholderText(
                "Note on the selected objects…" if len(notes) <= 1 else "(several notes)"
            )
        self.note.setEnabled(bool(objects))
        shown = objects[0].attributes if objects else {}
        others = {k: v for k, v in shown.items() if k not in (*FLAGS, NOTE)}
        self.others.setText(describe(others))
        self.others.setVisible(bool(others))

    def toggle(self, name: str) -> None:
        """Set ``name`` on every selected object, or clear it when all have it already."""
        objects = self._objects()
        if not objects:
            return
        on = not all(o.attributes.get(name) is True for o in objects)
        text = f"{'mark' if on else 'unmark'} {name}"
        self.document.execute(SetAttributes([o.id for o in objects], {name: on}, text=text))

    def edit_note(self) -> None:
        """Shift+N: type a note for the selected objects."""
        if self.note.isEnabled():
            self.note.setFocus()
            self.note.selectAll()

    def _note_edited(self) -> None:
        objects = self._objects()
        text = self.note.text().strip()
        if objects and any(str(o.attributes.get(NOTE, "")) != text for o in objects):
            self.document.execute(SetAttributes([o.id for o in objects], {NOTE: text}, text="edit note"))

    def _on_events(self, events: Sequence[DocumentEvent]) -> None:
        if any(e.change in (Change.RESET, Change.OBJECT_CHANGED, Change.OBJECT_REMOVED) for e in events):
            self.refresh()


class ImageTagsEditor(QWidget):
    """The tags of the media ``current()`` names, typed comma-separated, completing tags the
    project already uses."""

    def __init__(self, document: Document, current: Callable[[], int | None], parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.current = current
        self.field = FieldEdit()
        self.field.setPlaceholderText("Image tags, comma-separated (T)")
        self.field.setToolTip("Labels of the whole image (night, blurry…), exported to CVAT XML")
        self.field.setClearButtonEnabled(True)
        self._known = QStringListModel(self)
        completer = QCompleter(self._known, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.field.setCompleter(completer)
        self.field.editingFinished.connect(self._edited)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.addWidget(QLabel("Tags"))
        layout.addWidget(self.field, 1)
        document.events.subscribe_batch(self._on_events)
        self.refresh()

    def refresh(self) -> None:
        media_id = self.current()
        item = None if media_id is None else self.document.project.media.get(media_id)
        self._known.setStringList(all_tags(self.document.project))
        self.field.setEnabled(item is not None)
        if not self.field.hasFocus():
            self.field.setText(", ".join(item.tags) if item is not None else "")
            self.field.setProperty("shown", self.field.text())

    def edit(self) -> None:
        """T: type the tags of the image on screen."""
        if self.field.isEnabled():
            self.field.setFocus()
            self.field.end(False)

    def _edited(self) -> None:
        media_id = self.current()
        item = None if media_id is None else self.document.project.media.get(media_id)
        tags = parse_tags(self.field.text())
        if item is not None and tags != item.tags:
            self.document.execute(SetTags(item.id, tags))
        self.refresh()

    def _on_events(self, events: Sequence[DocumentEvent]) -> None:
        if any(e.change in (Change.RESET, Change.MEDIA_CHANGED, Change.MEDIA_REMOVED) for e in events):
            self.refresh()
