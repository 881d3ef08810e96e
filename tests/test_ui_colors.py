"""Instance colours (issue 18, defect 9): objects of one category get distinct shades of its
colour, a View toggle colours them by category instead, and a category can be hidden whole."""

from __future__ import annotations

import colorsys
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from samdesk.document import AddObject, EditObject, masks
from samdesk.document.model import AnnotationObject, FrameAnnotation
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.ui_driver import open_paths

pytestmark = pytest.mark.gui

BAGS = [(368, 195, 446, 341), (440, 178, 510, 341), (507, 175, 585, 340), (580, 172, 642, 340)]


@pytest.fixture
def window(qtbot, tmp_path: Path, media_dir: Path) -> MainWindow:
    win = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    win.show()
    assert open_paths(qtbot, win, [media_dir / "groceries.jpg"]) == []
    return win


def add_boxes(window: MainWindow, category_id: int | None, boxes) -> list[int]:
    media = window.controller.media
    ids = []
    for x0, y0, x1, y1 in boxes:
        mask = np.zeros((media.height, media.width), bool)
        mask[y0:y1, x0:x1] = True
        add = AddObject(AnnotationObject(0, media.id, category_id, {0: FrameAnnotation(masks.encode(mask))}))
        window.document.execute(add)
        ids.append(add.obj.id)
    return ids


def hue_degrees(rgb) -> float:
    return colorsys.rgb_to_hls(*(c / 255 for c in rgb))[0] * 360


def test_instances_of_one_category_get_distinct_shades_of_its_colour(window: MainWindow) -> None:
    """Two cups used to share nearly the same red."""
    bag = window.categories_panel.add("bag")
    base = window.document.project.category(bag).color
    ids = add_boxes(window, bag, BAGS)
    colors = [window.layer.object_color(i) for i in ids]
    assert colors[0] == base
    for a, b in itertools.combinations(colors, 2):
        assert math.dist(a, b) > 40, colors
    for color in colors:  # still the category's hue, within 35°
        turn = abs(hue_degrees(color) - hue_degrees(base)) % 360
        assert min(turn, 360 - turn) < 35
    # What the canvas paints is that colour, also after one of them goes or changes category.
    for object_id, color in zip(ids, colors, strict=True):
        assert window.layer.object_items[object_id].color == color
    window.controller.delete_objects([ids[0]])
    other = window.categories_panel.add("paper")
    window.document.execute(EditObject(ids[2], category_id=other))
    for object_id in ids[1:]:
        assert window.layer.object_items[object_id].color == window.layer.object_color(object_id)
    assert window.layer.object_color(ids[1]) == base  # the first bag left now


def test_colour_by_category_toggle(window: MainWindow) -> None:
    bag = window.categories_panel.add("bag")
    base = window.document.project.category(bag).color
    ids = add_boxes(window, bag, BAGS[:2])
    action = window.menu_actions["color_by_category"]
    action.trigger()
    assert action.isChecked() and window.settings.color_by_category
    assert [window.layer.object_color(i) for i in ids] == [base, base]
    assert all(window.layer.object_items[i].color == base for i in ids)
    action.trigger()
    assert window.layer.object_color(ids[1]) != base


def test_hide_and_show_a_whole_category(window: MainWindow) -> None:
    bag = window.categories_panel.add("bag")
    light = window.categories_panel.add("tail light")
    bags = add_boxes(window, bag, BAGS)
    lights = add_boxes(window, light, [(50, 0, 160, 228)])
    row = window.categories_panel.list.item(0)
    assert row.data(Qt.ItemDataRole.UserRole) == bag
    row.setCheckState(Qt.CheckState.Unchecked)
    assert not any(window.layer.object_items[i].isVisible() for i in bags)
    assert all(window.layer.object_items[i].isVisible() for i in lights)
    assert window.document.project.category(bag).name == "bag"  # not a rename
    add_boxes(window, bag, [(10, 10, 40, 40)])  # a new object of a hidden category stays hidden
    assert not window.layer.object_items[window.document.project.objects[-1].id].isVisible()
    row = window.categories_panel.list.item(0)
    row.setCheckState(Qt.CheckState.Checked)
    assert all(window.layer.object_items[i].isVisible() for i in bags)
