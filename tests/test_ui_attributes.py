"""Object attributes and image tags in the window (issue 18): keys and clicks set them, each
change is one undo step, and they reach the export."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from samdesk.document import AddObject, SetAttributes, SetTags, masks
from samdesk.document.attributes import NOTE, OCCLUDED, TRUNCATED
from samdesk.document.model import AnnotationObject, FrameAnnotation
from samdesk.io.formats import run_export
from samdesk.ui.main_window import MainWindow
from samdesk.ui.panels.objects import COL_ATTRIBUTES
from samdesk.ui.settings import Settings
from tests.ui_driver import click, open_paths

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path: Path, media_dir: Path) -> MainWindow:
    win = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    win.show()
    win.activateWindow()  # the window's shortcuts and focus need it active
    qtbot.waitUntil(win.isActiveWindow)
    assert open_paths(qtbot, win, [media_dir / "groceries.jpg", media_dir / "dog.jpg"]) == []
    win.navigation.show_media(win.document.project.media[0].id)
    return win


def add_box(window: MainWindow, box: tuple[int, int, int, int], category_id: int | None) -> int:
    media = window.controller.media
    mask = np.zeros((media.height, media.width), bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    add = AddObject(AnnotationObject(0, media.id, category_id, {0: FrameAnnotation(masks.encode(mask))}))
    window.document.execute(add)
    return add.obj.id


def key(qtbot, window: MainWindow, text: str, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(window.canvas, text, modifier)


def test_keys_mark_the_selected_object_occluded_and_truncated_one_undo_step_each(
    qtbot, window: MainWindow
) -> None:
    cup = window.categories_panel.add("cup")
    first = add_box(window, (100, 100, 200, 200), cup)
    add_box(window, (300, 300, 400, 400), cup)
    window.set_tool("select")
    click(window, 150, 150)
    assert window.controller.selected_object == first
    key(qtbot, window, "o")
    assert window.document.project.object(first).attributes == {OCCLUDED: True}
    assert window.objects_panel.attributes.flags[OCCLUDED].checkState() == Qt.CheckState.Checked
    key(qtbot, window, "u")
    assert window.document.project.object(first).attributes == {OCCLUDED: True, TRUNCATED: True}
    row = window.objects_panel.tree.findItems("#1", Qt.MatchFlag.MatchExactly)[0]
    assert row.text(COL_ATTRIBUTES) == "occluded, truncated"
    key(qtbot, window, "o")  # again: off
    assert window.document.project.object(first).attributes == {TRUNCATED: True}
    key(qtbot, window, "z", Qt.KeyboardModifier.ControlModifier)
    assert window.document.project.object(first).attributes == {OCCLUDED: True, TRUNCATED: True}
    key(qtbot, window, "z", Qt.KeyboardModifier.ControlModifier)
    key(qtbot, window, "z", Qt.KeyboardModifier.ControlModifier)
    assert window.document.project.object(first).attributes == {}
    assert window.objects_panel.attributes.flags[OCCLUDED].checkState() == Qt.CheckState.Unchecked


def test_flags_and_note_on_several_selected_rows(qtbot, window: MainWindow) -> None:
    cup = window.categories_panel.add("cup")
    ids = [add_box(window, (100 + 150 * i, 100, 200 + 150 * i, 200), cup) for i in range(3)]
    editor = window.objects_panel.attributes
    tree = window.objects_panel.tree
    tree.clearSelection()
    for i in range(2):  # rows are top-most first: the two newest objects
        tree.topLevelItem(i).setSelected(True)
    chosen = set(window.objects_panel.selected_ids())
    assert chosen == set(ids[1:])
    qtbot.mouseClick(editor.flags[TRUNCATED], Qt.MouseButton.LeftButton)
    assert all(window.document.project.object(i).attributes == {TRUNCATED: True} for i in chosen)
    assert window.document.project.object(ids[0]).attributes == {}
    # Shift+N types a note for both; Enter stores it and gives the keys back to the window.
    key(qtbot, window, "n", Qt.KeyboardModifier.ShiftModifier)
    assert editor.note.hasFocus()
    qtbot.keyClicks(editor.note, "half hidden")
    qtbot.keyClick(editor.note, Qt.Key.Key_Return)
    assert all(window.document.project.object(i).attributes[NOTE] == "half hidden" for i in chosen)
    assert window.document.history.undo_text == "edit note"
    assert not editor.note.hasFocus()
    # One of the two: the flag shows partly set, and a click sets it on both.
    window.document.undo()
    window.document.undo()
    window.document.execute(SetAttributes([ids[1]], {OCCLUDED: True}))
    assert editor.flags[OCCLUDED].checkState() == Qt.CheckState.PartiallyChecked
    qtbot.mouseClick(editor.flags[OCCLUDED], Qt.MouseButton.LeftButton)
    assert all(window.document.project.object(i).attributes == {OCCLUDED: True} for i in chosen)


def test_image_tags_typed_with_completion_undoable_and_exported(
    qtbot, window: MainWindow, media_dir: Path, tmp_path: Path
) -> None:
    tags = window.media_panel.tags
    key(qtbot, window, "t")
    assert tags.field.hasFocus()
    qtbot.keyClicks(tags.field, "night, blurry")
    qtbot.keyClick(tags.field, Qt.Key.Key_Return)
    groceries, dog = window.document.project.media
    assert groceries.tags == ["night", "blurry"]
    assert window.document.history.undo_text == "set image tags"
    # The next image: the field shows its (no) tags and completes the project's.
    key(qtbot, window, "d")
    assert window.controller.media_id == dog.id and tags.field.text() == ""
    assert tags.field.completer().model().stringList() == ["night", "blurry"]  # what it completes
    key(qtbot, window, "t")
    qtbot.keyClicks(tags.field, "night")
    qtbot.keyClick(tags.field, Qt.Key.Key_Return)
    assert dog.tags == ["night"]
    key(qtbot, window, "z", Qt.KeyboardModifier.ControlModifier)
    assert dog.tags == [] and tags.field.text() == ""
    # Exported: CVAT XML image tags.
    window.document.execute(SetTags(dog.id, ["day"]))
    cup = window.categories_panel.add("cup")
    add_box(window, (10, 10, 50, 50), cup)
    out = tmp_path / "annotations.xml"
    run_export("cvat", window.document.project, out, images_root=media_dir)
    root = ET.parse(out).getroot()
    images = {i.get("name"): [t.get("label") for t in i.iter("tag")] for i in root.iter("image")}
    assert images == {"groceries.jpg": ["night", "blurry"], "dog.jpg": ["day"]}


def test_the_objects_context_menu_sets_flags(qtbot, window: MainWindow) -> None:
    cup = window.categories_panel.add("cup")
    first = add_box(window, (100, 100, 200, 200), cup)
    window.controller.select_object(first)
    menu = window.objects_panel.context_menu([first])
    actions = {a.text(): a for a in menu.actions()}
    assert not actions["Truncated (U)"].isChecked()
    actions["Truncated (U)"].trigger()
    assert window.document.project.object(first).attributes == {TRUNCATED: True}
    menu = window.objects_panel.context_menu([first])
    assert {a.text(): a for a in menu.actions()}["Truncated (U)"].isChecked()


def test_esc_in_the_tags_field_drops_what_was_typed(qtbot, window: MainWindow) -> None:
    tags = window.media_panel.tags
    groceries = window.document.project.media[0]
    key(qtbot, window, "t")
    qtbot.keyClicks(tags.field, "night")
    qtbot.keyClick(tags.field, Qt.Key.Key_Escape)
    assert groceries.tags == [] and tags.field.text() == "" and not tags.field.hasFocus()
    assert window.document.history.undo_text != "set image tags"
    key(qtbot, window, "t")  # the window's keys work again, and T comes back to the field
    assert tags.field.hasFocus()
