"""Select: click an object on the canvas to select it (topmost first); double-click refines it."""

from __future__ import annotations

from PySide6.QtCore import Qt

from samdesk.ui.tools.base import Tool, ToolEvent


class SelectTool(Tool):
    name = "select"
    label = "Select"
    shortcut = "V"
    help = "Click: select the object under the cursor · Double-click: refine it with clicks"
    order = 5
    cursor = Qt.CursorShape.ArrowCursor

    def press(self, event: ToolEvent) -> None:
        if event.button == Qt.MouseButton.LeftButton:
            self.controller.select_object(self.controller.object_at(event.x, event.y))

    def double_click(self, event: ToolEvent) -> None:
        if self.controller.object_at(event.x, event.y) is not None:
            self.controller.refine_selected()
