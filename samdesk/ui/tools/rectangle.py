"""Rectangle: drag a box that is the annotation itself (a detection box), not a model prompt.

The box becomes the pending object: Enter accepts it with a category, as any drawn object.
It is exported as a box by the formats that hold boxes (COCO bbox, YOLO detection, VOC, CVAT).
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsRectItem

from samdesk.document.shapes import box_frame
from samdesk.ui.canvas.overlays import dashed_pen
from samdesk.ui.tools.base import Tool, ToolEvent

MIN_SIDE_PX = 3.0  # on screen: a shorter drag is a slip, not a box


class RectangleTool(Tool):
    name = "rectangle"
    label = "Rectangle"
    shortcut = "Shift+B"
    help = "Drag: a box annotation (kept as a box, not segmented) · Enter accepts it"
    order = 55

    def __init__(self, host) -> None:
        super().__init__(host)
        self._start: ToolEvent | None = None
        self._preview: QGraphicsRectItem | None = None

    def deactivate(self) -> None:
        self._clear()

    def press(self, event: ToolEvent) -> None:
        if event.button == Qt.MouseButton.LeftButton:
            self._start = event

    def move(self, event: ToolEvent, pressed: bool) -> None:
        if self._start is None:
            return
        if self._preview is None:
            self._preview = QGraphicsRectItem()
            self._preview.setPen(dashed_pen(QColor(255, 210, 0), 2.0))
            self._preview.setZValue(1001)
            self.host.scene.addItem(self._preview)
        start = self._start
        self._preview.setRect(QRectF(start.x, start.y, event.x - start.x, event.y - start.y).normalized())

    def release(self, event: ToolEvent) -> None:
        start = self._start
        self._clear()
        media = self.controller.media
        if start is None or media is None:
            return
        sides = min(abs(event.x - start.x), abs(event.y - start.y)) * event.view_scale
        if sides < MIN_SIDE_PX:
            self.host.say("Rectangle tool: drag from one corner of the box to the other")
            return
        try:
            frame = box_frame((start.x, start.y, event.x, event.y), media.height, media.width)
        except ValueError:  # dragged outside the image
            self.host.say("Rectangle tool: the box is outside the image")
            return
        self.controller.add_shape(frame)

    def _clear(self) -> None:
        self._start = None
        if self._preview is not None:
            self.host.scene.removeItem(self._preview)
            self._preview = None
