"""Point prompts: left click adds a foreground point, right (or Shift+left) a background one.

A left drag draws a box instead, so clicks and a box combine without switching tools.
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from samdesk.ui.tools.base import ToolEvent
from samdesk.ui.tools.drag_outline import DragTool

DRAG_THRESHOLD_PX = 6.0  # on screen; below this a press/release is a click


class ClickTool(DragTool):
    name = "click"
    label = "Click"
    shortcut = "C"
    help = "Left click: add object part · Right/Shift click: exclude · Drag: box"
    order = 10
    box_only = False

    def move(self, event: ToolEvent, pressed: bool) -> None:
        start = self._start
        if start is None or start.button != Qt.MouseButton.LeftButton or not self._is_drag(start, event):
            return
        self.outline.box(start.x, start.y, event.x, event.y)

    def release(self, event: ToolEvent) -> None:
        start = self.take_start()
        if start is None:
            return
        if start.button == Qt.MouseButton.LeftButton and self._is_drag(start, event):
            self.controller.set_box(start.x, start.y, event.x, event.y)
            return
        if self.box_only and self.controller.pending is None:
            self.host.say(f"{self.label} tool: drag a box around the object first, then click to refine it")
            return
        positive = start.button == Qt.MouseButton.LeftButton and not start.shift
        self.controller.add_point(start.x, start.y, positive)

    @staticmethod
    def _is_drag(a: ToolEvent, b: ToolEvent) -> bool:
        distance = max(abs(a.x - b.x), abs(a.y - b.y)) * b.view_scale
        return distance >= DRAG_THRESHOLD_PX
