"""View ▸ brightness, contrast and gamma: shortcuts and a small non-modal dialog of sliders
that change how the canvas shows the picture (``samdesk/session/display.py``), never the
project, the model's input or an export. The setting lasts while the window is open and
applies to every image and frame shown."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QFormLayout, QPushButton, QSlider, QWidget

from samdesk.session.display import LIMITS, Display, auto_levels
from samdesk.ui.canvas.adjust import rgba_pixels
from samdesk.ui.canvas.view import CanvasView

SLIDER_SCALE = 100  # slider units per unit of the setting


class DisplayControls:
    def __init__(self, canvas: CanvasView, say: Callable[[str], None], parent: QWidget) -> None:
        self.canvas = canvas
        self.say = say
        self.parent = parent
        self.dialog: QDialog | None = None
        self.sliders: dict[str, QSlider] = {}

    @property
    def display(self) -> Display:
        return self.canvas.display

    def set(self, display: Display) -> None:
        self.canvas.set_display(display)
        self.say("Image shown with " + ("no adjustment" if display.is_identity else display.describe()))
        for name, slider in self.sliders.items():
            slider.blockSignals(True)
            slider.setValue(round(getattr(display, name) * SLIDER_SCALE))
            slider.blockSignals(False)

    def change(self, name: str, sign: int) -> None:
        """One step of ``name`` ("brightness", "contrast", "gamma") up (+1) or down (-1)."""
        self.set(self.display.changed(name, sign))

    def reset(self) -> None:
        self.set(Display())

    def auto(self) -> None:
        """Ctrl+Shift+L (levels): stretch the picture on screen from its darkest to its lightest tones."""
        image = self.canvas.original_image()
        if image is not None and not image.isNull():
            self.set(auto_levels(rgba_pixels(image)))

    def show_dialog(self) -> QDialog:
        if self.dialog is None:
            self.dialog = self._make_dialog()
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def _make_dialog(self) -> QDialog:
        dialog = QDialog(self.parent)
        dialog.setWindowTitle("Brightness, contrast, gamma (view only)")
        form = QFormLayout(dialog)
        for name, (low, high) in LIMITS.items():
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(round(low * SLIDER_SCALE), round(high * SLIDER_SCALE))
            slider.setValue(round(getattr(self.display, name) * SLIDER_SCALE))
            slider.setMinimumWidth(220)
            slider.valueChanged.connect(lambda value, n=name: self._slid(n, value))
            form.addRow(name.capitalize(), slider)
            self.sliders[name] = slider
        reset = QPushButton("Reset")
        reset.clicked.connect(self.reset)
        auto = QPushButton("Auto")
        auto.setToolTip("Stretch the picture from its darkest to its lightest tones (Ctrl+Shift+L)")
        auto.clicked.connect(self.auto)
        form.addRow(auto, reset)
        return dialog

    def _slid(self, name: str, value: int) -> None:
        from dataclasses import replace

        self.canvas.set_display(replace(self.display, **{name: value / SLIDER_SCALE}))
