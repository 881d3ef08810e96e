"""The shortcut help overlay (F1 or ?): built from the window's actions, so it is never stale.

Laid out in as many columns as it takes to fit the screen without scrolling (a scroll bar
appears only on a screen too small for every column); key names and texts are escaped, so
"Shift+Left / <" shows as written instead of starting an HTML tag.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QDialog, QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

# Gestures that are not actions (mouse and held keys).
MOUSE_HELP = [
    ("Left click", "add a positive point (starts an object)"),
    ("Right click / Shift+click", "add a negative point"),
    ("Left drag (Click/Box tool)", "draw a box prompt"),
    ("Wheel", "zoom around the cursor"),
    ("Middle drag / Space+drag", "pan"),
]
MAX_COLUMNS = 6
MARGIN = 12
# What the window's frame, title bar and the dialog's margins take from the screen.
FRAME = QSize(16, 48)


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    rows = []
    for action in actions:
        keys = [s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts()]
        if keys:
            rows.append((" / ".join(keys), action.text().replace("&", "")))
    return rows


def table_html(rows: list[tuple[str, str]], columns: int) -> str:
    """``rows`` (keys, what they do) as an HTML table of ``columns`` side by side, top to bottom."""
    per_column = -(-len(rows) // columns)
    out = ["<table><tr>"]
    for start in range(0, len(rows), per_column):
        out.append("<td valign=top><table cellspacing=1>")
        for keys, text in rows[start : start + per_column]:
            keys_cell = f"<td align=right><b><tt>{html.escape(keys)}</tt></b></td>"
            out.append(f"<tr>{keys_cell}<td width=10></td><td>{html.escape(text)}</td></tr>")
        out.append("</table></td><td width=20></td>")
    out.append("</tr></table>")
    return "".join(out)


class ShortcutsDialog(QDialog):
    """``available``: the screen size to fit (default: the screen of ``parent``)."""

    def __init__(self, actions: list[QAction], parent: QWidget | None = None, available: QSize | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.rows = shortcut_rows(actions) + MOUSE_HELP
        if available is None:
            screen = parent.screen() if parent is not None else QGuiApplication.primaryScreen()
            available = screen.availableGeometry().size()
        room = available - FRAME
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.label)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)  # set: the style's come only when shown
        layout.addWidget(self.scroll)
        around = QSize(2 * MARGIN, 2 * MARGIN)
        # The fewest columns whose height fits; more columns only while they still fit across.
        for columns in range(2, MAX_COLUMNS + 1):
            self.label.setText(table_html(self.rows, columns))
            wanted = self.label.sizeHint() + around
            if wanted.height() <= room.height():
                break
            wider = QLabel(table_html(self.rows, columns + 1))
            if (wider.sizeHint() + around).width() > room.width():
                break
        self.columns = columns
        self.resize(wanted.boundedTo(room))
