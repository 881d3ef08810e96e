"""One frame-number convention (issue 18, defect 5): people count frames from 1 ("frame 1 of
36"), files and exports from 0; tracking forward from the last frame is refused at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model_runtime.api import Capability
from samdesk.document import AddObject, SetFrame, masks
from samdesk.document.model import AnnotationObject, FrameAnnotation
from samdesk.resources import sample_video
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.runtime_doubles import DoubleModel
from tests.ui_driver import open_paths

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    win = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    win.show()
    assert open_paths(qtbot, win, [sample_video()]) == []  # 36 frames
    return win


def add_object(window: MainWindow, frames: list[int]) -> int:
    media = window.controller.media
    mask = np.zeros((media.height, media.width), bool)
    mask[60:150, 110:220] = True
    object_id = window.document.project.next_ids["object"]
    window.document.execute(AddObject(AnnotationObject(object_id, media.id, name="cat")))
    for frame in frames:
        window.document.execute(SetFrame(object_id, frame, FrameAnnotation(masks.encode(mask))))
    return object_id


def test_the_navigator_counts_frames_from_one(window: MainWindow) -> None:
    assert window.navigator.frame_label.text() == "frame 1 of 36"
    window.navigation.show_frame(2)
    assert window.navigator.frame_label.text() == "frame 3 of 36"
    window.navigation.show_last_frame()
    assert window.navigator.frame_label.text() == "frame 36 of 36"


def test_messages_and_the_objects_panel_count_frames_from_one(window: MainWindow) -> None:
    object_id = add_object(window, [0, 1, 2, 5])
    window.objects_panel.rebuild()
    row = window.objects_panel.tree.topLevelItem(0)
    assert row.text(3) == "1–3, 6"
    window.navigation.show_frame(3)  # the 4th frame, where the cat has no mask
    window.controller.select_object(object_id)
    assert "no mask on frame 4" in window.status.current_message()


def test_tracking_forward_from_the_last_frame_is_refused_at_once(window: MainWindow, qtbot) -> None:
    video_model = DoubleModel("video", capabilities=frozenset({Capability.CLICK, Capability.VIDEO}))
    with qtbot.waitSignal(window.model_link.loaded, timeout=30_000):
        window.bridge.load_model(video_model)
    add_object(window, [35])
    window.navigation.show_last_frame()
    assert window.tracker.start("forward") is False
    assert not window.tracker.running and not window.tracker.bar.isVisible()
    assert "Frame 36 is the last frame" in window.last_error
