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
