"""Boxes and polygons drawn as annotations in the window (issue 18): the Rectangle tool, the
Polygon tool keeping its vertices, handles dragged with Select, each step undoable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from samdesk.document import masks
from samdesk.document.shapes import kind
from samdesk.io.formats import run_export
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.ui_driver import click, drag, open_paths

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path: Path, media_dir: Path) -> MainWindow:
    win = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    win.show()
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    assert open_paths(qtbot, win, [media_dir / "dog.jpg"]) == []
    win.controller.current_category = win.categories_panel.add("dog")
    return win


def key(qtbot, window: MainWindow, name, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(window.canvas, name, modifier)


def only_object(window: MainWindow):
    objects = window.document.project.objects
    assert len(objects) == 1
    return objects[0]


def test_rectangle_tool_draws_a_box_annotation_and_select_drags_its_corner(
    qtbot, window: MainWindow, media_dir: Path, tmp_path: Path
) -> None:
    key(qtbot, window, "b", Qt.KeyboardModifier.ShiftModifier)
    assert window.canvas.tool.name == "rectangle"
    drag(window, (100, 80), (300, 240))
    assert window.controller.pending is not None  # shown before it is accepted, like any object
    key(qtbot, window, Qt.Key.Key_Return)
    obj = only_object(window)
    frame = obj.frames[0]
    assert kind(frame) == "box"
    x0, y0, x1, y1 = frame.prompts.box
    assert (x0, y0, x1, y1) == pytest.approx((100, 80, 300, 240), abs=1.0)
    # Select: click inside the box (it has no pixels) selects it and shows its four handles.
    key(qtbot, window, "v")
    click(window, 200, 160)
    assert window.controller.selected_object == obj.id
    assert len(window.layer.object_items[obj.id].handles) == 4
    drag(window, (x1, y1), (400, 300))  # the bottom-right corner
    moved = obj.frames[0].prompts.box
    assert moved == pytest.approx((x0, y0, 400, 300), abs=1.0)
    assert window.document.history.undo_text == "move box corner"
    key(qtbot, window, "z", Qt.KeyboardModifier.ControlModifier)
    assert obj.frames[0].prompts.box == (x0, y0, x1, y1)
    # Exported as a box: COCO bbox without segmentation.
    out = tmp_path / "coco.json"
    run_export("coco", window.document.project, out, images_root=media_dir)
    annotation = json.loads(out.read_text())["annotations"][0]
    assert annotation["segmentation"] == [] and annotation["bbox"] == pytest.approx(
        [x0, y0, x1 - x0, y1 - y0], abs=0.01
    )


def test_polygon_tool_keeps_its_vertices_and_a_vertex_can_be_dragged(qtbot, window: MainWindow) -> None:
    key(qtbot, window, "g")
    vertices = [(100, 100), (300, 120), (180, 400)]
    for x, y in vertices:
        click(window, x, y)
    key(qtbot, window, Qt.Key.Key_Return)  # closes the polygon: the pending object
    key(qtbot, window, Qt.Key.Key_Return)  # accepts it
    obj = only_object(window)
    frame = obj.frames[0]
    assert kind(frame) == "polygon"
    assert np.allclose(frame.polygon, vertices, atol=1.0)
    assert masks.area(frame.rle) > 20_000
    key(qtbot, window, "v")
    click(window, 190, 200)
    assert window.controller.selected_object == obj.id
    assert len(window.layer.object_items[obj.id].handles) == 3
    drag(window, frame.polygon[2], (180, 500))
    after = obj.frames[0]
    assert kind(after) == "polygon" and after.polygon[2] == pytest.approx((180, 500), abs=1.0)
    assert masks.area(after.rle) > masks.area(frame.rle)
    key(qtbot, window, "z", Qt.KeyboardModifier.ControlModifier)
    assert obj.frames[0].polygon == frame.polygon


def test_a_drawn_polygon_edited_before_accepting_becomes_a_mask(qtbot, window: MainWindow) -> None:
    key(qtbot, window, "g")
    for x, y in [(100, 100), (300, 120), (180, 400)]:
        click(window, x, y)
    key(qtbot, window, Qt.Key.Key_Return)
    for x, y in [(300, 300), (400, 300), (350, 450)]:  # a second polygon adds to the pending one
        click(window, x, y)
    key(qtbot, window, Qt.Key.Key_Return)
    key(qtbot, window, Qt.Key.Key_Return)
    frame = only_object(window).frames[0]
    assert kind(frame) == "mask" and frame.polygon is None


def test_ctrl_click_adds_a_vertex_on_an_edge_and_removes_one(qtbot, window: MainWindow) -> None:
    key(qtbot, window, "g")
    for x, y in [(100, 100), (300, 100), (300, 300), (100, 300)]:
        click(window, x, y)
    key(qtbot, window, Qt.Key.Key_Return)
    key(qtbot, window, Qt.Key.Key_Return)
    obj = only_object(window)
    key(qtbot, window, "v")
    click(window, 200, 200)
    ctrl = Qt.KeyboardModifier.ControlModifier
    click(window, 200, 101, modifiers=ctrl)  # on the top edge: a vertex there
    assert len(obj.frames[0].polygon) == 5
    assert obj.frames[0].polygon[1] == pytest.approx((200, 100), abs=1.5)
    assert window.document.history.undo_text == "add vertex"
    assert len(window.layer.object_items[obj.id].handles) == 5
    click(window, 300, 300, modifiers=ctrl)  # on a corner: removed
    assert len(obj.frames[0].polygon) == 4 and window.document.history.undo_text == "remove vertex"
    click(window, 100, 300, modifiers=ctrl)
    click(window, 100, 100, modifiers=ctrl)  # three left: it stays a polygon
    assert len(obj.frames[0].polygon) == 3
    key(qtbot, window, "z", Qt.KeyboardModifier.ControlModifier)
    assert len(obj.frames[0].polygon) == 4


def test_dragging_a_handle_previews_the_shape(qtbot, window: MainWindow) -> None:
    from PySide6.QtCore import QEvent

    from tests.ui_driver import mouse, to_view

    key(qtbot, window, "b", Qt.KeyboardModifier.ShiftModifier)
    drag(window, (100, 80), (300, 240))
    key(qtbot, window, Qt.Key.Key_Return)
    key(qtbot, window, "v")
    click(window, 200, 160)
    tool = window.canvas.tool
    left = Qt.MouseButton.LeftButton
    mouse(window, QEvent.Type.MouseButtonPress, to_view(window, 300, 240), left, left)
    mouse(window, QEvent.Type.MouseMove, to_view(window, 350, 260), Qt.MouseButton.NoButton, left)
    preview = tool.outline.bounds
    assert (preview.right(), preview.bottom()) == pytest.approx((350, 260), abs=1.0)
    assert only_object(window).frames[0].prompts.box[2] == pytest.approx(300, abs=1.0)  # not yet
    mouse(window, QEvent.Type.MouseButtonRelease, to_view(window, 350, 260), left, Qt.MouseButton.NoButton)
    assert tool.outline.bounds is None
    assert only_object(window).frames[0].prompts.box[2:] == pytest.approx((350, 260), abs=1.0)


def test_locked_or_hidden_shapes_keep_their_handles_still(qtbot, window: MainWindow) -> None:
    from samdesk.document import EditObject

    key(qtbot, window, "b", Qt.KeyboardModifier.ShiftModifier)
    drag(window, (100, 80), (300, 240))
    key(qtbot, window, Qt.Key.Key_Return)
    obj = only_object(window)
    box = obj.frames[0].prompts.box
    key(qtbot, window, "v")
    click(window, 200, 160)
    for change in ({"locked": True}, {"locked": False, "visible": False}):
        window.document.execute(EditObject(obj.id, **change))
        window.controller.select_object(obj.id)
        drag(window, (box[2], box[3]), (400, 300))
        assert obj.frames[0].prompts.box == box, change
