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


def load(qtbot, window: MainWindow, model) -> None:
    with qtbot.waitSignal(window.model_link.loaded, timeout=30_000):
        window.bridge.load_model(model)


def test_track_with_a_model_that_cannot_track_does_nothing_but_say_why(window: MainWindow, qtbot) -> None:
    """Defect 3: Ctrl+T with MobileSAM started a run and only ~20 s later said a SAM 2 model
    was needed. The action is disabled, and its key says why instead of doing nothing."""
    from samdesk.resources import sample_video
    from tests.runtime_doubles import DoubleModel

    assert open_paths(qtbot, window, [sample_video()]) == []
    load(qtbot, window, DoubleModel("mobile", capabilities=frozenset({"click"})))
    activate(qtbot, window)
    qtbot.keyClick(window.canvas, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert not window.tracker.running and not window.tracker.bar.isVisible()
    message = window.status.current_message()
    assert message.startswith("Track") and "SAM 2" in message and "double mobile is loaded" in message
    # Asked some other way (a script, a stale menu), it refuses at once: no run, no progress bar.
    assert window.tracker.start("forward") is False
    assert not window.tracker.bar.isVisible() and "SAM 2" in window.last_error


def test_a_failed_model_load_shows_the_whole_reason_and_asks_before_grabcut(
    qtbot, tmp_path: Path, monkeypatch
) -> None:
    """Defect 3: a remembered model that failed to load at start-up left a cut-off status line
    and GrabCut loaded in its place without a word. Now the whole reason is shown and the user
    chooses what to load."""
    from samdesk.resources import sample_images
    from samdesk.ui.app import create_window

    broken = tmp_path / "my_model.pt"
    broken.write_text("this is not a checkpoint, and the reason why is long enough to be cut off " * 3)
    settings = Settings(last_model=str(broken))
    settings.save(tmp_path / "s.json")
    asked: list[tuple[str, bool]] = []
    answer = {"choice": None}

    def policy(self, text: str, offer_fallback: bool):  # test double for the dialog
        asked.append((text, offer_fallback))
        return answer["choice"]

    monkeypatch.setattr(MainWindow, "ask_after_failed_load", policy, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # no autosaves of other sessions
    window = create_window([str(sample_images()[0])], None, settings_path=tmp_path / "s.json")
    window.errors_as_status = True
    qtbot.addWidget(window)
    loaded = lambda: window.bridge.runtime.model_info is not None  # noqa: E731
    qtbot.waitUntil(lambda: bool(asked) or loaded(), timeout=MODEL_TIMEOUT_MS)
    assert asked, f"not asked; the status bar said: {window.status.current_message()}"
    text, offer_fallback = asked[0]
    assert str(broken) in text and offer_fallback
    qtbot.wait(500)
    assert window.bridge.runtime.model_info is None  # nothing loaded behind the user's back
    answer["choice"] = "classical"
    window.model_link.load(str(broken))
    qtbot.waitUntil(lambda: len(asked) == 2, timeout=MODEL_TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.bridge.runtime.model_info is not None, timeout=MODEL_TIMEOUT_MS)
    assert window.bridge.runtime.model_info.family == "classical"
    assert window.settings.last_model == "classical"


def test_box_tool_clicks_refine_the_boxed_object(window: MainWindow, qtbot, media_dir) -> None:
    """Defect 7: the Box tool's help said "clicks refine", but plain clicks were ignored. Now a
    click refines the boxed object; before any box, a click says to drag one."""
    from tests.ui_doubles import AsyncDiscService
    from tests.ui_driver import click

    service = AsyncDiscService(lambda: window.controller)
    window.set_service(service, "double (discs)")
    assert open_paths(qtbot, window, [media_dir / "groceries.jpg"]) == []
    qtbot.waitUntil(lambda: window.current_image is not None)
    c = window.controller
    activate(qtbot, window)
    window.set_tool("box")
    assert "click" in window.tools["box"].help.lower()
    click(window, 540, 250)
    assert service.requests == [] and c.pending is None
    assert "drag a box" in window.status.current_message().lower()
    drag(window, (507, 175), (585, 340))
    qtbot.waitUntil(lambda: not c.waiting and c.pending is not None)
    click(window, 545, 260)  # refine: a part of the boxed object
    click(window, 600, 200, Qt.MouseButton.RightButton)  # and an exclusion
    qtbot.waitUntil(lambda: not c.waiting)
    _, last = service.requests[-1]
    assert last.prompts.box is not None and last.prompts.labels == (1, 0)
    assert last.prompts.points[0] == pytest.approx((545, 260), abs=1.5)
