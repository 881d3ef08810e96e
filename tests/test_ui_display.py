"""Brightness, contrast and gamma for dark images (issue 18): keys and sliders change what the
canvas shows, never the image the model and the exports get."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from samdesk.io.formats import run_export
from samdesk.session.display import Display, apply, auto_levels
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.ui_driver import open_paths


def test_lookup_table() -> None:
    assert np.array_equal(Display().lut(), np.arange(256))
    brighter = Display(brightness=0.2).lut()
    assert brighter[0] == 51 and brighter[255] == 255
    lifted = Display(gamma=2.0).lut()
    assert lifted[64] == 128 and lifted[0] == 0 and lifted[255] == 255  # shadows lifted, ends fixed
    flat = Display(contrast=0.5).lut()
    assert flat[0] == 64 and flat[255] == 191
    assert Display().changed("gamma", 100).gamma == 5.0  # clipped at its limit
    rgba = np.full((2, 2, 4), 10, np.uint8)
    out = apply(rgba, Display(brightness=0.5))
    assert (out[..., :3] == 138).all() and (out[..., 3] == 10).all()  # alpha kept


def test_auto_levels_stretch_a_dark_image() -> None:
    rng = np.random.default_rng(0)
    dark = rng.integers(0, 64, (300, 400, 4), dtype=np.uint8)
    display = auto_levels(dark)
    lut = display.lut()
    assert display.gamma == 1.0 and display.contrast > 3.5
    assert lut[1] <= 8 and lut[62] >= 245  # 0.5 % either side clipped
    assert auto_levels(np.full((10, 10, 3), 128, np.uint8)).is_identity  # flat: nothing to stretch


def mean_shown(window: MainWindow) -> float:
    image = window.canvas.shown_image().convertToFormat(QImage.Format.Format_RGBA8888)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return float(pixels[:, : image.width() * 4].reshape(image.height(), image.width(), 4)[..., :3].mean())


@pytest.mark.gui
def test_keys_brighten_the_view_only(qtbot, tmp_path: Path, media_dir: Path) -> None:
    window = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    window.errors_as_status = True
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    assert open_paths(qtbot, window, [media_dir / "dog.jpg", media_dir / "truck.jpg"]) == []
    window.navigation.show_media(window.document.project.media[0].id)
    qtbot.waitUntil(lambda: window.current_image is not None)
    original = window.current_image.copy()
    steps = window.document.history.steps()
    before = mean_shown(window)
    for _ in range(4):
        qtbot.keyClick(window.canvas, Qt.Key.Key_Up, Qt.KeyboardModifier.ShiftModifier)
    assert window.canvas.display.brightness == pytest.approx(0.2)
    brighter = mean_shown(window)
    assert brighter > before + 30
    qtbot.keyClick(window.canvas, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert window.canvas.display.gamma == pytest.approx(1.1) and mean_shown(window) > brighter
    # The image the model and the exports get is the file's.
    assert window.current_image == original
    assert window.document.history.steps() == steps  # not a change of the project
    # The next image is shown adjusted too; Ctrl+0 resets.
    qtbot.keyClick(window.canvas, "d")
    qtbot.waitUntil(lambda: window.current_image is not None and window.current_image.width() == 1800)
    assert mean_shown(window) > 0
    qtbot.keyClick(window.canvas, "0", Qt.KeyboardModifier.ControlModifier)
    assert window.canvas.display.is_identity
    assert window.canvas.shown_image().convertToFormat(QImage.Format.Format_RGB32) == (
        window.current_image.convertToFormat(QImage.Format.Format_RGB32)
    )
    # Ctrl+Shift+L (levels) stretches the picture on screen; the image itself stays.
    both = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window.canvas, "l", both)
    assert not window.canvas.display.is_identity and window.canvas.display.contrast > 1.0
    window.display.reset()
    # The sliders move the same setting, and follow the keys.
    dialog = window.display.show_dialog()
    window.display.sliders["contrast"].setValue(150)
    assert window.canvas.display.contrast == pytest.approx(1.5)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert window.display.sliders["brightness"].value() == -5
    dialog.close()
    out = tmp_path / "coco.json"
    run_export("coco", window.document.project, out, images_root=media_dir)  # nothing to change there
    assert out.exists()
