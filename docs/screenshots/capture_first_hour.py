"""Regenerates the screenshots that prove issue 18's fixes in a real X window:
instance_colours.png, export_done.png and relink.png.

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb \\
        python docs/screenshots/capture_first_hour.py [--media ../shared/media]

groceries.jpg (the shared test media) copied into a fresh folder, annotated with the classical
(GrabCut) model through real box drags on the canvas: four paper bags of one category and the
two tail lights of another. Each bag gets its own shade of the category's colour (defect 9).
The project is saved and exported as COCO through File ▸ Export's code path; the success
dialog is captured (defect 4). Then the image is moved away and the project reopened in a new
window: the one missing-media dialog, with Locate… (defect 8), is captured.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = Path(__file__).resolve().parent

BAGS = [(366, 192, 448, 342), (438, 176, 512, 342), (504, 172, 588, 340), (578, 168, 644, 340)]
LIGHTS = [(48, 0, 162, 228), (616, 0, 724, 224)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "media")
    args = parser.parse_args()

    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from samdesk.ui.dialogs.missing_media import MissingMediaDialog
    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.settings import Settings

    app = QApplication.instance() or QApplication([])
    work = Path(tempfile.mkdtemp(prefix="samdesk-shots-"))
    shop = work / "shopping"
    shop.mkdir()
    shutil.copy(args.media / "groceries.jpg", shop / "groceries.jpg")

    from shots import waiter

    pump = waiter(app, None, timeout=120.0)

    def settle(seconds=0.5) -> None:
        end = time.monotonic() + seconds
        pump(lambda: time.monotonic() > end)

    window = MainWindow(Settings(), settings_path=work / "settings.json")
    window.errors_as_status = True
    window.resize(1280, 820)
    window.show()
    window.model_link.load("classical")
    window.files.open_paths([str(shop / "groceries.jpg")])
    c = window.controller
    pump(lambda: window.current_image is not None and c.service is not None and not window.files.busy,
         what="the image and the model")
    viewport = window.canvas.viewport()

    def mouse(kind, x, y):
        pos = window.canvas.mapFromScene(QPointF(x, y))
        left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
        held = left if kind != QEvent.Type.MouseButtonRelease else none
        button = none if kind == QEvent.Type.MouseMove else left
        event = QMouseEvent(kind, QPointF(pos), QPointF(viewport.mapToGlobal(pos)), button, held,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, event)

    def box(x0, y0, x1, y1):
        mouse(QEvent.Type.MouseButtonPress, x0, y0)
        for i in range(1, 6):
            mouse(QEvent.Type.MouseMove, x0 + (x1 - x0) * i / 5, y0 + (y1 - y0) * i / 5)
        mouse(QEvent.Type.MouseButtonRelease, x1, y1)
        pump(lambda: not c.waiting and c.pending is not None and c.pending.candidates is not None,
             what="a box's masks")

    bag = window.categories_panel.add("paper bag")
    light = window.categories_panel.add("tail light")
    for rect in BAGS:
        box(*rect)
        c.accept(bag)
    for rect in LIGHTS:
        box(*rect)
        c.accept(light)
    settle()
    window.grab().save(str(OUT / "instance_colours.png"))

    project = shop / "groceries.samdesk.json"
    assert window.files.save_to(project)
    window.files.export("coco", shop / "export" / "annotations.json")
    pump(lambda: window.files.export_done_dialog is not None, what="the export")
    settle()
    window.files.export_done_dialog.grab().save(str(OUT / "export_done.png"))
    window.files.export_done_dialog.close()
    window.close()

    # The image moves away; the project opens in a new window: one dialog, with Locate….
    moved = work / "moved"
    moved.mkdir()
    shutil.move(str(shop / "groceries.jpg"), moved / "groceries.jpg")
    again = MainWindow(Settings(), settings_path=work / "settings.json")
    again.errors_as_status = True
    again.resize(1280, 820)
    again.show()
    shown: list[MissingMediaDialog] = []

    def show_dialog(missing):  # as ask_locate does, without exec()'s modal loop
        dialog = MissingMediaDialog(missing, len(again.document.project.media), again)
        dialog.show()
        shown.append(dialog)
        return None

    again.missing.ask_locate = show_dialog
    again.files.open_paths([str(project)])
    pump(lambda: bool(shown) and not again.files.busy, what="the missing-media dialog")
    settle()
    shown[0].grab().save(str(OUT / "relink.png"))
    shown[0].close()
    again.close()
    print("problems:", window.last_error or again.last_error or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
