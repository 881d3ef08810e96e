"""The frame navigator under the canvas: timeline slider with annotated-frame ticks, prev/next
buttons, the frame number and a "decoding…" hint. Shown only while a video is on screen.

It only asks for frames (``frame_requested``); the window decides what showing a frame means.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSlider,
    QStyle,
    QStyleOptionSlider,
    QToolButton,
    QWidget,
)

from samdesk.session.frame_numbers import frame_of

TICK_COLOR = QColor(255, 190, 40)
LOOP_COLOR = QColor(80, 170, 255)


class TimelineSlider(QSlider):
    """A horizontal slider that paints a tick at every frame holding at least one mask."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.marked: frozenset[int] = frozenset()
        self.loop: tuple[int, int] | None = None  # a playback loop's first and last frame, shaded
        # The window's shortcuts (Left/Right, Home/End) step frames; a focused slider would
        # swallow them and step by its own rules.
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setMinimumHeight(24)

    def set_marked(self, frames: Iterable[int]) -> None:
        marked = frozenset(frames)
        if marked != self.marked:
            self.marked = marked
            self.update()

    def tick_x(self, frame: int) -> int:
        """Horizontal pixel of ``frame``'s position along the groove (where the handle centre
        would be)."""
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        style, control = self.style(), QStyle.ComplexControl.CC_Slider
        groove = style.subControlRect(control, option, QStyle.SubControl.SC_SliderGroove, self)
        handle = style.subControlRect(control, option, QStyle.SubControl.SC_SliderHandle, self)
        span = max(1, groove.width() - handle.width())
        offset = QStyle.sliderPositionFromValue(self.minimum(), self.maximum(), frame, span)
        return groove.x() + handle.width() // 2 + offset

    def set_loop(self, span: tuple[int, int] | None) -> None:
        if span != self.loop:
            self.loop = span
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.loop is not None:
            painter = QPainter(self)
            left, right = self.tick_x(self.loop[0]), self.tick_x(self.loop[1])
            painter.fillRect(left, self.height() - 3, max(right - left, 2), 3, LOOP_COLOR)
            painter.end()
        if not self.marked:
            return
        painter = QPainter(self)
        painter.setPen(TICK_COLOR)
        height = self.height()
        for frame in self.marked:
            if self.minimum() <= frame <= self.maximum():
                x = self.tick_x(frame)
                painter.drawLine(x, height - 6, x, height - 1)
                painter.drawLine(x, 0, x, 4)
        painter.end()


class FrameNavigator(QWidget):
    """``set_video(count)``, ``set_frame(i)``, ``set_marked(frames)``, ``set_decoding(bool)``;
    emits ``frame_requested(i)`` when the user moves the slider or presses a button."""

    frame_requested = Signal(int)
    scrubbing = Signal(bool)  # the slider is being dragged (True) or let go (False)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = TimelineSlider()
        self.slider.setRange(0, 0)
        self.slider.valueChanged.connect(self._slider_moved)
        self.slider.sliderPressed.connect(lambda: self.scrubbing.emit(True))
        self.slider.sliderReleased.connect(lambda: self.scrubbing.emit(False))
        self.prev_button = self._button("◀", "Previous frame", -1)
        self.next_button = self._button("▶", "Next frame", +1)
        self.frame_label = QLabel("")
        self.frame_label.setMinimumWidth(110)
        self.frame_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.frame_label.setToolTip(
            "Frames are counted from 1 here; project files and exports count from 0 "
            "(frame 1 is 00000.png)"
        )
        self.decoding_label = QLabel("")
        self.decoding_label.setMinimumWidth(80)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(self.prev_button)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.next_button)
        layout.addWidget(self.frame_label)
        layout.addWidget(self.decoding_label)
        self._syncing = False

    def _button(self, text: str, tip: str, step: int) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.setAutoRepeat(True)  # hold to play through frames
        button.clicked.connect(lambda: self.frame_requested.emit(self.frame + step))
        return button

    @property
    def frame(self) -> int:
        return self.slider.value()

    @property
    def frame_count(self) -> int:
        return self.slider.maximum() + 1

    def set_video(self, frame_count: int) -> None:
        self._syncing = True
        self.slider.setRange(0, max(0, frame_count - 1))
        self.slider.setPageStep(max(1, frame_count // 20))
        self._syncing = False
        self._update_label()

    def set_frame(self, frame: int) -> None:
        """Show ``frame`` as current without emitting ``frame_requested``."""
        self._syncing = True
        self.slider.setValue(frame)
        self._syncing = False
        self._update_label()

    def set_marked(self, frames: Iterable[int]) -> None:
        self.slider.set_marked(frames)

    def set_decoding(self, busy: bool) -> None:
        self.decoding_label.setText("decoding…" if busy else "")

    def _slider_moved(self, value: int) -> None:
        self._update_label()
        if not self._syncing:
            self.frame_requested.emit(value)

    def _update_label(self) -> None:
        self.frame_label.setText(frame_of(self.frame, self.frame_count))
