"""Image ▸ Segment everything in the real window with a small SAM 2 (random weights): previews
stream in as proposed instances, the review's minimum area hides small ones, nothing of the
user's is overwritten (overlaps are duplicates), the category is chosen when accepting, and the
accept is one undo step. Also: without a concept model, the find-all bar says how to get one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from model_runtime.runtime import RuntimeConfig
from samdesk.document import AddObjects, NewObject
from samdesk.runtime_bridge import RuntimeBridge
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.tiny_models import small_sam2_model
from tests.ui_driver import drag, open_paths

pytestmark = pytest.mark.gui

WAIT_MS = 300_000
# Loose enough that random weights keep masks; 4 batches of 16 points, so previews stream.
SWEEP = {"points_per_side": 8, "points_per_batch": 16, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}


@pytest.fixture
def window(qtbot, tmp_path: Path, media_dir: Path):
    bridge = RuntimeBridge(config=RuntimeConfig(disk_cache_dir=tmp_path / "cache"))
    win = MainWindow(Settings(), settings_path=tmp_path / "settings.json", bridge=bridge)
    win.errors_as_status = True
    qtbot.addWidget(win)
    win.resize(1100, 750)
    win.show()
    assert open_paths(qtbot, win, [media_dir / "dog.jpg"]) == []
    qtbot.waitUntil(lambda: win.current_image is not None, timeout=120_000)
    with qtbot.waitSignal(win.model_link.loaded, timeout=WAIT_MS):
        win.bridge.load_model(small_sam2_model())  # a built model is adopted as it is
    win.instances.everything.settings = dict(SWEEP)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win)
    yield win
    win.close()
    assert bridge.runtime.close(timeout=600)  # no model call left running when the process exits


def sweep(qtbot, win: MainWindow, keys=True) -> list[int]:
    """Ctrl+Shift+A; the number of instances shown after each streamed preview."""
    shown: list[int] = []
    win.bridge.partial.connect(lambda _rid, _value: shown.append(len(win.controller.pending_instances or ())))
    with qtbot.waitSignal(win.bridge.jobFinished, timeout=WAIT_MS):
        if keys:
            qtbot.keyClick(win.canvas, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier
                           | Qt.KeyboardModifier.ShiftModifier)
        else:
            win.instances.everything.start()
        assert win.instances.review.bar.busy_label.text().startswith("segmenting everything")
    return shown


def test_segment_everything_streams_then_accepts_in_one_step(window: MainWindow, qtbot) -> None:
    win, c = window, window.controller
    assert win.menu_actions["segment_everything"].isEnabled()
    shown = sweep(qtbot, win)
    proposal = c.pending_instances
    assert len(shown) >= 2 and shown[0] > 0  # the first batch showed before the sweep ended
    assert proposal is not None and len(proposal) > 0 and proposal.groups[0].task == "everything"
    assert not win.instances.review.bar.busy_label.isVisible()
    # The minimum area slider hides the small ones at once.
    areas = sorted(proposal.area(k) for k in proposal.shown())
    bar = win.instances.review.bar
    for step in range(bar.area_slider.maximum() + 1):  # moved until the smallest is hidden
        bar.area_slider.setValue(step)
        if bar.min_area() > areas[0]:
            break
    minimum = proposal.min_area
    assert 0 < minimum == bar.min_area() and bar.area_label.text() == f"{minimum} px"
    assert len(proposal) == sum(a >= minimum for a in areas) < len(areas)
    bar.area_slider.setValue(0)
    assert proposal.min_area == 0 and len(proposal) == len(areas)
    kept = proposal.acceptable()
    assert win.instances.review.bar.category.isVisible()
    assert win.instances.review.bar.category_name() == "object"
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return)
    objects = win.document.project.objects
    assert len(objects) == len(kept) and c.pending_instances is None
    assert {win.document.project.category(o.category_id).name for o in objects} == {"object"}
    assert all(o.frames[0].model_id.startswith("sam2.1-") for o in objects)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.document.project.objects == [] and win.document.project.category_by_name("object") is None


def test_segment_everything_never_overwrites_and_keeps_a_region(window: MainWindow, qtbot) -> None:
    win, c = window, window.controller
    sweep(qtbot, win, keys=False)
    first = c.pending_instances
    key = first.shown()[0]
    crop, (x0, y0) = first.crop(key)
    mask = np.zeros((534, 800), bool)
    mask[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    qtbot.keyClick(win.canvas, Qt.Key.Key_Escape)
    media_id = c.media_id
    win.document.execute(AddObjects([NewObject.from_mask(media_id, mask)]))
    mine = win.document.project.objects[0].frames[0].rle
    sweep(qtbot, win, keys=False)
    again = c.pending_instances
    assert any(again.is_duplicate(k) for k in again.shown())
    new = len(again.acceptable())
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return)
    assert win.document.project.objects[0].frames[0].rle == mine
    assert len(win.document.project.objects) == 1 + new
    # A box dragged first restricts the sweep to it.
    win.set_tool("box")
    drag(win, (20, 20), (300, 250))
    assert c.pending is not None and c.pending.prompts.box is not None
    sweep(qtbot, win, keys=False)
    region = c.pending_instances
    assert c.pending is None
    assert win.instances.everything.last_settings["region"] == pytest.approx((20, 20, 300, 250), abs=1)
    boxes = region.groups[0].pool.boxes
    assert len(boxes) > 0 and all(x0 < 300 and y0 < 250 for x0, y0, _, _ in boxes.tolist())


def test_without_a_concept_model_the_bar_says_how_to_get_one(window: MainWindow, qtbot) -> None:
    win = window
    qtbot.keyClick(win.canvas, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    bar = win.instances.find_all.bar
    assert bar.isVisible() and bar.help_label.isVisible()
    assert "facebook/sam3" in bar.help_label.text() and "samdesk models add sam3.pt" in bar.help_label.text()
    assert not bar.find_button.isEnabled() and bar.load_button.isVisible()
    qtbot.keyClicks(bar.field, "dog")
    qtbot.keyClick(bar.field, Qt.Key.Key_Return)
    assert win.controller.pending_instances is None
    assert "needs a concept model" in win.status.current_message()
    qtbot.keyClick(bar.field, Qt.Key.Key_Escape)
    assert win.canvas.hasFocus()


def test_missing_media_is_not_swept_or_searched(
    window: MainWindow, qtbot, tmp_path: Path, media_dir: Path
) -> None:
    """The grey stand-in of a file that is gone is not sent to a model: the status bar says how
    to find the file instead."""
    import shutil

    win = window
    gone = tmp_path / "gone.jpg"
    shutil.copy(media_dir / "dog.jpg", gone)
    assert open_paths(qtbot, win, [gone]) == []
    media_id = next(m.id for m in win.document.project.media if m.name == "gone.jpg")
    gone.unlink()
    win.navigation.show_media(media_id)
    assert win.controller.media_id == media_id and win.navigation.missing
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(win.canvas, Qt.Key.Key_A, ctrl_shift)
    assert not win.instances.everything.running and win.controller.pending_instances is None
    assert "gone.jpg is missing" in win.status.current_message()
    win.status.show_message("", 0)
    qtbot.keyClick(win.canvas, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(win.instances.find_all.bar.field, "dog")
    qtbot.keyClick(win.instances.find_all.bar.field, Qt.Key.Key_Return)
    assert "gone.jpg is missing" in win.status.current_message()
