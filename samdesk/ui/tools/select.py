"""Select: click an object on the canvas to select it (topmost first); double-click refines it.
On a selected box or polygon annotation, drag a handle (a corner, a vertex) to move it."""

from __future__ import annotations

from PySide6.QtCore import Qt

from samdesk.session import shape_edits
from samdesk.ui.tools.base import Tool, ToolEvent

HANDLE_REACH_PX = 8.0  # on screen: how near a press must be to grab a handle


class SelectTool(Tool):
    name = "select"
    label = "Select"
    shortcut = "V"
    help = "Click: select the object under the cursor · Drag a box corner or vertex · Double-click: refine"
    order = 5
    cursor = Qt.CursorShape.ArrowCursor

    def __init__(self, host) -> None:
        super().__init__(host)
        self._dragging: int | None = None  # the handle being dragged
        self._pressed: ToolEvent | None = None

    def deactivate(self) -> None:
        self._dragging = None

    def press(self, event: ToolEvent) -> None:
        if event.button != Qt.MouseButton.LeftButton:
            return
        c = self.controller
        project = c.document.project
        reach = HANDLE_REACH_PX / max(event.view_scale, 1e-6)
        self._dragging = shape_edits.handle_at(project, c.selected_object, c.frame, event.x, event.y, reach)
        if self._dragging is not None:
            self._pressed = event
            return
        found = c.object_at(event.x, event.y)
        if found is None and c.media_id is not None:
            found = shape_edits.box_at(project, c.media_id, c.frame, event.x, event.y)
        c.select_object(found)

    def release(self, event: ToolEvent) -> None:
        index, self._dragging = self._dragging, None
        pressed, self._pressed = self._pressed, None
        c = self.controller
        moved = 0.0 if pressed is None else max(abs(event.x - pressed.x), abs(event.y - pressed.y))
        if moved * event.view_scale < 2:
            return  # a click on a handle, not a drag: nothing moves
        if index is not None and c.selected_object is not None:
            shape_edits.move_handle(c.document, c.selected_object, c.frame, index, (event.x, event.y))

    def double_click(self, event: ToolEvent) -> None:
        if self.controller.object_at(event.x, event.y) is not None:
            self.controller.refine_selected()
