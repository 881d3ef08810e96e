"""Video ▸ Play: a play/pause button, a speed choice and a loop over a range of frames, in the
frame navigator under the canvas (``samdesk/session/playback.py`` says which frame is due).

A timer asks for the due frame once the frame on screen has decoded, so playback keeps wall-clock
time and drops frames when decoding is slower than the video. Moving to another frame while
playing (keys, the slider, the timeline) plays on from there; another media stops it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QComboBox, QStyle, QToolButton

from samdesk.session import AnnotationController
from samdesk.session.frame_numbers import frame_number
from samdesk.session.playback import SPEEDS, PlaybackClock
from samdesk.ui.media_navigation import MediaNavigation

TICK_MS = 10


class Player(QObject):
    def __init__(
        self, controller: AnnotationController, navigation: MediaNavigation, say: Callable[[str], None]
    ) -> None:
        super().__init__(navigation)
        self.controller = controller
        self.navigation = navigation
        self.say = say
        self.clock = PlaybackClock(frame_count=1)
        self._asked: int | None = None  # the frame this player asked for last
        self._paused_encoding = False  # this player paused encoding ahead (to resume it)
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.play_button = QToolButton()
        self.play_button.setCheckable(True)  # checked while playing
        self.play_button.setToolTip("Play / pause (K)")
        self.play_button.clicked.connect(self.toggle)
        self._show_playing(False)
        self.speed_box = QComboBox()
        for speed in SPEEDS:
            self.speed_box.addItem(f"{speed:g}×", speed)
        self.speed_box.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_box.setToolTip("Playback speed")
        self.speed_box.currentIndexChanged.connect(lambda i: self.set_speed(SPEEDS[i]))
        self.loop_button = QToolButton()
        self.loop_button.setCheckable(True)
        self.loop_button.toggled.connect(self._loop_toggled)
        for widget in (self.play_button, self.speed_box, self.loop_button):
            widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the window's keys stay live
        layout = navigation.navigator.layout()
        layout.insertWidget(0, self.play_button)
        layout.insertWidget(layout.count() - 1, self.speed_box)
        layout.insertWidget(layout.count() - 1, self.loop_button)
        controller.media_changed.append(self._media_changed)
        self._show_loop()

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def toggle(self) -> None:
        """K: play from the frame on screen, or pause."""
        if self.playing:
            self.pause()
        elif self.controller.is_video:
            self._asked = None
            # Frames passing by are not encoded ahead (they would queue up behind each other
            # and compete with a click); the frame playback stops on is, as after scrubbing.
            self._paused_encoding = not self.controller.encoding_ahead_paused
            self.controller.pause_encoding_ahead(True)
            self._ask(self.clock.start(self.controller.frame, time.monotonic()))
            self.timer.start()
        self._show_playing(self.playing)

    def pause(self) -> None:
        self.timer.stop()
        self._show_playing(False)
        if self._paused_encoding:  # not when something else (a tracking run) paused it
            self._paused_encoding = False
            self.controller.pause_encoding_ahead(False)

    def _show_playing(self, playing: bool) -> None:
        """The button shows what a click does: pause while playing, else play."""
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.play_button.style().standardIcon(icon))
        self.play_button.setChecked(playing)

    def set_speed(self, speed: float) -> None:
        self.clock.set_speed(speed, self.controller.frame, time.monotonic())
        if self.speed_box.currentData() != speed:
            self.speed_box.setCurrentIndex(SPEEDS.index(speed))

    def faster(self) -> None:
        self.set_speed(SPEEDS[min(SPEEDS.index(self.clock.speed) + 1, len(SPEEDS) - 1)])

    def slower(self) -> None:
        self.set_speed(SPEEDS[max(SPEEDS.index(self.clock.speed) - 1, 0)])

    def toggle_loop(self) -> None:
        """L: loop over the marked range (the whole video when none is marked), or stop looping."""
        self.loop_button.toggle()

    def set_loop_start(self) -> None:
        """Shift+Home: the loop starts at the frame on screen."""
        end = self.clock.loop[1] if self.clock.loop is not None else self.clock.frame_count - 1
        self._set_loop(self.controller.frame, max(end, self.controller.frame))

    def set_loop_end(self) -> None:
        """Shift+End: the loop ends at the frame on screen."""
        start = self.clock.loop[0] if self.clock.loop is not None else 0
        self._set_loop(min(start, self.controller.frame), self.controller.frame)

    def clear_loop(self) -> None:
        """Forget the marked range: looping (if on) goes over the whole video."""
        self.clock.loop = None
        self._show_loop()
        self.say("Loop range cleared")

    def _set_loop(self, first: int, last: int) -> None:
        self.clock.loop = (first, last)
        self.loop_button.setChecked(True)
        self._show_loop()
        self.say(f"Looping frames {frame_number(first)}–{frame_number(last)}")

    def _loop_toggled(self, on: bool) -> None:
        self.clock.looping = on
        if self.playing:  # carry on inside the loop
            self._ask(self.clock.start(self.controller.frame, time.monotonic()))
        self._show_loop()

    def _show_loop(self) -> None:
        span = self.clock.loop
        self.navigation.navigator.slider.set_loop(self.clock.loop_range())
        text = "⟲" if span is None else f"⟲ {frame_number(span[0])}–{frame_number(span[1])}"
        self.loop_button.setText(text)
        self.loop_button.setToolTip(
            "Loop playback (L) over the range set with Shift+Home and Shift+End (else the whole video)"
        )

    def _media_changed(self) -> None:
        self.pause()
        media = self.controller.media
        frames = media.frame_count if media is not None else 1
        if frames != self.clock.frame_count or (media is not None and media.fps != self.clock.fps):
            self.clock.loop = None
        self.clock.frame_count, self.clock.fps = frames, media.fps if media is not None else None
        self._show_loop()

    def _ask(self, frame: int) -> None:
        self._asked = frame
        if frame != self.controller.frame:
            self.navigation.show_frame(frame)

    def _tick(self) -> None:
        if not self.controller.is_video:
            self.pause()
            return
        if self.navigation.loader.busy:
            return  # the frame asked for is still decoding: show it before the next
        here, now = self.controller.frame, time.monotonic()
        if self._asked is not None and here != self._asked:  # the user went elsewhere
            self.clock.start(here, now)
        if self.clock.finished(here):
            self.pause()
            return
        self._ask(self.clock.target(now))
