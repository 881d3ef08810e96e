"""Rectangle: drag a box that is the annotation itself (a detection box), not a model prompt.

The box becomes the pending object: Enter accepts it with a category, as any drawn object.
It is exported as a box by the formats that hold boxes (COCO bbox, YOLO detection, VOC, CVAT).
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from samdesk.document.shapes import box_frame
from samdesk.ui.tools.base import ToolEvent
from samdesk.ui.tools.drag_outline import DragTool

MIN_SIDE_PX = 3.0  # on screen: a shorter drag is a slip, not a box


class RectangleTool(DragTool):
    name = "rectangle"
    label = "Rectangle"
    shortcut = "Shift+B"
    help = "Drag: a box annotation (kept as a box, not segmented) · Enter accepts it"
    order = 55

    drag_buttons = (Qt.MouseButton.LeftButton,)

    def move(self, event: ToolEvent, pressed: bool) -> None:
        if self._start is None:
            return
        self.outline.box(self._start.x, self._start.y, event.x, event.y)

    def release(self, event: ToolEvent) -> None:
        start = self.take_start()
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
