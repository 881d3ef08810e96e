"""Video playback (issue 18): play/pause with a speed, and a loop over a range of frames."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from samdesk.session.playback import PlaybackClock
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.ui_driver import open_paths


def test_clock_keeps_wall_time_speed_and_loops() -> None:
    clock = PlaybackClock(frame_count=100, fps=20.0)
    assert clock.start(10, now=0.0) == 10
    assert clock.target(0.049) == 10 and clock.target(0.05) == 11 and clock.target(1.0) == 30
    clock.set_speed(2.0, frame=30, now=1.0)  # no jump: on from the frame on screen
    assert clock.target(1.0) == 30 and clock.target(1.5) == 50
    assert clock.target(100.0) == 99 and not clock.finished(98) and clock.finished(99)
    assert clock.start(99, now=0.0) == 0  # played to the end: again from the start
    clock.loop, clock.looping = (20, 24), True
    assert clock.start(50, now=0.0) == 20  # outside the loop: from its first frame
    assert [clock.target(t / 40) for t in range(0, 12)] == [20, 21, 22, 23, 24, 20, 21, 22, 23, 24, 20, 21]
    assert not clock.finished(99)
    clock.loop = None  # looping without a range: the whole video
    assert clock.loop_range() == (0, 99)
    assert PlaybackClock(frame_count=10).rate == 25.0  # unknown rate: 25 frames a second


@pytest.fixture
def window(qtbot, tmp_path: Path, media_dir: Path) -> MainWindow:
    win = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    win.show()
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    assert open_paths(qtbot, win, [media_dir / "cups.mp4"]) == []
    qtbot.waitUntil(lambda: win.current_image is not None, timeout=20_000)
    return win


@pytest.mark.gui
def test_k_plays_and_pauses_and_the_button_shows_it(qtbot, window: MainWindow) -> None:
    shown: list[int] = []
    window.controller.frame_changed.append(lambda: shown.append(window.controller.frame))
    qtbot.keyClick(window.canvas, "k")
    assert window.player.playing and window.player.play_button.isChecked()
    assert window.controller.encoding_ahead_paused  # frames passing by are not encoded
    qtbot.waitUntil(lambda: window.controller.frame >= 8, timeout=20_000)
    qtbot.keyClick(window.canvas, "k")
    assert not window.player.playing and not window.player.play_button.isChecked()
    assert not window.controller.encoding_ahead_paused
    assert shown == sorted(shown)  # forward only
    paused_at = window.controller.frame
    qtbot.wait(200)
    assert window.controller.frame == paused_at
    # The speed box and the menu items change the same speed.
    window.menu_actions["play_faster"].trigger()
    assert window.player.clock.speed == 2.0 and window.player.speed_box.currentText() == "2×"
    window.player.speed_box.setCurrentIndex(0)
    assert window.player.clock.speed == 0.25


@pytest.mark.gui
def test_loop_over_a_marked_range(qtbot, window: MainWindow) -> None:
    window.navigation.show_frame(10)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Home, Qt.KeyboardModifier.ShiftModifier)
    window.navigation.show_frame(14)
    qtbot.keyClick(window.canvas, Qt.Key.Key_End, Qt.KeyboardModifier.ShiftModifier)
    assert window.player.clock.loop == (10, 14) and window.player.loop_button.isChecked()
    assert window.player.loop_button.text() == "⟲ 11–15"  # frames as people count them
    assert window.navigator.slider.loop == (10, 14)  # shaded on the slider
    window.navigation.show_frame(40)
    qtbot.waitUntil(lambda: not window.navigation.loader.busy, timeout=20_000)
    shown: list[int] = []
    window.controller.frame_changed.append(lambda: shown.append(window.controller.frame))
    qtbot.keyClick(window.canvas, "k")
    # Around the loop: it went back from the end of the range towards its start (a slow
    # decode may skip frames, so not necessarily to frame 10 itself).
    wrapped = lambda: any(b < a for a, b in zip(shown, shown[1:], strict=False))  # noqa: E731
    qtbot.waitUntil(wrapped, timeout=30_000)
    qtbot.keyClick(window.canvas, "k")
    assert set(shown) <= set(range(10, 15)) and shown[0] == 10
    qtbot.keyClick(window.canvas, "l")  # loop off: plays on to the end and stops there
    assert not window.player.loop_button.isChecked() and window.navigator.slider.loop is None
    window.menu_actions["loop_clear"].trigger()
    assert window.player.clock.loop is None and window.player.loop_button.text() == "⟲"
    last = window.controller.media.frame_count - 1
    window.navigation.show_frame(last - 3)
    qtbot.waitUntil(lambda: not window.navigation.loader.busy, timeout=20_000)
    qtbot.keyClick(window.canvas, "k")
    qtbot.waitUntil(lambda: not window.player.playing, timeout=20_000)
    assert window.controller.frame == last
