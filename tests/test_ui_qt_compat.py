"""The None-refcount guard for PySide6 6.12.0 on Python 3.11 (see samdesk/ui/qt_compat.py)."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication

from samdesk.ui import qt_compat

pytestmark = pytest.mark.gui


def test_guard_keeps_none_alive_through_many_void_calls(qtbot, monkeypatch) -> None:
    monkeypatch.setattr(qt_compat, "FLOOR", 100_000)  # a small margin keeps the test quick
    app = QApplication.instance()
    active = qt_compat.install_none_guard(app)
    leak = qt_compat.none_leak_per_call()
    assert active == (sys.version_info < (3, 12) and leak >= 0.5)
    if not active:
        return
    probe = QObject()
    qtbot.wait(qt_compat.CHECK_MS * 2)
    # 3 × 90k void calls: more than None's references (~100-200k) without top-ups, so an
    # unguarded process aborts here.
    for _ in range(3):
        for _ in range(90_000):
            probe.setObjectName("x")
        assert sys.getrefcount(None) > 0
        qtbot.wait(qt_compat.CHECK_MS * 2)
    assert sys.getrefcount(None) >= qt_compat.FLOOR
