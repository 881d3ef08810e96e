"""Drives the main window like a user: real mouse and key events on the canvas viewport."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from samdesk.ui.main_window import MainWindow


def to_view(window: MainWindow, x: float, y: float) -> QPoint:
    """Image pixel -> canvas viewport position."""
    return window.canvas.mapFromScene(QPointF(x, y))


def mouse(
    window: MainWindow,
    kind: QEvent.Type,
    pos: QPoint,
    button: Qt.MouseButton,
    buttons: Qt.MouseButton,
    modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
) -> None:
    viewport = window.canvas.viewport()
    global_pos = QPointF(viewport.mapToGlobal(pos))
    event = QMouseEvent(kind, QPointF(pos), global_pos, button, buttons, modifiers)
    QApplication.sendEvent(viewport, event)


def click(
    window: MainWindow,
    x: float,
    y: float,
    button: Qt.MouseButton = Qt.MouseButton.LeftButton,
    modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
) -> None:
    pos = to_view(window, x, y)
    mouse(window, QEvent.Type.MouseButtonPress, pos, button, button, modifiers)
    mouse(window, QEvent.Type.MouseButtonRelease, pos, button, Qt.MouseButton.NoButton, modifiers)


def drag(
    window: MainWindow,
    start: tuple[float, float],
    end: tuple[float, float],
    steps: int = 5,
    button: Qt.MouseButton = Qt.MouseButton.LeftButton,
) -> None:
    mouse(window, QEvent.Type.MouseButtonPress, to_view(window, *start), button, button)
    for i in range(1, steps + 1):
        x = start[0] + (end[0] - start[0]) * i / steps
        y = start[1] + (end[1] - start[1]) * i / steps
        mouse(window, QEvent.Type.MouseMove, to_view(window, x, y), Qt.MouseButton.NoButton, button)
    mouse(window, QEvent.Type.MouseButtonRelease, to_view(window, *end), button, Qt.MouseButton.NoButton)


def open_paths(qtbot, window: MainWindow, paths, timeout: int = 30_000) -> list[str]:
    """Open ``paths`` as File ▸ Open does (on the runtime's background thread) and wait until
    the opening is over; returns the problems it reported."""
    with qtbot.waitSignal(window.files.opened, timeout=timeout) as blocker:
        window.files.open_paths([str(p) for p in paths])
    return blocker.args[0]
