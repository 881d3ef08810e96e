"""Playing a video: which frame should be on screen now, at a speed, optionally looping over a
range of frames. Wall-clock based, so a slow decode drops frames instead of slowing the video;
the GUI (``samdesk/ui/playback.py``) asks :meth:`PlaybackClock.target` on each timer tick and
shows that frame once the previous one is on screen.
"""

from __future__ import annotations

from dataclasses import dataclass

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)
DEFAULT_FPS = 25.0  # for a video whose rate is unknown


@dataclass
class PlaybackClock:
    frame_count: int
    fps: float | None = None
    speed: float = 1.0
    loop: tuple[int, int] | None = None  # first and last frame of the range played over and over
    looping: bool = False
    _origin: tuple[int, float] | None = None  # (frame, time) playback counts from

    @property
    def rate(self) -> float:
        """Frames per second of wall-clock time."""
        return (self.fps if self.fps and self.fps > 0 else DEFAULT_FPS) * self.speed

    def loop_range(self) -> tuple[int, int] | None:
        """The range played when looping: the marked one, else the whole video."""
        if not self.looping:
            return None
        first, last = self.loop if self.loop is not None else (0, self.frame_count - 1)
        first, last = max(0, min(first, last)), min(self.frame_count - 1, max(first, last))
        return first, last

    def start(self, frame: int, now: float) -> int:
        """Start (or restart) counting from ``frame`` at ``now``; returns the frame it starts
        on (the loop's first frame when ``frame`` is outside the loop)."""
        span = self.loop_range()
        if span is not None and not span[0] <= frame <= span[1]:
            frame = span[0]
        elif span is None and frame >= self.frame_count - 1:
            frame = 0  # play again from the start, as players do at the end
        self._origin = (frame, now)
        return frame

    def target(self, now: float) -> int:
        """The frame to show at ``now`` (the last one, once played to the end without a loop)."""
        if self._origin is None:
            raise RuntimeError("playback not started")
        frame, then = self._origin
        reached = frame + int((now - then) * self.rate)
        span = self.loop_range()
        if span is None:
            return min(reached, self.frame_count - 1)
        first, last = span
        return first + (reached - first) % (last - first + 1)

    def finished(self, frame_on_screen: int) -> bool:
        """Played to the end of a video without a loop: playback stops there."""
        return not self.looping and frame_on_screen >= self.frame_count - 1

    def set_speed(self, speed: float, frame: int, now: float) -> None:
        """Change the speed without a jump: count again from the frame on screen."""
        self.speed = speed
        if self._origin is not None:
            self._origin = (frame, now)
