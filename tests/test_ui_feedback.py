"""What a new annotator is told (issue 18): an empty answer says so, a model that cannot serve
a request says why at once, and a model that fails to load says the whole reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.ui_doubles import RecordingService
from tests.ui_driver import drag, open_paths

pytestmark = pytest.mark.gui

MODEL_TIMEOUT_MS = 120_000
NOTHING_FOUND = "Nothing found — try a larger box or a click"


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    win = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    return win


def activate(qtbot, window: MainWindow) -> None:
    """Window shortcuts (Enter) need the active window; a progress dialog may have taken it."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.canvas.setFocus()


def test_an_empty_answer_says_so_and_enter_says_why(window: MainWindow, qtbot, media_dir) -> None:
    """Defect 2: the model answered with empty masks and nothing said so; Enter then silently
    did nothing."""
    service = RecordingService()
    window.set_service(service, "double (empty answers)")
    assert open_paths(qtbot, window, [media_dir / "groceries.jpg"]) == []
    qtbot.waitUntil(lambda: window.current_image is not None)
    c = window.controller
    activate(qtbot, window)
    drag(window, (507, 175), (585, 340))
    request_id, request = service.requests[-1]
    empty = np.zeros((3, request.media.height, request.media.width), bool)
    c.prediction_ready(request_id, empty, np.array([0.1, 0.05, 0.0]), None)
    assert window.status.current_message() == NOTHING_FOUND
    window.status.show_message("")
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)
    assert window.status.current_message() == NOTHING_FOUND
    assert window.document.project.objects == []


def test_a_snug_box_with_grabcut_gives_the_object(qtbot, media_dir, tmp_path) -> None:
    """Defect 2 end to end: the default model (GrabCut) on a box drawn snugly around a paper
    bag between paper bags used to answer with nothing."""
    from samdesk.ui.app import create_window

    window = create_window([str(media_dir / "groceries.jpg")], "classical", settings_path=tmp_path / "s.json")
    window.errors_as_status = True
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    qtbot.waitUntil(lambda: window.current_image is not None and window.controller.service is not None,
                    timeout=MODEL_TIMEOUT_MS)
    c = window.controller
    window.canvas.setFocus()
    drag(window, (507, 175), (585, 340))
    qtbot.waitUntil(lambda: not c.waiting and c.pending is not None and c.pending.candidates is not None,
                    timeout=MODEL_TIMEOUT_MS)
    assert c.error is None and c.pending.mask().sum() > 5000
