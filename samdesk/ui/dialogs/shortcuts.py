"""The shortcut help overlay (F1 or ?): built from the window's actions, so it is never stale."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QLabel, QScrollArea, QVBoxLayout

# Gestures that are not actions (mouse and held keys).
MOUSE_HELP = [
    ("Left click", "add a positive point (starts an object)"),
    ("Right click / Shift+click", "add a negative point"),
    ("Left drag (Click/Box tool)", "draw a box prompt"),
    ("Wheel", "zoom around the cursor"),
    ("Middle drag / Space+drag", "pan"),
]


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    rows = []
    for action in actions:
        keys = [s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts()]
        if keys:
            rows.append((" / ".join(keys), action.text().replace("&", "")))
    return rows


class ShortcutsDialog(QDialog):
    def __init__(self, actions: list[QAction], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.rows = shortcut_rows(actions) + MOUSE_HELP
        # Two columns side by side: the whole list fits on screen without scrolling.
        half = (len(self.rows) + 1) // 2
        html = ["<table><tr>"]
        for part in (self.rows[:half], self.rows[half:]):
            html.append("<td valign=top><table cellspacing=5>")
            for keys, text in part:
                html.append(f"<tr><td align=right><b><tt>{keys}</tt></b></td><td>{text}</td></tr>")
            html.append("</table></td><td width=24></td>")
        html.append("</tr></table>")
        label = QLabel("".join(html))
        label.setTextFormat(Qt.TextFormat.RichText)
        scroll = QScrollArea()
        scroll.setWidget(label)
        scroll.setWidgetResizable(True)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll)
        self.resize(920, 640)
