"""Select: click an object on the canvas to select it (topmost first); double-click refines it.
On a selected box or polygon annotation, drag a handle (a corner, a vertex) to move it; on a
polygon, Ctrl+click an edge to add a vertex there, or a vertex to remove it."""

from __future__ import annotations

from PySide6.QtCore import Qt

from samdesk.document.shapes import moved_handles
from samdesk.session import shape_edits
from samdesk.ui.tools.base import Tool, ToolEvent
from samdesk.ui.tools.drag_outline import DragOutline

HANDLE_REACH_PX = 8.0  # on screen: how near a press must be to grab a handle or an edge
MIN_DRAG_PX = 2.0  # on screen: a shorter move is a click on the handle, which moves nothing


class SelectTool(Tool):
    name = "select"
    label = "Select"
    shortcut = "V"
    help = (
        "Click: select · Drag a box corner or vertex · Ctrl+click: add/remove a polygon vertex"
        " · Double-click: refine"
    )
    order = 5
    cursor = Qt.CursorShape.ArrowCursor

    def __init__(self, host) -> None:
        super().__init__(host)
        self._dragging: int | None = None  # the handle being dragged
        self._pressed: ToolEvent | None = None
        self.outline = DragOutline(host.scene)

    def deactivate(self) -> None:
        self._end_drag()

    def press(self, event: ToolEvent) -> None:
        if event.button != Qt.MouseButton.LeftButton:
            return
        c = self.controller
        project = c.document.project
        reach = HANDLE_REACH_PX / max(event.view_scale, 1e-6)
        if event.modifiers & Qt.KeyboardModifier.ControlModifier:
            where = (c.frame, event.x, event.y, reach)
            done = shape_edits.add_or_remove_vertex(c.document, c.selected_object, *where)
            if done:
                self.host.say(done)
                return
        self._dragging = shape_edits.handle_at(project, c.selected_object, c.frame, event.x, event.y, reach)
        if self._dragging is not None:
            self._pressed = event
            return
        found = c.object_at(event.x, event.y)
        if found is None and c.media_id is not None:
            found = shape_edits.box_at(project, c.media_id, c.frame, event.x, event.y)
        c.select_object(found)

    def move(self, event: ToolEvent, pressed: bool) -> None:
        """While dragging a handle: the shape as it will be, dashed."""
        frame = self._dragged_frame()
        if frame is None or self._dragging is None:
            return
        self.outline.polygon(moved_handles(frame, self._dragging, (event.x, event.y)))

    def release(self, event: ToolEvent) -> None:
        index, pressed = self._dragging, self._pressed
        self._end_drag()
        c = self.controller
        if index is None or pressed is None or c.selected_object is None:
            return
        if max(abs(event.x - pressed.x), abs(event.y - pressed.y)) * event.view_scale < MIN_DRAG_PX:
            return
        shape_edits.move_handle(c.document, c.selected_object, c.frame, index, (event.x, event.y))

    def double_click(self, event: ToolEvent) -> None:
        if self.controller.object_at(event.x, event.y) is not None:
            self.controller.refine_selected()

    def _dragged_frame(self):
        c = self.controller
        obj = None if c.selected_object is None else c.document.project.objects.get(c.selected_object)
        return None if obj is None else obj.frames.get(c.frame)

    def _end_drag(self) -> None:
        self._dragging = self._pressed = None
        self.outline.clear()
