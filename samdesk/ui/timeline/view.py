"""The timeline widget under the canvas: a ruler with the current-frame cursor, and a lane per
object of the video (its colour, name, visibility and lock) showing frame by frame what the
object has there (``samdesk.session.lanes.Mark``) and which frames the user has reviewed.

Click or drag anywhere on the ruler or the lanes to scrub; the wheel zooms about the frame under
the pointer (Shift+wheel, or a horizontal wheel, scrolls), so a 10,000-frame video is usable:
zoomed out, each pixel column shows the most important mark of the frames it covers. The widget
only draws and asks (signals); ``samdesk.ui.timeline.part`` decides what an answer means.

Frames are numbered from 1 for people (the ruler, the tooltips); signals carry 0-based indices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFontMetrics,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
    QWheelEvent,
)
from PySide6.QtWidgets import QGridLayout, QScrollBar, QToolTip, QWidget

from samdesk.session.frame_numbers import frame_number
from samdesk.session.lanes import Mark, binned, runs

RULER_HEIGHT = 22
REVIEW_ROW = 4  # the strip under the ruler showing reviewed frames
LANE_HEIGHT = 18
HEADER_WIDTH = 170
VISIBLE_LANES = 6  # more lanes scroll
MIN_FRAMES_PER_PIXEL = 1 / 24  # zoomed in all the way: a frame is 24 px wide
TICK_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000)
LABEL_SPACING = 64  # px between labelled ticks, at least

BACKGROUND = QColor(38, 40, 44)
RULER = QColor(52, 55, 60)
SELECTED_LANE = QColor(58, 72, 96)
TEXT = QColor(220, 222, 226)
DIM_TEXT = QColor(130, 134, 140)
CURSOR = QColor(255, 84, 84)
REVIEWED = QColor(90, 200, 110)
ABSENT = QColor(150, 150, 150)
STALE = QColor(255, 170, 30)
KEYFRAME_EDGE = QColor(255, 255, 255)


@dataclass
class Lane:
    """One object's lane: ``marks`` uint8 (frame_count,) of ``Mark`` values."""

    object_id: int
    name: str
    color: tuple[int, int, int]
    visible: bool
    locked: bool
    marks: np.ndarray


def frame_for_people(index: int) -> str:
    return str(frame_number(index))


class TimelineView(QWidget):
    """``set_video(count)``, ``set_lanes(lanes)``, ``set_reviewed(frames)``, ``set_frame(i)``,
    ``set_selected(object_id)``; emits what the user asks for."""

    frame_requested = Signal(int)  # 0-based
    scrubbing = Signal(bool)  # a drag started (True) or ended (False)
    object_clicked = Signal(int)
    visibility_clicked = Signal(int)
    lock_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.frame_count = 1
        self.frame = 0
        self.lanes: list[Lane] = []
        self.reviewed = np.zeros(1, np.uint8)
        self.selected: int | None = None
        self.first = 0.0  # frame at the left edge of the lanes
        self.frames_per_pixel = 1.0
        self._fitted = True  # showing the whole video: stays so when the widget is resized
        # Says what a lane shows on a frame (tooltips): (object id, frame) -> text.
        self.describe: Callable[[int, int], str] | None = None
        self.area = _LaneArea(self)
        self.hbar = QScrollBar(Qt.Orientation.Horizontal)
        self.hbar.valueChanged.connect(self._scrolled)
        self.vbar = QScrollBar(Qt.Orientation.Vertical)
        self.vbar.valueChanged.connect(self.area.update)
        for bar in (self.hbar, self.vbar):
            bar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(0)
        grid.addWidget(self.area, 0, 0)
        grid.addWidget(self.vbar, 0, 1)
        grid.addWidget(self.hbar, 1, 0)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the window's keys step frames, not this
        self._update_height()

    # --- what to show ------------------------------------------------------------------------
    def set_video(self, frame_count: int) -> None:
        self.frame_count = max(1, frame_count)
        self.reviewed = np.zeros(self.frame_count, np.uint8)
        self.frame = min(self.frame, self.frame_count - 1)
        self.fit()

    def set_lanes(self, lanes: Sequence[Lane]) -> None:
        self.lanes = list(lanes)
        self.vbar.setRange(0, max(0, len(self.lanes) - VISIBLE_LANES))
        self._update_height()
        self.area.update()

    def set_reviewed(self, frames: Sequence[int] | set[int]) -> None:
        reviewed = np.zeros(self.frame_count, np.uint8)
        index = np.fromiter((f for f in frames if 0 <= f < self.frame_count), np.int64)
        reviewed[index] = 1
        self.reviewed = reviewed
        self.area.update()

    def set_frame(self, frame: int) -> None:
        """Move the cursor (emits nothing); the view follows it when it leaves the visible part."""
        self.frame = max(0, min(frame, self.frame_count - 1))
        width = self.area.lanes_width()
        shown = width * self.frames_per_pixel
        if not self.first <= self.frame < self.first + shown - self.frames_per_pixel:
            self._set_first(self.frame - shown / 2)
        self.area.update()

    def set_selected(self, object_id: int | None) -> None:
        if object_id != self.selected:
            self.selected = object_id
            rows = [i for i, lane in enumerate(self.lanes) if lane.object_id == object_id]
            if rows and not self.vbar.value() <= rows[0] < self.vbar.value() + VISIBLE_LANES:
                self.vbar.setValue(rows[0])
            self.area.update()

    # --- zoom and scroll ---------------------------------------------------------------------
    def max_frames_per_pixel(self) -> float:
        return max(MIN_FRAMES_PER_PIXEL, self.frame_count / max(1, self.area.lanes_width()))

    def fit(self) -> None:
        """Show the whole video."""
        self._fitted = True
        self.frames_per_pixel = self.max_frames_per_pixel()
        self._set_first(0)

    def zoom(self, factor: float, anchor_x: float | None = None) -> None:
        """Multiply the frames per pixel by ``factor`` (< 1 zooms in), keeping the frame under
        ``anchor_x`` (lane-area pixels; default the cursor) where it is."""
        if anchor_x is None:
            anchor_x = (self.frame + 0.5 - self.first) / self.frames_per_pixel
        anchor_frame = self.first + anchor_x * self.frames_per_pixel
        limit = self.max_frames_per_pixel()
        self.frames_per_pixel = min(limit, max(MIN_FRAMES_PER_PIXEL, self.frames_per_pixel * factor))
        self._fitted = self.frames_per_pixel >= limit
        self._set_first(anchor_frame - anchor_x * self.frames_per_pixel)

    def _set_first(self, first: float) -> None:
        shown = self.area.lanes_width() * self.frames_per_pixel
        self.first = max(0.0, min(first, self.frame_count - shown))
        self.hbar.blockSignals(True)
        self.hbar.setRange(0, max(0, math.ceil(self.frame_count - shown)))
        self.hbar.setPageStep(max(1, int(shown)))
        self.hbar.setSingleStep(max(1, int(shown / 20)))
        self.hbar.setValue(int(self.first))
        self.hbar.blockSignals(False)
        self.hbar.setVisible(self.hbar.maximum() > 0)
        self.area.update()

    def _scrolled(self, value: int) -> None:
        self.first = float(value)
        self.area.update()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        if self._fitted:
            self.fit()
        else:
            self._set_first(self.first)

    def _update_height(self) -> None:
        rows = max(1, min(len(self.lanes), VISIBLE_LANES))
        self.area.setFixedHeight(RULER_HEIGHT + REVIEW_ROW + rows * LANE_HEIGHT + 2)
        self.vbar.setVisible(len(self.lanes) > VISIBLE_LANES)

    # --- geometry shared with the lane area ---------------------------------------------------
    def frame_at(self, x: float) -> int:
        """The frame under lane-area pixel ``x`` (clamped to the video)."""
        frame = math.floor(self.first + x * self.frames_per_pixel)
        return max(0, min(frame, self.frame_count - 1))

    def x_of(self, frame: float) -> float:
        """Lane-area pixel of the left edge of ``frame``."""
        return (frame - self.first) / self.frames_per_pixel

    def lane_at(self, y: float) -> Lane | None:
        row = math.floor((y - RULER_HEIGHT - REVIEW_ROW) / LANE_HEIGHT)
        if row < 0 or row >= VISIBLE_LANES:
            return None
        index = row + self.vbar.value()
        return self.lanes[index] if index < len(self.lanes) else None


class _LaneArea(QWidget):
    """The painted part: header column, ruler and lanes; the mouse on it."""

    def __init__(self, view: TimelineView) -> None:
        super().__init__(view)
        self.view = view
        self._dragging = False
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setMinimumWidth(HEADER_WIDTH + 100)

    def lanes_width(self) -> int:
        return max(1, self.width() - HEADER_WIDTH)

    # --- mouse -------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton:
            return
        view, pos = self.view, event.position()
        lane = view.lane_at(pos.y())
        if pos.x() < HEADER_WIDTH:
            if lane is not None:
                if _eye_rect(self._lane_top(lane)).contains(pos):
                    view.visibility_clicked.emit(lane.object_id)
                elif _lock_rect(self._lane_top(lane)).contains(pos):
                    view.lock_clicked.emit(lane.object_id)
                else:
                    view.object_clicked.emit(lane.object_id)
            return
        if lane is not None:
            view.object_clicked.emit(lane.object_id)
        self._dragging = True
        view.scrubbing.emit(True)
        self._scrub_to(pos.x())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._dragging:
            self._scrub_to(event.position().x())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._dragging and event.button() == Qt.MouseButton.LeftButton:
            self._scrub_to(event.position().x())
            self._dragging = False
            self.view.scrubbing.emit(False)

    def _scrub_to(self, x: float) -> None:
        frame = self.view.frame_at(x - HEADER_WIDTH)
        if frame != self.view.frame:
            self.view.frame_requested.emit(frame)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        view = self.view
        delta = event.angleDelta()
        x = event.position().x()
        if event.position().x() < HEADER_WIDTH and delta.y():
            view.vbar.setValue(view.vbar.value() - int(math.copysign(1, delta.y())))
        elif delta.x() or event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            steps = (delta.x() or delta.y()) / 120
            view._set_first(view.first - steps * 40 * view.frames_per_pixel)
            view._fitted = False
        elif delta.y():
            view.zoom(0.8 ** (delta.y() / 120), x - HEADER_WIDTH)
        event.accept()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and self.view.describe is not None:
            pos = event.pos()  # type: ignore[attr-defined]
            lane = self.view.lane_at(pos.y())
            if lane is not None and pos.x() >= HEADER_WIDTH:
                frame = self.view.frame_at(pos.x() - HEADER_WIDTH)
                text = self.view.describe(lane.object_id, frame)
                QToolTip.showText(event.globalPos(), text, self)  # type: ignore[attr-defined]
                return True
            QToolTip.hideText()
        return super().event(event)

    # --- painting ----------------------------------------------------------------------------
    def _lane_top(self, lane: Lane) -> int:
        row = self.view.lanes.index(lane) - self.view.vbar.value()
        return RULER_HEIGHT + REVIEW_ROW + row * LANE_HEIGHT

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        view = self.view
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        width = self.lanes_width()
        reviewed = binned(view.reviewed, view.first, view.frames_per_pixel, width)
        self._paint_ruler(painter, width, reviewed)
        first_row = view.vbar.value()
        for row, lane in enumerate(view.lanes[first_row : first_row + VISIBLE_LANES]):
            self._paint_lane(painter, lane, RULER_HEIGHT + REVIEW_ROW + row * LANE_HEIGHT, width, reviewed)
        if not view.lanes:
            painter.setPen(DIM_TEXT)
            painter.drawText(
                QRectF(HEADER_WIDTH, RULER_HEIGHT + REVIEW_ROW, width, LANE_HEIGHT),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                "  No objects yet: click one on the canvas, then track it (Video menu)",
            )
        self._paint_cursor(painter)
        painter.end()

    def _paint_ruler(self, painter: QPainter, width: int, reviewed: np.ndarray) -> None:
        view = self.view
        painter.fillRect(QRectF(0, 0, self.width(), RULER_HEIGHT + REVIEW_ROW), RULER)
        painter.setPen(DIM_TEXT)
        painter.drawText(QRectF(6, 0, HEADER_WIDTH - 6, RULER_HEIGHT),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         f"{view.frame_count} frames")
        step = next((s for s in TICK_STEPS if s / view.frames_per_pixel >= LABEL_SPACING), TICK_STEPS[-1])
        minor = step // 5 if step >= 5 and step / 5 / view.frames_per_pixel >= 6 else 0
        metrics = QFontMetrics(painter.font())
        last_frame = view.first + width * view.frames_per_pixel
        # Ticks at frames 1, step, 2·step, … as people number them (index = number - 1).
        unit = minor or step
        number = max(0, math.floor((view.first + 1) / unit) * unit)
        while number - 1 <= last_frame:
            index = max(number - 1, 0)
            x = HEADER_WIDTH + view.x_of(index + 0.5)
            if x >= HEADER_WIDTH:
                labelled = number % step == 0
                painter.drawLine(QPointF(x, RULER_HEIGHT - (8 if labelled else 4)), QPointF(x, RULER_HEIGHT))
                if labelled:
                    painter.drawText(QPointF(x + 3, metrics.ascent() + 2), frame_for_people(index))
            number += unit
        for start, stop, value in runs(reviewed):
            if value:
                strip = QRectF(HEADER_WIDTH + start, RULER_HEIGHT, stop - start, REVIEW_ROW)
                painter.fillRect(strip, REVIEWED)

    def _paint_lane(self, painter: QPainter, lane: Lane, top: int, width: int, reviewed: np.ndarray) -> None:
        view = self.view
        color = QColor(*lane.color)
        if lane.object_id == view.selected:
            painter.fillRect(QRectF(0, top, self.width(), LANE_HEIGHT), SELECTED_LANE)
        painter.setPen(QColor(60, 63, 68))
        painter.drawLine(0, top + LANE_HEIGHT - 1, self.width(), top + LANE_HEIGHT - 1)
        # Header: colour, name, visibility and lock.
        painter.fillRect(QRectF(6, top + 4, 10, LANE_HEIGHT - 8), color)
        painter.setPen(TEXT if lane.visible else DIM_TEXT)
        metrics = QFontMetrics(painter.font())
        name = metrics.elidedText(lane.name, Qt.TextElideMode.ElideRight, HEADER_WIDTH - 66)
        painter.drawText(QRectF(22, top, HEADER_WIDTH - 66, LANE_HEIGHT),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)
        _paint_eye(painter, _eye_rect(top), lane.visible)
        _paint_lock(painter, _lock_rect(top), lane.locked)
        # The marks.
        columns = binned(lane.marks, view.first, view.frames_per_pixel, width)
        body = QRectF(0, top + 3, 0, LANE_HEIGHT - 7)
        stale_brush = QBrush(STALE, Qt.BrushStyle.BDiagPattern)
        keyframes: list[float] = []
        for start, stop, value in runs(columns):
            x, w = HEADER_WIDTH + start, stop - start
            if value == Mark.TRACKED:
                painter.fillRect(QRectF(x, body.top(), w, body.height()), _alpha(color, 170))
            elif value == Mark.STALE_TRACKED:
                painter.fillRect(QRectF(x, body.top(), w, body.height()), _alpha(color, 80))
                painter.fillRect(QRectF(x, body.top(), w, body.height()), stale_brush)
            elif value in (Mark.ABSENT, Mark.STALE_ABSENT):
                line = STALE if value == Mark.STALE_ABSENT else ABSENT
                painter.fillRect(QRectF(x, top + LANE_HEIGHT / 2 - 1, w, 2), line)
            elif value == Mark.KEYFRAME:
                painter.fillRect(QRectF(x, top + 2, max(w, 2), LANE_HEIGHT - 5), color)
                keyframes.append(x + w / 2)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(KEYFRAME_EDGE, 1))
        painter.setBrush(color.darker(150))
        for x in keyframes:
            painter.drawPolygon(_diamond(x, top + LANE_HEIGHT / 2 - 0.5, 4.5))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for start, stop, value in runs(reviewed):
            if value:
                strip = QRectF(HEADER_WIDTH + start, top + LANE_HEIGHT - 3, stop - start, 2)
                painter.fillRect(strip, REVIEWED)

    def _paint_cursor(self, painter: QPainter) -> None:
        view = self.view
        x = HEADER_WIDTH + view.x_of(view.frame + 0.5)
        if x < HEADER_WIDTH - 1 or x > self.width() + 1:
            return
        frame_width = max(2.0, 1 / view.frames_per_pixel)
        if frame_width > 3:  # zoomed in: the frame's whole column
            painter.fillRect(QRectF(x - frame_width / 2, 0, frame_width, self.height()), _alpha(CURSOR, 50))
        painter.setPen(QPen(CURSOR, 2))
        painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        label = frame_for_people(view.frame)
        metrics = QFontMetrics(painter.font())
        box = QRectF(x - metrics.horizontalAdvance(label) / 2 - 3, 1, metrics.horizontalAdvance(label) + 6,
                     metrics.height())
        box.moveLeft(max(HEADER_WIDTH, min(box.left(), self.width() - box.width())))
        painter.fillRect(box, CURSOR)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, label)


def _alpha(color: QColor, alpha: int) -> QColor:
    out = QColor(color)
    out.setAlpha(alpha)
    return out


def _diamond(x: float, y: float, r: float) -> QPolygonF:
    return QPolygonF([QPointF(x, y - r), QPointF(x + r, y), QPointF(x, y + r), QPointF(x - r, y)])


def _eye_rect(top: int) -> QRectF:
    return QRectF(HEADER_WIDTH - 40, top + 2, 16, LANE_HEIGHT - 4)


def _lock_rect(top: int) -> QRectF:
    return QRectF(HEADER_WIDTH - 20, top + 2, 14, LANE_HEIGHT - 4)


def _paint_eye(painter: QPainter, rect: QRectF, visible: bool) -> None:
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setPen(QPen(TEXT if visible else DIM_TEXT, 1.2))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    eye = rect.adjusted(1, 3, -1, -3)
    painter.drawEllipse(eye)
    if visible:
        painter.setBrush(TEXT)
        painter.drawEllipse(eye.center(), 1.8, 1.8)
    else:
        painter.drawLine(rect.bottomLeft() + QPointF(2, -2), rect.topRight() + QPointF(-2, 2))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)


def _paint_lock(painter: QPainter, rect: QRectF, locked: bool) -> None:
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    color = TEXT if locked else DIM_TEXT
    painter.setPen(QPen(color, 1.2))
    body = QRectF(rect.left() + 2, rect.center().y() - 1, rect.width() - 4, rect.height() / 2)
    shackle = QRectF(rect.left() + 4, rect.top() + 1, rect.width() - 8, rect.height() / 2)
    if not locked:
        shackle.translate(3, -1)  # open
    painter.drawArc(shackle, 0, 180 * 16)
    painter.setBrush(color if locked else Qt.BrushStyle.NoBrush)
    painter.drawRect(body)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
