"""Many objects proposed at once on the canvas (find-all, segment everything): each drawn in its
own colour with its score, rendered offscreen and checked pixel by pixel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QApplication

from model_runtime.api import Instances
from samdesk.ui.canvas.instances import instance_color
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.ui_doubles import AsyncDiscService
from tests.ui_driver import click, open_paths

pytestmark = pytest.mark.gui

W, H = 800, 534  # dog.jpg


@pytest.fixture
def window(qtbot, media_dir: Path, tmp_path: Path) -> MainWindow:
    win = MainWindow(Settings(mask_opacity=1.0), settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    win.set_service(AsyncDiscService(lambda: win.controller), "double (discs)")
    win.resize(1000, 700)
    win.show()
    assert open_paths(qtbot, win, [media_dir / "dog.jpg"]) == []
    qtbot.waitUntil(lambda: win.current_image is not None, timeout=10_000)
    win.activateWindow()  # the window's shortcuts (Enter, Esc) need it active
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win)
    return win


def three_instances() -> Instances:
    masks = np.zeros((3, H, W), bool)
    masks[0, 50:150, 50:200] = True
    masks[1, 300:450, 500:700] = True
    masks[2, 120:220, 150:260] = True  # overlaps the first: drawn over it
    boxes = np.array([[50, 50, 200, 150], [500, 300, 700, 450], [150, 120, 260, 220]])
    return Instances(masks, boxes, np.array([0.91, 0.62, 0.48]))


def render_overlays(window: MainWindow) -> np.ndarray:
    """The scene's overlays over black at image resolution, RGB uint8 (H, W, 3): the photo is
    hidden so that only what the layer drew is left."""
    image = QImage(W, H, QImage.Format.Format_RGB32)
    image.fill(QColor(0, 0, 0))
    window.canvas.set_image(None)
    painter = QPainter(image)
    window.scene.render(painter, QRectF(0, 0, W, H), QRectF(0, 0, W, H))
    painter.end()
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(rgb.constBits(), np.uint8).reshape(H, rgb.bytesPerLine())
    return rows[:, : 3 * W].reshape(H, W, 3).copy()


def close_to(pixel: np.ndarray, color: tuple[int, int, int], tolerance: int = 6) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(color)) <= tolerance))


def test_proposed_instances_are_drawn_each_in_its_colour_with_its_score(window: MainWindow, qtbot) -> None:
    window.controller.set_pending_instances(three_instances(), model_id="double")
    item = window.layer.instances
    colors = [instance_color(i) for i in range(3)]
    assert len(set(colors)) == 3 and item.colors == colors
    assert [label.text() for label in item.labels] == ["0.91", "0.62", "0.48"]
    pixels = render_overlays(window)
    assert close_to(pixels[100, 100], colors[0])  # only the first instance here
    assert close_to(pixels[400, 600], colors[1])
    assert close_to(pixels[200, 200], colors[2])  # the third, over the first where they overlap
    assert close_to(pixels[140, 180], colors[2])
    assert close_to(pixels[500, 20], (0, 0, 0))  # outside every instance: nothing drawn
    # Enter accepts all of them at once; the proposals leave the canvas for three objects.
    window.categories_panel.add("thing")
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)
    assert len(window.document.project.objects) == 3 and window.controller.pending_instances is None
    assert item.labels == [] and len(window.layer.object_items) == 3


def test_escape_takes_the_proposed_instances_off_the_canvas(window: MainWindow, qtbot) -> None:
    window.controller.set_pending_instances(three_instances())
    assert close_to(render_overlays(window)[100, 100], instance_color(0))
    qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    assert window.controller.pending_instances is None and window.document.project.objects == []
    assert close_to(render_overlays(window)[100, 100], (0, 0, 0))


def test_accepting_one_instance_does_not_widen_the_window(window: MainWindow, qtbot) -> None:
    """The review strip showed every widget for a moment before hiding those that do not apply:
    its minimum width grew for that moment and Qt widened the window for good (past the screen
    on a laptop)."""
    window.controller.set_pending_instances(three_instances())
    qtbot.wait(50)
    window.resize(window.minimumSizeHint().width() + 10, 700)
    qtbot.waitUntil(lambda: window.width() == window.minimumSizeHint().width() + 10)
    width = window.width()
    click(window, 600, 375)  # select the second instance
    assert window.controller.pending_instances.selected == (0, 1)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert len(window.document.project.objects) == 1 and len(window.controller.pending_instances) == 2
    qtbot.wait(50)
    assert window.width() == width


def test_a_new_selection_draws_from_the_kept_fill_and_a_refined_mask_repaints(window: MainWindow) -> None:
    """Hundreds of proposals are painted once (on a worker thread for find all), not again on
    each click: the fill is kept with the proposal while its masks and colours are the same."""
    from model_runtime.api import Prompts

    window.controller.set_pending_instances(three_instances())
    proposal = window.controller.pending_instances
    fill = proposal.drawn["fill"][2]
    click(window, 600, 375)
    assert proposal.selected == (0, 1) and proposal.drawn["fill"][2] is fill
    mask = np.zeros((H, W), bool)
    mask[20:40, 700:760] = True  # the second instance, refined somewhere else
    proposal.refine((0, 1), mask, 0.99, Prompts(points=((730, 30),), labels=(1,)))
    window.layer.refresh_instances()
    assert proposal.drawn["fill"][2] is not fill
    pixels = render_overlays(window)
    assert close_to(pixels[30, 730], instance_color(1)) and close_to(pixels[400, 600], (0, 0, 0))


def test_many_instances_have_their_outlines_in_the_fill_and_plain_labels(window: MainWindow, qtbot) -> None:
    """Stroking hundreds of vector outlines (and black-edged labels) took the GUI thread 80-160
    ms on every repaint: above VECTOR_OUTLINES they are pixels of the fill, the selected one
    keeps its vector outline."""
    from PySide6.QtWidgets import QGraphicsPathItem

    from samdesk.ui.canvas.instances import VECTOR_OUTLINES

    count = VECTOR_OUTLINES + 10
    masks = np.zeros((count, H, W), bool)
    boxes = []
    for i in range(count):
        x, y = 20 + (i % 20) * 38, 40 + (i // 20) * 60
        masks[i, y : y + 20, x : x + 20] = True
        boxes.append([x, y, x + 20, y + 20])
    window.controller.set_pending_instances(Instances(masks, np.array(boxes), np.full(count, 0.9)))
    item = window.layer.instances
    paths = [p for p in item.childItems() if isinstance(p, QGraphicsPathItem)]
    assert paths == [] and len(item.labels) == count
    pixels = render_overlays(window)
    light = QColor(*instance_color(3)).lighter(135)
    x, y = 20 + 3 * 38, 40
    assert close_to(pixels[y, x + 10], (light.red(), light.green(), light.blue()))  # its top edge
    assert close_to(pixels[y + 10, x + 10], instance_color(3))  # inside: the fill
    click(window, x + 10, y + 10)
    paths = [p for p in item.childItems() if isinstance(p, QGraphicsPathItem)]
    assert window.controller.pending_instances.selected == (0, 3) and len(paths) == 1


def test_outlines_are_built_from_arrays_with_the_same_vertices() -> None:
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QPolygonF

    from samdesk.ui.canvas.overlays import contour_path, polygon

    points = np.random.default_rng(0).uniform(-500, 500, (257, 2))
    built = polygon(points)
    assert built == QPolygonF([QPointF(x, y) for x, y in points.tolist()])
    assert polygon(np.zeros((0, 2))).isEmpty()
    mask = np.zeros((20, 30), bool)
    mask[5:15, 10:25] = True
    outline = contour_path(mask, (100, 200)).toFillPolygon()
    corners = {(p.x(), p.y()) for p in outline}
    assert corners == {(110.5, 205.5), (124.5, 205.5), (124.5, 214.5), (110.5, 214.5)}
