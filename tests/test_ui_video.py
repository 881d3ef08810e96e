"""Videos in the main window: opening, the frame navigator, per-frame annotation, save/reopen,
undo across frames, export of the masks made this way, and bad video files.

Uses the bundled sample video (cat_pan.mp4, 320×224, 36 frames) and the disc-mask prediction
double, driven by real key and mouse events; one test runs the real runtime (classical backend)
to check that requests and prefetches are keyed by frame.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from samdesk.document import MediaKind, Provenance
from samdesk.document import masks as rle
from samdesk.resources import sample_video
from samdesk.ui.dialogs.shortcuts import shortcut_rows
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.ui_doubles import AsyncDiscService
from tests.ui_driver import click, open_paths

pytestmark = pytest.mark.gui

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def make_window(qtbot, tmp_path: Path) -> MainWindow:
    win = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    win.service = AsyncDiscService(lambda: win.controller)
    win.set_service(win.service, "double (discs)")
    win.resize(1000, 700)
    win.show()
    return win


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    win = make_window(qtbot, tmp_path)
    assert open_paths(qtbot, win, [sample_video()]) == []
    settle(qtbot, win)
    assert win.current_image is not None
    return win


def settle(qtbot, window: MainWindow) -> None:
    """Wait until the frame asked for last is on the canvas (fails if it never arrives)."""
    qtbot.waitUntil(lambda: window.current_image is not None and not window.loader.busy, timeout=10_000)


def key(qtbot, window: MainWindow, k, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(window.canvas, k, modifier)


def shown_pixels(window: MainWindow) -> np.ndarray:
    """The picture on the canvas as RGB uint8 (H, W, 3)."""
    image = window.current_image.convertToFormat(QImage.Format.Format_RGB888)
    h, w = image.height(), image.width()
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())
    return rows[:, : 3 * w].reshape(h, w, 3).copy()


def expected_frame(index: int) -> np.ndarray:
    from model_runtime.media import VideoReader

    with VideoReader(sample_video()) as reader:
        return reader.read(index).copy()


def goto(qtbot, window: MainWindow, frame: int) -> None:
    window.navigator.slider.setValue(frame)  # as a user dragging the timeline
    assert window.controller.frame == frame
    settle(qtbot, window)


def wait_candidates(qtbot, window: MainWindow) -> None:
    c = window.controller
    qtbot.waitUntil(lambda: c.pending is not None and c.pending.candidates is not None and not c.waiting)


def test_video_opens_with_navigator_and_frame_keys(window: MainWindow, qtbot) -> None:
    (video,) = window.document.project.media
    assert video.kind == MediaKind.VIDEO and video.frame_count == 36 and video.content_hash
    assert "36 frames" in window.media_panel.list.item(0).text()
    assert window.navigator.isVisible() and window.navigator.frame_count == 36
    assert (window.current_image.width(), window.current_image.height()) == (320, 224)
    assert np.array_equal(shown_pixels(window), expected_frame(0))

    steps = [
        (Qt.Key.Key_Period, 1),
        (Qt.Key.Key_Right, 2),
        (Qt.Key.Key_Comma, 1),
        (Qt.Key.Key_Left, 0),
        (Qt.Key.Key_Left, 0),  # clamped at the first frame
        (Qt.Key.Key_End, 35),
        (Qt.Key.Key_Right, 35),  # and at the last
        (Qt.Key.Key_Home, 0),
    ]
    for k, frame in steps:
        key(qtbot, window, k)
        assert window.controller.frame == frame and window.navigator.frame == frame
    key(qtbot, window, Qt.Key.Key_Right, SHIFT)
    assert window.controller.frame == 10
    qtbot.mouseClick(window.navigator.next_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.navigator.next_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.navigator.prev_button, Qt.MouseButton.LeftButton)
    assert window.controller.frame == 11
    key(qtbot, window, Qt.Key.Key_Left)
    assert window.navigator.frame_label.text() == "frame 11 of 36"  # frame index 10, counted from 1
    goto(qtbot, window, 23)
    assert np.array_equal(shown_pixels(window), expected_frame(23))
    assert not window.loader.busy and window.navigator.decoding_label.text() == ""
    # The model side is asked for this frame now and the next ones after it.
    assert window.service.prefetched_frames[-1] == (video.id, [23, 24, 22, 25])
    # Stepping back after a seek: a frame the reader kept, shown without a new seek.
    key(qtbot, window, Qt.Key.Key_Comma)
    settle(qtbot, window)
    assert np.array_equal(shown_pixels(window), expected_frame(22))


def test_clicks_wait_for_the_frame_to_show(window: MainWindow, qtbot, monkeypatch) -> None:
    """While the frame on screen is still the previous one, a click would annotate pixels the
    user cannot see: it is refused with a message, and works once the frame is shown."""
    from samdesk.ui.image_loader import ImageLoader

    goto(qtbot, window, 4)
    monkeypatch.setattr(ImageLoader, "busy", property(lambda self: True))
    window.canvas.setFocus()
    click(window, 160, 110)
    assert window.controller.pending is None and window.service.requests == []
    assert "still decoding" in window.statusBar().currentMessage()
    monkeypatch.undo()
    click(window, 160, 110)
    assert window.service.requests[-1][1].frame == 4


def test_frame_ranges_are_compact() -> None:
    from samdesk.ui.panels.objects import frame_ranges

    assert frame_ranges([9, 2, 5, 6, 7]) == "2, 5–7, 9"
    assert frame_ranges([]) == "" and frame_ranges([0]) == "0" and frame_ranges([3, 4]) == "3–4"


def test_frame_shortcuts_are_listed_and_do_not_clash(window: MainWindow) -> None:
    rows = dict((text, keys) for keys, text in shortcut_rows(list(window.menu_actions.by_id.values())))
    assert "." in rows["Next frame"] and "Right" in rows["Next frame"]
    assert "," in rows["Previous frame"] and "Home" in rows["First frame"] and "End" in rows["Last frame"]
    keys = [s.toString() for a in window.menu_actions.by_id.values() for s in a.shortcuts()]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)


def test_annotate_two_frames_save_reopen_undo_and_export(window: MainWindow, qtbot, tmp_path: Path) -> None:
    c, doc = window.controller, window.document
    (video,) = doc.project.media
    window.categories_panel.add("cat")  # a current category: Enter accepts without the picker

    # --- frame 2: click, accept ---
    goto(qtbot, window, 2)
    window.canvas.setFocus()
    click(window, 160, 110)
    wait_candidates(qtbot, window)
    assert window.service.requests[-1][1].frame == 2
    key(qtbot, window, Qt.Key.Key_Return)
    (cat,) = doc.project.objects
    assert set(cat.frames) == {2} and cat.frames[2].provenance == Provenance.MODEL
    first_mask = rle.decode(cat.frames[2].rle)
    assert first_mask[110, 160] and first_mask.shape == (224, 320)
    assert window.navigator.slider.marked == {2}

    # --- frame 5: the same object gets a mask here (select it, R, click, Enter) ---
    for _ in range(3):
        key(qtbot, window, Qt.Key.Key_Period)
    assert c.frame == 5 and c.object_mask(cat.id) is None
    settle(qtbot, window)
    assert window.objects_panel.tree.topLevelItem(0).text(3) == "3"  # its frames column (index 2)
    assert window.objects_panel.tree.topLevelItem(0).font(0).italic()  # no mask on this frame
    c.select_object(cat.id)
    assert "press R" in window.statusBar().currentMessage()
    key(qtbot, window, Qt.Key.Key_R)
    assert c.pending is not None and c.pending.target_object == cat.id
    click(window, 200, 120)
    wait_candidates(qtbot, window)
    assert window.service.requests[-1][1].frame == 5
    key(qtbot, window, Qt.Key.Key_Return)
    assert len(doc.project.objects) == 1 and set(cat.frames) == {2, 5}
    assert c.object_mask(cat.id)[120, 200] and not c.object_mask(cat.id)[110, 100]
    assert np.array_equal(rle.decode(cat.frames[2].rle), first_mask)  # frame 2 untouched

    # --- a second object on frame 5 ---
    c.select_object(None)
    click(window, 60, 60)
    wait_candidates(qtbot, window)
    key(qtbot, window, Qt.Key.Key_Return)
    second = doc.project.objects[1]
    assert set(second.frames) == {5}
    assert window.navigator.slider.marked == {2, 5}
    assert sorted(window.objects_panel.tree.topLevelItem(i).text(3) for i in range(2)) == ["3, 6", "6"]

    # Switching frames shows each frame's masks.
    def painted(object_id: int) -> bool:
        return window.layer.object_items[object_id].has_mask

    key(qtbot, window, Qt.Key.Key_Home)
    assert not painted(cat.id) and not painted(second.id)
    key(qtbot, window, Qt.Key.Key_Right, CTRL)  # next annotated frame
    assert c.frame == 2 and painted(cat.id) and not painted(second.id)
    key(qtbot, window, Qt.Key.Key_Right, CTRL)
    assert c.frame == 5 and painted(cat.id) and painted(second.id)

    # --- save, reopen: the per-frame masks are back ---
    path = tmp_path / "video.samdesk.json"
    assert window.files.save_to(path)
    saved = {(o.id, f): rle.decode(a.rle) for o in doc.project.objects for f, a in o.frames.items()}
    reopened = make_window(qtbot, tmp_path)
    assert open_paths(qtbot, reopened, [path]) == []
    settle(qtbot, reopened)
    project = reopened.document.project
    loaded = {(o.id, f): rle.decode(a.rle) for o in project.objects for f, a in o.frames.items()}
    assert loaded.keys() == saved.keys() == {(cat.id, 2), (cat.id, 5), (second.id, 5)}
    assert all(np.array_equal(loaded[k], saved[k]) for k in saved)
    assert reopened.navigator.isVisible() and reopened.navigator.slider.marked == {2, 5}

    # --- export: DAVIS PNGs and YouTube-VIS tracks carry both annotated frames ---
    from samdesk.io.video_masks import DavisExportOptions, export_davis
    from samdesk.io.ytvis import export_ytvis

    options = DavisExportOptions(images_root=sample_video().parent, resolution="Full-Resolution")
    export_davis(doc.project, tmp_path / "davis", options)
    folder = tmp_path / "davis/Annotations/Full-Resolution" / sample_video().stem
    assert sorted(p.name for p in folder.iterdir()) == ["00002.png", "00005.png"]
    with Image.open(folder / "00005.png") as image:
        labels = np.asarray(image)
    assert np.array_equal(labels == 1, saved[(cat.id, 5)])
    assert np.array_equal(labels == 2, saved[(second.id, 5)])
    export_ytvis(doc.project, tmp_path / "ytvis", options)
    data = json.loads((tmp_path / "ytvis/instances.json").read_text())
    assert data["videos"][0]["file_names"] == [f"{sample_video().stem}/{f:05d}.jpg" for f in (2, 5)]
    tracks = data["annotations"]
    assert [[i for i, s in enumerate(t["segmentations"]) if s is not None] for t in tracks] == [[0, 1], [1]]

    # --- undo across frames: from frame 0, Ctrl+Z takes back frame 5's work and shows it ---
    reopened.close()
    window.activateWindow()  # window shortcuts need their window active
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    key(qtbot, window, Qt.Key.Key_Home)
    key(qtbot, window, Qt.Key.Key_Z, CTRL)
    assert [o.id for o in doc.project.objects] == [cat.id] and c.frame == 5
    key(qtbot, window, Qt.Key.Key_Z, CTRL)
    assert set(cat.frames) == {2} and c.frame == 5
    key(qtbot, window, Qt.Key.Key_Home)
    key(qtbot, window, Qt.Key.Key_Z, CTRL | SHIFT)  # redo jumps to the frame it restores
    assert set(cat.frames) == {2, 5} and c.frame == 5
    assert window.navigator.slider.marked == {2, 5}


def test_corrupt_and_empty_videos_are_reported_and_the_others_open(
    qtbot, tmp_path: Path, media_dir: Path
) -> None:
    window = make_window(qtbot, tmp_path)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    broken = tmp_path / "broken.mov"
    broken.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    problems = open_paths(qtbot, window, [empty, broken, media_dir / "dog.jpg", sample_video()])
    assert len(problems) == 2
    assert str(empty) in problems[0] and str(broken) in problems[1]
    assert [m.name for m in window.document.project.media] == ["dog.jpg", sample_video().name]
    # Images and videos side by side: the navigator only on the video, which comes back at the
    # frame it was left at.
    dog, video = window.document.project.media
    settle(qtbot, window)
    assert not window.navigator.isVisible()
    key(qtbot, window, Qt.Key.Key_D)  # next image: the video
    settle(qtbot, window)
    assert window.controller.media_id == video.id and window.navigator.isVisible()
    goto(qtbot, window, 7)
    key(qtbot, window, Qt.Key.Key_A)
    settle(qtbot, window)
    assert window.controller.frame == 0 and not window.navigator.isVisible()
    assert window.current_image.width() == dog.width
    key(qtbot, window, Qt.Key.Key_Period)  # no video on screen: nothing happens
    assert window.controller.frame == 0
    key(qtbot, window, Qt.Key.Key_D)
    settle(qtbot, window)
    assert window.controller.frame == 7 and window.navigator.frame == 7
    assert np.array_equal(shown_pixels(window), expected_frame(7))
    # A folder holding videos opens them too (the broken ones reported, not added).
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(sample_video().read_bytes())
    (folder / "bad.mp4").write_bytes(b"not a video")
    other = make_window(qtbot, tmp_path)
    problems = open_paths(qtbot, other, [folder])
    assert len(problems) == 1 and "bad.mp4" in problems[0]
    assert [m.name for m in other.document.project.media] == ["clip.mp4"]


def test_command_line_video_runs_the_model_on_the_frame(qtbot, tmp_path: Path) -> None:
    """``samdesk clip.mp4``: the app opens it; clicks on frame 3 are encoded and predicted on
    frame 3 by the real runtime (classical backend), and frame 4 is encoded ahead."""
    from model_runtime.runtime.requests import EmbeddingKey, video_frames_key
    from samdesk.ui.app import create_window

    window = create_window([str(sample_video())], "classical", settings_path=tmp_path / "s.json")
    window.errors_as_status = True
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: not window.files.busy, timeout=60_000)
    assert window.last_error == ""
    qtbot.waitUntil(lambda: window.controller.service is not None, timeout=60_000)
    goto(qtbot, window, 3)
    window.canvas.setFocus()
    click(window, 160, 110)
    c = window.controller
    qtbot.waitUntil(lambda: c.pending is not None and c.pending.candidates is not None, timeout=60_000)
    assert c.error is None
    runtime = window.controller.service.bridge.runtime
    media = c.media
    model_id = runtime.model_info.model_id
    # A video's frames are keyed apart from still images (encoded as tracking encodes them).
    key = video_frames_key(media.content_hash)
    assert EmbeddingKey(key, 3, model_id) in runtime.memory_cache
    ahead = EmbeddingKey(key, 4, model_id)
    qtbot.waitUntil(lambda: ahead in runtime.memory_cache, timeout=60_000)
    c.accept(None)
    (obj,) = window.document.project.objects
    assert set(obj.frames) == {3} and obj.frames[3].model_id == model_id
