"""How fast a long run goes and how long it has left, from (done, time) samples (Qt-free).

The rate is measured over the last ``window_s`` seconds, so it follows a run that slows down
(a long video's frames get bigger memories) or speeds up, rather than averaging from the start.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class ProgressRate:
    window_s: float = 10.0
    _samples: deque[tuple[float, int]] = field(default_factory=deque, init=False, repr=False)

    def add(self, done: int, now: float) -> None:
        """``done`` items finished by time ``now`` (seconds, any monotonic clock)."""
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window_s:
            self._samples.popleft()

    def per_second(self) -> float | None:
        """Items per second over the window; None until two samples span some time."""
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        if t1 <= t0 or d1 <= d0:
            return None
        return (d1 - d0) / (t1 - t0)

    def seconds_left(self, total: int) -> float | None:
        rate = self.per_second()
        if rate is None:
            return None
        return max(0, total - self._samples[-1][1]) / rate


def duration_text(seconds: float) -> str:
    """0:07, 12:05, 1:02:03."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
