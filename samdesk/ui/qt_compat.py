"""Work-around for PySide6 6.12.0 on Python 3.11: every call of a void Qt method decrefs ``None``.

Measured here (tests/test_ui_qt_compat.py): with PySide6-Essentials 6.12.0 on CPython 3.11,
``QGraphicsItem.setZValue`` & co. lower ``sys.getrefcount(None)`` by one per call; 6.11.3 does
not. From Python 3.12 on ``None`` is immortal and the bug is harmless, but on 3.11 a GUI makes
thousands of such calls a second and the process dies within minutes ("Fatal Python error:
none_dealloc"), losing unsaved work. The proper fix is the dependency pin in pyproject.toml;
this guard keeps an affected install alive: a GUI-thread timer tops ``None``'s reference count
back up whenever it has drifted below a wide margin. It only acts when the leak is detected.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, QTimer

FLOOR = 1 << 24  # refcount kept above this; a frame of GUI work leaks far less
CHECK_MS = 250

_installed: dict[int, QTimer] = {}


def none_leak_per_call(samples: int = 200) -> float:
    """How many references of ``None`` one void Qt call loses (0.0 on healthy builds)."""
    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(samples):
        probe.setObjectName("probe")
    return (before - sys.getrefcount(None)) / samples


def _top_up() -> None:
    count = sys.getrefcount(None)
    if count < FLOOR:
        # ob_refcnt is the first field of every PyObject in release builds of CPython <= 3.11.
        ctypes.c_ssize_t.from_address(id(None)).value += 2 * FLOOR - count


def install_none_guard(app: QObject) -> bool:
    """Start the guard for ``app`` if this Python/PySide6 pair leaks; returns whether it did."""
    if sys.version_info >= (3, 12) or id(app) in _installed:
        return id(app) in _installed
    if none_leak_per_call() < 0.5:
        return False
    _top_up()
    timer = QTimer(app)
    timer.setInterval(CHECK_MS)
    timer.timeout.connect(_top_up)
    timer.start()
    _installed[id(app)] = timer
    return True
