"""The timeline under the canvas: a lane per object showing keyframes, tracked, absent and stale
frames; scrubbing by clicking and dragging; zooming a long video; selection shared with the
canvas and the objects panel; reviewed frames and the review queue (N).

Tracked frames are landed the way a tracking run lands them (``TrackingRun``), without a model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent

from samdesk.document import AddObject, SetFrame, masks
from samdesk.document.model import AnnotationObject, FrameAnnotation, Provenance
from samdesk.document.tracking import TrackingRun, keyframes
from samdesk.resources import sample_video
from samdesk.session.lanes import Mark, runs
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from samdesk.ui.timeline.view import HEADER_WIDTH, LANE_HEIGHT, MIN_FRAMES_PER_PIXEL, REVIEW_ROW, RULER_HEIGHT
from tests.ui_driver import open_paths

pytestmark = pytest.mark.gui

SHIFT = Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    win = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    win.resize(1100, 760)
    win.show()
    assert open_paths(qtbot, win, [sample_video()]) == []
    qtbot.waitUntil(lambda: win.current_image is not None and not win.loader.busy, timeout=10_000)
    return win


def square(media, x: int, size: int = 40) -> masks.Rle:
    mask = np.zeros((media.height, media.width), bool)
    mask[60 : 60 + size, x : x + size] = True
    return masks.encode(mask)


def add_tracked_object(window: MainWindow, name: str, keyframe: int, last: int, gone=()) -> AnnotationObject:
    """An object keyframed on ``keyframe`` and tracked forward to ``last``, found gone on ``gone``."""
    media = window.controller.media
    obj = AnnotationObject(0, media.id, name=name, frames={
        keyframe: FrameAnnotation(square(media, 10 + keyframe), Provenance.MODEL)
    })
    document = window.document
    document.execute(AddObject(obj))
    run = TrackingRun(media.id, frozenset({obj.id}), model_id="m",
                      keyframes=keyframes(document.project, media.id), start_frame=keyframe)
    empty = masks.encode(np.zeros((media.height, media.width), bool))
    for frame in range(keyframe + 1, last + 1):
        lost = frame in gone
        tracked = {obj.id: empty if lost else square(media, 10 + frame)}
        document.execute(run.frame_command(document.project, frame, tracked, {obj.id: -5.0 if lost else 6.0}))
    return obj


def lane_runs(window: MainWindow, object_id: int) -> list[tuple[int, int, int]]:
    lane = next(lane for lane in window.timeline.view.lanes if lane.object_id == object_id)
    return runs(lane.marks)


def lane_point(window: MainWindow, row: int, frame: int) -> QPoint:
    view = window.timeline.view
    x = HEADER_WIDTH + view.x_of(frame + 0.5)
    return QPoint(int(x), RULER_HEIGHT + REVIEW_ROW + row * LANE_HEIGHT + LANE_HEIGHT // 2)


def test_lanes_show_keyframes_tracked_absent_and_stale_frames(qtbot, window) -> None:
    timeline = window.timeline.view
    assert timeline.isVisible() and timeline.lanes == []
    cat = add_tracked_object(window, "cat", 2, 20, gone=(15, 16))
    assert [lane.name for lane in timeline.lanes] == ["cat"]
    assert lane_runs(window, cat.id) == [
        (0, 2, Mark.NONE), (2, 3, Mark.KEYFRAME), (3, 15, Mark.TRACKED), (15, 17, Mark.ABSENT),
        (17, 21, Mark.TRACKED), (21, 36, Mark.NONE),
    ]
    # A correction on frame 10 makes the frames tracked after it stale, until tracked again.
    media = window.controller.media
    window.document.execute(SetFrame(cat.id, 10, FrameAnnotation(square(media, 30), Provenance.EDITED)))
    assert lane_runs(window, cat.id) == [
        (0, 2, Mark.NONE), (2, 3, Mark.KEYFRAME), (3, 10, Mark.TRACKED), (10, 11, Mark.KEYFRAME),
        (11, 15, Mark.STALE_TRACKED), (15, 17, Mark.STALE_ABSENT), (17, 21, Mark.STALE_TRACKED),
        (21, 36, Mark.NONE),
    ]
    describe = window.timeline.describe
    assert "stale" in describe(cat.id, 12) and "keyframe" in describe(cat.id, 10)
    assert "absent" in describe(cat.id, 15) and "from keyframe 3" in describe(cat.id, 15)
    # Undo brings the fresh lane back; a second object gets a lane of its own, on top.
    window.navigation.undo()
    assert (11, 15, Mark.TRACKED) not in lane_runs(window, cat.id)
    assert (3, 15, Mark.TRACKED) in lane_runs(window, cat.id)
    dog = add_tracked_object(window, "dog", 0, 5)
    assert [lane.object_id for lane in timeline.lanes] == [dog.id, cat.id]
    timeline.grab()  # paints without error at every zoom
    timeline.zoom(0.05)
    timeline.grab()


def test_clicking_and_dragging_scrubs_and_selects_the_lanes_object(qtbot, window) -> None:
    cat = add_tracked_object(window, "cat", 0, 30)
    area = window.timeline.view.area
    qtbot.mouseClick(area, Qt.MouseButton.LeftButton, pos=lane_point(window, 0, 12))
    assert window.controller.frame == 12
    # The lane's object is selected everywhere: canvas session and objects panel.
    assert window.controller.selected_object == cat.id
    assert window.objects_panel.selected_ids() == [cat.id]
    assert window.timeline.view.selected == cat.id
    # A drag shows the frames under the pointer as it moves.
    seen = []
    window.controller.frame_changed.append(lambda: seen.append(window.controller.frame))
    scrubbing = []
    window.timeline.scrubbing.connect(scrubbing.append)
    qtbot.mousePress(area, Qt.MouseButton.LeftButton, pos=lane_point(window, 0, 20))
    for frame in (22, 25, 29, 33):
        qtbot.mouseMove(area, lane_point(window, 0, frame))
    qtbot.mouseRelease(area, Qt.MouseButton.LeftButton, pos=lane_point(window, 0, 33))
    assert seen == [20, 22, 25, 29, 33] and scrubbing == [True, False]
    assert window.navigator.frame == 33 and window.timeline.view.frame == 33
    # Selecting on the objects panel highlights the lane; deselecting clears it.
    window.controller.select_object(None)
    assert window.timeline.view.selected is None


def test_the_wheel_zooms_a_long_video_about_the_pointer(qtbot, window) -> None:
    view = window.timeline.view
    view.set_video(10_000)  # the view alone: a 10,000-frame video
    whole = view.frames_per_pixel
    assert whole == pytest.approx(10_000 / view.area.lanes_width())
    x = HEADER_WIDTH + 300
    anchor = view.frame_at(300)
    for _ in range(30):
        event = QWheelEvent(QPointF(x, 30), QPointF(x, 30), QPoint(0, 0), QPoint(0, 120),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                            Qt.ScrollPhase.NoScrollPhase, False)
        view.area.wheelEvent(event)
    assert view.frames_per_pixel == MIN_FRAMES_PER_PIXEL  # zoomed in to single frames ...
    assert abs(view.frame_at(300) - anchor) <= 1  # ... about the frame under the pointer
    assert view.hbar.isVisible() and view.hbar.maximum() > 9_000
    view.fit()
    assert view.frames_per_pixel == pytest.approx(whole) and not view.hbar.isVisible()


def test_visibility_and_lock_from_the_lane_header(qtbot, window) -> None:
    cat = add_tracked_object(window, "cat", 0, 3)
    area = window.timeline.view.area
    top = RULER_HEIGHT + REVIEW_ROW + LANE_HEIGHT // 2
    qtbot.mouseClick(area, Qt.MouseButton.LeftButton, pos=QPoint(HEADER_WIDTH - 32, top))
    assert not cat.visible
    qtbot.mouseClick(area, Qt.MouseButton.LeftButton, pos=QPoint(HEADER_WIDTH - 13, top))
    assert cat.locked
    lane = window.timeline.view.lanes[0]
    assert not lane.visible and lane.locked
    window.navigation.undo()
    assert not window.timeline.view.lanes[0].locked


def test_review_marks_frames_and_the_queue_visits_the_bad_ones_first(qtbot, window) -> None:
    cat = add_tracked_object(window, "cat", 0, 30, gone=(18,))
    media = window.controller.media
    run = TrackingRun(media.id, frozenset({cat.id}), keyframes=keyframes(window.document.project, media.id))
    # A known bad frame: on 9 the mask jumps far away for one frame.
    bad = run.frame_command(window.document.project, 9, {cat.id: square(media, 250)}, {cat.id: 6.0})
    window.document.execute(bad)
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_N)
    assert window.controller.frame == 9 and window.controller.selected_object == cat.id
    assert "Frame 10" in window.statusBar().currentMessage()
    qtbot.keyClick(window.canvas, Qt.Key.Key_R, SHIFT)
    assert media.done_frames == {9}
    assert window.timeline.view.reviewed[9] == 1
    qtbot.keyClick(window.canvas, Qt.Key.Key_N)
    assert window.controller.frame == 18  # the vanishing object, next
    qtbot.keyClick(window.canvas, Qt.Key.Key_R, SHIFT)
    # Nothing else looks wrong: N says so and stays.
    qtbot.keyClick(window.canvas, Qt.Key.Key_N)
    assert window.controller.frame == 18 and "No tracked frame left" in window.statusBar().currentMessage()
    window.navigation.undo()  # reviewed marks are undoable like any edit
    assert media.done_frames == {9}
