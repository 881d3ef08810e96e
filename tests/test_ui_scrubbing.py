"""Scrubbing a long-GOP video: low-resolution previews built in the background
(``frame_proxy``), shown while the timeline cursor is dragged, the full frame once it stops; the
decoded-frame cache keeps the frames around the cursor.

The video is written here: 48 frames of 320×240 with a single keyframe (every seek decodes from
frame 0, as in a phone video), each frame a bar at its own place.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage

from samdesk.ui.frame_proxy import FrameProxy
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from samdesk.ui.timeline.view import HEADER_WIDTH, RULER_HEIGHT
from tests.ui_driver import click, open_paths

pytestmark = pytest.mark.gui

FRAMES, WIDTH, HEIGHT = 48, 320, 240


def bar_frame(index: int) -> np.ndarray:
    """A dark frame with a bright vertical bar whose place tells the frame."""
    frame = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)
    x = 5 * index + 10
    frame[:, x : x + 20] = 220
    return frame


def write_video(path: Path, gop: int) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.gop_size = gop
        stream.time_base = Fraction(1, 25)
        for i in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(bar_frame(i), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def bar_place(rgb: np.ndarray) -> float:
    """Where the bar is, as a fraction of the width."""
    columns = rgb[..., 0].mean(axis=0)
    return float(np.argmax(columns > 125)) / rgb.shape[1]


def pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w = image.height(), image.width()
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())
    return rows[:, : 3 * w].reshape(h, w, 3).copy()


def test_previews_of_a_long_gop_video_and_none_for_a_short_one(tmp_path: Path) -> None:
    long_gop = write_video(tmp_path / "long.mp4", gop=1000)
    proxy = FrameProxy(str(long_gop), long_side=160).start()
    assert proxy.wait(60)
    assert proxy.needed and proxy.built == FRAMES and proxy.error == ""
    for index in (0, 17, 47):
        preview = QImage.fromData(proxy.preview(index), "JPG")
        assert (preview.width(), preview.height()) == (160, 120)
        assert bar_place(pixels(preview)) == pytest.approx(bar_place(bar_frame(index)), abs=0.02)
    assert proxy.preview(FRAMES) is None
    proxy.close()
    assert proxy.preview(0) is None  # closing drops them

    short_gop = write_video(tmp_path / "short.mp4", gop=1)  # every frame a keyframe: seeks are cheap
    proxy = FrameProxy(str(short_gop)).start()
    assert proxy.wait(60)
    assert proxy.needed is False and proxy.built == 0 and proxy.preview(3) is None


def test_dragging_shows_previews_and_the_full_frame_when_the_cursor_stops(qtbot, tmp_path: Path) -> None:
    video = write_video(tmp_path / "long.mp4", gop=1000)
    window = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    window.errors_as_status = True
    qtbot.addWidget(window)
    window.resize(1100, 760)
    window.show()
    assert open_paths(qtbot, window, [video]) == []
    navigation = window.navigation
    qtbot.waitUntil(lambda: window.current_image is not None and not window.loader.busy, timeout=10_000)
    proxy = navigation.proxies[str(video)]
    assert proxy.wait(60) and proxy.built == FRAMES
    shown: list[tuple[int, bool]] = []
    navigation.frame_shown.connect(lambda frame, full: shown.append((frame, full)))

    area = window.timeline.view.area

    def point(frame: int) -> QPoint:
        return QPoint(int(HEADER_WIDTH + window.timeline.view.x_of(frame + 0.5)), RULER_HEIGHT // 2)

    qtbot.mousePress(area, Qt.MouseButton.LeftButton, pos=point(30))
    qtbot.mouseMove(area, point(40))
    # While dragging: the preview at once, covering the whole frame, and no full decode shown.
    assert (40, False) in shown and (40, True) not in shown
    assert navigation.showing_preview
    rect = window.canvas.image_rect()
    assert (rect.width(), rect.height()) == (WIDTH, HEIGHT)
    # A click on a preview would annotate pixels the user cannot see properly: refused.
    window.canvas.setFocus()
    click(window, 100, 100)
    assert window.controller.pending is None
    assert "still decoding" in window.statusBar().currentMessage()

    qtbot.mouseRelease(area, Qt.MouseButton.LeftButton, pos=point(40))
    qtbot.waitUntil(lambda: (40, True) in shown, timeout=10_000)
    assert not navigation.showing_preview and window.controller.frame == 40
    full = pixels(window.current_image)
    assert full.shape == (HEIGHT, WIDTH, 3)
    assert bar_place(full) == pytest.approx(bar_place(bar_frame(40)), abs=0.01)

    # Stepping back from a seek: the frames before the cursor were kept by the reader's cache.
    shown.clear()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Comma)
    qtbot.waitUntil(lambda: (39, True) in shown, timeout=10_000)
    assert (39, False) not in shown  # a step shows the full frame, not a preview
    assert window.loader.frames.is_cached(str(video), 38)
    window.close()
