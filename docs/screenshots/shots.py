"""What the screenshot scripts share: waiting for the window while Qt keeps painting."""

from __future__ import annotations

import time
from collections.abc import Callable


def waiter(app, window=None, timeout: float = 120.0, fail: bool = True) -> Callable[..., None]:
    """``pump(until, timeout=..., what="")``: process Qt events until ``until()`` holds or the
    timeout passes; then, when ``fail``, leave naming what was awaited (or the status bar)."""

    def pump(until: Callable[[], object], timeout: float = timeout, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        if fail and not until():
            said = what or (f"status: {window.statusBar().currentMessage()}" if window is not None else "")
            raise SystemExit(f"timed out; {said}")

    return pump
