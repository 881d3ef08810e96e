"""Many objects in one change through the real window: every view updates once, in order.

The speed of this is measured by ``bench/add_objects.py``; these tests check that the views the
batch reaches in one call (canvas layer, objects panel, media list) end up exactly right.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from samdesk.document import AddObjects, MoveObject, NewObject, RemoveObject
from samdesk.ui.canvas.overlays import MaskItem, mask_to_image
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.ui_driver import open_paths

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, media_dir: Path, tmp_path: Path):
    win = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    assert open_paths(qtbot, win, [media_dir / "dog.jpg", media_dir / "groceries.jpg"]) == []
    qtbot.waitUntil(lambda: win.current_image is not None, timeout=10000)
    return win


def _shown_masks(window: MainWindow) -> list[tuple[float, tuple[int, int, int, int]]]:
    """(z, pixmap rect) of the object overlays on the canvas, bottom first."""
    items = [i for i in window.canvas.scene().items() if isinstance(i, MaskItem) and i.zValue() < 500]
    shown = []
    for item in items:
        fill = item.childItems()[0]  # the pixmap, placed at the mask's bounding box
        shown.append((item.zValue(), tuple(int(v) for v in fill.boundingRect().getRect())))
    return sorted(shown)


def _squares(media, count: int) -> list[NewObject]:
    items = []
    for index in range(count):
        mask = np.zeros((media.height, media.width), bool)
        x, y = 10 + 12 * (index % 40), 10 + 12 * (index // 40)
        mask[y : y + 5 + index % 3, x : x + 4] = True
        items.append(NewObject.from_mask(media.id, mask, score=0.9))
    return items


def test_adding_and_undoing_many_objects_updates_canvas_panel_and_media_list(window: MainWindow) -> None:
    media = window.controller.media
    other = window.document.project.media[1]
    items = _squares(media, 120) + _squares(other, 5)
    window.document.execute(AddObjects(items))
    shown = _shown_masks(window)
    assert [z for z, _ in shown] == list(range(120))  # drawing order
    # Each overlay holds its mask's bounding box only: 4 wide, 5 to 7 high.
    assert {rect[2:] for _, rect in shown} == {(4, 5), (4, 6), (4, 7)}
    ids = [o.id for o in window.document.project.objects_of(media.id)]
    rows = window.objects_panel.tree
    listed = [rows.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) for i in range(rows.topLevelItemCount())]
    assert listed == ids[::-1]  # top-most first
    assert window.media_panel.list.item(0).text().endswith("(120)")
    assert window.media_panel.list.item(1).text().endswith("(5)")

    window.document.execute(MoveObject(ids[0], len(window.document.project.objects) - 1))
    shown = _shown_masks(window)
    assert len({z for z, _ in shown}) == 120 and shown[-1][1] == (10, 10, 4, 5)  # the first is on top
    window.document.execute(RemoveObject(ids[1]))
    assert len(_shown_masks(window)) == 119 and (22, 10, 4, 6) not in {r for _, r in _shown_masks(window)}

    for _ in range(3):
        window.document.undo()
    assert _shown_masks(window) == [] and rows.topLevelItemCount() == 0
    assert not window.media_panel.list.item(0).text().endswith(")")
    window.document.redo()
    assert len(_shown_masks(window)) == 120 and rows.topLevelItemCount() == 120


def _pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    rows = np.frombuffer(image.constBits(), np.uint32, image.sizeInBytes() // 4)
    return rows.reshape(image.height(), image.bytesPerLine() // 4)[:, : image.width()].copy()  # owns its data


@pytest.mark.parametrize("width", [1, 3, 5, 8, 13])
def test_mask_to_image_is_opaque_colour_on_the_mask_and_clear_elsewhere(qapp, width: int) -> None:
    mask = np.random.default_rng(width).random((7, width)) < 0.5
    pixels = _pixels(mask_to_image(mask, (200, 10, 30)))
    assert pixels.shape == (7, width)
    assert np.array_equal(pixels, np.where(mask, np.uint32(0xFFC80A1E), np.uint32(0)))
