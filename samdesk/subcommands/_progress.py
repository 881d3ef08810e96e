"""A progress bar on stderr for long headless jobs (shared by subcommands; not a subcommand)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """``bar(done, total)`` redraws ``label [####    ] done/total`` on ``stream``.

    Small jobs (``total < min_total``) stay silent. On a terminal the bar redraws in place at most
    ten times a second; in a log file it writes one line per tenth of the job.
    """

    def __init__(
        self, label: str, stream: TextIO | None = None, min_total: int = 50, width: int = 30
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.min_total = min_total
        self.width = width
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_time = 0.0
        self._last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        if total < self.min_total:
            return
        if self._tty:
            now = time.monotonic()
            if done < total and now - self._last_time < 0.1:
                return
            self._last_time = now
            filled = self.width * done // total
            bar = "#" * filled + " " * (self.width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {done}/{total}")
            if done >= total:
                self.stream.write("\n")
        else:
            tenth = 10 * done // total
            if tenth == self._last_tenth:
                return
            self._last_tenth = tenth
            self.stream.write(f"{self.label}: {done}/{total}\n")
        self.stream.flush()


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``: short enough for a progress line."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class EtaBar:
    """``bar(done, name)`` redraws ``[####    ] done/total  1.9 s/image  ETA 2m10s  name``.

    Time per item and the ETA come from the wall time since the bar started over the items done
    (so with several workers they show the combined rate). On a terminal it redraws in place;
    elsewhere it writes one line per tenth of the job.
    """

    def __init__(
        self, total: int, stream: TextIO | None = None, unit: str = "image", width: int = 30
    ) -> None:
        self.total, self.unit, self.width = total, unit, width
        self.stream = stream or sys.stderr
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._start = time.monotonic()
        self._last_tenth = -1
        self._drawn = False

    def restart(self) -> None:
        """Count time from now (when the work itself starts, after loading models)."""
        self._start = time.monotonic()

    def __call__(self, done: int, name: str = "") -> None:
        elapsed = time.monotonic() - self._start
        rate = f"{elapsed / done:5.1f} s/{self.unit}" if done else ""
        eta = f"ETA {format_duration(elapsed / done * (self.total - done))}" if done else "ETA ?"
        if self._tty:
            filled = self.width * done // max(self.total, 1)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r[{bar}] {done}/{self.total}  {rate}  {eta}  {name[:40]:<40}")
            self._drawn = True
        else:
            tenth = 10 * done // max(self.total, 1)
            if tenth == self._last_tenth:
                return
            self._last_tenth = tenth
            self.stream.write(f"{done}/{self.total}  {rate}  {eta}  {name}\n")
        self.stream.flush()

    def finish(self) -> None:
        if self._tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
