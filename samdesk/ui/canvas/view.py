"""The raster canvas: a QGraphicsView with smooth zoom around the cursor and pan.

Wheel zooms about the point under the cursor; middle drag or Space+drag pans. Other mouse input
is translated to image coordinates and handed to the current tool. Raster on purpose (no OpenGL
viewport): it works offscreen, under Xvfb and over remote desktops.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPixmap, QWheelEvent
from PySide6.QtWidgets import QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

from samdesk.session.display import Display
from samdesk.ui.canvas.adjust import adjusted
from samdesk.ui.tools.base import Tool, ToolEvent

MIN_SCALE, MAX_SCALE = 0.02, 64.0
STAND_IN_SIDE = 1024  # longest side of a stand-in's drawing (see set_stand_in)


class CanvasView(QGraphicsView):
    """Shows one image; the owner sets ``tool`` and adds overlay items to ``scene()``."""

    cursor_moved = Signal(float, float)  # image coordinates, for the status bar

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(QColor(38, 40, 44))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # crisp pixels when zoomed
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # zoom() anchors itself
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._image_item = QGraphicsPixmapItem()
        self._image_item.setZValue(-1000)
        self._image_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        # Keep the scaled photo as a device pixmap: repainting overlays then costs a blit, not a
        # smooth rescale of the whole image (re-rendered only when zoom changes).
        self._image_item.setCacheMode(QGraphicsPixmapItem.CacheMode.DeviceCoordinateCache)
        self.scene().addItem(self._image_item)
        self._shown_size: QSize | None = None  # the picture's size in image coordinates
        self.tool: Tool | None = None
        # Asked before a tool gets a press: a refusal message (shown in the status bar by the
        # owner) or None. The window refuses while a video frame is still decoding, so a click
        # never lands on a frame whose picture is not on screen yet. Pan and zoom stay free.
        self.input_gate: Callable[[], str | None] | None = None
        self.input_refused: Callable[[str], None] | None = None
        self._pan_from: QPoint | None = None
        self._space_down = False
        self._pressed = False
        self._fitted = True
        self.display = Display()  # brightness, contrast, gamma of the picture (view only)
        self._original: QImage | None = None  # the picture as decoded, before ``display``

    # --- image ------------------------------------------------------------------------------
    def set_image(self, image: QImage | None, keep_view: bool = False, size: QSize | None = None) -> None:
        """Show ``image``; ``keep_view`` keeps zoom and pan when its size matches the one on
        screen (the next frame of a video), instead of fitting the new image. ``size``: the
        size to show it at in image coordinates, when that differs from its pixels (a video
        frame's low-resolution preview covers the frame it stands for)."""
        shown = None if image is None else (size if size is not None else image.size())
        same_size = shown is not None and self._shown_size == shown
        self._original = image
        adjusted_image = None if image is None else adjusted(image, self.display)
        self._image_item.setPixmap(QPixmap() if adjusted_image is None else QPixmap.fromImage(adjusted_image))
        scale = 1.0 if image is None or shown is None or image.width() == 0 else shown.width() / image.width()
        self._image_item.setScale(scale)
        self._shown_size = shown
        if keep_view and same_size:
            return
        self._show_rect(QRectF(0, 0, shown.width(), shown.height()) if shown is not None else QRectF())

    def set_display(self, display: Display) -> None:
        """Show the picture with ``display``'s brightness, contrast and gamma (view only)."""
        self.display = display
        if self._original is not None:
            self._image_item.setPixmap(QPixmap.fromImage(adjusted(self._original, display)))

    def original_image(self) -> QImage | None:
        """The picture as decoded, before brightness and contrast (None for a stand-in)."""
        return self._original

    def shown_image(self) -> QImage:
        """The picture as it is on screen (adjusted), for tests."""
        return self._image_item.pixmap().toImage()

    def set_stand_in(self, width: int, height: int, text: str) -> None:
        """A grey stand-in of ``width``×``height`` image pixels with ``text`` on it, for media
        whose picture cannot be shown: overlays keep their true size and place on it. Drawn at
        most 1024 px wide and scaled, so a huge photo's stand-in costs little."""
        factor = min(1.0, STAND_IN_SIDE / max(width, height))
        pixmap = QPixmap(max(1, round(width * factor)), max(1, round(height * factor)))
        pixmap.fill(QColor(70, 72, 78))
        painter = QPainter(pixmap)
        painter.setPen(QColor(235, 235, 235))
        font = painter.font()
        font.setPointSizeF(max(8.0, pixmap.width() / 45))
        painter.setFont(font)
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        painter.drawText(QRectF(pixmap.rect()).adjusted(20, 20, -20, -20), int(flags), text)
        painter.end()
        self._original = None  # brightness and contrast do not apply to the stand-in
        self._image_item.setPixmap(pixmap)
        self._image_item.setScale(width / pixmap.width())
        self._shown_size = QSize(width, height)
        self._show_rect(QRectF(0, 0, width, height))

    def _show_rect(self, rect: QRectF) -> None:
        # A margin lets the user pan an edge object to the middle of the screen.
        self.scene().setSceneRect(rect.adjusted(-rect.width(), -rect.height(), rect.width(), rect.height()))
        self.fit()

    def image_rect(self) -> QRectF:
        """The picture's rectangle in image coordinates."""
        return self._image_item.sceneBoundingRect()

    def fit(self) -> None:
        rect = self.image_rect()
        if rect.isEmpty():
            return
        self.resetTransform()
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True

    def scale_factor(self) -> float:
        return self.transform().m11()

    def zoom(self, factor: float, anchor: QPointF | None = None) -> None:
        current = self.scale_factor()
        factor = max(MIN_SCALE / current, min(MAX_SCALE / current, factor))
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        # Keep the image point under ``anchor`` (viewport coordinates) where it is on screen.
        point = anchor.toPoint()
        before = self.mapToScene(point)
        self.scale(factor, factor)
        drift = self.mapFromScene(before) - point
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + drift.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + drift.y())
        self._fitted = False

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    # --- input ---------------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.pixelDelta().y()
        if delta:
            # Exponential in the wheel delta: smooth on touchpads, one notch = ~12 %.
            self.zoom(1.0015**delta, event.position())
        event.accept()

    def _tool_event(self, event: QMouseEvent, button: Qt.MouseButton | None = None) -> ToolEvent:
        p = self.mapToScene(event.position().toPoint())
        return ToolEvent(
            p.x(),
            p.y(),
            button if button is not None else event.button(),
            event.modifiers(),
            self.scale_factor(),
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus()
        if event.button() == Qt.MouseButton.MiddleButton or (
            self._space_down and event.button() == Qt.MouseButton.LeftButton
        ):
            self._pan_from = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if self.tool is not None:
            refusal = self.input_gate() if self.input_gate is not None else None
            if refusal is not None:
                if self.input_refused is not None:
                    self.input_refused(refusal)
                return
            self._pressed = True
            self.tool.press(self._tool_event(event))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            now = event.position().toPoint()
            delta = now - self._pan_from
            self._pan_from = now
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            self._fitted = False
            return
        tool_event = self._tool_event(event, Qt.MouseButton.NoButton)
        self.cursor_moved.emit(tool_event.x, tool_event.y)
        if self.tool is not None:
            self.tool.move(tool_event, self._pressed)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self._apply_cursor()
            return
        if self.tool is not None and self._pressed:
            self._pressed = False
            self.tool.release(self._tool_event(event))

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.tool is not None and event.button() == Qt.MouseButton.LeftButton:
            self.tool.double_click(self._tool_event(event))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if self.tool is not None and self.tool.key(event.key()):
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self._apply_cursor()
            return
        super().keyReleaseEvent(event)

    def set_tool(self, tool: Tool | None) -> None:
        if self.tool is not None:
            self.tool.deactivate()
        self.tool = tool
        if tool is not None:
            tool.activate()
        self._apply_cursor()

    def _apply_cursor(self) -> None:
        shape = self.tool.cursor if self.tool is not None else Qt.CursorShape.ArrowCursor
        self.viewport().setCursor(shape)
