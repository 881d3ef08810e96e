"""Regenerates the screenshots in this folder: the real window, runtime and default model.

    QT_QPA_PLATFORM=offscreen python docs/screenshots/capture.py

Uses QWidget.grab() (works offscreen and under Xvfb alike).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = Path(__file__).resolve().parent


def main() -> int:
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from samdesk.resources import samples_dir
    from samdesk.ui.app import create_window
    from samdesk.ui.dialogs.shortcuts import ShortcutsDialog

    app = QApplication.instance() or QApplication([])
    settings = Path(tempfile.mkdtemp()) / "settings.json"
    window = create_window(
        [str(samples_dir() / n) for n in ("coffee.jpg", "cat.jpg", "astronaut.jpg")],
        "classical",
        settings_path=settings,
    )
    window.errors_as_status = True
    window.resize(1400, 860)
    window.show()

    from shots import waiter

    pump = waiter(app, window, timeout=120.0)

    c = window.controller
    pump(lambda: window.current_image is not None and c.service is not None and not window.files.busy)
    viewport = window.canvas.viewport()

    def mouse(kind, x, y, button=Qt.MouseButton.LeftButton):
        pos = window.canvas.mapFromScene(QPointF(x, y))
        held = button if kind != QEvent.Type.MouseButtonRelease else Qt.MouseButton.NoButton
        QApplication.sendEvent(
            viewport,
            QMouseEvent(
                kind,
                QPointF(pos),
                QPointF(viewport.mapToGlobal(pos)),
                button if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton,
                held,
                Qt.KeyboardModifier.NoModifier,
            ),
        )

    def click(x, y, button=Qt.MouseButton.LeftButton):
        mouse(QEvent.Type.MouseButtonPress, x, y, button)
        mouse(QEvent.Type.MouseButtonRelease, x, y, button)
        pump(lambda: not c.waiting and c.pending is not None and c.pending.candidates is not None)

    def box(x0, y0, x1, y1):
        mouse(QEvent.Type.MouseButtonPress, x0, y0)
        for i in range(1, 6):
            mouse(QEvent.Type.MouseMove, x0 + (x1 - x0) * i / 5, y0 + (y1 - y0) * i / 5)
        mouse(QEvent.Type.MouseButtonRelease, x1, y1)
        pump(lambda: not c.waiting and c.pending is not None and c.pending.candidates is not None)

    cup = window.categories_panel.add("cup")
    spoon = window.categories_panel.add("spoon")
    window.categories_panel.add("saucer")
    box(170, 15, 410, 268)
    click(290, 150)
    c.accept(cup)
    box(322, 62, 428, 328)
    c.accept(spoon)
    window.categories_panel.select(window.document.project.categories[2].id)
    box(78, 70, 482, 392)  # a lone box: three candidates to cycle with Tab
    app.processEvents()
    window.grab().save(str(OUT / "main_window.png"))

    dialog = ShortcutsDialog(list(window.menu_actions.by_id.values()), window)
    dialog.show()
    app.processEvents()
    dialog.grab().save(str(OUT / "shortcuts.png"))
    dialog.close()

    from samdesk.ui.dialogs.models import ModelsDialog

    models = ModelsDialog(window)
    models.show()
    app.processEvents()
    models.grab().save(str(OUT / "models.png"))
    models.close()
    window.document.history.mark_clean()
    c.discard()
    window.close()
    print("problems:", window.last_error or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
