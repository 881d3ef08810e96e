"""Regenerates annotations.png: boxes, polygons, attributes, image tags, folder progress and the
undo history (issue 18) in the main window.

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb \\
        python docs/screenshots/capture_annotations.py

The bundled coffee.jpg (in a folder "cafe") and cat.jpg and astronaut.jpg (in "misc", cat marked
done): the cup is a box annotation (Rectangle tool), the spoon a polygon annotation, selected
with its vertex handles, marked occluded with a note; the saucer a mask. The image is tagged
"indoor, warm light"; the History tab lists the steps.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = Path(__file__).resolve().parent

SPOON = [(410, 68), (424, 74), (412, 140), (392, 228), (406, 270), (400, 315), (362, 326), (328, 302),
         (334, 258), (372, 228), (396, 140)]  # fmt: skip


def main() -> int:
    import cv2
    import numpy as np
    from PySide6.QtWidgets import QApplication, QDockWidget

    from samdesk.document import AddObject, EditMedia, MediaStatus, SetAttributes, SetTags, masks
    from samdesk.document.model import AnnotationObject, FrameAnnotation, Provenance
    from samdesk.document.shapes import box_frame, polygon_frame
    from samdesk.resources import samples_dir
    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.settings import Settings

    app = QApplication.instance() or QApplication([])
    work = Path(tempfile.mkdtemp())
    for folder, name in (("cafe", "coffee.jpg"), ("misc", "cat.jpg"), ("misc", "astronaut.jpg")):
        (work / folder).mkdir(exist_ok=True)
        shutil.copy(samples_dir() / name, work / folder / name)
    window = MainWindow(Settings(), settings_path=work / "s.json")
    window.errors_as_status = True
    window.resize(1400, 820)
    window.show()

    from shots import waiter

    pump = waiter(app, window, timeout=60.0, fail=False)

    paths = [work / "cafe" / "coffee.jpg", work / "misc" / "cat.jpg", work / "misc" / "astronaut.jpg"]
    window.files.open_paths([str(p) for p in paths])
    pump(lambda: len(window.document.project.media) == 3 and not window.files.busy)
    document = window.document
    coffee, cat, _ = document.project.media
    document.execute(EditMedia(cat.id, status=MediaStatus.DONE))
    window.navigation.show_media(coffee.id)
    pump(lambda: window.current_image is not None)
    cup = window.categories_panel.add("cup")
    spoon = window.categories_panel.add("spoon")
    saucer = window.categories_panel.add("saucer")
    h, w = coffee.height, coffee.width
    plate = np.zeros((h, w), np.uint8)
    cv2.ellipse(plate, (278, 232), (202, 148), -8, 0, 360, 1, -1)
    adds = [
        AddObject(AnnotationObject(0, coffee.id, saucer, {0: FrameAnnotation(masks.encode(plate.astype(bool)),
                                                                              Provenance.MODEL, 0.97)})),
        AddObject(AnnotationObject(0, coffee.id, cup, {0: box_frame((170, 18, 410, 305), h, w)})),
        AddObject(AnnotationObject(0, coffee.id, spoon, {0: polygon_frame(SPOON, h, w)})),
    ]
    for add in adds:
        document.execute(add)
    spoon_id = adds[2].obj.id
    flags = {"occluded": True, "note": "behind the cup"}
    document.execute(SetAttributes([spoon_id], flags, text="mark occluded"))
    document.execute(SetTags(coffee.id, ["indoor", "warm light"]))
    window.set_tool("select")
    window.controller.select_object(spoon_id)
    for dock in window.findChildren(QDockWidget):
        if dock.windowTitle() == "History":
            dock.raise_()
    pump(lambda: False, timeout=1.0)
    window.grab().save(str(OUT / "annotations.png"))
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
