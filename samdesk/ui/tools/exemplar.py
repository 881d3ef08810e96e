"""Exemplar boxes for find all: drag a box around one example of what to find (positive);
Shift+drag or right drag marks a counter-example (negative). The find-all part re-runs the query
after each box, with or without a phrase.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from samdesk.ui.tools.base import ToolEvent
from samdesk.ui.tools.drag_outline import DragTool

MIN_BOX_PX = 4.0  # on screen; a smaller drag is a slip, not a box
POSITIVE_COLOR = QColor(60, 220, 90)
NEGATIVE_COLOR = QColor(240, 70, 70)

ExemplarSink = Callable[[tuple[float, float, float, float], bool], None]


class ExemplarTool(DragTool):
    name = "exemplar"
    label = "Exemplar"
    shortcut = "E"
    help = "Drag: a box around an example to find all like it · Shift/right drag: a counter-example"
    order = 25

    def __init__(self, host) -> None:
        super().__init__(host)
        self.on_box: ExemplarSink | None = None  # the find-all part sets it

    def move(self, event: ToolEvent, pressed: bool) -> None:
        start = self._start
        if start is None:
            return
        self.outline.box(start.x, start.y, event.x, event.y, self._color(start))

    def release(self, event: ToolEvent) -> None:
        start = self.take_start()
        if start is None or self.on_box is None:
            return
        if max(abs(event.x - start.x), abs(event.y - start.y)) * event.view_scale < MIN_BOX_PX:
            return
        box = (min(start.x, event.x), min(start.y, event.y), max(start.x, event.x), max(start.y, event.y))
        self.on_box(box, self._positive(start))

    @staticmethod
    def _positive(start: ToolEvent) -> bool:
        return start.button == Qt.MouseButton.LeftButton and not start.shift

    def _color(self, start: ToolEvent) -> QColor:
        return POSITIVE_COLOR if self._positive(start) else NEGATIVE_COLOR
