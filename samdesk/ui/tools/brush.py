"""Brush and eraser on the pending mask or the selected object ([ and ] change the size).

With nothing selected and no pending object, the brush starts a new hand-drawn object.
Right button (or Shift) with the brush erases; the eraser erases with the left button.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem

from samdesk.ui.tools.base import Tool, ToolEvent


class BrushTool(Tool):
    name = "brush"
    label = "Brush"
    shortcut = "P"
    help = "Paint the mask · Right/Shift: erase · [ ] size"
    order = 40
    erases = False

    def __init__(self, host) -> None:
        super().__init__(host)
        self._last: tuple[float, float] | None = None
        self._erase = False
        self._ring: QGraphicsEllipseItem | None = None

    def activate(self) -> None:
        self._ring = QGraphicsEllipseItem()
        pen = QPen(QColor(255, 255, 255))
        pen.setCosmetic(True)
        self._ring.setPen(pen)
        self._ring.setZValue(1002)
        self._ring.setVisible(False)
        self.host.scene.addItem(self._ring)

    def deactivate(self) -> None:
        if self._last is not None:
            self.controller.end_stroke(self._erase)
            self._last = None
        if self._ring is not None:
            self.host.scene.removeItem(self._ring)
            self._ring = None

    def press(self, event: ToolEvent) -> None:
        if event.button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return
        self._erase = self.erases != (event.button == Qt.MouseButton.RightButton or event.shift)
        if not self.controller.begin_stroke():
            return
        self._last = (event.x, event.y)
        self.controller.stroke_to(self._last, self._last, self.host.brush_radius(), self._erase)

    def move(self, event: ToolEvent, pressed: bool) -> None:
        self._show_ring(event)
        if self._last is None:
            return
        point = (event.x, event.y)
        self.controller.stroke_to(self._last, point, self.host.brush_radius(), self._erase)
        self._last = point

    def release(self, event: ToolEvent) -> None:
        if self._last is None:
            return
        self._last = None
        self.controller.end_stroke(self._erase)

    def _show_ring(self, event: ToolEvent) -> None:
        if self._ring is None:
            return
        r = self.host.brush_radius()
        self._ring.setRect(-r, -r, 2 * r, 2 * r)
        self._ring.setPos(QPointF(event.x, event.y))
        self._ring.setVisible(True)


class EraserTool(BrushTool):
    name = "eraser"
    label = "Eraser"
    shortcut = "X"  # E is the exemplar tool (find all)
    help = "Erase from the mask · Right/Shift: paint · [ ] size"
    order = 50
    erases = True
