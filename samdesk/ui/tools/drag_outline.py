"""The dashed outline a tool shows while the user drags: a box being drawn, or a shape as a
dragged handle will leave it. Created on the first drag event, removed when the drag ends.
:class:`DragTool` is the press → drag → release gesture the box-drawing tools share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPolygonF
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene

from samdesk.ui.canvas.overlays import dashed_pen
from samdesk.ui.tools.base import Tool, ToolEvent

DRAG_COLOR = QColor(255, 210, 0)
ABOVE_EVERYTHING = 1001  # z value over the canvas's layers
LEFT_OR_RIGHT = (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton)


class DragOutline:
    """One dashed outline on ``scene`` (at most one per tool)."""

    def __init__(self, scene: QGraphicsScene) -> None:
        self._scene = scene
        self._item: QGraphicsPathItem | None = None

    @property
    def bounds(self) -> QRectF | None:
        """The outline's bounding rectangle in image pixels; None when none is shown."""
        return None if self._item is None else self._item.path().boundingRect()

    def box(self, x0: float, y0: float, x1: float, y1: float, color: QColor = DRAG_COLOR) -> None:
        """Show the box with corners (x0, y0) and (x1, y1), in any order."""
        path = QPainterPath()
        path.addRect(QRectF(x0, y0, x1 - x0, y1 - y0).normalized())
        self._show(path, color)

    def polygon(self, points: Sequence[tuple[float, float]], color: QColor = DRAG_COLOR) -> None:
        """Show the closed polygon through ``points``."""
        path = QPainterPath()
        path.addPolygon(QPolygonF([QPointF(x, y) for x, y in points]))
        path.closeSubpath()
        self._show(path, color)

    def clear(self) -> None:
        if self._item is not None:
            self._scene.removeItem(self._item)
            self._item = None

    def _show(self, path: QPainterPath, color: QColor) -> None:
        if self._item is None:
            self._item = QGraphicsPathItem()
            self._item.setZValue(ABOVE_EVERYTHING)
            self._scene.addItem(self._item)
        self._item.setPen(dashed_pen(color, 2.0))
        self._item.setPath(path)


class DragTool(Tool):
    """A tool whose gesture is a press of one of :attr:`drag_buttons`, a drag that shows
    :attr:`outline`, and a release that takes the press back with :meth:`take_start`."""

    drag_buttons: ClassVar[tuple[Qt.MouseButton, ...]] = LEFT_OR_RIGHT

    def __init__(self, host) -> None:
        super().__init__(host)
        self._start: ToolEvent | None = None
        self.outline = DragOutline(host.scene)

    def deactivate(self) -> None:
        self.take_start()

    def press(self, event: ToolEvent) -> None:
        if event.button in self.drag_buttons:
            self._start = event

    def take_start(self) -> ToolEvent | None:
        """The press the gesture started with (None if there was none); the outline goes."""
        start, self._start = self._start, None
        self.outline.clear()
        return start
